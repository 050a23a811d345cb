//! Gorilla-style chunk: delta-of-delta timestamps and XOR-compressed float values, written
//! after Prometheus' `tsdb/chunkenc/xor.go`. Byte layout in `xor.md`.

use super::bits::{BitReader, BitWriter};
use super::{ENCODING_XOR, HEADER_LEN};
use crate::error::{Error, Result};
use crate::model::Sample;

/// Samples a chunk can hold (the header's count is a u16).
pub const XOR_SAMPLES_MAX: usize = u16::MAX as usize;

/// An appendable XOR chunk: the encoded bytes plus the state needed to append the next sample.
#[derive(Clone, Debug)]
pub struct XorChunk {
    buf: Vec<u8>,
    /// Unused low bits in the last byte of `buf`.
    free: u8,
    leading: u8,
    trailing: u8,
    count: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    min_t: i64,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(32);
        buf.extend_from_slice(&[ENCODING_XOR, 0, 0]);
        XorChunk {
            buf,
            free: 0,
            leading: 0xff,
            trailing: 0,
            count: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            min_t: 0,
        }
    }

    /// Reopens an encoded chunk for appending (decodes it once to restore the appender state).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut it = XorIter::new(bytes)?;
        while it.next_sample()?.is_some() {}
        let mut chunk = XorChunk {
            buf: bytes.to_vec(),
            free: 0,
            leading: it.leading,
            trailing: it.trailing,
            count: it.count,
            t: it.t,
            t_delta: it.t_delta,
            v: it.v,
            min_t: it.first_t,
        };
        let used_bits = HEADER_LEN * 8 + it.reader.position_bits();
        chunk.buf.truncate(used_bits.div_ceil(8));
        chunk.free = ((8 - used_bits % 8) % 8) as u8;
        Ok(chunk)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether another sample fits (the count is a u16).
    pub fn is_full(&self) -> bool {
        self.len() >= XOR_SAMPLES_MAX
    }

    /// Timestamp of the first sample (meaningless when empty).
    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn max_time(&self) -> i64 {
        self.t
    }

    /// Value of the last sample (meaningless when empty).
    pub fn last_value(&self) -> f64 {
        f64::from_bits(self.v)
    }

    /// The encoded bytes (header included); always a valid chunk.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Releases spare capacity (when the chunk is closed).
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Appends a sample. Timestamps are expected to ascend (the codec itself stores any order,
    /// with wrapping arithmetic). Returns an error only when the chunk is full.
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        if self.is_full() {
            return Err(Error::Decode("xor chunk is full".into()));
        }
        let bits = v.to_bits();
        let mut w = BitWriter {
            buf: &mut self.buf,
            free: &mut self.free,
        };
        match self.count {
            0 => {
                w.varint(t);
                w.bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                w.varint(delta);
                write_value(&mut w, bits, self.v, &mut self.leading, &mut self.trailing);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.t_delta);
                if dod == 0 {
                    w.bit(false);
                } else if in_bit_range(dod, 14) {
                    w.bits(0b10, 2);
                    w.bits(dod as u64, 14);
                } else if in_bit_range(dod, 17) {
                    w.bits(0b110, 3);
                    w.bits(dod as u64, 17);
                } else if in_bit_range(dod, 20) {
                    w.bits(0b1110, 4);
                    w.bits(dod as u64, 20);
                } else {
                    w.bits(0b1111, 4);
                    w.bits(dod as u64, 64);
                }
                write_value(&mut w, bits, self.v, &mut self.leading, &mut self.trailing);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
        self.buf[1..3].copy_from_slice(&self.count.to_be_bytes());
        Ok(())
    }

    /// An iterator over the samples.
    pub fn iter(&self) -> XorIter<'_> {
        // The buffer always holds a valid header, so this cannot fail.
        XorIter::new(&self.buf).unwrap_or_else(|_| XorIter::empty())
    }
}

/// Whether `x` fits the signed `n`-bit bucket the way Prometheus' `bitRange` defines it.
fn in_bit_range(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

fn write_value(w: &mut BitWriter<'_>, bits: u64, prev: u64, leading: &mut u8, trailing: &mut u8) {
    let delta = bits ^ prev;
    if delta == 0 {
        w.bit(false);
        return;
    }
    w.bit(true);
    let lead = (delta.leading_zeros() as u8).min(31);
    let trail = delta.trailing_zeros() as u8;
    if *leading != 0xff && lead >= *leading && trail >= *trailing {
        w.bit(false);
        let sig = 64 - u32::from(*leading) - u32::from(*trailing);
        w.bits(delta >> *trailing, sig);
    } else {
        *leading = lead;
        *trailing = trail;
        w.bit(true);
        w.bits(u64::from(lead), 5);
        let sig = 64 - u32::from(lead) - u32::from(trail);
        // 64 significant bits are written as 0 (6 bits cannot hold 64).
        w.bits(u64::from(sig & 63), 6);
        w.bits(delta >> trail, sig);
    }
}

/// Iterates a chunk's samples in stored order, with `seek`.
#[derive(Clone)]
pub struct XorIter<'a> {
    reader: BitReader<'a>,
    count: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
    first_t: i64,
    failed: bool,
}

impl<'a> XorIter<'a> {
    /// An iterator over an encoded XOR chunk (header included).
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::Decode("chunk shorter than its header".into()));
        }
        if bytes[0] != ENCODING_XOR {
            return Err(Error::Decode(format!(
                "not an xor chunk (encoding {})",
                bytes[0]
            )));
        }
        let count = u16::from_be_bytes([bytes[1], bytes[2]]);
        let mut it = Self::empty();
        it.reader = BitReader::new(&bytes[HEADER_LEN..]);
        it.count = count;
        Ok(it)
    }

    fn empty() -> Self {
        XorIter {
            reader: BitReader::new(&[]),
            count: 0,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            // 0xff: no value window read yet (the writer's convention too).
            leading: 0xff,
            trailing: 0,
            first_t: 0,
            failed: false,
        }
    }

    /// Number of samples the header declares.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the chunk declares no sample.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The next sample, `Ok(None)` at the end, `Err` on a corrupt chunk.
    pub fn next_sample(&mut self) -> Result<Option<Sample>> {
        if self.read >= self.count || self.failed {
            return Ok(None);
        }
        let r = self.decode_next();
        if r.is_err() {
            self.failed = true;
        }
        r.map(Some)
    }

    /// Advances to the first sample with timestamp `>= t` and returns it (samples are assumed
    /// to ascend). Does not move backwards: a sample already returned is not returned again.
    pub fn seek(&mut self, t: i64) -> Result<Option<Sample>> {
        while let Some(s) = self.next_sample()? {
            if s.t >= t {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    fn decode_next(&mut self) -> Result<Sample> {
        let r = &mut self.reader;
        match self.read {
            0 => {
                self.t = r.varint()?;
                self.v = r.bits(64)?;
                self.first_t = self.t;
            }
            1 => {
                self.t_delta = r.varint()?;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                let mut prefix = 0u32;
                while prefix < 4 && self.reader.bit()? {
                    prefix += 1;
                }
                let dod = match prefix {
                    0 => 0,
                    1 => signed(self.reader.bits(14)?, 14),
                    2 => signed(self.reader.bits(17)?, 17),
                    3 => signed(self.reader.bits(20)?, 20),
                    _ => self.reader.bits(64)? as i64,
                };
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        Ok(Sample::new(self.t, f64::from_bits(self.v)))
    }

    fn read_value(&mut self) -> Result<()> {
        let r = &mut self.reader;
        if !r.bit()? {
            return Ok(());
        }
        if r.bit()? {
            self.leading = r.bits(5)? as u8;
            let mut sig = r.bits(6)? as u32;
            if sig == 0 {
                sig = 64;
            }
            let lead = u32::from(self.leading);
            if lead + sig > 64 {
                return Err(Error::Decode("xor value window exceeds 64 bits".into()));
            }
            self.trailing = (64 - lead - sig) as u8;
        }
        if self.leading == 0xff {
            return Err(Error::Decode(
                "xor value reuses a window that was never set".into(),
            ));
        }
        let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let delta = r.bits(sig)? << self.trailing;
        self.v ^= delta;
        Ok(())
    }
}

/// Interprets the low `n` bits of `raw` as a bucket value (Prometheus' convention: values above
/// `2^(n-1)` are negative).
fn signed(raw: u64, n: u32) -> i64 {
    let raw = raw as i64;
    if raw > (1i64 << (n - 1)) {
        raw - (1i64 << n)
    } else {
        raw
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_sample().transpose()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod golden_tests;
