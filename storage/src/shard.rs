//! The logical state of one shard, shared by every backend: registry, in-memory postings of
//! unsealed (and not yet flushed sealed) partitions, per-series heads, sealed partitions and
//! the expiry horizon. Applying commands here is pure and deterministic (DESIGN.md,
//! "Determinism"); backends only persist and read back what this state hands them.

mod expire;
mod flush;
mod histograms;
mod read;
mod recode;
mod rollup;
mod seal;

#[cfg_attr(not(feature = "rocksdb"), allow(unused_imports))]
pub(crate) use expire::Expired;
#[cfg_attr(not(feature = "rocksdb"), allow(unused_imports))]
pub(crate) use expire::ExpiryFlush;
#[cfg_attr(not(feature = "rocksdb"), allow(unused_imports))]
pub(crate) use flush::{FlushMeta, FlushSink};
pub(crate) use histograms::merge_histograms;
pub(crate) use read::{HeadChunk, SeriesSnapshot, in_order_chunks, merge_sources};
pub(crate) use recode::{RecodeInput, Recoded, recode};
pub(crate) use rollup::{RolledRecord, RollupJob, Rollups};
pub(crate) use seal::{SealInput, SealedPartition, SeriesSealInput, seal_series};

use std::collections::{BTreeMap, BTreeSet};

use crate::command::{Command, SeriesRef, WriteBatch};
use crate::head::{Appended, HeadSeries, HistogramHead};
use crate::history::History;
use crate::model::{Sample, SeriesId, ShardId};
use crate::options::EngineOptions;
use crate::postings::PartitionPostings;
use crate::registry::Registry;
use crate::tier::{ROLLUP_UNIT_MS, Tier};
use crate::tombstones::Tombstones;

/// One shard's state.
pub(crate) struct Shard {
    pub id: ShardId,
    pub opts: EngineOptions,
    pub registry: Registry,
    /// Heads by series id (same length as the registry).
    pub heads: Vec<HeadSeries>,
    /// Native histogram heads of the series that have histogram samples held in memory.
    pub histograms: BTreeMap<SeriesId, HistogramHead>,
    /// Postings kept in memory: open partitions, and sealed ones until flushed.
    pub partitions: BTreeMap<i64, PartitionPostings>,
    /// Starts of sealed partitions (not before the horizon).
    pub sealed: BTreeSet<i64>,
    /// Sealed partitions whose chunks the next flush re-encodes as sealed chunks (`seal.rs`).
    /// Every flush writes them in the same batch that first persists them in `sealed`, so
    /// after recovery every persisted sealed partition is already re-encoded.
    pub seal_pending: BTreeSet<i64>,
    /// Samples applied to sealed partitions (backfill) since start, counted.
    pub backfills: u64,
    /// Per sealed partition, the count of [`Shard::backfills`] at its latest backfill: a flush
    /// that encoded the partition before then encodes it again.
    pub backfilled: BTreeMap<i64, u64>,
    /// `Delete`s applied since start, counted: a partition a flush prepared before one (with
    /// the tombstones of then) is encoded again (`sharded/flush.rs`).
    pub deletes: u64,
    /// Flushes finished since start, counted: work prepared before one is not trusted
    /// (`sharded/flush.rs`).
    pub flushes: u64,
    /// Raw data before this timestamp is expired (`i64::MIN`: nothing expired).
    pub horizon_ms: i64,
    /// What retention dropped above the horizon (`expire.rs`).
    pub expired: Expired,
    /// The days rolled up into each tier (`rollup.rs`).
    pub rollups: Rollups,
    /// Whether a backend holds what flushes persist (false for the in-memory engine, whose
    /// head holds everything).
    pub durable: bool,
    pub applied: u64,
    pub flushed: Option<(u64, Vec<u8>)>,
    /// Smallest and largest timestamp applied (for statistics and the out-of-order window).
    pub min_t: Option<i64>,
    pub max_t: Option<i64>,
    /// Series touched since the last flush.
    pub dirty: roaring::RoaringBitmap,
    /// Series ids below this are persisted (durable backends).
    pub persisted_series: u32,
    /// The horizon as last persisted.
    pub persisted_horizon_ms: i64,
    /// Deleted intervals per series (`Command::Delete`); persisted with every flush.
    pub tombstones: Tombstones,
    /// Changes of the past, for results caches (`history.rs`); not part of the replicated
    /// state.
    pub history: History,
}

impl Shard {
    /// An empty shard.
    pub fn new(id: ShardId, opts: EngineOptions) -> Self {
        Shard {
            id,
            opts,
            registry: Registry::default(),
            heads: Vec::new(),
            histograms: BTreeMap::new(),
            partitions: BTreeMap::new(),
            sealed: BTreeSet::new(),
            seal_pending: BTreeSet::new(),
            backfills: 0,
            backfilled: BTreeMap::new(),
            deletes: 0,
            flushes: 0,
            horizon_ms: i64::MIN,
            expired: Expired::default(),
            rollups: Rollups::default(),
            durable: true,
            applied: 0,
            flushed: None,
            min_t: None,
            max_t: None,
            dirty: roaring::RoaringBitmap::new(),
            persisted_series: 0,
            persisted_horizon_ms: i64::MIN,
            tombstones: Tombstones::default(),
            history: History::default(),
        }
    }

    /// Applies entry `index`. Entries at or below the applied index are ignored (a replay
    /// that overlaps what is already applied is harmless).
    pub fn apply(&mut self, index: u64, cmd: &Command) {
        if index <= self.applied && self.applied > 0 {
            return;
        }
        let newest_ms = self.max_t;
        match cmd {
            Command::Write(batch) => self.apply_write(batch, false),
            Command::Backfill(batch) => self.apply_write(batch, true),
            Command::Seal { partition_start_ms } => self.seal(*partition_start_ms),
            Command::Expire { before_ms } => self.expire_before(*before_ms),
            Command::ExpirePartition {
                tier,
                partition_start_ms,
                scope,
            } => self.expire_partition(*tier, *partition_start_ms, scope),
            Command::CleanTombstones => self.clean_tombstones(),
            Command::RollUp {
                tier,
                unit_start_ms,
                skip,
            } => self.roll_up(*tier, *unit_start_ms, skip),
            Command::Delete {
                series,
                mint_ms,
                maxt_ms,
            } => {
                for &id in series {
                    // Ids come from the leader's registry, which holds every id an earlier
                    // entry created; anything else is ignored the same way everywhere.
                    if id < self.registry.len() {
                        self.tombstones.add(id, *mint_ms, *maxt_ms);
                    }
                }
                self.deletes += 1;
                self.rollups_after_delete(*mint_ms, *maxt_ms);
            }
        }
        self.history.count(cmd, newest_ms);
        self.applied = index;
    }

    /// Applies the samples of `batch`; those for sealed partitions only with `backfill`.
    fn apply_write(&mut self, batch: &WriteBatch, backfill: bool) {
        let mut late_days = BTreeSet::new();
        let rolled_until = self.rolled_until();
        let new_ids: Vec<SeriesId> = batch
            .new_series
            .iter()
            .map(|labels| {
                let (id, created) = self.registry.get_or_insert(labels);
                if created {
                    self.heads.push(HeadSeries::default());
                }
                id
            })
            .collect();
        let ids: Vec<Option<SeriesId>> = batch
            .samples
            .iter()
            .map(|(series, _)| match *series {
                SeriesRef::Id(id) if id < self.registry.len() => Some(id),
                SeriesRef::New(k) => new_ids.get(k as usize).copied(),
                // An id the registry does not have: the leader never proposes it; skip it the
                // same way on every replica.
                SeriesRef::Id(_) => None,
            })
            .collect();
        // Each series appends to its own open chunk, which no step before touched: its
        // buffer's header is fetched eight series ahead, its last byte four ahead (the two
        // loads the bit writer otherwise stalled on, 10-12% of the node's CPU while ingesting).
        let head = |ids: &[Option<SeriesId>], i: usize| ids.get(i).copied().flatten();
        for (i, (_, samples)) in batch.samples.iter().enumerate() {
            if let Some(h) = head(&ids, i + 8).and_then(|id| self.heads.get(id as usize)) {
                h.prefetch_header();
            }
            if let Some(h) = head(&ids, i + 4).and_then(|id| self.heads.get(id as usize)) {
                h.prefetch_tail();
            }
            let Some(id) = ids[i] else {
                continue;
            };
            self.append_series(id, samples, backfill, rolled_until, &mut late_days);
        }
        for (series, samples) in &batch.histograms {
            let id = match *series {
                SeriesRef::Id(id) if id < self.registry.len() => Some(id),
                SeriesRef::New(k) => new_ids.get(k as usize).copied(),
                SeriesRef::Id(_) => None,
            };
            if let Some(id) = id {
                self.append_histograms(id, samples);
            }
        }
        // Rolled-up days whose raw data changed are computed again (as after a delete).
        for day in late_days {
            self.rollups_after_delete(day, day + ROLLUP_UNIT_MS - 1);
        }
    }

    /// Appends samples of series `id` (for sealed partitions too with `backfill`); adds the
    /// days of those at or before `rolled_until` ([`Shard::rolled_until`]) to `late_days`.
    fn append_series(
        &mut self,
        id: SeriesId,
        samples: &[Sample],
        backfill: bool,
        rolled_until: i64,
        late_days: &mut BTreeSet<i64>,
    ) {
        // The partition the previous sample fell in, and whether it accepts samples.
        let mut current: Option<(i64, bool)> = None;
        let mut touched = false;
        for s in samples {
            let Some(p) = self.partition_taking(id, s.t, backfill, &mut current) else {
                continue;
            };
            let Some(head) = self.heads.get_mut(id as usize) else {
                return;
            };
            if head.append(*s, p, self.opts.chunk_samples_max) != Appended::Dropped {
                touched = true;
                self.min_t = Some(self.min_t.map_or(s.t, |m| m.min(s.t)));
                self.max_t = Some(self.max_t.map_or(s.t, |m| m.max(s.t)));
                // A sample for a sealed partition (backfill) has it sealed again, and the
                // rolled-up day it falls in (whatever its partition) computed again.
                if self.sealed.contains(&p) {
                    self.seal_pending.insert(p);
                    self.backfills += 1;
                    self.backfilled.insert(p, self.backfills);
                }
                if s.t <= rolled_until {
                    late_days.insert(crate::tier::unit_of_window_end(s.t));
                }
            }
        }
        if touched {
            self.dirty.insert(id);
        }
    }

    /// The partition of a sample of series `id` at `t_ms` when it takes the sample (not before
    /// the horizon, and [`Shard::enter_partition`]); `current` is the previous sample's
    /// partition and answer, so that a series' sorted samples ask once per partition.
    #[inline]
    fn partition_taking(
        &mut self,
        id: SeriesId,
        t_ms: i64,
        backfill: bool,
        current: &mut Option<(i64, bool)>,
    ) -> Option<i64> {
        if t_ms < self.horizon_ms {
            return None;
        }
        let p = self.opts.partition_of(t_ms);
        let takes = match *current {
            Some((cp, takes)) if cp == p => takes,
            _ => {
                let takes = self.enter_partition(id, p, backfill);
                *current = Some((p, takes));
                takes
            }
        };
        takes.then_some(p)
    }

    /// Whether series `id` may have samples applied to partition `p` (not sealed unless
    /// `backfill`, not expired for it); if so, the series is in the partition's postings.
    fn enter_partition(&mut self, id: SeriesId, p: i64, backfill: bool) -> bool {
        let open = (backfill || !self.sealed.contains(&p))
            && !self.expired.whole.contains(&(Tier::Raw, p))
            && !self
                .expired_in(Tier::Raw, p)
                .is_some_and(|bm| bm.contains(id));
        if open {
            let part = self.partitions.entry(p).or_default();
            if !part.contains(id) {
                part.add(id, self.registry.pairs(id));
            }
        }
        open
    }

    /// Before a `Backfill` is applied: the sealed partitions it writes into whose postings are no
    /// longer in memory (flushed), for the engine to load with [`Shard::reopen_sealed`].
    pub fn sealed_partitions_written_by(&self, cmd: &Command) -> Vec<i64> {
        let Command::Backfill(batch) = cmd else {
            return Vec::new();
        };
        let mut out: BTreeSet<i64> = BTreeSet::new();
        for (_, samples) in &batch.samples {
            for s in samples {
                let p = self.opts.partition_of(s.t);
                if s.t >= self.horizon_ms
                    && self.sealed.contains(&p)
                    && !self.partitions.contains_key(&p)
                    && !self.expired.whole.contains(&(Tier::Raw, p))
                {
                    out.insert(p);
                }
            }
        }
        out.into_iter().collect()
    }

    /// Puts the postings of sealed partition `p` (its series `all`, their labels from the
    /// registry) back in memory, so that a backfill can add series to them and the partition
    /// be sealed again with every series.
    pub fn reopen_sealed(&mut self, p: i64, all: &roaring::RoaringBitmap) {
        let mut part = PartitionPostings {
            sealed: true,
            ..PartitionPostings::default()
        };
        for id in all {
            part.add(id, self.registry.pairs(id));
        }
        part.unflushed.clear();
        self.partitions.insert(p, part);
    }

    /// The generation of the latest backfill into sealed partition `p` (0: none since start).
    pub fn backfill_generation(&self, p: i64) -> u64 {
        self.backfilled.get(&p).copied().unwrap_or(0)
    }

    fn seal(&mut self, start_ms: i64) {
        let p = self.opts.partition_of(start_ms);
        if p < self.horizon_ms || !self.sealed.insert(p) {
            return;
        }
        self.seal_pending.insert(p);
        if let Some(part) = self.partitions.get_mut(&p) {
            part.sealed = true;
        }
        for (id, head) in self.heads.iter_mut().enumerate() {
            if head.open.as_ref().is_some_and(|o| o.partition == p) {
                head.close_open();
                self.dirty.insert(id as u32);
            }
        }
        for (&id, head) in &mut self.histograms {
            if head.open.as_ref().is_some_and(|o| o.partition == p) {
                head.close_open();
                self.dirty.insert(id);
            }
        }
    }

    /// Marks every sealed partition overlapping a deleted interval for re-encoding by the
    /// next flush, which leaves the deleted samples out (`seal.rs`).
    fn clean_tombstones(&mut self) {
        let Some((lo, hi)) = self.tombstones.span() else {
            return;
        };
        let due: Vec<i64> = self
            .sealed
            .iter()
            .copied()
            .filter(|&p| p >= self.horizon_ms && p <= hi && self.opts.partition_end(p) > lo)
            .collect();
        self.seal_pending.extend(due);
    }

    /// Every partition that may hold data (in memory or sealed), not before the horizon.
    pub fn known_partitions(&self) -> BTreeSet<i64> {
        self.partitions
            .keys()
            .chain(self.sealed.iter())
            .copied()
            .filter(|&p| p >= self.horizon_ms)
            .collect()
    }

    /// [`Shard::known_partitions`] less those retention dropped series `id` from.
    pub fn readable_partitions(&self, id: SeriesId) -> Vec<i64> {
        self.known_partitions()
            .into_iter()
            .filter(|&p| {
                !self
                    .expired_in(Tier::Raw, p)
                    .is_some_and(|bm| bm.contains(id))
            })
            .collect()
    }

    /// Whether samples of series `id` (`None`: one not yet created) at `t_ms` may still be
    /// applied: not expired, not in a sealed partition unless `backfill` (a sample for a
    /// sealed partition has it sealed again), and not in a rolled-up day whose raw data
    /// retention dropped in part (its windows could not be computed again: the sample would
    /// be lost with the rest of the day's raw data).
    /// `rolled_until` is [`Shard::rolled_until`] (looked up once per series).
    pub fn accepts(
        &self,
        id: Option<SeriesId>,
        t_ms: i64,
        backfill: bool,
        rolled_until: i64,
    ) -> bool {
        let p = self.opts.partition_of(t_ms);
        let rolled_unwhole = || {
            let day = crate::tier::unit_of_window_end(t_ms);
            self.is_rolled(day) && !self.raw_whole(day)
        };
        t_ms >= self.horizon_ms
            && (backfill || !self.sealed.contains(&p))
            && (t_ms > rolled_until || !rolled_unwhole())
            && !self.expired.whole.contains(&(Tier::Raw, p))
            && id.is_none_or(|id| !self.expired_at(id, t_ms))
    }

    /// In-memory chunks and samples, floats and histograms (for statistics).
    pub fn head_counts(&self) -> (u64, u64) {
        let floats = self.heads.iter().map(|h| h.counts());
        let histograms = self.histograms.values().map(|h| h.counts());
        floats
            .chain(histograms)
            .fold((0, 0), |(c, s), (hc, hs)| (c + hc, s + hs))
    }

    /// What the registry, heads and held postings take in memory (approximate).
    pub fn memory_breakdown(&self) -> crate::engine::MemoryBreakdown {
        let (heads, open_chunks) = self.heads.iter().fold((0, 0), |(all, open), h| {
            let chunk = h.open.as_ref().map_or(0, |o| o.chunk.heap_bytes());
            (all + h.heap_bytes(), open + chunk)
        });
        let spare_slots = self.heads.capacity() - self.heads.len();
        // A map entry costs its key and value plus the tree's share (about a word each).
        let histogram_heads: usize = self
            .histograms
            .values()
            .map(|h| h.heap_bytes() + 2 * std::mem::size_of::<usize>())
            .sum();
        crate::engine::MemoryBreakdown {
            registry: self.registry.heap_bytes(),
            heads: heads + histogram_heads + spare_slots * std::mem::size_of::<HeadSeries>(),
            open_chunks,
            postings: self.partitions.values().map(|p| p.heap_bytes()).sum(),
        }
    }
}
