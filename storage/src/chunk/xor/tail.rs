//! The part of an open XOR chunk (Tidemark layout) appended since its front was stored, and
//! the record that appends it to the stored chunk (a RocksDB merge operand). Byte layout in
//! `xor.md`, "Tails".

use crate::chunk::{ENCODING_XOR, HEADER_LEN};
use crate::error::{Error, Result};

/// The first byte of an encoded tail.
const TAIL_RECORD: u8 = 0xA1;
/// `TAIL_RECORD dropped:u32 count:u16`, then the bytes.
const TAIL_HEADER_LEN: usize = 7;

/// The bytes of a chunk from `dropped` on, and the chunk's sample count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkTail<'a> {
    /// Leading bytes of the whole chunk that are not in `bytes`.
    pub dropped: u32,
    /// Samples in the whole chunk.
    pub count: u16,
    pub bytes: &'a [u8],
}

fn bad(what: &str) -> Error {
    Error::Decode(format!("chunk tail: {what}"))
}

impl<'a> ChunkTail<'a> {
    /// The record a store keeps until it applies it: `A1 dropped:u32be count:u16be bytes`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TAIL_HEADER_LEN + self.bytes.len());
        out.push(TAIL_RECORD);
        out.extend_from_slice(&self.dropped.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(self.bytes);
        out
    }

    /// Reads a record written by [`ChunkTail::encode`].
    pub fn decode(record: &'a [u8]) -> Result<Self> {
        if record.len() < TAIL_HEADER_LEN || record[0] != TAIL_RECORD {
            return Err(bad("not a tail record"));
        }
        let dropped = u32::from_be_bytes(record[1..5].try_into().expect("4 bytes"));
        let count = u16::from_be_bytes(record[5..7].try_into().expect("2 bytes"));
        Ok(ChunkTail {
            dropped,
            count,
            bytes: &record[TAIL_HEADER_LEN..],
        })
    }

    /// Completes `chunk` (the stored chunk: at least its first `dropped` bytes, perhaps more
    /// from a later store) into the whole chunk this tail ends: the stored bytes up to
    /// `dropped`, then the tail's, with the tail's count in the header. A whole chunk
    /// (`dropped` 0) replaces `chunk`.
    pub fn append_to(&self, chunk: &mut Vec<u8>) -> Result<()> {
        let at = self.dropped as usize;
        if at == 0 {
            chunk.clear();
            chunk.extend_from_slice(self.bytes);
            return Ok(());
        }
        if at < HEADER_LEN || chunk.len() < at || chunk.first() != Some(&ENCODING_XOR) {
            return Err(bad(&format!(
                "appends at byte {at} of a stored chunk of {} bytes",
                chunk.len()
            )));
        }
        chunk.truncate(at);
        chunk.extend_from_slice(self.bytes);
        chunk[1..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
        Ok(())
    }

    /// One tail doing what `self` then `later` do, when `later` starts within `self`'s bytes
    /// (it always does for two flushes of one chunk); `None` otherwise.
    pub fn then(&self, later: &ChunkTail<'_>) -> Option<Vec<u8>> {
        let keep = later.dropped.checked_sub(self.dropped)? as usize;
        let front = self.bytes.get(..keep)?;
        let mut bytes = Vec::with_capacity(keep + later.bytes.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(later.bytes);
        Some(
            ChunkTail {
                dropped: self.dropped,
                count: later.count,
                bytes: &bytes,
            }
            .encode(),
        )
    }
}

/// A store's full merge: the stored chunk (if any) with every tail record applied in order.
pub fn apply_tails<'r>(
    stored: Option<&[u8]>,
    records: impl IntoIterator<Item = &'r [u8]>,
) -> Result<Vec<u8>> {
    let mut chunk = stored.map(<[u8]>::to_vec).unwrap_or_default();
    for r in records {
        ChunkTail::decode(r)?.append_to(&mut chunk)?;
    }
    Ok(chunk)
}

/// A store's partial merge: tail records combined into one, when each starts within the
/// previous one's bytes.
pub fn combine_tails<'r>(records: impl IntoIterator<Item = &'r [u8]>) -> Option<Vec<u8>> {
    let mut acc: Option<Vec<u8>> = None;
    for r in records {
        let next = ChunkTail::decode(r).ok()?;
        acc = Some(match acc {
            None => r.to_vec(),
            Some(prev) => ChunkTail::decode(&prev).ok()?.then(&next)?,
        });
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::XorChunk;

    fn samples(c: &[u8]) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        crate::chunk::decode_range(c, i64::MIN, i64::MAX, &mut out).unwrap();
        out.into_iter().map(|s| (s.t, s.v)).collect()
    }

    /// A chunk flushed three times, its front forgotten after each: the stored chunk with the
    /// tails applied in order (one by one, or combined first) is the chunk appended whole.
    #[test]
    fn tails_applied_to_the_stored_front_give_the_whole_chunk() {
        let mut whole = XorChunk::new();
        let mut open = XorChunk::new();
        let mut stored: Option<Vec<u8>> = None;
        let mut records: Vec<Vec<u8>> = Vec::new();
        let mut t = 1_000;
        for (round, n) in [5, 1, 7, 3].into_iter().enumerate() {
            for i in 0..n {
                t += 15_000 + (i % 3) * 7;
                let v = (t as f64).sin() * 100.0 + round as f64;
                whole.append(t, v).unwrap();
                open.append(t, v).unwrap();
            }
            if stored.is_none() {
                stored = Some(open.bytes().to_vec());
            } else {
                records.push(open.tail().encode());
            }
            open.forget_stored();
            assert!(open.bytes().len() <= 1, "{} bytes held", open.bytes().len());
        }
        let stored = stored.unwrap();
        let one_by_one = apply_tails(Some(&stored), records.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(one_by_one, whole.bytes());
        assert_eq!(samples(&one_by_one), samples(whole.bytes()));
        let combined = combine_tails(records.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(
            apply_tails(Some(&stored), [combined.as_slice()]).unwrap(),
            whole.bytes()
        );
        // A stored chunk that already holds a later flush is completed the same way.
        let mut later = one_by_one.clone();
        ChunkTail::decode(&records[0])
            .unwrap()
            .append_to(&mut later)
            .unwrap();
        let first_two = apply_tails(Some(&stored), [records[0].as_slice()]).unwrap();
        assert_eq!(later, first_two);
    }

    #[test]
    fn a_tail_without_its_front_is_refused() {
        let mut c = XorChunk::new();
        for t in 0..10 {
            c.append(t * 1000, t as f64).unwrap();
        }
        c.forget_stored();
        c.append(20_000, 1.0).unwrap();
        let record = c.tail().encode();
        assert!(apply_tails(None, [record.as_slice()]).is_err());
        assert!(apply_tails(Some(&[1, 0, 1]), [record.as_slice()]).is_err());
        assert!(ChunkTail::decode(&[0xA1, 0, 0]).is_err());
        assert!(ChunkTail::decode(&[1, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Tails that do not follow each other are left uncombined.
        let a = ChunkTail {
            dropped: 10,
            count: 3,
            bytes: &[1, 2],
        }
        .encode();
        let b = ChunkTail {
            dropped: 20,
            count: 4,
            bytes: &[3],
        }
        .encode();
        assert_eq!(combine_tails([a.as_slice(), b.as_slice()]), None);
    }
}
