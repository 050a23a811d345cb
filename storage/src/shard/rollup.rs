//! Rollups inside a shard: which days are rolled up into which tier (`Command::RollUp`), which
//! of them the next flush computes, and, for the in-memory engine, the computed windows.
//!
//! A rollup's content is a function of the raw data: the flush computes the windows of a
//! pending day from the raw samples as they are then (`sharded/rollup.rs`), reading the raw
//! partitions physically, so that a flush that also deletes expired raw data computes from it
//! first, in the same write. Raw data of a day changes after its `RollUp` only by deletion: a
//! `Delete` makes the rolled days it touches pending again while their raw data is whole.

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringBitmap;

use super::Shard;
use crate::command::Command;
use crate::model::SeriesId;
use crate::postings::PartitionPostings;
use crate::sharded::{RolledUnit, RollupFlush, TierPostings};
use crate::tier::{ROLLUP_UNIT_MS, Tier};

/// Encoded rollup chunks of one day, per series.
pub(crate) type DayChunks = BTreeMap<SeriesId, Box<[u8]>>;

/// The rollups of a shard.
#[derive(Default)]
pub(crate) struct Rollups {
    /// Days rolled up, per tier, with the series they skip.
    pub rolled: BTreeMap<(Tier, i64), RoaringBitmap>,
    /// Days whose windows the next flush computes, with a generation: a later `RollUp` or a
    /// delete raises it, and a flush installs only what it computed at the current one.
    pub pending: BTreeMap<(Tier, i64), u64>,
    pub next_generation: u64,
    /// Entries of `rolled` changed since the last flush.
    pub dirty: BTreeSet<(Tier, i64)>,
    /// The in-memory engine's computed windows (encoded rollup chunks) per day and series.
    pub mem_chunks: BTreeMap<(Tier, i64), DayChunks>,
    /// The in-memory engine's postings of rollup partitions.
    pub mem_postings: BTreeMap<(Tier, i64), PartitionPostings>,
    /// Days computed when an apply was about to drop raw data they read, not yet persisted:
    /// the next flush writes them (with the rollup postings they add).
    pub unpersisted: BTreeMap<(Tier, i64), (RolledUnit, Vec<TierPostings>)>,
}

/// The persisted record of a rolled day ([`Shard::rollup_records`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RolledRecord<'a> {
    pub tier: Tier,
    pub unit: i64,
    /// The series it skips; `None`: the day is no longer rolled up (delete the record).
    pub skip: Option<&'a RoaringBitmap>,
    /// Whether the day still waits to be computed.
    pub pending: bool,
}

/// What a flush needs to compute one pending day (`Shard::rollup_jobs`).
#[derive(Clone, Debug)]
pub(crate) struct RollupJob {
    pub tier: Tier,
    pub unit: i64,
    pub generation: u64,
    pub skip: RoaringBitmap,
    /// Every raw partition that may hold a sample the day's windows need: the day itself, the
    /// sample at its end, the one before its start (a window's jump).
    pub raw_partitions: Vec<i64>,
    /// The series of those partitions whose postings are in memory.
    pub series_in_memory: RoaringBitmap,
}

impl Shard {
    /// Applies `RollUp`: the day's windows are computed from the raw data left of it (raw
    /// partitions already dropped count as empty, on every replica alike); series whose raw
    /// samples there a per-metric retention dropped are skipped.
    ///
    /// Ignored for a day whose tier partition retention dropped (it stays dropped), and for a
    /// day already rolled up whose raw data is no longer whole (rolling it up again would
    /// lose what only its rollups still hold).
    pub(super) fn roll_up(&mut self, tier: Tier, unit: i64, skip: &[SeriesId]) {
        if tier == Tier::Raw || unit.rem_euclid(ROLLUP_UNIT_MS) != 0 {
            return;
        }
        if self
            .expired
            .whole
            .contains(&(tier, tier.partition_of(unit)))
            || (self.rollups.rolled.contains_key(&(tier, unit)) && !self.raw_whole(unit))
        {
            return;
        }
        let mut skipped: RoaringBitmap = skip.iter().copied().collect();
        for p in self.raw_partitions_of_unit(unit) {
            if let Some(bm) = self.expired_in(Tier::Raw, p) {
                skipped |= bm;
            }
        }
        self.rollups.rolled.insert((tier, unit), skipped);
        self.rollups.dirty.insert((tier, unit));
        self.mark_pending(tier, unit);
    }

    pub(crate) fn mark_pending(&mut self, tier: Tier, unit: i64) {
        let g = self.rollups.next_generation;
        self.rollups.next_generation += 1;
        self.rollups.pending.insert((tier, unit), g);
        // The record says it is pending: should the flush that persists this apply not compute
        // it, recovery makes it pending again (its command is below the flushed index).
        self.rollups.dirty.insert((tier, unit));
    }

    /// Whether every raw sample a day's windows read is still there (nothing of its span was
    /// dropped by retention): only then can the day be computed again.
    pub fn raw_whole(&self, unit: i64) -> bool {
        self.raw_span_of_unit(unit).iter().all(|p| {
            *p >= self.horizon_ms
                && !self.expired.whole.contains(&(Tier::Raw, *p))
                && self.expired_in(Tier::Raw, *p).is_none()
        })
    }

    /// The rolled days a delete of `[mint, maxt]` touches: those whose raw span (the partition
    /// before the day, for the first window's jump, to the day's end) overlaps it.
    fn touched_by_delete(&self, mint: i64, maxt: i64) -> Vec<(Tier, i64)> {
        self.rollups
            .rolled
            .keys()
            .copied()
            .filter(|(_, u)| self.reads_raw_of(*u, mint, maxt))
            .collect()
    }

    /// Whether day `unit`'s windows may read raw samples in `[mint, maxt]`: its raw span
    /// reaches from the partition before the day (the first window's jump) to the day's end.
    fn reads_raw_of(&self, unit: i64, mint: i64, maxt: i64) -> bool {
        mint <= unit + ROLLUP_UNIT_MS && maxt >= self.opts.partition_of(unit - 1)
    }

    /// Every raw partition a day's windows read: from the one holding the last instant before
    /// the day (the first window's jump) to the one holding the day's end (the last window
    /// ends there, inclusive).
    pub fn raw_span_of_unit(&self, unit: i64) -> Vec<i64> {
        let first = self.opts.partition_of(unit - 1);
        let last = self.opts.partition_of(unit + ROLLUP_UNIT_MS);
        let width = self.opts.partition_ms.max(1);
        (0..)
            .map(|i| first + i * width)
            .take_while(|p| *p <= last)
            .collect()
    }

    /// [`Shard::raw_span_of_unit`] less the partitions retention dropped whole.
    pub fn raw_partitions_of_unit(&self, unit: i64) -> Vec<i64> {
        self.raw_span_of_unit(unit)
            .into_iter()
            .filter(|p| *p >= self.horizon_ms && !self.expired.whole.contains(&(Tier::Raw, *p)))
            .collect()
    }

    /// After a `Delete` of `[mint, maxt]`: the rolled days it touches are computed again while
    /// their raw data is whole; the others keep what they hold (a pending one was computed
    /// just before the delete applied, see [`Shard::pending_rollups_changed_by`]), and reads
    /// hide their windows the delete touches.
    pub(super) fn rollups_after_delete(&mut self, mint: i64, maxt: i64) {
        for (tier, unit) in self.touched_by_delete(mint, maxt) {
            if self.raw_whole(unit) {
                self.mark_pending(tier, unit);
            }
        }
    }

    /// Applies the expiry of a rollup partition: its days are no longer rolled up.
    pub(super) fn rollups_after_expiry(&mut self, tier: Tier, partition: i64) {
        let Some(width) = tier.partition_ms() else {
            return;
        };
        let days: Vec<(Tier, i64)> = self
            .rollups
            .rolled
            .range((tier, partition)..(tier, partition + width))
            .map(|(k, _)| *k)
            .collect();
        for k in days {
            self.rollups.rolled.remove(&k);
            self.rollups.pending.remove(&k);
            self.rollups.unpersisted.remove(&k);
            self.rollups.mem_chunks.remove(&k);
            self.rollups.dirty.insert(k);
        }
        self.rollups.mem_postings.remove(&(tier, partition));
    }

    /// The pending days, for the flush to compute.
    pub fn rollup_jobs(&self) -> Vec<RollupJob> {
        self.rollups
            .pending
            .iter()
            .map(|(&(tier, unit), &generation)| {
                let raw_partitions = self.raw_partitions_of_unit(unit);
                let mut series_in_memory = RoaringBitmap::new();
                for p in &raw_partitions {
                    if let Some(part) = self.partitions.get(p) {
                        series_in_memory |= &part.all;
                    }
                }
                RollupJob {
                    tier,
                    unit,
                    generation,
                    skip: self
                        .rollups
                        .rolled
                        .get(&(tier, unit))
                        .cloned()
                        .unwrap_or_default(),
                    raw_partitions,
                    series_in_memory,
                }
            })
            .collect()
    }

    /// Whether day `unit` of `tier` is still pending at `generation`.
    pub fn rollup_pending_at(&self, tier: Tier, unit: i64, generation: u64) -> bool {
        self.rollups.pending.get(&(tier, unit)) == Some(&generation)
    }

    /// The end of the newest rolled-up day of any tier (`i64::MIN`: none): no sample after it
    /// falls in a rolled-up day.
    pub fn rolled_until(&self) -> i64 {
        [Tier::Rollup1m, Tier::Rollup1h]
            .into_iter()
            .filter_map(|t| {
                self.rollups
                    .rolled
                    .range((t, i64::MIN)..=(t, i64::MAX))
                    .next_back()
                    .map(|((_, u), _)| u + ROLLUP_UNIT_MS)
            })
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Whether day `unit` is rolled up into some tier.
    pub fn is_rolled(&self, unit: i64) -> bool {
        [Tier::Rollup1m, Tier::Rollup1h]
            .iter()
            .any(|t| self.rollups.rolled.contains_key(&(*t, unit)))
    }

    /// The days of `tier` rolled up, ascending.
    pub fn rolled_units(&self, tier: Tier) -> Vec<i64> {
        self.rollups
            .rolled
            .range((tier, i64::MIN)..=(tier, i64::MAX))
            .map(|((_, u), _)| *u)
            .collect()
    }

    /// Rolled days some of whose raw data retention dropped: their rollups are what is left.
    pub fn rollups_without_raw(&self) -> Vec<(Tier, i64)> {
        self.rollups
            .rolled
            .keys()
            .copied()
            .filter(|(_, unit)| {
                self.raw_span_of_unit(*unit).iter().any(|p| {
                    *p < self.horizon_ms
                        || self.expired.whole.contains(&(Tier::Raw, *p))
                        || self.expired_in(Tier::Raw, *p).is_some()
                })
            })
            .collect()
    }

    /// The pending days `cmd` changes the raw data of in a way computing them afterwards
    /// could not undo: they must be computed before `cmd` applies, so that every replica holds
    /// the same windows whether or not a flush of its own computed them first.
    /// - Raw data `cmd` drops (expiry): every pending day reading it.
    /// - Raw samples `cmd` deletes or writes late: the pending days that read them and whose
    ///   raw data is no longer whole. A day whose raw data is whole is made pending again
    ///   instead ([`Shard::rollups_after_delete`]); the others are never computed again, so
    ///   one computed before the change must equal one computed after it: before, on all.
    pub fn pending_rollups_changed_by(&self, cmd: &Command) -> Vec<RollupJob> {
        if self.rollups.pending.is_empty() {
            return Vec::new();
        }
        let dropped: Vec<i64> = match cmd {
            Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms,
                ..
            } => vec![self.opts.partition_of(*partition_start_ms)],
            Command::Expire { before_ms } => {
                let horizon = self.opts.partition_of(*before_ms);
                self.known_partitions()
                    .into_iter()
                    .filter(|p| *p < horizon)
                    .collect()
            }
            Command::Delete {
                mint_ms, maxt_ms, ..
            } => {
                return self
                    .frozen_pending_jobs(|unit| self.reads_raw_of(unit, *mint_ms, *maxt_ms));
            }
            Command::Write(batch) | Command::Backfill(batch) => {
                // Live writes are newer than every rolled day: one look at each series' first
                // sample (lists are sorted) settles them.
                let rolled_until = self.rolled_until();
                if batch
                    .samples
                    .iter()
                    .all(|(_, samples)| samples.first().is_none_or(|s| s.t > rolled_until))
                {
                    return Vec::new();
                }
                return self.frozen_pending_jobs(|unit| {
                    batch.samples.iter().any(|(_, samples)| {
                        // Sorted by time: only a prefix can fall in a rolled day's span.
                        samples
                            .iter()
                            .take_while(|s| s.t <= unit + ROLLUP_UNIT_MS)
                            .any(|s| self.reads_raw_of(unit, s.t, s.t))
                    })
                });
            }
            _ => return Vec::new(),
        };
        self.rollup_jobs()
            .into_iter()
            .filter(|j| j.raw_partitions.iter().any(|p| dropped.contains(p)))
            .collect()
    }

    /// The pending days whose raw data is no longer whole and for which `changed` holds.
    fn frozen_pending_jobs(&self, changed: impl Fn(i64) -> bool) -> Vec<RollupJob> {
        let due: BTreeSet<(Tier, i64)> = self
            .rollups
            .pending
            .keys()
            .filter(|(_, unit)| !self.raw_whole(*unit) && changed(*unit))
            .copied()
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        self.rollup_jobs()
            .into_iter()
            .filter(|j| due.contains(&(j.tier, j.unit)))
            .collect()
    }

    /// Installs days computed ahead of an apply that drops their raw data: no longer pending,
    /// readable at once, persisted by the next flush.
    pub(crate) fn install_computed(&mut self, computed: RollupFlush) {
        let mut postings = computed.postings;
        for u in computed.units {
            let key = (u.tier, u.unit);
            self.rollups.pending.remove(&key);
            self.rollups.dirty.insert(key);
            let mine: Vec<TierPostings> = postings
                .extract_if(.., |p| {
                    p.tier == u.tier && p.partition == u.tier.partition_of(u.unit)
                })
                .collect();
            self.rollups.unpersisted.insert(key, (u, mine));
        }
    }

    /// Records a flush that wrote `computed`: those days are no longer pending; the in-memory
    /// engine keeps their windows and postings.
    pub(crate) fn finish_rollups(&mut self, computed: RollupFlush, durable: bool) {
        self.rollups.dirty.clear();
        for u in computed.units {
            self.rollups.pending.remove(&(u.tier, u.unit));
            self.rollups.unpersisted.remove(&(u.tier, u.unit));
            if durable {
                continue;
            }
            let partition = u.tier.partition_of(u.unit);
            let mut chunks = BTreeMap::new();
            for (id, bytes) in u.chunks {
                let Some(bytes) = bytes else { continue };
                chunks.insert(id, bytes.into_boxed_slice());
                let pairs: Vec<(String, String)> = self
                    .registry
                    .pairs(id)
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                self.rollups
                    .mem_postings
                    .entry((u.tier, partition))
                    .or_default()
                    .add(id, pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            }
            self.rollups.mem_chunks.insert((u.tier, u.unit), chunks);
        }
    }

    /// The records of rolled days a flush writing `computed` persists (every one changed since
    /// the last flush): the skipped series and whether the day is still to be computed after
    /// this flush, or `None` to delete the record. Recovery makes a day recorded as pending
    /// pending again, so that a `RollUp` (or a delete) applied while a flush computed is
    /// not lost once the flushed index passes it.
    pub fn rollup_records(&self, computed: &RollupFlush) -> Vec<RolledRecord<'_>> {
        self.rollups
            .dirty
            .iter()
            .map(|k| RolledRecord {
                tier: k.0,
                unit: k.1,
                skip: self.rollups.rolled.get(k),
                pending: self.rollups.pending.contains_key(k)
                    && !computed.units.iter().any(|u| (u.tier, u.unit) == *k),
            })
            .collect()
    }

    /// The rolled days in canonical bytes, for the digest.
    pub fn rollups_digest_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for ((t, u), skip) in &self.rollups.rolled {
            out.push(t.byte());
            out.extend_from_slice(&u.to_be_bytes());
            let _ = skip.serialize_into(&mut out);
        }
        out
    }
}
