//! What a flush persists, independent of the backend: the shard hands every changed item to a
//! [`FlushSink`] (which a backend turns into one atomic write), and once that write succeeded
//! `finish_flush` drops what no longer needs to stay in memory.

use std::collections::{BTreeSet, HashSet};

use roaring::RoaringBitmap;

use super::{ExpiryFlush, SealedPartition, Shard};
use crate::chunk::histogram::encode_chunks;
use crate::chunk::xor::XOR_SAMPLES_MAX;
use crate::chunk::{ChunkTail, XorChunk};
use crate::head::{ClosedChunk, HISTOGRAM_CHUNK_BYTES_MAX, HistogramHead};
use crate::model::{Sample, SeriesId};

/// Shard-level metadata written by every flush.
pub(crate) struct FlushMeta<'a> {
    pub applied: u64,
    pub sm_meta: &'a [u8],
    pub next_series_id: u32,
    pub sealed: Vec<i64>,
    pub horizon_ms: i64,
    /// Set when the horizon moved since the last flush: data before it must be deleted.
    pub expire_before_ms: Option<i64>,
    /// The shard's tombstones, encoded (`Tombstones::encode`).
    pub tombstones: Vec<u8>,
    /// Partitions retention dropped whole above the horizon ([`ExpiryFlush::whole`]).
    pub expired_whole: Vec<(crate::tier::Tier, i64)>,
}

/// Receives the items of one flush.
pub(crate) trait FlushSink {
    /// A series created since the last flush.
    fn series(&mut self, id: SeriesId, hash: u64, canonical: &[u8]);
    /// A chunk: in-order (`ooo_seq` None: whole, it overwrites the same key when re-flushed;
    /// a tail completes the chunk stored under that key) or an out-of-order chunk, always
    /// whole, written once with the flush's applied index as `ooo_seq`.
    fn chunk(
        &mut self,
        partition: i64,
        id: SeriesId,
        start_ms: i64,
        ooo_seq: Option<u64>,
        chunk: ChunkTail<'_>,
    );
    /// A native histogram chunk, always whole: in-order (`ooo_seq` None; it overwrites the
    /// same key when re-flushed) or out-of-order, written once with the flush's applied
    /// index as `ooo_seq`.
    fn histogram_chunk(
        &mut self,
        partition: i64,
        id: SeriesId,
        start_ms: i64,
        ooo_seq: Option<u64>,
        bytes: &[u8],
    );
    /// The largest in-order histogram timestamp of a series (restored on recovery).
    fn histogram_last_t(&mut self, id: SeriesId, last_t: i64);
    /// Called after every `chunk` of the flush, before anything else.
    fn chunks_done(&mut self) {}
    /// Replaces every chunk of a sealed partition (all series, in-order and out-of-order) by
    /// its sealed chunks. Called after every `chunk` of the flush.
    fn sealed_partition(&mut self, sealed: &SealedPartition);
    /// The largest in-order timestamp of a series (restored on recovery).
    fn last_t(&mut self, id: SeriesId, last_t: i64);
    /// The full current bitmap of one postings key (`name`/`value` empty: all series).
    fn postings(&mut self, partition: i64, name: &str, value: &str, bitmap: &RoaringBitmap);
    /// The rollups computed by this flush (chunks, rollup partitions' postings) and the changed
    /// records of rolled days; called before `expiry`.
    fn rollups(
        &mut self,
        computed: &crate::sharded::RollupFlush,
        records: &[super::RolledRecord<'_>],
    );
    /// What retention dropped since the last flush; called after every `chunk`, sealed
    /// partition, postings key and rollup of the flush, so that its deletions win.
    fn expiry(&mut self, expiry: &ExpiryFlush<'_>);
    /// Shard metadata; called last.
    fn meta(&mut self, meta: &FlushMeta<'_>);
}

impl Shard {
    /// Hands everything not yet persisted to `sink`, with `sealed` (the re-encoded partitions
    /// of `seal_pending`, see `seal.rs`) in place of those partitions' chunks. Changes nothing:
    /// call `finish_flush` after the sink's write succeeded.
    pub fn collect_flush(
        &self,
        sink: &mut dyn FlushSink,
        sealed: &[SealedPartition],
        rollups: &crate::sharded::RollupFlush,
        sm_meta: &[u8],
    ) {
        let resealed: BTreeSet<i64> = sealed.iter().map(|s| s.partition).collect();
        for id in self.persisted_series..self.registry.len() {
            if let (Some(h), Some(bytes)) =
                (self.registry.hash_of(id), self.registry.canonical_bytes(id))
            {
                sink.series(id, h, &bytes);
            }
        }
        for id in &self.dirty {
            let Some(head) = self.heads.get(id as usize) else {
                continue;
            };
            for c in head
                .closed
                .iter()
                .filter(|c| !c.persisted && !resealed.contains(&c.partition))
            {
                sink.chunk(c.partition, id, c.min_t, None, c.tail());
            }
            if let Some(o) = head
                .open
                .as_ref()
                .filter(|o| o.dirty && !o.chunk.is_empty() && !resealed.contains(&o.partition))
            {
                sink.chunk(o.partition, id, o.chunk.min_time(), None, o.chunk.tail());
            }
            for (partition, chunk) in ooo_chunks(&head.ooo, self, &resealed) {
                sink.chunk(
                    partition,
                    id,
                    chunk.min_time(),
                    Some(self.applied),
                    chunk.tail(),
                );
            }
            sink.last_t(id, head.last_t);
            if let Some(h) = self.histograms.get(&id) {
                self.collect_histograms(sink, id, h);
            }
        }
        sink.chunks_done();
        for part in sealed {
            sink.sealed_partition(part);
        }
        for (&p, part) in &self.partitions {
            if part.unflushed.is_empty() {
                continue;
            }
            let mut keys: HashSet<(&str, &str)> = HashSet::new();
            for id in &part.unflushed {
                keys.extend(self.registry.pairs(id));
            }
            for (n, v) in keys {
                if let Some(bm) = part.by_label.get(n).and_then(|vals| vals.get(v)) {
                    sink.postings(p, n, v, bm);
                }
            }
            sink.postings(p, "", "", &part.all);
        }
        sink.rollups(rollups, &self.rollup_records(rollups));
        let expiry = self.expiry_flush();
        sink.expiry(&expiry);
        sink.meta(&FlushMeta {
            applied: self.applied,
            sm_meta,
            next_series_id: self.registry.len(),
            sealed: self.sealed.iter().copied().collect(),
            horizon_ms: self.horizon_ms,
            expire_before_ms: (self.horizon_ms != self.persisted_horizon_ms)
                .then_some(self.horizon_ms),
            tombstones: self.tombstones.encode(),
            expired_whole: expiry.whole.clone(),
        });
    }

    /// Records a successful flush that wrote `sealed`. With `drop_persisted` (a durable
    /// backend), closed chunks, out-of-order buffers and sealed partitions' postings leave
    /// memory; without it (the in-memory engine) the sealed chunks replace the head's data of
    /// their partitions, as they replaced the stored chunks in a durable backend.
    pub fn finish_flush(
        &mut self,
        sm_meta: &[u8],
        drop_persisted: bool,
        sealed: Vec<SealedPartition>,
    ) {
        self.flushed = Some((self.applied, sm_meta.to_vec()));
        self.flushes += 1;
        self.finish_expiry_flush();
        for part in &sealed {
            self.seal_pending.remove(&part.partition);
            self.backfilled.remove(&part.partition);
        }
        if !drop_persisted {
            for part in sealed {
                self.install_sealed(part);
            }
            return;
        }
        self.persisted_series = self.registry.len();
        self.persisted_horizon_ms = self.horizon_ms;
        let resealed: BTreeSet<i64> = sealed.iter().map(|s| s.partition).collect();
        for id in &self.dirty {
            if let Some(h) = self.histograms.get_mut(&id) {
                h.forget_stored();
            }
            let Some(head) = self.heads.get_mut(id as usize) else {
                continue;
            };
            head.closed.clear();
            head.closed.shrink_to_fit();
            head.ooo = thin_vec::ThinVec::new();
            // A backfill's open chunk in a sealed partition went into its sealed chunks.
            if head
                .open
                .as_ref()
                .is_some_and(|o| resealed.contains(&o.partition))
            {
                head.open = None;
            }
            head.forget_stored();
        }
        self.dirty.clear();
        self.partitions.retain(|_, part| !part.sealed);
        for part in self.partitions.values_mut() {
            part.unflushed.clear();
        }
    }

    /// Replaces the head's chunks and out-of-order samples of a sealed partition by its sealed
    /// chunks (the in-memory engine's counterpart of the backend's replacement).
    fn install_sealed(&mut self, part: SealedPartition) {
        let p = part.partition;
        let end = self.opts.partition_end(p);
        let ids: Vec<SeriesId> = self
            .partitions
            .get(&p)
            .map(|postings| postings.all.iter().collect())
            .unwrap_or_default();
        for id in ids {
            if let Some(head) = self.heads.get_mut(id as usize) {
                head.closed.retain(|c| c.partition != p);
                head.ooo.retain(|s| s.t < p || s.t >= end);
                if head.open.as_ref().is_some_and(|o| o.partition == p) {
                    head.open = None;
                }
            }
        }
        for series in part.series {
            let Some(head) = self.heads.get_mut(series.id as usize) else {
                continue;
            };
            head.closed
                .extend(series.chunks.into_iter().map(|c| ClosedChunk {
                    partition: p,
                    min_t: c.min_t,
                    max_t: c.max_t,
                    count: crate::chunk::sample_count(&c.bytes).unwrap_or(0) as u16,
                    bytes: c.bytes,
                    dropped: 0,
                    persisted: true,
                }));
        }
    }
}

impl Shard {
    /// Hands the histogram chunks of series `id` not yet persisted to `sink`: closed ones, the
    /// open one when it changed (whole, under the same key again), the buffer as chunks.
    fn collect_histograms(&self, sink: &mut dyn FlushSink, id: SeriesId, h: &HistogramHead) {
        for c in h.closed.iter().filter(|c| !c.persisted) {
            sink.histogram_chunk(c.partition, id, c.min_t, None, &c.bytes);
        }
        if let Some(o) = h.open.as_ref().filter(|o| o.dirty && !o.chunk.is_empty()) {
            sink.histogram_chunk(o.partition, id, o.chunk.min_time(), None, o.chunk.bytes());
        }
        let mut start = 0;
        while start < h.ooo.len() {
            let p = self.opts.partition_of(h.ooo[start].t);
            let end = start + h.ooo[start..].partition_point(|s| self.opts.partition_of(s.t) == p);
            for c in encode_chunks(&h.ooo[start..end], HISTOGRAM_CHUNK_BYTES_MAX) {
                sink.histogram_chunk(p, id, c.min_time(), Some(self.applied), c.bytes());
            }
            start = end;
        }
        sink.histogram_last_t(id, h.last_t);
    }
}

/// The out-of-order buffer as chunks: split at partition boundaries and at the chunk size;
/// samples of the `skip` partitions are left out.
fn ooo_chunks(ooo: &[Sample], shard: &Shard, skip: &BTreeSet<i64>) -> Vec<(i64, XorChunk)> {
    let max = shard.opts.chunk_samples_max.clamp(1, XOR_SAMPLES_MAX);
    let mut out: Vec<(i64, XorChunk)> = Vec::new();
    for s in ooo {
        let p = shard.opts.partition_of(s.t);
        if skip.contains(&p) {
            continue;
        }
        let start_new = out.last().is_none_or(|(lp, c)| *lp != p || c.len() >= max);
        if start_new {
            out.push((p, XorChunk::new()));
        }
        if let Some((_, c)) = out.last_mut() {
            let _ = c.append(s.t, s.v);
        }
    }
    out
}
