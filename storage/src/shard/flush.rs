//! What a flush persists, independent of the backend: the shard hands every changed item to a
//! [`FlushSink`] (which a backend turns into one atomic write), and once that write succeeded
//! `finish_flush` drops what no longer needs to stay in memory.

use std::collections::HashSet;

use roaring::RoaringBitmap;

use super::Shard;
use crate::chunk::XorChunk;
use crate::chunk::xor::XOR_SAMPLES_MAX;
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
}

/// Receives the items of one flush.
pub(crate) trait FlushSink {
    /// A series created since the last flush.
    fn series(&mut self, id: SeriesId, hash: u64, canonical: &[u8]);
    /// A chunk: in-order (`ooo_seq` None, overwrites the same key when re-flushed) or an
    /// out-of-order chunk written once with the flush's applied index as `ooo_seq`.
    fn chunk(
        &mut self,
        partition: i64,
        id: SeriesId,
        start_ms: i64,
        ooo_seq: Option<u64>,
        bytes: &[u8],
    );
    /// The largest in-order timestamp of a series (restored on recovery).
    fn last_t(&mut self, id: SeriesId, last_t: i64);
    /// The full current bitmap of one postings key (`name`/`value` empty: all series).
    fn postings(&mut self, partition: i64, name: &str, value: &str, bitmap: &RoaringBitmap);
    /// Shard metadata; called last.
    fn meta(&mut self, meta: &FlushMeta<'_>);
}

impl Shard {
    /// Hands everything not yet persisted to `sink`. Changes nothing: call `finish_flush`
    /// after the sink's write succeeded.
    pub fn collect_flush(&self, sink: &mut dyn FlushSink, sm_meta: &[u8]) {
        for id in self.persisted_series..self.registry.len() {
            if let (Some(h), Some(bytes)) = (self.registry.hash_of(id), self.registry.canonical(id))
            {
                sink.series(id, h, bytes);
            }
        }
        for id in &self.dirty {
            let Some(head) = self.heads.get(id as usize) else {
                continue;
            };
            for c in head.closed.iter().filter(|c| !c.persisted) {
                sink.chunk(c.partition, id, c.min_t, None, &c.bytes);
            }
            if let Some(o) = head
                .open
                .as_ref()
                .filter(|o| o.dirty && !o.chunk.is_empty())
            {
                sink.chunk(o.partition, id, o.chunk.min_time(), None, o.chunk.bytes());
            }
            for (partition, chunk) in ooo_chunks(&head.ooo, self) {
                sink.chunk(
                    partition,
                    id,
                    chunk.min_time(),
                    Some(self.applied),
                    chunk.bytes(),
                );
            }
            sink.last_t(id, head.last_t);
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
        sink.meta(&FlushMeta {
            applied: self.applied,
            sm_meta,
            next_series_id: self.registry.len(),
            sealed: self.sealed.iter().copied().collect(),
            horizon_ms: self.horizon_ms,
            expire_before_ms: (self.horizon_ms != self.persisted_horizon_ms)
                .then_some(self.horizon_ms),
        });
    }

    /// Records a successful flush. With `drop_persisted` (a durable backend), closed chunks,
    /// out-of-order buffers and sealed partitions' postings leave memory.
    pub fn finish_flush(&mut self, sm_meta: &[u8], drop_persisted: bool) {
        self.flushed = Some((self.applied, sm_meta.to_vec()));
        if !drop_persisted {
            return;
        }
        self.persisted_series = self.registry.len();
        self.persisted_horizon_ms = self.horizon_ms;
        for id in &self.dirty {
            let Some(head) = self.heads.get_mut(id as usize) else {
                continue;
            };
            head.closed.clear();
            head.closed.shrink_to_fit();
            head.ooo = Vec::new();
            if let Some(o) = head.open.as_mut() {
                o.dirty = false;
            }
        }
        self.dirty.clear();
        self.partitions.retain(|_, part| !part.sealed);
        for part in self.partitions.values_mut() {
            part.unflushed.clear();
        }
    }
}

/// The out-of-order buffer as chunks: split at partition boundaries and at the chunk size.
fn ooo_chunks(ooo: &[Sample], shard: &Shard) -> Vec<(i64, XorChunk)> {
    let max = shard.opts.chunk_samples_max.clamp(1, XOR_SAMPLES_MAX);
    let mut out: Vec<(i64, XorChunk)> = Vec::new();
    for s in ooo {
        let p = shard.opts.partition_of(s.t);
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
