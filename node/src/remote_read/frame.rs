//! Framing of a `STREAMED_XOR_CHUNKS` response body (Prometheus `storage/remote/chunked.go`):
//!
//! ```text
//! body  := frame*
//! frame := size:uvarint  crc:u32 big-endian  message:size bytes
//! crc   := CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of the message bytes
//! ```
//!
//! Each message is one protobuf `prometheus.ChunkedReadResponse`. Prometheus' reader refuses
//! frames above its `chunked_read_limit` (50 MB by default); Tidemark's frames stay near
//! `limits.remote_read_frame_bytes_max` (1 MiB), see `response.rs`.

/// CRC-32C lookup table, computed at compile time.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC32C_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Appends one frame holding `message` to `out`.
pub fn write_frame(out: &mut Vec<u8>, message: &[u8]) {
    let mut size = message.len() as u64;
    while size >= 0x80 {
        out.push((size as u8) | 0x80);
        size >>= 7;
    }
    out.push(size as u8);
    out.extend_from_slice(&crc32c(message).to_be_bytes());
    out.extend_from_slice(message);
}

/// A body that is not a valid frame sequence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked remote-read stream: {0}")]
pub struct FrameError(String);

/// The messages of a complete response body, checked against their CRCs; a frame larger than
/// `size_max` bytes is an error, as in Prometheus' reader.
pub fn read_frames(mut body: &[u8], size_max: usize) -> Result<Vec<&[u8]>, FrameError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let mut size = 0u64;
        let mut used = 0;
        loop {
            let Some(&b) = body.get(used) else {
                return Err(FrameError("truncated frame size".into()));
            };
            if used == 9 && b > 1 {
                return Err(FrameError("frame size overflows 64 bits".into()));
            }
            size |= u64::from(b & 0x7f) << (7 * used);
            used += 1;
            if b < 0x80 {
                break;
            }
        }
        if size > size_max as u64 {
            return Err(FrameError(format!(
                "frame of {size} bytes exceeds the limit of {size_max} bytes"
            )));
        }
        let size = size as usize;
        let Some(rest) = body.get(used..used + 4 + size) else {
            return Err(FrameError("truncated frame".into()));
        };
        let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let message = &rest[4..];
        if crc32c(message) != crc {
            return Err(FrameError("checksum mismatch".into()));
        }
        out.push(message);
        body = &body[used + 4 + size..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_values() {
        // The standard check value of CRC-32C, and RFC 3720 (iSCSI) B.4 vectors.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46dd_794e);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn frames_round_trip_and_have_the_documented_layout() {
        let mut body = Vec::new();
        write_frame(&mut body, b"123456789");
        assert_eq!(
            body,
            [&[9u8, 0xe3, 0x06, 0x92, 0x83][..], b"123456789"].concat()
        );
        let big = vec![7u8; 300];
        write_frame(&mut body, &big);
        // 300 = 0b10_0101100: uvarint ac 02.
        assert_eq!(&body[14..16], &[0xac, 0x02]);
        write_frame(&mut body, b"");
        let frames = read_frames(&body, 1 << 20).unwrap();
        assert_eq!(frames, vec![&b"123456789"[..], &big[..], &b""[..]]);
    }

    #[test]
    fn bad_streams_are_errors() {
        let mut body = Vec::new();
        write_frame(&mut body, b"hello world");
        let mut corrupt = body.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        assert!(read_frames(&corrupt, 1 << 20).is_err());
        for len in 1..body.len() {
            assert!(read_frames(&body[..len], 1 << 20).is_err(), "prefix {len}");
        }
        assert!(read_frames(&body, 5).is_err());
        assert!(read_frames(&[0xff; 11], 1 << 20).is_err());
    }
}
