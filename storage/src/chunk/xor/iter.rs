//! Reading an XOR chunk's samples in stored order, with `seek`.

use super::{XorDecodeError, XorLayout};
use crate::chunk::bits::BitReader;
use crate::chunk::gorilla::{bits, read_dod, read_value};
use crate::error::Result;
use crate::model::Sample;

/// Iterates a chunk's samples in stored order, with `seek`.
#[derive(Clone)]
pub struct XorIter<'a> {
    layout: XorLayout,
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

/// What an appender continues from once every sample is read (`XorChunk::from_bytes`).
pub(super) struct AppenderState {
    pub count: u16,
    pub t: i64,
    pub t_delta: i64,
    pub v: u64,
    pub leading: u8,
    pub trailing: u8,
    pub first_t: i64,
    /// Bits of the stream read, after the header.
    pub position_bits: usize,
}

impl<'a> XorIter<'a> {
    /// An iterator over an encoded chunk in Tidemark's on-disk layout (header included).
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        Ok(Self::with_layout(bytes, XorLayout::Tidemark)?)
    }

    /// An iterator over an encoded chunk in `layout` (header included).
    pub fn with_layout(bytes: &'a [u8], layout: XorLayout) -> Result<Self, XorDecodeError> {
        let count = layout.read_header(bytes)?;
        let mut it = Self::empty(layout);
        it.reader = BitReader::new(&bytes[layout.header_len()..]);
        it.count = count;
        Ok(it)
    }

    pub(super) fn empty(layout: XorLayout) -> Self {
        let (leading, trailing) = layout.initial_read_window();
        XorIter {
            layout,
            reader: BitReader::new(&[]),
            count: 0,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading,
            trailing,
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
        self.next_as()
    }

    /// [`Self::next_sample`] with the reason as a value, for callers with an error type of
    /// their own.
    pub fn try_next_sample(&mut self) -> Result<Option<Sample>, XorDecodeError> {
        self.next_as()
    }

    /// The next sample, with an error made an `E` where it arises (so that the path of every
    /// sample converts nothing: this is the query hot path).
    fn next_as<E: From<XorDecodeError>>(&mut self) -> Result<Option<Sample>, E> {
        if self.read >= self.count || self.failed {
            return Ok(None);
        }
        let r = self.read_sample::<E>();
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

    pub(super) fn appender_state(&self) -> AppenderState {
        AppenderState {
            count: self.count,
            t: self.t,
            t_delta: self.t_delta,
            v: self.v,
            leading: self.leading,
            trailing: self.trailing,
            first_t: self.first_t,
            position_bits: self.reader.position_bits(),
        }
    }

    fn read_sample<E: From<XorDecodeError>>(&mut self) -> Result<Sample, E> {
        match self.read {
            0 => {
                self.t = self.layout.read_varint(&mut self.reader)?;
                self.v = bits(&mut self.reader, 64)?;
                self.first_t = self.t;
            }
            1 => {
                self.t_delta = self.layout.read_first_delta(&mut self.reader)?;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                let dod = read_dod(&mut self.reader)?;
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        Ok(Sample::new(self.t, f64::from_bits(self.v)))
    }

    fn read_value<E: From<XorDecodeError>>(&mut self) -> Result<(), E> {
        read_value(
            &mut self.reader,
            &mut self.v,
            &mut self.leading,
            &mut self.trailing,
        )
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<Sample>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_sample().transpose()
    }
}
