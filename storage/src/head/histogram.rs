//! The in-memory head of one series' native histogram samples, beside its float head
//! ([`super::HeadSeries`]): an open histogram chunk, closed chunks not yet persisted (or, in
//! the in-memory engine, kept), and an out-of-order buffer. The same rules as floats: in-order
//! samples (`t > last_t`) append, the chunk cut at `chunk_samples_max` samples, at
//! [`HISTOGRAM_CHUNK_BYTES_MAX`] bytes, at a partition boundary or where the kind (integer or
//! float counts) changes; a later sample at a timestamp already held is dropped (the first
//! applied wins everywhere), others are buffered sorted.
//!
//! Histogram series are few and their chunks are written whole at every flush, so the head
//! keeps an open chunk whole until it is closed and persisted.

use crate::chunk::histogram::{HistogramChunk, HistogramIter};
use crate::histogram::HistogramSample;

use super::Appended;

/// Bytes at which a histogram chunk is cut (a few KiB: what a flush rewrites per series).
pub(crate) const HISTOGRAM_CHUNK_BYTES_MAX: usize = 4096;

/// The open histogram chunk of a series.
#[derive(Clone, Debug)]
pub(crate) struct OpenHistogramChunk {
    /// Start of the partition the chunk belongs to.
    pub partition: i64,
    pub chunk: HistogramChunk,
    /// Changed since it was last flushed.
    pub dirty: bool,
}

/// A histogram chunk that takes no more samples.
#[derive(Clone, Debug)]
pub(crate) struct ClosedHistogramChunk {
    pub partition: i64,
    pub min_t: i64,
    pub max_t: i64,
    pub bytes: Box<[u8]>,
    /// Already written to the backend under its key.
    pub persisted: bool,
}

/// The histogram head of one series.
#[derive(Clone, Debug)]
pub(crate) struct HistogramHead {
    /// Largest in-order timestamp applied (`i64::MIN` when none).
    pub last_t: i64,
    pub open: Option<OpenHistogramChunk>,
    pub closed: Vec<ClosedHistogramChunk>,
    /// Out-of-order samples not yet flushed, sorted by timestamp, unique timestamps.
    pub ooo: Vec<HistogramSample>,
}

impl Default for HistogramHead {
    fn default() -> Self {
        HistogramHead {
            last_t: i64::MIN,
            open: None,
            closed: Vec::new(),
            ooo: Vec::new(),
        }
    }
}

impl HistogramHead {
    /// Appends `s`, which lies in partition `partition`.
    pub fn append(
        &mut self,
        s: &HistogramSample,
        partition: i64,
        chunk_samples_max: usize,
    ) -> Appended {
        if s.t > self.last_t {
            let fits = self.open.as_ref().is_some_and(|o| {
                o.partition == partition
                    && o.chunk.takes(&s.h)
                    && o.chunk.len() < chunk_samples_max.max(1)
                    && o.chunk.bytes().len() < HISTOGRAM_CHUNK_BYTES_MAX
            });
            if !fits {
                self.close_open();
                self.open = Some(OpenHistogramChunk {
                    partition,
                    chunk: HistogramChunk::for_value(&s.h),
                    dirty: true,
                });
            }
            let Some(o) = self.open.as_mut() else {
                return Appended::Dropped;
            };
            // Fails only for buckets that do not match their spans, which the leader never
            // proposes: dropped alike on every replica.
            if o.chunk.append(s.t, &s.h).is_err() {
                return Appended::Dropped;
            }
            o.dirty = true;
            self.last_t = s.t;
            return Appended::InOrder;
        }
        if let Some(o) = &self.open
            && !o.chunk.is_empty()
            && s.t >= o.chunk.min_time()
        {
            let held = HistogramIter::new(o.chunk.bytes())
                .ok()
                .and_then(|mut it| it.seek(s.t).ok().flatten());
            if held.is_some_and(|h| h.t == s.t) {
                return Appended::Dropped;
            }
        }
        match self.ooo.binary_search_by(|x| x.t.cmp(&s.t)) {
            Ok(_) => Appended::Dropped,
            Err(pos) => {
                self.ooo.insert(pos, s.clone());
                Appended::OutOfOrder
            }
        }
    }

    /// Moves the open chunk (if any) to the closed list.
    pub fn close_open(&mut self) {
        let Some(o) = self.open.take() else {
            return;
        };
        if o.chunk.is_empty() {
            return;
        }
        self.closed.push(ClosedHistogramChunk {
            partition: o.partition,
            min_t: o.chunk.min_time(),
            max_t: o.chunk.max_time(),
            bytes: o.chunk.bytes().into(),
            persisted: !o.dirty,
        });
    }

    /// After a flush stored what the head held: closed chunks and the buffer leave memory; the
    /// open chunk stays whole (the next flush that changes it writes it whole again).
    pub fn forget_stored(&mut self) {
        self.closed = Vec::new();
        self.ooo = Vec::new();
        if let Some(o) = self.open.as_mut() {
            o.dirty = false;
        }
    }

    /// Drops everything before `horizon_ms` (partitions starting before it).
    pub fn expire(&mut self, horizon_ms: i64) {
        self.closed.retain(|c| c.partition >= horizon_ms);
        if self.open.as_ref().is_some_and(|o| o.partition < horizon_ms) {
            self.open = None;
        }
        self.ooo.retain(|s| s.t >= horizon_ms);
    }

    /// Drops what the head holds of the partition `[start_ms, end_ms)` (expired).
    pub fn drop_partition(&mut self, start_ms: i64, end_ms: i64) {
        self.closed.retain(|c| c.partition != start_ms);
        if self.open.as_ref().is_some_and(|o| o.partition == start_ms) {
            self.open = None;
        }
        self.ooo.retain(|s| s.t < start_ms || s.t >= end_ms);
    }

    /// Copies the in-order chunks overlapping `[mint_ms, maxt_ms]` (with their first
    /// timestamps, ascending) and the buffered samples in it.
    pub fn snapshot(
        &self,
        mint_ms: i64,
        maxt_ms: i64,
    ) -> (Vec<(i64, Vec<u8>)>, Vec<HistogramSample>) {
        let overlaps = |min_t: i64, max_t: i64| max_t >= mint_ms && min_t <= maxt_ms;
        let mut chunks: Vec<(i64, Vec<u8>)> = self
            .closed
            .iter()
            .filter(|c| overlaps(c.min_t, c.max_t))
            .map(|c| (c.min_t, c.bytes.to_vec()))
            .collect();
        if let Some(o) = &self.open
            && !o.chunk.is_empty()
            && overlaps(o.chunk.min_time(), o.chunk.max_time())
        {
            chunks.push((o.chunk.min_time(), o.chunk.bytes().to_vec()));
        }
        let ooo = self
            .ooo
            .iter()
            .filter(|s| s.t >= mint_ms && s.t <= maxt_ms)
            .cloned()
            .collect();
        (chunks, ooo)
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.open.is_none() && self.closed.is_empty() && self.ooo.is_empty()
    }

    /// Number of in-memory chunks and samples.
    pub fn counts(&self) -> (u64, u64) {
        let closed: u64 = self
            .closed
            .iter()
            .map(|c| HistogramIter::new(&c.bytes).map_or(0, |it| it.len() as u64))
            .sum();
        let open = self.open.as_ref().map_or(0, |o| o.chunk.len() as u64);
        let chunks = self.closed.len() as u64 + u64::from(self.open.is_some());
        (chunks, closed + open + self.ooo.len() as u64)
    }

    /// Heap bytes held (approximate: buffered samples count their fixed part and buckets).
    pub fn heap_bytes(&self) -> usize {
        let sample = |s: &HistogramSample| {
            std::mem::size_of::<HistogramSample>()
                + match &s.h {
                    crate::histogram::HistogramValue::Int(h) => h.bucket_count() * 8,
                    crate::histogram::HistogramValue::Float(h) => h.bucket_count() * 8,
                }
        };
        std::mem::size_of::<Self>()
            + self.open.as_ref().map_or(0, |o| o.chunk.bytes().len())
            + self.closed.iter().map(|c| c.bytes.len()).sum::<usize>()
            + self.ooo.iter().map(sample).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
