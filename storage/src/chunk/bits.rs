//! Bit-level writer and reader (most significant bit first): for the XOR chunks of both layouts
//! (`xor.md`) and any other bit-packed format built on the same primitives.

use crate::error::{Error, Result};

/// A growable byte buffer a [`BitWriter`] appends to.
pub trait ByteBuf {
    fn byte_len(&self) -> usize;
    fn capacity(&self) -> usize;
    fn reserve_exact(&mut self, additional: usize);
    fn push(&mut self, byte: u8);
    fn last_mut(&mut self) -> Option<&mut u8>;
}

impl ByteBuf for Vec<u8> {
    fn byte_len(&self) -> usize {
        Vec::len(self)
    }
    fn capacity(&self) -> usize {
        Vec::capacity(self)
    }
    fn reserve_exact(&mut self, additional: usize) {
        Vec::reserve_exact(self, additional);
    }
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    fn last_mut(&mut self) -> Option<&mut u8> {
        <[u8]>::last_mut(self)
    }
}

/// An open chunk's buffer: one word in its chunk instead of three.
impl ByteBuf for thin_vec::ThinVec<u8> {
    fn byte_len(&self) -> usize {
        thin_vec::ThinVec::len(self)
    }
    fn capacity(&self) -> usize {
        thin_vec::ThinVec::capacity(self)
    }
    fn reserve_exact(&mut self, additional: usize) {
        thin_vec::ThinVec::reserve_exact(self, additional);
    }
    fn push(&mut self, byte: u8) {
        thin_vec::ThinVec::push(self, byte);
    }
    fn last_mut(&mut self) -> Option<&mut u8> {
        <[u8]>::last_mut(self)
    }
}

/// Appends bits to a byte buffer; `free` is the number of unused low bits in the last byte.
pub struct BitWriter<'a, B: ByteBuf = Vec<u8>> {
    pub buf: &'a mut B,
    pub free: &'a mut u8,
}

impl<B: ByteBuf> BitWriter<'_, B> {
    pub fn bit(&mut self, b: bool) {
        self.bits(u64::from(b), 1);
    }

    /// Writes the low `n` bits of `v` (n <= 64): what fits in the last byte's free bits, then
    /// whole bytes (the buffer grown once per call, not per byte).
    pub fn bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        let free = u32::from(*self.free);
        if n <= free {
            if let Some(last) = self.buf.last_mut() {
                *last |= (v << (free - n)) as u8;
            }
            *self.free = (free - n) as u8;
            return;
        }
        // The bits left once the last byte is full: 1 to 64, in new bytes.
        let mut rest = n - free;
        if free > 0
            && let Some(last) = self.buf.last_mut()
        {
            *last |= (v >> rest) as u8;
        }
        let new_bytes = rest.div_ceil(8) as usize;
        let len = self.buf.byte_len();
        if len + new_bytes > self.buf.capacity() {
            // An eighth more (at least 16 bytes), not twice: an open chunk lives in memory
            // all its life, and doubling left it a quarter empty on average.
            self.buf.reserve_exact((len / 8).max(16).max(new_bytes));
        }
        while rest >= 8 {
            rest -= 8;
            self.buf.push((v >> rest) as u8);
        }
        if rest > 0 {
            self.buf.push((v << (8 - rest)) as u8);
        }
        *self.free = ((8 - rest) % 8) as u8;
    }

    /// Writes a zigzag LEB128 varint, byte by byte through the bit stream.
    pub fn varint(&mut self, v: i64) {
        self.uvarint(crate::varint::zigzag(v));
    }

    /// Writes an unsigned LEB128 varint, byte by byte through the bit stream.
    pub fn uvarint(&mut self, mut u: u64) {
        while u >= 0x80 {
            self.bits((u & 0x7f) | 0x80, 8);
            u >>= 7;
        }
        self.bits(u, 8);
    }
}

/// Reads bits from a byte slice; fails with `Error::Decode` at the end of the input.
#[derive(Clone)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Position in bits from the start of `buf`.
    pos: usize,
}

fn truncated() -> Error {
    Error::Decode("chunk bit stream truncated".into())
}

impl<'a> BitReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// The bit position (for restoring an appender).
    pub fn position_bits(&self) -> usize {
        self.pos
    }

    /// Bits not read yet (a bound on what a corrupt header may claim to follow).
    pub fn remaining_bits(&self) -> usize {
        (self.buf.len() * 8).saturating_sub(self.pos)
    }

    /// Reads an unsigned LEB128 varint (at most 10 bytes, bits beyond 64 dropped).
    pub fn uvarint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.bits(8)?;
            v |= (b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Error::Decode("chunk varint longer than 10 bytes".into()))
    }

    pub fn bit(&mut self) -> Result<bool> {
        let Some(&byte) = self.buf.get(self.pos / 8) else {
            return Err(truncated());
        };
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` bits (n <= 64) as the low bits of the result.
    pub fn bits(&mut self, n: u32) -> Result<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Ok(0);
        }
        let end = self.pos + n as usize;
        if end > self.buf.len() * 8 {
            return Err(truncated());
        }
        // The (at most 71) bits from the byte holding `pos` on, as the top of a 128-bit window:
        // one load and two shifts instead of a loop per byte.
        let byte = self.pos / 8;
        let window = match self.buf.get(byte..byte + 16) {
            Some(b) => u128::from_be_bytes(b.try_into().expect("16 bytes")),
            None => {
                let mut padded = [0u8; 16];
                let tail = &self.buf[byte..];
                padded[..tail.len()].copy_from_slice(tail);
                u128::from_be_bytes(padded)
            }
        };
        let offset = (self.pos % 8) as u32;
        self.pos = end;
        Ok(((window << offset) >> (128 - n)) as u64)
    }

    /// Reads a zigzag LEB128 varint.
    pub fn varint(&mut self) -> Result<i64> {
        Ok(crate::varint::unzigzag(self.uvarint()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut buf = Vec::new();
        let mut free = 0u8;
        let items: Vec<(u64, u32)> = vec![
            (1, 1),
            (0b101, 3),
            (u64::MAX, 64),
            (0x1234, 14),
            (0, 5),
            (77, 7),
        ];
        {
            let mut w = BitWriter {
                buf: &mut buf,
                free: &mut free,
            };
            for &(v, n) in &items {
                w.bits(v, n);
            }
            w.varint(-123456);
        }
        let mut r = BitReader::new(&buf);
        for &(v, n) in &items {
            assert_eq!(r.bits(n).unwrap(), v);
        }
        assert_eq!(r.varint().unwrap(), -123456);
        assert!(r.bits(16).is_err());
    }

    /// The bytes written are those of writing each bit alone, most significant first, and
    /// bits of `v` above `n` are ignored (the XOR encoding writes negative deltas that way).
    #[test]
    fn writes_what_a_bit_at_a_time_writer_writes() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut buf, mut free) = (Vec::new(), 0u8);
        let mut want: Vec<bool> = Vec::new();
        let mut w = BitWriter {
            buf: &mut buf,
            free: &mut free,
        };
        for _ in 0..5000 {
            let n = rng.random_range(0..=64u32);
            let v: u64 = rng.random();
            w.bits(v, n);
            want.extend((0..n).rev().map(|i| (v >> i) & 1 == 1));
        }
        let want_bytes: Vec<u8> = want
            .chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << (7 - i)))
            })
            .collect();
        assert_eq!(buf, want_bytes);
        assert_eq!(usize::from(free), buf.len() * 8 - want.len());
    }

    /// Every width at every bit offset, near the end of the buffer too (the reader's padded
    /// path), against the writer; single bits through `bit` as well.
    #[test]
    fn every_width_and_offset_round_trips() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut items: Vec<(u64, u32)> = Vec::new();
        for _ in 0..2000 {
            let n = rng.random_range(0..=64u32);
            let v = if n == 0 {
                0
            } else {
                rng.random::<u64>() >> (64 - n)
            };
            items.push((v, n));
        }
        let (mut buf, mut free) = (Vec::new(), 0u8);
        {
            let mut w = BitWriter {
                buf: &mut buf,
                free: &mut free,
            };
            for &(v, n) in &items {
                w.bits(v, n);
            }
        }
        let mut r = BitReader::new(&buf);
        for (i, &(v, n)) in items.iter().enumerate() {
            if n == 1 {
                assert_eq!(r.bit().unwrap(), v == 1, "item {i}");
            } else {
                assert_eq!(r.bits(n).unwrap(), v, "item {i} ({n} bits)");
            }
        }
        let left = buf.len() * 8 - r.position_bits();
        assert!(left < 8);
        assert!(r.bits(left as u32 + 1).is_err());
        assert_eq!(r.bits(left as u32).unwrap(), 0, "padding bits are zero");
        assert!(r.bit().is_err());
    }
}
