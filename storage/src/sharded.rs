//! The `Engine` logic shared by every backend: a map of shards, each a [`Shard`] behind its
//! own lock, plus a [`Store`] for what is flushed. `MemEngine` and `RocksEngine` are this with
//! different stores.

mod append_check;
mod delegate;
mod flush;
mod histogram_check;
mod query;
mod rollup;
mod stitch;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::command::Command;
use crate::engine::{MemoryBreakdown, SeriesSamples, ShardStats};
use crate::error::{Error, Result};
use crate::history::HistoryMark;
use crate::model::{SeriesId, ShardId};
use crate::options::EngineOptions;
use crate::series_key::SeriesKey;
use crate::shard::{Shard, merge_sources};
use crate::store::{ChunkReader, Store, StoredChunks};
use crate::tombstones::{remove_deleted, remove_deleted_by};

pub(crate) use delegate::delegate_engine;
pub use flush::{Flushed, LateSeals, PreparedFlush};
pub use rollup::SeriesWindows;
pub(crate) use rollup::{RolledUnit, RollupFlush, TierPostings};
pub use stitch::RolledSeries;

pub(crate) type ShardCell = Arc<RwLock<Shard>>;

/// Shards of one node over one store.
pub(crate) struct Sharded<S: Store> {
    pub opts: EngineOptions,
    pub store: S,
    shards: RwLock<HashMap<ShardId, ShardCell>>,
    /// Counts store writes after which the head may no longer hold what it held before
    /// (flushes, shard imports). Raised under the shard's write lock once the write is
    /// durable, read under its read lock with a head snapshot: a chunk reader made after
    /// seeing generation `g` sees everything those writes moved out of the head.
    generation: AtomicU64,
    /// Reads that found stored data corrupt.
    corruptions: AtomicU64,
    /// This engine instance, in history marks (`history.rs`).
    instance: u64,
    /// The last shard instance number handed out: each shard installed (created, recovered,
    /// replaced by a snapshot) gets the next, so that its history counts start afresh.
    shard_instances: AtomicU64,
}

/// A store reader kept across the series of one select, with the generation it was made at.
#[derive(Default)]
pub(crate) struct CachedReader<'a> {
    reader: Option<(u64, Box<dyn ChunkReader + 'a>)>,
}

/// Read-locks, ignoring poisoning (a panic elsewhere leaves the state as consistent as the
/// last completed operation; apply does not panic on input).
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks, ignoring poisoning.
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl<S: Store> Sharded<S> {
    pub fn new(opts: EngineOptions, store: S) -> Self {
        Sharded {
            opts,
            store,
            shards: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            corruptions: AtomicU64::new(0),
            instance: crate::history::random_instance(),
            shard_instances: AtomicU64::new(0),
        }
    }

    /// Installs a recovered shard.
    pub fn insert_shard(&self, mut shard: Shard) {
        shard.history.instance = self.next_shard_instance();
        write(&self.shards).insert(shard.id, Arc::new(RwLock::new(shard)));
    }

    fn next_shard_instance(&self) -> u64 {
        self.shard_instances.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The history mark of `shard` as this replica has applied it (`history.rs`); a shard not
    /// created yet has instance 0 and no sample.
    pub fn history_mark(&self, shard: ShardId) -> HistoryMark {
        match self.shard(shard) {
            Some(cell) => {
                let st = read(&cell);
                st.history.mark(self.instance, st.max_t)
            }
            None => crate::history::History::default().mark(self.instance, None),
        }
    }

    pub fn shard(&self, id: ShardId) -> Option<ShardCell> {
        read(&self.shards).get(&id).cloned()
    }

    /// Replaces shard `id` (created if absent) with what `replace` returns, holding the shard's
    /// write lock while `replace` runs; on error the shard is left as it was.
    pub fn replace_shard(
        &self,
        id: ShardId,
        replace: impl FnOnce() -> Result<Shard>,
    ) -> Result<()> {
        let cell = self.shard_or_create(id);
        let mut st = write(&cell);
        *st = replace()?;
        st.history.instance = self.next_shard_instance();
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Forgets shard `id` once `clear` (which deletes what the store holds of it) succeeds,
    /// holding the shard's write lock meanwhile; afterwards the shard is as if never written.
    /// On error the shard is left as it was.
    pub fn remove_shard(&self, id: ShardId, clear: impl FnOnce() -> Result<()>) -> Result<()> {
        let Some(cell) = self.shard(id) else {
            return clear();
        };
        let _st = write(&cell);
        clear()?;
        write(&self.shards).remove(&id);
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn shard_or_create(&self, id: ShardId) -> ShardCell {
        if let Some(s) = self.shard(id) {
            return s;
        }
        write(&self.shards)
            .entry(id)
            .or_insert_with(|| {
                let mut shard = Shard::new(id, self.opts.clone());
                shard.durable = self.store.durable();
                shard.history.instance = self.next_shard_instance();
                Arc::new(RwLock::new(shard))
            })
            .clone()
    }

    #[tracing::instrument(level = "trace", skip_all, fields(shard, index))]
    pub fn apply(&self, shard: ShardId, index: u64, cmd: &Command) -> Result<()> {
        let cell = self.shard_or_create(shard);
        let mut st = write(&cell);
        // Days still to roll up that read raw data this command drops (or, raw data partly
        // gone, deletes or writes late) are computed first, from the data as it is (the head
        // may hold some not yet flushed): rare, as rollups run days before raw data expires.
        let due = st.pending_rollups_changed_by(cmd);
        if !due.is_empty() && index > st.applied {
            let computed = self.compute_rollups_locked(&st, shard, due)?;
            st.install_computed(computed);
        }
        // A backfill into a sealed partition whose postings were flushed puts them back in
        // memory first: the partition is sealed again with every series.
        if index > st.applied {
            for p in st.sealed_partitions_written_by(cmd) {
                let all = self.store.sealed_postings(shard, p).all()?;
                st.reopen_sealed(p, &all);
            }
        }
        st.apply(index, cmd);
        Ok(())
    }

    pub fn applied_index(&self, shard: ShardId) -> u64 {
        self.shard(shard).map_or(0, |c| read(&c).applied)
    }

    /// Compacts the store (see [`Store::compact`]).
    pub fn compact(&self) -> Result<()> {
        self.store.compact()
    }

    pub fn store_stats(&self) -> crate::engine::StoreStats {
        crate::engine::StoreStats {
            corruptions: self.corruptions.load(Ordering::Relaxed),
            ..self.store.stats()
        }
    }

    /// Counts and logs a read's error that says stored data is corrupt, and passes it on
    /// naming the shard (a chunk that does not decode is corrupt data).
    pub(crate) fn noticed(&self, shard: ShardId, error: Error) -> Error {
        let error = match error {
            Error::Decode(message) => Error::Corrupt {
                shard,
                message: format!("a stored chunk does not decode: {message}"),
            },
            other => other,
        };
        if error.is_corruption() {
            self.corruptions.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                shard,
                error = %error,
                "a read found stored data corrupt and failed; rebuild this replica from its peers"
            );
        }
        error
    }

    pub fn flushed_state(&self, shard: ShardId) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self.shard(shard).and_then(|c| read(&c).flushed.clone()))
    }

    pub fn series_id_of_key(&self, shard: ShardId, key: &SeriesKey) -> Option<SeriesId> {
        self.shard(shard)
            .and_then(|c| read(&c).registry.get_key(key))
    }

    /// Reads one series merged from head and store; `None` when the id is unknown. `cached`
    /// keeps a store reader for the next series of the same select.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read_series<'a>(
        &'a self,
        cell: &ShardCell,
        shard: ShardId,
        id: SeriesId,
        partitions: &[i64],
        mint_ms: i64,
        maxt_ms: i64,
        cached: &mut CachedReader<'a>,
    ) -> Result<Option<SeriesSamples>> {
        // The head and the store as of one generation: the reader (a view of the store as of
        // its making) is made under the lock that the head is copied under, so the store holds
        // the front of every chunk tail of the copy, and nothing the head lost since.
        let durable = self.store.durable() && !partitions.is_empty();
        let (snap, deleted) = {
            let st = read(cell);
            let generation = self.generation.load(Ordering::SeqCst);
            if durable && cached.reader.as_ref().is_none_or(|(g, _)| *g != generation) {
                cached.reader = Some((generation, self.store.chunk_reader(shard)));
            }
            (
                st.snapshot(id, mint_ms, maxt_ms),
                st.tombstones.of(id).to_vec(),
            )
        };
        let Some(snap) = snap else {
            return Ok(None);
        };
        let mut stored = StoredChunks::default();
        if let (true, Some((_, reader))) = (durable, cached.reader.as_mut()) {
            reader
                .read(id, partitions, mint_ms, maxt_ms, &mut stored)
                .map_err(|e| self.noticed(shard, e))?;
            if snap.has_histograms {
                reader
                    .read_histograms(id, partitions, mint_ms, maxt_ms, &mut stored)
                    .map_err(|e| self.noticed(shard, e))?;
            }
        }
        merge_read(snap, stored, &deleted, mint_ms, maxt_ms)
            .map(Some)
            .map_err(|e| self.noticed(shard, e))
    }

    pub fn series_count(&self, shard: ShardId) -> u64 {
        self.shard(shard)
            .map_or(0, |cell| u64::from(read(&cell).registry.len()))
    }

    pub fn stats(&self, shard: ShardId) -> ShardStats {
        let Some(cell) = self.shard(shard) else {
            return ShardStats::default();
        };
        let st = read(&cell);
        let (head_chunks, head_samples) = st.head_counts();
        ShardStats {
            memory: st.memory_breakdown(),
            series: u64::from(st.registry.len()),
            head_chunks,
            head_samples,
            applied_index: st.applied,
            flushed_index: st.flushed.as_ref().map_or(0, |f| f.0),
            min_time_ms: st.min_t,
            max_time_ms: st.max_t,
        }
    }

    /// See [`crate::Engine::sealable_partitions`].
    pub fn sealable_partitions(&self, shard: ShardId, ooo_window_ms: i64) -> Vec<i64> {
        let Some(cell) = self.shard(shard) else {
            return Vec::new();
        };
        let st = read(&cell);
        let Some(max_t) = st.max_t else {
            return Vec::new();
        };
        let end_ms = max_t.saturating_sub(ooo_window_ms.max(0));
        st.partitions
            .iter()
            .filter(|(start, part)| !part.sealed && self.opts.partition_end(**start) <= end_ms)
            .map(|(start, _)| *start)
            .collect()
    }

    /// Approximate bytes of memory the shard's registry, postings and head hold.
    pub fn memory_bytes(&self, shard: ShardId) -> u64 {
        let b = self.memory_breakdown(shard);
        (b.registry + b.heads + b.postings) as u64
    }

    /// [`Sharded::memory_bytes`] by component.
    pub fn memory_breakdown(&self, shard: ShardId) -> MemoryBreakdown {
        let Some(cell) = self.shard(shard) else {
            return MemoryBreakdown::default();
        };
        let st = read(&cell);
        st.memory_breakdown()
    }

    /// Hash of the logical content of `shard`: series (id and labels), every sample after
    /// merging and deletion, tombstones, sealed partitions and the expiry horizon. Independent
    /// of flush timing.
    pub fn digest(&self, shard: ShardId) -> Result<u64> {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        // A shard this replica has not created yet (nothing applied, never flushed) is empty
        // alike: digested as one, so that it agrees with a replica that created it empty.
        let cell = self
            .shard(shard)
            .unwrap_or_else(|| Arc::new(RwLock::new(Shard::new(shard, self.opts.clone()))));
        let (n, known, horizon) = {
            let st = read(&cell);
            h.update(&st.horizon_ms.to_be_bytes());
            h.update(&st.tombstones.encode());
            h.update(&st.expired_digest_bytes());
            h.update(&st.rollups_digest_bytes());
            for p in &st.sealed {
                h.update(&p.to_be_bytes());
            }
            let known: Vec<(i64, Option<roaring::RoaringBitmap>)> = st
                .known_partitions()
                .into_iter()
                .map(|p| (p, st.expired_in(crate::tier::Tier::Raw, p).cloned()))
                .collect();
            (st.registry.len(), known, st.horizon_ms)
        };
        h.update(&n.to_be_bytes());
        let mut reader = CachedReader::default();
        let mut partitions = Vec::with_capacity(known.len());
        for id in 0..n {
            partitions.clear();
            partitions.extend(
                known
                    .iter()
                    .filter(|(_, gone)| !gone.as_ref().is_some_and(|bm| bm.contains(id)))
                    .map(|(p, _)| *p),
            );
            let Some(read) = self.read_series(
                &cell,
                shard,
                id,
                &partitions,
                horizon,
                i64::MAX,
                &mut reader,
            )?
            else {
                continue;
            };
            h.update(&id.to_be_bytes());
            h.update(&read.labels.canonical_bytes());
            h.update(&(read.samples.len() as u64).to_be_bytes());
            for s in &read.samples {
                h.update(&s.t.to_be_bytes());
                h.update(&s.v.to_bits().to_be_bytes());
            }
            // Only series with histograms add to the digest, so that one of floats only is
            // what earlier builds computed. Their chunk encoding holds every bit of them.
            if !read.histograms.is_empty() {
                h.update(b"histograms");
                h.update(&(read.histograms.len() as u64).to_be_bytes());
                for c in crate::chunk::histogram::encode_chunks(&read.histograms, usize::MAX) {
                    h.update(c.bytes());
                }
            }
        }
        // Rollups of days whose raw data is gone (in part): what is left of them.
        let without_raw = read(&cell).rollups_without_raw();
        for (tier, unit) in without_raw {
            let end = unit + crate::tier::ROLLUP_UNIT_MS;
            for sw in self.select_windows(shard, tier, &[], unit + 1, end)? {
                h.update(&sw.labels.canonical_bytes());
                for w in &sw.windows {
                    for x in [w.end_ms, w.count as i64, w.first_t, w.last_t] {
                        h.update(&x.to_be_bytes());
                    }
                    for x in [w.sum, w.min, w.max, w.first_v, w.last_v, w.increase, w.jump] {
                        h.update(&x.to_bits().to_be_bytes());
                    }
                }
            }
        }
        Ok(h.digest())
    }
}

/// Merges a series' head snapshot with what the store holds (as read for the same range) and
/// leaves its deleted samples out.
pub(crate) fn merge_read(
    snap: crate::shard::SeriesSnapshot,
    mut stored: StoredChunks,
    deleted: &[(i64, i64)],
    mint_ms: i64,
    maxt_ms: i64,
) -> Result<SeriesSamples> {
    let in_order =
        crate::shard::in_order_chunks(snap.in_order, std::mem::take(&mut stored.in_order))?;
    let mut samples = merge_sources(&in_order, &mut stored.ooo, &snap.ooo, mint_ms, maxt_ms)?;
    remove_deleted(deleted, &mut samples);
    let mut histograms = crate::shard::merge_histograms(
        &snap.histogram_chunks,
        &mut stored,
        &snap.histogram_ooo,
        mint_ms,
        maxt_ms,
    )?;
    remove_deleted_by(deleted, &mut histograms, |s| s.t);
    Ok(SeriesSamples {
        labels: snap.labels,
        samples,
        histograms,
    })
}
