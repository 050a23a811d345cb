//! Computing and reading rollups: the windows of a pending day are computed by the flush from
//! the raw data (read as any select reads it: head and store merged, deleted samples left
//! out), and reads of a tier take a day's windows from the store once computed, from the raw
//! data while it is pending. Either way a day's windows are the same function of the raw data.

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringBitmap;

use super::{CachedReader, ShardCell, Sharded, merge_read, read};
use crate::chunk::rollup as chunk;
use crate::error::{Error, Result};
use crate::model::{Labels, Matcher, SeriesId, ShardId};
use crate::postings;
use crate::rollup::{Window, windows};
use crate::shard::{RollupJob, Shard};
use crate::store::{Store, StoredChunks};
use crate::tier::{ROLLUP_UNIT_MS, Tier, unit_of_window_end};

/// One computed day of one tier: per series, its rollup chunk (`None`: no window, and any
/// chunk stored before goes).
#[derive(Clone, Debug)]
pub(crate) struct RolledUnit {
    pub tier: Tier,
    pub unit: i64,
    pub generation: u64,
    pub chunks: Vec<(SeriesId, Option<Vec<u8>>)>,
}

/// The full bitmaps of the postings keys of one rollup partition that a flush changes.
#[derive(Clone, Debug)]
pub(crate) struct TierPostings {
    pub tier: Tier,
    pub partition: i64,
    /// (name, value, bitmap); name and value empty: every series.
    pub keys: Vec<(String, String, RoaringBitmap)>,
}

/// What a flush persists of rollups.
#[derive(Default)]
pub(crate) struct RollupFlush {
    pub units: Vec<RolledUnit>,
    /// Durable stores only (the in-memory engine keeps its postings in the shard).
    pub postings: Vec<TierPostings>,
}

/// One series' windows of one tier.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesWindows {
    pub labels: Labels,
    pub windows: Vec<Window>,
}

/// The raw samples a day's windows read: from the start of the raw partition before it.
fn job_range(job: &RollupJob) -> (i64, i64) {
    let from = job.raw_partitions.first().copied().unwrap_or(job.unit);
    (from, job.unit + ROLLUP_UNIT_MS)
}

fn job_resolution(job: &RollupJob) -> Result<i64> {
    job.tier
        .resolution_ms()
        .ok_or_else(|| Error::Encode("raw is not a rollup tier".into()))
}

fn pairs_of(st: &Shard, id: SeriesId) -> Vec<(String, String)> {
    st.registry
        .pairs(id)
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

impl RollupFlush {
    /// Merges the postings changes of the same rollup partition (each holds the stored bitmaps
    /// with its own additions) into one.
    pub(crate) fn merge_postings(&mut self) {
        let mut by_part: BTreeMap<(Tier, i64), BTreeMap<(String, String), RoaringBitmap>> =
            BTreeMap::new();
        for p in self.postings.drain(..) {
            let keys = by_part.entry((p.tier, p.partition)).or_default();
            for (n, v, bm) in p.keys {
                *keys.entry((n, v)).or_default() |= bm;
            }
        }
        self.postings = by_part
            .into_iter()
            .map(|((tier, partition), keys)| TierPostings {
                tier,
                partition,
                keys: keys.into_iter().map(|((n, v), bm)| (n, v, bm)).collect(),
            })
            .collect();
    }
}

impl<S: Store> Sharded<S> {
    /// The series a pending day covers: those of its raw partitions, less the skipped ones.
    fn job_series(&self, shard: ShardId, job: &RollupJob) -> Result<RoaringBitmap> {
        let mut ids = job.series_in_memory.clone();
        for &p in &job.raw_partitions {
            ids |= self.store.sealed_postings(shard, p).all()?;
        }
        ids -= &job.skip;
        Ok(ids)
    }

    /// The windows of series `id` for day `job.unit`, from the raw data.
    fn windows_from_raw<'a>(
        &'a self,
        cell: &ShardCell,
        shard: ShardId,
        job: &RollupJob,
        id: SeriesId,
        reader: &mut CachedReader<'a>,
    ) -> Result<Vec<Window>> {
        let (from, end) = job_range(job);
        let samples = self
            .read_series(cell, shard, id, &job.raw_partitions, from, end, reader)?
            .map(|read| read.samples)
            .unwrap_or_default();
        Ok(windows(&samples, job_resolution(job)?, job.unit, end))
    }

    /// Computes the pending days `jobs` (taken under the shard's lock, computed without it),
    /// with the postings their series add to rollup partitions when the store is durable.
    pub(crate) fn compute_rollups(
        &self,
        cell: &ShardCell,
        shard: ShardId,
        jobs: Vec<RollupJob>,
    ) -> Result<RollupFlush> {
        let mut reader = CachedReader::default();
        self.compute_with(
            shard,
            jobs,
            &mut |job, id| self.windows_from_raw(cell, shard, job, id, &mut reader),
            &|id| pairs_of(&read(cell), id),
        )
    }

    /// [`Sharded::compute_rollups`] under the shard's write lock `st`, just before an apply
    /// drops raw data the days read.
    pub(crate) fn compute_rollups_locked(
        &self,
        st: &Shard,
        shard: ShardId,
        jobs: Vec<RollupJob>,
    ) -> Result<RollupFlush> {
        let mut reader = self.store.chunk_reader(shard);
        self.compute_with(
            shard,
            jobs,
            &mut |job, id| {
                let (from, end) = job_range(job);
                let Some(snap) = st.snapshot(id, from, end) else {
                    return Ok(Vec::new());
                };
                let mut stored = StoredChunks::default();
                if self.store.durable() {
                    reader.read(id, &job.raw_partitions, from, end, &mut stored)?;
                }
                let samples = merge_read(snap, stored, st.tombstones.of(id), from, end)?.samples;
                Ok(windows(&samples, job_resolution(job)?, job.unit, end))
            },
            &|id| pairs_of(st, id),
        )
    }

    fn compute_with(
        &self,
        shard: ShardId,
        jobs: Vec<RollupJob>,
        windows_of: &mut dyn FnMut(&RollupJob, SeriesId) -> Result<Vec<Window>>,
        pairs: &dyn Fn(SeriesId) -> Vec<(String, String)>,
    ) -> Result<RollupFlush> {
        let mut out = RollupFlush::default();
        let mut added: BTreeMap<(Tier, i64), RoaringBitmap> = BTreeMap::new();
        for job in jobs {
            let res = job_resolution(&job)?;
            let mut chunks = Vec::new();
            for id in &self.job_series(shard, &job)? {
                let ws = windows_of(&job, id)?;
                if ws.is_empty() {
                    chunks.push((id, None));
                } else {
                    chunks.push((id, Some(chunk::encode(res, &ws)?)));
                    added
                        .entry((job.tier, job.tier.partition_of(job.unit)))
                        .or_default()
                        .insert(id);
                }
            }
            out.units.push(RolledUnit {
                tier: job.tier,
                unit: job.unit,
                generation: job.generation,
                chunks,
            });
        }
        if self.store.durable() {
            for ((tier, partition), ids) in added {
                out.postings
                    .push(self.merged_postings(shard, tier, partition, ids, pairs)?);
            }
        }
        Ok(out)
    }

    /// The stored postings of a rollup partition with `ids` added: every key those series'
    /// labels touch, whole.
    fn merged_postings(
        &self,
        shard: ShardId,
        tier: Tier,
        partition: i64,
        ids: RoaringBitmap,
        pairs: &dyn Fn(SeriesId) -> Vec<(String, String)>,
    ) -> Result<TierPostings> {
        let src = self.store.tier_postings(shard, tier, partition);
        let mut all = src.all()?;
        let fresh = &ids - &all;
        all |= &ids;
        let mut by_pair: BTreeMap<(String, String), RoaringBitmap> = BTreeMap::new();
        for id in &fresh {
            for pair in pairs(id) {
                by_pair.entry(pair).or_default().insert(id);
            }
        }
        let mut keys = Vec::with_capacity(by_pair.len() + 1);
        for ((n, v), bm) in by_pair {
            let merged = src.get(&n, &v)? | bm;
            keys.push((n, v, merged));
        }
        keys.push((String::new(), String::new(), all));
        Ok(TierPostings {
            tier,
            partition,
            keys,
        })
    }

    pub fn closed_partitions(&self, shard: ShardId, tier: Tier) -> Vec<i64> {
        self.shard(shard)
            .map(|c| {
                read(&c)
                    .expired
                    .whole
                    .iter()
                    .filter(|(t, _)| *t == tier)
                    .map(|(_, p)| *p)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn pending_rollups(&self, shard: ShardId) -> usize {
        self.shard(shard)
            .map_or(0, |c| read(&c).rollups.pending.len())
    }

    pub fn rolled_units(&self, shard: ShardId, tier: Tier) -> Vec<i64> {
        self.shard(shard)
            .map(|c| read(&c).rolled_units(tier))
            .unwrap_or_default()
    }

    /// The series of `shard` matching `matchers` with windows of `tier` ending in
    /// `[mint_ms, maxt_ms]`, each with those windows (less the windows a delete touches),
    /// sorted by labels.
    pub fn select_windows(
        &self,
        shard: ShardId,
        tier: Tier,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesWindows>> {
        Ok(self
            .select_windows_of(shard, tier, matchers, mint_ms, maxt_ms)?
            .into_iter()
            .map(|(_, w)| w)
            .collect())
    }

    /// [`Self::select_windows`] with each series' id.
    pub(super) fn select_windows_of(
        &self,
        shard: ShardId,
        tier: Tier,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<(SeriesId, SeriesWindows)>> {
        let Some(cell) = self.shard(shard) else {
            return Ok(Vec::new());
        };
        let Some(res) = tier.resolution_ms() else {
            return Err(Error::Encode("select_windows reads a rollup tier".into()));
        };
        let (first, last) = (unit_of_window_end(mint_ms), unit_of_window_end(maxt_ms));
        // Per day: computed (stored) or pending (its job), and the matching series.
        let mut days: Vec<(i64, Option<RollupJob>, RoaringBitmap)> = Vec::new();
        {
            let st = read(&cell);
            let jobs: BTreeMap<i64, RollupJob> = st
                .rollup_jobs()
                .into_iter()
                .filter(|j| j.tier == tier)
                .map(|j| (j.unit, j))
                .collect();
            for (&(_, unit), _) in st.rollups.rolled.range((tier, first)..=(tier, last)) {
                let job = jobs.get(&unit).cloned();
                let ids = match (
                    &job,
                    st.rollups
                        .mem_postings
                        .get(&(tier, tier.partition_of(unit))),
                ) {
                    (None, Some(mem)) => postings::select(mem, matchers)?,
                    _ => RoaringBitmap::new(),
                };
                // Computed but not yet flushed: its series, those the matchers select.
                let ids = match st.rollups.unpersisted.get(&(tier, unit)) {
                    Some((u, _)) => {
                        let mut m = RoaringBitmap::new();
                        for (id, bytes) in &u.chunks {
                            let selected = bytes.is_some()
                                && st
                                    .registry
                                    .labels(*id)
                                    .is_some_and(|l| matchers.iter().all(|x| x.matches_labels(&l)));
                            if selected {
                                m.insert(*id);
                            }
                        }
                        m | ids
                    }
                    None => ids,
                };
                days.push((unit, job, ids));
            }
        }
        let gone_of = |st: &crate::shard::Shard, unit: i64| {
            st.expired_in(tier, tier.partition_of(unit))
                .cloned()
                .unwrap_or_default()
        };
        for (unit, job, ids) in &mut days {
            match job {
                Some(job) => {
                    let mut m = RoaringBitmap::new();
                    for &p in &job.raw_partitions {
                        m |= match read(&cell).partitions.get(&p) {
                            Some(part) => postings::select(part, matchers)?,
                            None => postings::select(
                                self.store.sealed_postings(shard, p).as_ref(),
                                matchers,
                            )?,
                        };
                    }
                    m -= &job.skip;
                    *ids = m;
                }
                None if self.store.durable() => {
                    let src = self
                        .store
                        .tier_postings(shard, tier, tier.partition_of(*unit));
                    *ids |= postings::select(src.as_ref(), matchers)?;
                }
                None => {}
            }
            *ids -= gone_of(&read(&cell), *unit);
        }
        let candidates: BTreeSet<SeriesId> =
            days.iter().flat_map(|(_, _, ids)| ids.iter()).collect();
        let mut out = Vec::new();
        let mut reader = CachedReader::default();
        let mut stored = self.store.chunk_reader(shard);
        for id in candidates {
            let mut ws: Vec<Window> = Vec::new();
            for (unit, job, ids) in &days {
                if !ids.contains(id) {
                    continue;
                }
                match job {
                    Some(job) => {
                        ws.extend(self.windows_from_raw(&cell, shard, job, id, &mut reader)?)
                    }
                    None => {
                        let local = {
                            let st = read(&cell);
                            match st.rollups.unpersisted.get(&(tier, *unit)) {
                                Some((u, _)) => Some(
                                    u.chunks
                                        .iter()
                                        .find(|(i, _)| *i == id)
                                        .and_then(|(_, b)| b.clone()),
                                ),
                                None => st
                                    .rollups
                                    .mem_chunks
                                    .get(&(tier, *unit))
                                    .map(|m| m.get(&id).map(|b| b.to_vec())),
                            }
                        };
                        let bytes = match local {
                            Some(b) => b,
                            None => {
                                stored.read_rollup(id, tier, tier.partition_of(*unit), *unit)?
                            }
                        };
                        if let Some(b) = bytes {
                            ws.extend(chunk::decode(&b)?.1);
                        }
                    }
                }
            }
            let (labels, deleted) = {
                let st = read(&cell);
                (st.registry.labels(id), st.tombstones.of(id).to_vec())
            };
            ws.retain(|w| {
                w.end_ms >= mint_ms
                    && w.end_ms <= maxt_ms
                    && !deleted
                        .iter()
                        .any(|&(a, b)| a <= w.end_ms && b > w.end_ms - res)
            });
            if let (Some(labels), false) = (labels, ws.is_empty()) {
                out.push((
                    id,
                    SeriesWindows {
                        labels,
                        windows: ws,
                    },
                ));
            }
        }
        out.sort_by(|a, b| a.1.labels.cmp(&b.1.labels));
        Ok(out)
    }
}
