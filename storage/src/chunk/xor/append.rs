//! The appendable XOR chunk: encoded bytes plus the state needed to append the next sample.

use super::{ChunkTail, XOR_SAMPLES_MAX, XorIter, XorLayout};
use crate::chunk::bits::BitWriter;
use crate::chunk::gorilla::{write_dod, write_value};
use crate::chunk::xor::layout::WINDOW_UNSET;
use crate::error::{Error, Result};
use thin_vec::ThinVec;

/// An appendable XOR chunk in one [`XorLayout`]: the encoded bytes plus the state needed to
/// append the next sample. Its bytes are a valid chunk after every append, until the front of
/// them is given up ([`XorChunk::forget_stored`], once a store holds it): then it holds only
/// the bytes from `dropped` on, a [`ChunkTail`] to append to the stored ones.
#[derive(Clone, Debug)]
pub struct XorChunk {
    layout: XorLayout,
    /// The encoded bytes from `dropped` on.
    buf: ThinVec<u8>,
    /// Leading bytes of the encoding no longer held (0: `buf` is the whole chunk).
    dropped: u32,
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
    /// An empty chunk in Tidemark's on-disk layout.
    pub fn new() -> Self {
        Self::with_layout(XorLayout::Tidemark)
    }

    /// An empty chunk in `layout`.
    pub fn with_layout(layout: XorLayout) -> Self {
        let mut buf = ThinVec::with_capacity(32);
        buf.resize(layout.header_len(), 0);
        layout.write_header(&mut buf, 0);
        XorChunk {
            layout,
            buf,
            dropped: 0,
            free: 0,
            leading: WINDOW_UNSET,
            trailing: 0,
            count: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            min_t: 0,
        }
    }

    /// Reopens an encoded on-disk (Tidemark layout) chunk for appending: decodes it once to
    /// restore the appender state.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut it = XorIter::new(bytes)?;
        while it.next_sample()?.is_some() {}
        let state = it.appender_state();
        let mut chunk = XorChunk {
            layout: XorLayout::Tidemark,
            buf: ThinVec::from(bytes),
            dropped: 0,
            free: 0,
            leading: state.leading,
            trailing: state.trailing,
            count: state.count,
            t: state.t,
            t_delta: state.t_delta,
            v: state.v,
            min_t: state.first_t,
        };
        let used_bits = XorLayout::Tidemark.header_len() * 8 + state.position_bits;
        chunk.buf.truncate(used_bits.div_ceil(8));
        chunk.free = ((8 - used_bits % 8) % 8) as u8;
        Ok(chunk)
    }

    /// The chunk's byte layout.
    pub fn layout(&self) -> XorLayout {
        self.layout
    }

    /// Prefetches the buffer's header: a `ThinVec` keeps its length and capacity in the 16
    /// bytes just before its data, one 16-aligned block, so the line of the byte before the
    /// data holds the length. The first of the two steps that let
    /// [`XorChunk::prefetch_tail`] read the length from cache.
    pub fn prefetch_header(&self) {
        crate::prefetch::prefetch(self.buf.as_ptr().wrapping_sub(1));
    }

    /// Prefetches the last byte, which the next append writes (reads the buffer's length).
    pub fn prefetch_tail(&self) {
        let last = self.buf.len().saturating_sub(1);
        crate::prefetch::prefetch(self.buf.as_ptr().wrapping_add(last));
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

    /// The encoded bytes (header included): a valid chunk while nothing was dropped
    /// ([`XorChunk::is_whole`]); otherwise the tail's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded bytes (header included).
    pub fn into_bytes(self) -> Vec<u8> {
        debug_assert!(self.is_whole());
        self.buf.into_iter().collect()
    }

    /// Whether every byte of the encoding is held.
    pub fn is_whole(&self) -> bool {
        self.dropped == 0
    }

    /// What is held, as a tail of the whole chunk (the whole chunk when nothing was dropped).
    pub fn tail(&self) -> ChunkTail<'_> {
        ChunkTail {
            dropped: self.dropped,
            count: self.count,
            bytes: &self.buf,
        }
    }

    /// Gives up every byte that later appends leave unchanged (all but the one under the
    /// write position), once a store holds them: an open chunk then costs its appender state
    /// and what was appended since. Tidemark layout only (the header's count is rewritten by
    /// [`ChunkTail::append_to`], not here).
    pub fn forget_stored(&mut self) {
        debug_assert_eq!(self.layout, XorLayout::Tidemark);
        let keep = usize::from(self.free > 0);
        let gone = self.buf.len() - keep;
        if gone == 0 {
            return;
        }
        self.buf.drain(..gone);
        self.buf.shrink_to_fit();
        self.dropped += gone as u32;
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        // A ThinVec keeps its length and capacity in front of its bytes.
        match self.buf.capacity() {
            0 => 0,
            c => c + 2 * std::mem::size_of::<usize>(),
        }
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
                self.layout.write_first_delta(&mut w, delta);
                write_value(&mut w, bits, self.v, &mut self.leading, &mut self.trailing);
                self.t_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                write_dod(&mut w, delta.wrapping_sub(self.t_delta));
                write_value(&mut w, bits, self.v, &mut self.leading, &mut self.trailing);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
        if self.dropped == 0 {
            let header_len = self.layout.header_len();
            self.layout
                .write_header(&mut self.buf[..header_len], self.count);
        }
        Ok(())
    }

    /// An iterator over the samples (none once the front was dropped: read the whole chunk
    /// through [`ChunkTail::append_to`]).
    pub fn iter(&self) -> XorIter<'_> {
        if !self.is_whole() {
            return XorIter::empty(self.layout);
        }
        // The buffer always holds a valid header, so this cannot fail.
        XorIter::with_layout(&self.buf, self.layout).unwrap_or_else(|_| XorIter::empty(self.layout))
    }
}
