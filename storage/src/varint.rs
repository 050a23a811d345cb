//! LEB128 varints and zigzag signed varints, shared by the command and key encodings.

use crate::error::{Error, Result};

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Maps a signed integer to an unsigned one so that small magnitudes stay small.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends `v` as a zigzag varint.
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Decodes an unsigned LEB128 varint from bytes `next` yields, rejecting encodings longer
/// than 10 bytes or overflowing 64 bits (`Err` of `next` is passed through).
pub fn read_uvarint(mut next: impl FnMut() -> Result<u8>) -> Result<u64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = next()?;
        if i == 9 && b > 1 {
            return Err(Error::Decode("varint overflows 64 bits".into()));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(Error::Decode("varint longer than 10 bytes".into()))
}

/// A cursor over bytes that fails with [`Error::Decode`] instead of reading past the end.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| truncated("byte"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads exactly `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(truncated("byte string"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Reads a little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads an unsigned LEB128 varint, rejecting encodings longer than 10 bytes or overflowing.
    pub fn uvarint(&mut self) -> Result<u64> {
        read_uvarint(|| self.u8())
    }

    /// Reads a zigzag varint.
    pub fn varint(&mut self) -> Result<i64> {
        Ok(unzigzag(self.uvarint()?))
    }

    /// Reads a varint length or count and checks that at least `min_bytes_each` bytes per item
    /// remain, so that garbage cannot make the decoder allocate unbounded memory.
    pub fn len(&mut self, min_bytes_each: usize) -> Result<usize> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| Error::Decode("length overflows usize".into()))?;
        if n.saturating_mul(min_bytes_each) > self.remaining() {
            return Err(truncated("length-prefixed data"));
        }
        Ok(n)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<&'a str> {
        let n = self.len(1)?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).map_err(|_| Error::Decode("string is not UTF-8".into()))
    }
}

fn truncated(what: &str) -> Error {
    Error::Decode(format!("input truncated while reading {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_extremes() {
        for v in [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1 << 40] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(Reader::new(&b).varint().unwrap(), v);
        }
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(b.len(), 10);
        assert_eq!(Reader::new(&b).uvarint().unwrap(), u64::MAX);
    }

    #[test]
    fn rejects_overlong_and_truncated() {
        assert!(Reader::new(&[0x80, 0x80]).uvarint().is_err());
        assert!(Reader::new(&[0xff; 11]).uvarint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .uvarint()
                .is_err()
        );
    }
}
