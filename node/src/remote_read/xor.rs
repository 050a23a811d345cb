//! Prometheus' XOR chunk encoding (`tsdb/chunkenc/xor.go`), re-implemented for remote-read's
//! streamed chunks: an encoder, and a decoder for tests, for merging and for clients. Byte
//! layout in `xor.md`.

use tidemark_storage::Sample;
use tidemark_storage::chunk::bits::{self, BitWriter};

/// Samples Tidemark puts in one chunk: the head chunk size Prometheus aims for.
pub const CHUNK_SAMPLES_MAX: usize = 120;

/// Samples a chunk can hold at most (its header count is a u16).
const CHUNK_SAMPLES_LIMIT: usize = u16::MAX as usize;

/// Bytes of the header (the big-endian sample count).
const HEADER_LEN: usize = 2;

/// An encoded chunk with its inclusive time range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorChunk {
    /// Timestamp of the first sample (ms).
    pub min_time_ms: i64,
    /// Timestamp of the last sample (ms).
    pub max_time_ms: i64,
    /// The chunk bytes, header included.
    pub data: Vec<u8>,
}

/// A chunk that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid XOR chunk: {0}")]
pub struct ChunkDecodeError(String);

/// Appends samples to one chunk. The window `leading == 0xff` means "not set yet".
pub struct XorEncoder {
    buf: Vec<u8>,
    /// Unused low bits of the last byte of `buf`.
    free: u8,
    count: u16,
    min_t: i64,
    t: i64,
    t_delta: u64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl XorEncoder {
    /// An empty chunk.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[0; HEADER_LEN]);
        XorEncoder {
            buf,
            free: 0,
            count: 0,
            min_t: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Samples appended so far.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether no sample was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the chunk cannot take another sample.
    pub fn is_full(&self) -> bool {
        self.len() >= CHUNK_SAMPLES_LIMIT
    }

    /// Appends a sample; the caller keeps timestamps ascending and stops at [`Self::is_full`].
    pub fn append(&mut self, t: i64, v: f64) {
        assert!(!self.is_full(), "XOR chunk full");
        let v = v.to_bits();
        match self.count {
            0 => {
                self.min_t = t;
                self.varint(t);
                self.bits(v, 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.t) as u64;
                self.uvarint(delta);
                self.value(v);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                let dod = delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.bits(0, 1);
                } else if fits(dod, 14) {
                    self.bits(0b10, 2);
                    self.bits(dod as u64, 14);
                } else if fits(dod, 17) {
                    self.bits(0b110, 3);
                    self.bits(dod as u64, 17);
                } else if fits(dod, 20) {
                    self.bits(0b1110, 4);
                    self.bits(dod as u64, 20);
                } else {
                    self.bits(0b1111, 4);
                    self.bits(dod as u64, 64);
                }
                self.value(v);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = v;
        self.count += 1;
    }

    /// The finished chunk (`None` when empty).
    pub fn finish(mut self) -> Option<XorChunk> {
        if self.count == 0 {
            return None;
        }
        self.buf[..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
        Some(XorChunk {
            min_time_ms: self.min_t,
            max_time_ms: self.t,
            data: self.buf,
        })
    }

    /// The xor of `v` with the previous value, in the current window or a new one.
    fn value(&mut self, v: u64) {
        let delta = v ^ self.v;
        if delta == 0 {
            self.bits(0, 1);
            return;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.bits(0b10, 2);
            let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.bits(delta >> self.trailing, significant);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        let significant = 64 - u32::from(leading) - u32::from(trailing);
        self.bits(0b11, 2);
        self.bits(u64::from(leading), 5);
        // 64 significant bits do not fit in 6 bits and are written as 0 (0 never occurs).
        self.bits(u64::from(significant) & 0x3f, 6);
        self.bits(delta >> trailing, significant);
    }

    fn varint(&mut self, v: i64) {
        self.writer().varint(v);
    }

    fn uvarint(&mut self, u: u64) {
        self.writer().uvarint(u);
    }

    /// Writes the low `n` bits of `v`, most significant first (n <= 64).
    fn bits(&mut self, v: u64, n: u32) {
        self.writer().bits(v, n);
    }

    fn writer(&mut self) -> BitWriter<'_> {
        BitWriter {
            buf: &mut self.buf,
            free: &mut self.free,
        }
    }
}

/// Whether `x` fits the `n`-bit dod bucket: `-(2^(n-1) - 1) <= x <= 2^(n-1)`.
fn fits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Encodes ascending samples into chunks of at most `per_chunk` samples each.
pub fn encode_chunks(samples: &[Sample], per_chunk: usize) -> Vec<XorChunk> {
    let per_chunk = per_chunk.clamp(1, CHUNK_SAMPLES_LIMIT);
    samples
        .chunks(per_chunk)
        .filter_map(|part| {
            let mut enc = XorEncoder::new();
            for s in part {
                enc.append(s.t, s.v);
            }
            enc.finish()
        })
        .collect()
}

/// Decodes every sample of a chunk.
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, ChunkDecodeError> {
    if data.len() < HEADER_LEN {
        return Err(ChunkDecodeError("shorter than its 2-byte header".into()));
    }
    let count = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let mut r = BitReader(bits::BitReader::new(&data[HEADER_LEN..]));
    let mut out = Vec::with_capacity(count);
    let (mut t, mut t_delta, mut v) = (0i64, 0u64, 0u64);
    let (mut leading, mut trailing) = (0u8, 0u8);
    for i in 0..count {
        match i {
            0 => {
                let u = r.uvarint()?;
                t = ((u >> 1) as i64) ^ -((u & 1) as i64);
                v = r.bits(64)?;
            }
            1 => {
                t_delta = r.uvarint()?;
                t = t.wrapping_add(t_delta as i64);
                v = r.value(v, &mut leading, &mut trailing)?;
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    prefix <<= 1;
                    if r.bits(1)? == 0 {
                        break;
                    }
                    prefix |= 1;
                }
                let size = match prefix {
                    0b0 => 0,
                    0b10 => 14,
                    0b110 => 17,
                    0b1110 => 20,
                    _ => 64,
                };
                let dod = match size {
                    0 => 0,
                    64 => r.bits(64)? as i64,
                    n => {
                        let raw = r.bits(n)? as i64;
                        if raw > 1i64 << (n - 1) {
                            raw - (1i64 << n)
                        } else {
                            raw
                        }
                    }
                };
                t_delta = t_delta.wrapping_add(dod as u64);
                t = t.wrapping_add(t_delta as i64);
                v = r.value(v, &mut leading, &mut trailing)?;
            }
        }
        out.push(Sample::new(t, f64::from_bits(v)));
    }
    Ok(out)
}

/// Reads bits most significant first, with this format's errors.
struct BitReader<'a>(bits::BitReader<'a>);

impl BitReader<'_> {
    fn bits(&mut self, n: u32) -> Result<u64, ChunkDecodeError> {
        self.0
            .bits(n)
            .map_err(|_| ChunkDecodeError("bit stream truncated".into()))
    }

    fn uvarint(&mut self) -> Result<u64, ChunkDecodeError> {
        let mut out = 0u64;
        for i in 0..10 {
            let b = self.bits(8)?;
            if i == 9 && b > 1 {
                break;
            }
            out |= (b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(out);
            }
        }
        Err(ChunkDecodeError("varint overflows 64 bits".into()))
    }

    fn value(
        &mut self,
        prev: u64,
        leading: &mut u8,
        trailing: &mut u8,
    ) -> Result<u64, ChunkDecodeError> {
        if self.bits(1)? == 0 {
            return Ok(prev);
        }
        if self.bits(1)? == 1 {
            let l = self.bits(5)? as u8;
            let mut significant = self.bits(6)? as u8;
            if significant == 0 {
                significant = 64;
            }
            if u32::from(l) + u32::from(significant) > 64 {
                return Err(ChunkDecodeError("xor window wider than 64 bits".into()));
            }
            *leading = l;
            *trailing = 64 - l - significant;
        }
        let significant = 64 - u32::from(*leading) - u32::from(*trailing);
        let bits = self.bits(significant)?;
        Ok(prev ^ (bits << *trailing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(pairs: &[(i64, f64)]) -> Vec<Sample> {
        pairs.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    fn assert_round_trip(input: &[Sample]) {
        let mut enc = XorEncoder::new();
        for s in input {
            enc.append(s.t, s.v);
        }
        let chunk = enc.finish().expect("non-empty");
        assert_eq!(chunk.min_time_ms, input[0].t);
        assert_eq!(chunk.max_time_ms, input[input.len() - 1].t);
        let back = decode(&chunk.data).unwrap();
        assert_eq!(back.len(), input.len());
        for (a, b) in input.iter().zip(&back) {
            assert_eq!(a.t, b.t);
            assert_eq!(a.v.to_bits(), b.v.to_bits(), "value at {}", a.t);
        }
    }

    /// Computed by hand, bit by bit, in `xor.md` (and checked against chunks a real Prometheus
    /// serves in `node/tests/prometheus_remote_read.rs`).
    #[test]
    fn golden_bytes() {
        let mut enc = XorEncoder::new();
        for (t, v) in [(1000, 1.0), (2000, 1.0), (3000, 2.0)] {
            enc.append(t, v);
        }
        let chunk = enc.finish().unwrap();
        assert_eq!(
            chunk.data,
            [
                0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x30, 0x97, 0xff,
                0xc0
            ]
        );
        assert_eq!((chunk.min_time_ms, chunk.max_time_ms), (1000, 3000));
    }

    #[test]
    fn one_sample_and_empty() {
        assert!(XorEncoder::new().finish().is_none());
        let mut enc = XorEncoder::new();
        enc.append(-5, -0.0);
        let chunk = enc.finish().unwrap();
        // varint(-5) = zigzag 9; -0.0 is the sign bit only.
        assert_eq!(chunk.data, [0, 1, 0x09, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_round_trip(&samples(&[(-5, -0.0)]));
    }

    #[test]
    fn every_dod_bucket_and_its_edges_round_trip() {
        let mut t = 1_700_000_000_000i64;
        let mut input = vec![Sample::new(t, 0.0)];
        let mut delta = 15_000i64;
        t += delta;
        input.push(Sample::new(t, 1.0));
        for dod in [
            0,
            1,
            -1,
            8192,
            -8191,
            8193,
            -8192,
            65536,
            -65535,
            65537,
            -65536,
            524_288,
            -524_287,
            524_289,
            -524_288,
            1 << 40,
            -(1 << 40),
            0,
        ] {
            delta += dod;
            t += delta;
            input.push(Sample::new(t, (t % 97) as f64));
        }
        assert_round_trip(&input);
    }

    #[test]
    fn special_values_keep_their_bits() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let values = [
            1.0,
            stale,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            5e-324,
            0.1,
            0.1,
            123_456_789.0,
            stale,
            1.0,
        ];
        let input: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(i as i64 * 1000, v))
            .collect();
        assert_round_trip(&input);
    }

    #[test]
    fn pseudo_random_series_round_trip() {
        // xorshift: reproducible without a dependency.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..50 {
            let mut t = (next() % 1_000_000_000) as i64;
            let mut input = Vec::new();
            for _ in 0..(1 + next() % 300) {
                let v = match round % 3 {
                    0 => f64::from_bits(next()),
                    1 => (next() % 1000) as f64,
                    _ => (next() % 1_000_000) as f64 / 1000.0,
                };
                input.push(Sample::new(t, v));
                t += match next() % 4 {
                    0 => 15_000,
                    1 => 15_000 + (next() % 200) as i64 - 100,
                    2 => (next() % 100_000_000) as i64,
                    _ => 1,
                };
            }
            assert_round_trip(&input);
        }
    }

    #[test]
    fn chunks_are_cut_at_the_sample_limit() {
        let input: Vec<Sample> = (0..250).map(|i| Sample::new(i * 10, i as f64)).collect();
        let chunks = encode_chunks(&input, CHUNK_SAMPLES_MAX);
        assert_eq!(chunks.len(), 3);
        assert_eq!((chunks[0].min_time_ms, chunks[0].max_time_ms), (0, 1190));
        assert_eq!((chunks[2].min_time_ms, chunks[2].max_time_ms), (2400, 2490));
        let back: Vec<Sample> = chunks
            .iter()
            .flat_map(|c| decode(&c.data).unwrap())
            .collect();
        assert_eq!(back, input);
        assert!(encode_chunks(&[], CHUNK_SAMPLES_MAX).is_empty());
    }

    #[test]
    fn truncated_chunks_are_errors() {
        let input: Vec<Sample> = (0..10)
            .map(|i| Sample::new(i * 10, i as f64 * 1.5))
            .collect();
        let chunk = encode_chunks(&input, 10).remove(0);
        for len in 0..chunk.data.len() {
            assert!(decode(&chunk.data[..len]).is_err(), "prefix of {len} bytes");
        }
        assert!(decode(&[0x00, 0x00]).unwrap().is_empty());
    }

    /// What the decoder answers for bytes no encoder produces, as Prometheus' Go decoder
    /// would: the value window starts as (0, 0), so a reuse before any window reads 64 bits;
    /// a varint that overflows 64 bits is refused. Errors are worded as they always were.
    #[test]
    fn malformed_chunks_get_the_same_answers() {
        let message = |data: &[u8]| decode(data).unwrap_err().to_string();
        assert_eq!(
            message(&[0]),
            "invalid XOR chunk: shorter than its 2-byte header"
        );
        assert_eq!(
            message(&[0, 1, 0]),
            "invalid XOR chunk: bit stream truncated"
        );
        // t0 = 0, v0 = 0.0, then delta 1 and '10' with the 64 bits of 1.0.
        let mut unset_window = vec![0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x8f, 0xfc];
        unset_window.extend([0; 7]);
        assert_eq!(
            decode(&unset_window).unwrap(),
            samples(&[(0, 0.0), (1, 1.0)])
        );
        // The same, then '11' L=31 S=63.
        let too_wide = [0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xf8];
        assert_eq!(
            message(&too_wide),
            "invalid XOR chunk: xor window wider than 64 bits"
        );
        for tenth in [0x02, 0xff] {
            let mut overflowing = vec![0, 1];
            overflowing.extend([0xff; 9]);
            overflowing.push(tenth);
            overflowing.extend([0; 9]);
            assert_eq!(
                message(&overflowing),
                "invalid XOR chunk: varint overflows 64 bits"
            );
        }
    }

    #[test]
    #[should_panic(expected = "XOR chunk full")]
    fn appending_to_a_full_chunk_panics() {
        let mut enc = XorEncoder::new();
        let limit = usize::from(u16::MAX);
        for i in 0..limit {
            enc.append(i as i64, 1.0);
        }
        assert!(enc.is_full());
        enc.append(limit as i64, 1.0);
    }
}
