//! The in-memory head of one series: its open XOR chunk, closed chunks not yet persisted (or,
//! in the in-memory engine, kept), and its out-of-order buffer.
//!
//! In-order samples (`t > last_t`) append to the open chunk, which is cut at
//! `chunk_samples_max` samples or when a sample falls into another partition, so a chunk never
//! spans partitions. Samples with `t <= last_t` are out of order: one at a timestamp of the
//! open chunk is dropped, the rest go to a sorted buffer where the first value at a timestamp
//! wins. Reads merge all sources with in-order data first (an in-order sample is always applied
//! before an out-of-order one at the same timestamp), so the first applied value wins
//! everywhere, whatever was flushed when. The drop only saves memory: once the open chunk's
//! front is stored, only its last timestamp is known and a sample at an earlier one is
//! buffered, to the same effect on reads. (The leader leaves out samples already stored before
//! it proposes; only concurrent proposals of one sample reach apply twice.)
//!
//! Once a flush stored a chunk, the head keeps only what later appends change: an open chunk
//! is its appender state and its tail ([`crate::chunk::ChunkTail`]); a closed one leaves memory
//! at the flush after it was cut (which may store it re-encoded, `shard/recode.rs`).

mod histogram;

pub(crate) use histogram::{HISTOGRAM_CHUNK_BYTES_MAX, HistogramHead};

use thin_vec::ThinVec;

use crate::chunk::XorChunk;
use crate::chunk::xor::XOR_SAMPLES_MAX;
use crate::model::Sample;

/// The open chunk of a series.
#[derive(Clone, Debug)]
pub(crate) struct OpenChunk {
    /// Start of the partition the chunk belongs to.
    pub partition: i64,
    pub chunk: XorChunk,
    /// Changed since it was last flushed.
    pub dirty: bool,
}

/// A chunk that takes no more samples.
#[derive(Clone, Debug)]
pub(crate) struct ClosedChunk {
    pub partition: i64,
    pub min_t: i64,
    pub max_t: i64,
    /// The chunk's bytes from `dropped` on (all of them when `dropped` is 0).
    pub bytes: Box<[u8]>,
    /// Leading bytes held by the backend only.
    pub dropped: u32,
    /// Samples in the whole chunk.
    pub count: u16,
    /// Already written to the backend under its key.
    pub persisted: bool,
}

impl ClosedChunk {
    /// The chunk as held: whole, or a tail of the stored one.
    pub fn tail(&self) -> crate::chunk::ChunkTail<'_> {
        crate::chunk::ChunkTail {
            dropped: self.dropped,
            count: self.count,
            bytes: &self.bytes,
        }
    }
}

/// What happened to one appended sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    InOrder,
    OutOfOrder,
    /// Dropped: an identical sample or a different value at a stored timestamp.
    Dropped,
}

/// The head of one series.
#[derive(Clone, Debug)]
pub(crate) struct HeadSeries {
    /// Largest in-order timestamp ever applied (`i64::MIN` when none).
    pub last_t: i64,
    pub open: Option<OpenChunk>,
    /// One word each while empty, as they are for most series after a flush.
    pub closed: ThinVec<ClosedChunk>,
    /// Out-of-order samples not yet flushed, sorted by timestamp, unique timestamps.
    pub ooo: ThinVec<Sample>,
}

impl Default for HeadSeries {
    fn default() -> Self {
        HeadSeries {
            last_t: i64::MIN,
            open: None,
            closed: ThinVec::new(),
            ooo: ThinVec::new(),
        }
    }
}

impl HeadSeries {
    /// [`XorChunk::prefetch_header`] of the open chunk.
    pub fn prefetch_header(&self) {
        if let Some(o) = &self.open {
            o.chunk.prefetch_header();
        }
    }

    /// [`XorChunk::prefetch_tail`] of the open chunk.
    pub fn prefetch_tail(&self) {
        if let Some(o) = &self.open {
            o.chunk.prefetch_tail();
        }
    }

    /// Appends `s`, which lies in partition `partition`.
    pub fn append(&mut self, s: Sample, partition: i64, chunk_samples_max: usize) -> Appended {
        if s.t > self.last_t {
            let max = chunk_samples_max.clamp(1, XOR_SAMPLES_MAX);
            let fits = self
                .open
                .as_ref()
                .is_some_and(|o| o.partition == partition && o.chunk.len() < max);
            if !fits {
                self.close_open();
                self.open = Some(OpenChunk {
                    partition,
                    chunk: XorChunk::new(),
                    dirty: true,
                });
            }
            if let Some(o) = self.open.as_mut() {
                // Cannot fail: the chunk was checked to have room.
                let _ = o.chunk.append(s.t, s.v);
                o.dirty = true;
            }
            self.last_t = s.t;
            return Appended::InOrder;
        }
        if let Some(o) = &self.open
            && !o.chunk.is_empty()
            && s.t >= o.chunk.min_time()
        {
            let at_stored_t = if o.chunk.is_whole() {
                let mut it = o.chunk.iter();
                matches!(it.seek(s.t), Ok(Some(found)) if found.t == s.t)
            } else {
                // Only the last sample is known once the front is stored.
                s.t == o.chunk.max_time()
            };
            if at_stored_t {
                return Appended::Dropped;
            }
        }
        match self.ooo.binary_search_by(|x| x.t.cmp(&s.t)) {
            Ok(_) => Appended::Dropped,
            Err(pos) => {
                self.ooo.insert(pos, s);
                Appended::OutOfOrder
            }
        }
    }

    /// Moves the open chunk (if any) to the closed list. One the backend holds whole stays
    /// there as an empty tail, marked persisted: the next flush may re-encode it
    /// (`shard/recode.rs`).
    pub fn close_open(&mut self) {
        let Some(o) = self.open.take() else {
            return;
        };
        if o.chunk.is_empty() {
            return;
        }
        let tail = o.chunk.tail();
        self.closed.push(ClosedChunk {
            partition: o.partition,
            min_t: o.chunk.min_time(),
            max_t: o.chunk.max_time(),
            bytes: tail.bytes.into(),
            dropped: tail.dropped,
            count: tail.count,
            persisted: !o.dirty,
        });
    }

    /// After a flush stored the open chunk: keeps only what later appends change.
    pub fn forget_stored(&mut self) {
        if let Some(o) = self.open.as_mut() {
            o.dirty = false;
            o.chunk.forget_stored();
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

    /// Number of in-memory chunks and samples.
    pub fn counts(&self) -> (u64, u64) {
        // A closed chunk held only as the empty tail of a stored one is not in memory.
        let held = || {
            self.closed
                .iter()
                .filter(|c| !(c.persisted && c.dropped > 0))
        };
        let mut chunks = held().count() as u64;
        let mut samples: u64 = held().map(|c| u64::from(c.count)).sum();
        if let Some(o) = &self.open {
            chunks += 1;
            samples += o.chunk.len() as u64;
        }
        (chunks, samples + self.ooo.len() as u64)
    }

    /// Heap bytes held (approximate).
    pub fn heap_bytes(&self) -> usize {
        // A ThinVec that allocated keeps its length and capacity in front of its items.
        let thin = |capacity: usize, item: usize| {
            if capacity == 0 {
                0
            } else {
                2 * std::mem::size_of::<usize>() + capacity * item
            }
        };
        std::mem::size_of::<Self>()
            + self.open.as_ref().map_or(0, |o| o.chunk.heap_bytes())
            + thin(self.closed.capacity(), std::mem::size_of::<ClosedChunk>())
            + self.closed.iter().map(|c| c.bytes.len()).sum::<usize>()
            + thin(self.ooo.capacity(), std::mem::size_of::<Sample>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_head_stays_small() {
        // Every active series has one: its size is part of the memory per series.
        assert!(
            std::mem::size_of::<HeadSeries>() <= 96,
            "{} bytes",
            std::mem::size_of::<HeadSeries>()
        );
    }

    #[test]
    fn cuts_at_max_and_at_partition_boundaries() {
        let mut h = HeadSeries::default();
        for t in 0..5 {
            assert_eq!(h.append(Sample::new(t, 1.0), 0, 3), Appended::InOrder);
        }
        assert_eq!(h.closed.len(), 1);
        assert_eq!(h.open.as_ref().unwrap().chunk.len(), 2);
        assert_eq!(h.append(Sample::new(100, 1.0), 100, 3), Appended::InOrder);
        assert_eq!(h.closed.len(), 2);
        assert_eq!(h.open.as_ref().unwrap().partition, 100);
    }

    #[test]
    fn out_of_order_first_value_wins_and_duplicates_drop() {
        let mut h = HeadSeries::default();
        h.append(Sample::new(10, 1.0), 0, 120);
        h.append(Sample::new(20, 2.0), 0, 120);
        assert_eq!(h.append(Sample::new(20, 2.0), 0, 120), Appended::Dropped);
        assert_eq!(h.append(Sample::new(10, 9.0), 0, 120), Appended::Dropped);
        assert_eq!(h.append(Sample::new(15, 1.5), 0, 120), Appended::OutOfOrder);
        assert_eq!(h.append(Sample::new(15, 7.0), 0, 120), Appended::Dropped);
        assert_eq!(h.append(Sample::new(5, 0.5), 0, 120), Appended::OutOfOrder);
        assert_eq!(h.ooo, vec![Sample::new(5, 0.5), Sample::new(15, 1.5)]);
        // Once the open chunk's front is stored, only its last timestamp is known: a sample at
        // an earlier one is buffered (reads still give the in-order one).
        h.forget_stored();
        assert_eq!(h.append(Sample::new(20, 5.0), 0, 120), Appended::Dropped);
        assert_eq!(h.append(Sample::new(10, 5.0), 0, 120), Appended::OutOfOrder);
    }
}
