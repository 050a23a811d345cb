//! Selects, series and label lookups over the partitions a time range touches.

use std::collections::BTreeSet;

use roaring::RoaringBitmap;

use super::{CachedReader, ShardCell, Sharded, read};
use crate::engine::{PartitionInfo, SeriesIter, SeriesSamples};
use crate::error::Result;
use crate::model::{Labels, Matcher, SeriesId, ShardId};
use crate::postings::{self, PostingsSource};
use crate::store::Store;
use crate::tier::Tier;

/// The matching series of each partition a query touches.
struct Plan {
    mint_ms: i64,
    maxt_ms: i64,
    /// (partition start, matching series), ascending by partition.
    parts: Vec<(i64, RoaringBitmap)>,
}

impl Plan {
    fn union(&self) -> RoaringBitmap {
        let mut u = RoaringBitmap::new();
        for (_, bm) in &self.parts {
            u |= bm;
        }
        u
    }
}

impl<S: Store> Sharded<S> {
    /// Calls `f` with the postings of every partition overlapping `[mint_ms, maxt_ms]` (after
    /// clipping to the horizon) and the series retention dropped from it: in-memory ones under
    /// the shard lock, sealed ones from the store. Returns the clipped range, `None` when it is
    /// empty.
    fn for_each_partition(
        &self,
        cell: &ShardCell,
        shard: ShardId,
        mint_ms: i64,
        maxt_ms: i64,
        f: &mut dyn FnMut(i64, &dyn PostingsSource, &RoaringBitmap) -> Result<()>,
    ) -> Result<Option<(i64, i64)>> {
        let none = RoaringBitmap::new();
        let stored: Vec<(i64, RoaringBitmap)> = {
            let st = read(cell);
            let mint = mint_ms.max(st.horizon_ms);
            if mint > maxt_ms {
                return Ok(None);
            }
            let (lo, hi) = (
                self.opts.partition_of(mint),
                self.opts.partition_of(maxt_ms),
            );
            for (&p, part) in st.partitions.range(lo..=hi) {
                f(p, part, st.expired_in(Tier::Raw, p).unwrap_or(&none))?;
            }
            st.sealed
                .range(lo..=hi)
                .copied()
                .filter(|p| !st.partitions.contains_key(p))
                .map(|p| (p, st.expired_in(Tier::Raw, p).cloned().unwrap_or_default()))
                .collect()
        };
        for (p, expired) in stored {
            let src = self.store.sealed_postings(shard, p);
            f(p, src.as_ref(), &expired)?;
        }
        Ok(Some((mint_ms.max(read(cell).horizon_ms), maxt_ms)))
    }

    fn plan(
        &self,
        cell: &ShardCell,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Plan> {
        let mut parts = Vec::new();
        let range =
            self.for_each_partition(cell, shard, mint_ms, maxt_ms, &mut |p, src, gone| {
                let mut bm = postings::select(src, matchers)?;
                bm -= gone;
                if !bm.is_empty() {
                    parts.push((p, bm));
                }
                Ok(())
            })?;
        parts.sort_by_key(|(p, _)| *p);
        let (mint_ms, maxt_ms) = range.unwrap_or((mint_ms, maxt_ms));
        Ok(Plan {
            mint_ms,
            maxt_ms,
            parts,
        })
    }

    pub fn select(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<SeriesIter<'_>> {
        let Some(cell) = self.shard(shard) else {
            return Ok(Box::new(std::iter::empty()));
        };
        let plan = self.plan(&cell, shard, matchers, mint_ms, maxt_ms)?;
        let ids = plan.union().into_iter();
        Ok(Box::new(SelectIter {
            engine: self,
            cell,
            shard,
            ids,
            plan,
            partitions: Vec::new(),
            reader: CachedReader::default(),
        }))
    }

    /// The first `limit` label sets of the matching series, sorted; no more than `limit`
    /// are held at once.
    pub fn series(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>> {
        let Some(cell) = self.shard(shard) else {
            return Ok(Vec::new());
        };
        let plan = self.plan(&cell, shard, matchers, mint_ms, maxt_ms)?;
        let st = read(&cell);
        let mut ids = plan.union();
        ids -= st.tombstones.covering(plan.mint_ms, plan.maxt_ms);
        let labels = ids.iter().filter_map(|id| st.registry.labels(id));
        Ok(crate::engine::smallest(labels, limit))
    }

    pub fn matching_series(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesId>> {
        let Some(cell) = self.shard(shard) else {
            return Ok(Vec::new());
        };
        let plan = self.plan(&cell, shard, matchers, mint_ms, maxt_ms)?;
        Ok(plan.union().iter().collect())
    }

    pub fn partitions(&self, shard: ShardId) -> Result<Vec<PartitionInfo>> {
        let Some(cell) = self.shard(shard) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        self.for_each_partition(&cell, shard, i64::MIN, i64::MAX, &mut |p, src, gone| {
            let mut all = src.all()?;
            all -= gone;
            out.push(PartitionInfo {
                tier: Tier::Raw,
                start_ms: p,
                end_ms: self.opts.partition_end(p),
                sealed: false,
                series: all.len(),
                expired_series: gone.len(),
                bytes: self.store.partition_bytes(shard, Tier::Raw, p),
            });
            Ok(())
        })?;
        let st = read(&cell);
        for info in &mut out {
            info.sealed = st.sealed.contains(&info.start_ms);
        }
        // Rollup tiers: one entry per partition holding a rolled day.
        let mut rolled: Vec<(Tier, i64, RoaringBitmap, RoaringBitmap)> = Vec::new();
        for tier in [Tier::Rollup1m, Tier::Rollup1h] {
            let mut parts: Vec<i64> = st
                .rolled_units(tier)
                .into_iter()
                .map(|u| tier.partition_of(u))
                .collect();
            parts.dedup();
            for p in parts {
                let gone = st.expired_in(tier, p).cloned().unwrap_or_default();
                let all = match st.rollups.mem_postings.get(&(tier, p)) {
                    Some(m) => m.all.clone(),
                    None => RoaringBitmap::new(),
                };
                rolled.push((tier, p, all, gone));
            }
        }
        drop(st);
        for (tier, p, mut all, gone) in rolled {
            if self.store.durable() {
                all |= self.store.tier_postings(shard, tier, p).all()?;
            }
            all -= &gone;
            out.push(PartitionInfo {
                tier,
                start_ms: p,
                end_ms: p + tier.partition_ms().unwrap_or(0),
                sealed: true,
                series: all.len(),
                expired_series: gone.len(),
                bytes: self.store.partition_bytes(shard, tier, p),
            });
        }
        out.sort_by_key(|i| (i.tier, i.start_ms));
        Ok(out)
    }

    pub fn partition_series(
        &self,
        shard: ShardId,
        tier: Tier,
        partition_start_ms: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<SeriesId>> {
        let Some(cell) = self.shard(shard) else {
            return Ok(Vec::new());
        };
        if tier != Tier::Raw {
            let p = tier.partition_of(partition_start_ms);
            let (mem, gone) = {
                let st = read(&cell);
                (
                    match st.rollups.mem_postings.get(&(tier, p)) {
                        Some(m) => postings::select(m, matchers)?,
                        None => RoaringBitmap::new(),
                    },
                    st.expired_in(tier, p).cloned().unwrap_or_default(),
                )
            };
            let mut out = mem;
            if self.store.durable() {
                out |=
                    postings::select(self.store.tier_postings(shard, tier, p).as_ref(), matchers)?;
            }
            out -= gone;
            return Ok(out.iter().collect());
        }
        let p = self.opts.partition_of(partition_start_ms);
        let mut out = RoaringBitmap::new();
        self.for_each_partition(&cell, shard, p, p, &mut |q, src, gone| {
            if q == p {
                out = postings::select(src, matchers)?;
                out -= gone;
            }
            Ok(())
        })?;
        Ok(out.iter().collect())
    }

    pub fn label_names(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        let Some(cell) = self.shard(shard) else {
            return Ok(out);
        };
        let hidden = read(&cell).tombstones.covering(mint_ms, maxt_ms);
        self.for_each_partition(&cell, shard, mint_ms, maxt_ms, &mut |_, src, gone| {
            match candidates(src, matchers, &hidden, gone)? {
                None => postings::names_of(src, None, &mut out),
                Some(c) => postings::names_of(src, Some(&c), &mut out),
            }
        })?;
        Ok(out)
    }

    pub fn label_values(
        &self,
        shard: ShardId,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        let Some(cell) = self.shard(shard) else {
            return Ok(out);
        };
        let hidden = read(&cell).tombstones.covering(mint_ms, maxt_ms);
        self.for_each_partition(&cell, shard, mint_ms, maxt_ms, &mut |_, src, gone| {
            match candidates(src, matchers, &hidden, gone)? {
                None => postings::values_of(src, name, None, &mut out),
                Some(c) => postings::values_of(src, name, Some(&c), &mut out),
            }
        })?;
        Ok(out)
    }
}

/// The series of a partition whose labels a lookup reports: those `matchers` select, less the
/// `hidden` ones (deleted over the whole range) and those retention dropped from it (`gone`);
/// `None` for every series.
fn candidates(
    src: &dyn PostingsSource,
    matchers: &[Matcher],
    hidden: &RoaringBitmap,
    gone: &RoaringBitmap,
) -> Result<Option<RoaringBitmap>> {
    if matchers.is_empty() && hidden.is_empty() && gone.is_empty() {
        return Ok(None);
    }
    let mut c = postings::select(src, matchers)?;
    c -= hidden;
    c -= gone;
    Ok(Some(c))
}

/// Yields the series of a plan one at a time, reading each only when asked for.
struct SelectIter<'a, S: Store> {
    engine: &'a Sharded<S>,
    cell: ShardCell,
    shard: ShardId,
    ids: roaring::bitmap::IntoIter,
    plan: Plan,
    /// Scratch: partitions of the current series.
    partitions: Vec<i64>,
    reader: CachedReader<'a>,
}

impl<S: Store> Iterator for SelectIter<'_, S> {
    type Item = Result<SeriesSamples>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let id = self.ids.next()?;
            self.partitions.clear();
            self.partitions.extend(
                self.plan
                    .parts
                    .iter()
                    .filter(|(_, bm)| bm.contains(id))
                    .map(|(p, _)| *p),
            );
            let read = self.engine.read_series(
                &self.cell,
                self.shard,
                id,
                &self.partitions,
                self.plan.mint_ms,
                self.plan.maxt_ms,
                &mut self.reader,
            );
            match read {
                Ok(Some(read)) if !read.samples.is_empty() || !read.histograms.is_empty() => {
                    return Some(Ok(read));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
