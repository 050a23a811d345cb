//! Retention inside a shard: applying `ExpirePartition` (and the older `Expire`), and what the
//! next flush deletes because of it.
//!
//! A raw partition dropped whole while an older one still holds data (series a per-metric
//! policy keeps longer) is remembered in [`Expired::whole`]; once nothing older holds data, the
//! horizon moves past it and the record goes. Series dropped from a partition that keeps
//! others are remembered per partition in [`Expired::series`] and hidden from every read until
//! the partition goes whole. Samples for anything dropped are not applied again, so a write the
//! leader validated before an expiry committed cannot bring it back on one replica only.

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringBitmap;

use super::Shard;
use crate::command::ExpireScope;
use crate::model::SeriesId;
use crate::tier::Tier;
use crate::varint::{put_uvarint, put_varint};

/// What retention dropped from a shard above its horizon, and what is not yet persisted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expired {
    /// Partitions dropped whole while older data remains.
    pub whole: BTreeSet<(Tier, i64)>,
    /// Series dropped from partitions that keep others.
    pub series: BTreeMap<(Tier, i64), RoaringBitmap>,
    /// Partitions dropped whole since the last flush (their stored data goes in the next one).
    pub pending_whole: BTreeSet<(Tier, i64)>,
    /// Series dropped since the last flush, per partition (their stored chunks go next).
    pub pending_series: BTreeMap<(Tier, i64), RoaringBitmap>,
    /// Entries of `series` changed or removed since the last flush.
    pub dirty_records: BTreeSet<(Tier, i64)>,
}

/// What a flush persists of retention's changes (see [`Shard::expiry_flush`]).
pub(crate) struct ExpiryFlush<'a> {
    /// Partitions whose chunks, postings and expired-series record the flush deletes.
    pub dropped: Vec<(Tier, i64)>,
    /// Series whose chunks the flush deletes from a partition.
    pub dropped_series: Vec<(Tier, i64, &'a RoaringBitmap)>,
    /// Expired-series records to write (`Some`) or delete (`None`).
    pub records: Vec<(Tier, i64, Option<&'a RoaringBitmap>)>,
    /// The partitions dropped whole above the horizon, all of them (shard metadata).
    pub whole: Vec<(Tier, i64)>,
}

impl Shard {
    /// Applies `ExpirePartition`.
    pub(super) fn expire_partition(&mut self, tier: Tier, start_ms: i64, scope: &ExpireScope) {
        let p = match tier {
            Tier::Raw => self.opts.partition_of(start_ms),
            rollup => rollup.partition_of(start_ms),
        };
        if tier == Tier::Raw && p < self.horizon_ms || self.expired.whole.contains(&(tier, p)) {
            return;
        }
        match scope {
            ExpireScope::All => self.drop_partition(tier, p),
            ExpireScope::Series(ids) => self.drop_series(tier, p, ids),
        }
    }

    fn drop_partition(&mut self, tier: Tier, p: i64) {
        self.expired.pending_whole.insert((tier, p));
        self.expired.pending_series.remove(&(tier, p));
        if self.expired.series.remove(&(tier, p)).is_some() {
            self.expired.dirty_records.insert((tier, p));
        }
        self.expired.whole.insert((tier, p));
        if tier != Tier::Raw {
            self.rollups_after_expiry(tier, p);
            return;
        }
        self.partitions.remove(&p);
        self.sealed.remove(&p);
        self.seal_pending.remove(&p);
        let end = self.opts.partition_end(p);
        for head in &mut self.heads {
            head.drop_partition(p, end);
        }
        for head in self.histograms.values_mut() {
            head.drop_partition(p, end);
        }
        self.fold_into_horizon();
    }

    fn drop_series(&mut self, tier: Tier, p: i64, ids: &[SeriesId]) {
        let known = self.registry.len();
        let expired = self.expired.series.entry((tier, p)).or_default();
        let fresh: RoaringBitmap = ids
            .iter()
            .copied()
            .filter(|&id| id < known && !expired.contains(id))
            .collect();
        if fresh.is_empty() {
            return;
        }
        *expired |= &fresh;
        self.expired.dirty_records.insert((tier, p));
        if tier == Tier::Raw {
            let end = self.opts.partition_end(p);
            for id in &fresh {
                if let Some(head) = self.heads.get_mut(id as usize) {
                    head.drop_partition(p, end);
                }
                if let Some(head) = self.histograms.get_mut(&id) {
                    head.drop_partition(p, end);
                }
            }
        }
        *self.expired.pending_series.entry((tier, p)).or_default() |= fresh;
    }

    /// Moves the horizon past the raw partitions dropped whole that no partition with data
    /// precedes: every raw partition before the horizon is gone.
    fn fold_into_horizon(&mut self) {
        let lowest_data = self
            .partitions
            .keys()
            .chain(self.sealed.iter())
            .min()
            .copied();
        let folded = self
            .expired
            .whole
            .iter()
            .filter(|(t, p)| *t == Tier::Raw && lowest_data.is_none_or(|l| *p < l))
            .map(|(_, p)| *p)
            .max();
        if let Some(p) = folded {
            self.advance_horizon(self.opts.partition_end(p));
        }
    }

    /// Applies the older `Expire { before_ms }`: every raw partition ending at or before
    /// `before_ms` goes.
    pub(super) fn expire_before(&mut self, before_ms: i64) {
        // Partitions ending at or before `before_ms` are those starting before this boundary.
        let horizon = self.opts.partition_of(before_ms);
        if horizon > self.horizon_ms {
            for (&p, _) in self.partitions.range(..horizon) {
                self.expired.pending_whole.insert((Tier::Raw, p));
            }
            self.advance_horizon(horizon);
        }
    }

    fn advance_horizon(&mut self, horizon: i64) {
        if horizon <= self.horizon_ms {
            return;
        }
        self.horizon_ms = horizon;
        self.partitions = self.partitions.split_off(&horizon);
        self.sealed = self.sealed.split_off(&horizon);
        self.seal_pending = self.seal_pending.split_off(&horizon);
        for head in &mut self.heads {
            head.expire(horizon);
        }
        // The heads stay, empty: their last timestamps keep deciding what is in order.
        for head in self.histograms.values_mut() {
            head.expire(horizon);
        }
        let below = |(t, p): &(Tier, i64)| *t == Tier::Raw && *p < horizon;
        self.expired.whole.retain(|k| !below(k));
        // The horizon's range delete takes their chunks; the records go with the flush.
        self.expired.pending_whole.retain(|k| !below(k));
        self.expired.pending_series.retain(|k, _| !below(k));
        let gone: Vec<(Tier, i64)> = self.expired.series.keys().copied().filter(below).collect();
        for k in gone {
            self.expired.series.remove(&k);
            self.expired.dirty_records.insert(k);
        }
        if let Some(m) = self.min_t.as_mut() {
            *m = (*m).max(horizon);
        }
        if self.max_t.is_some_and(|m| m < horizon) {
            self.min_t = None;
            self.max_t = None;
        }
    }

    /// Series retention dropped from raw partition `p` (empty when none).
    pub fn expired_in(&self, tier: Tier, p: i64) -> Option<&RoaringBitmap> {
        self.expired.series.get(&(tier, p))
    }

    /// Whether a raw sample of series `id` at `t_ms` falls where retention dropped it.
    pub fn expired_at(&self, id: SeriesId, t_ms: i64) -> bool {
        let p = self.opts.partition_of(t_ms);
        t_ms < self.horizon_ms
            || self.expired.whole.contains(&(Tier::Raw, p))
            || self
                .expired_in(Tier::Raw, p)
                .is_some_and(|bm| bm.contains(id))
    }

    /// The time at or before which retention dropped raw data of series `id` (of any series
    /// when `None`): the raw samples after it are complete. `i64::MIN` when nothing was dropped.
    pub fn raw_floor(&self, id: Option<SeriesId>) -> i64 {
        // Both sets are ordered by (tier, partition): the newest raw entry is the last one
        // below the first rollup tier (for a series, the last one naming it).
        let raw = (Tier::Raw, i64::MIN)..(Tier::Rollup1m, i64::MIN);
        let whole = self
            .expired
            .whole
            .range(raw.clone())
            .next_back()
            .map(|(_, p)| *p);
        let series = self
            .expired
            .series
            .range(raw)
            .rev()
            .find(|(_, bm)| id.is_none_or(|id| bm.contains(id)))
            .map(|((_, p), _)| *p);
        whole
            .into_iter()
            .chain(series)
            .map(|p| self.opts.partition_end(p))
            .fold(self.horizon_ms, i64::max)
    }

    /// What the next flush persists of retention's changes.
    pub fn expiry_flush(&self) -> ExpiryFlush<'_> {
        let e = &self.expired;
        ExpiryFlush {
            dropped: e.pending_whole.iter().copied().collect(),
            dropped_series: e
                .pending_series
                .iter()
                .map(|((t, p), bm)| (*t, *p, bm))
                .collect(),
            records: e
                .dirty_records
                .iter()
                .map(|k| (k.0, k.1, e.series.get(k)))
                .collect(),
            whole: e.whole.iter().copied().collect(),
        }
    }

    /// Forgets what a successful flush persisted of retention's changes.
    pub(super) fn finish_expiry_flush(&mut self) {
        self.expired.pending_whole.clear();
        self.expired.pending_series.clear();
        self.expired.dirty_records.clear();
    }

    /// The expired state in a canonical byte form, for the digest.
    pub fn expired_digest_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uvarint(&mut out, self.expired.whole.len() as u64);
        for (t, p) in &self.expired.whole {
            out.push(t.byte());
            put_varint(&mut out, *p);
        }
        put_uvarint(&mut out, self.expired.series.len() as u64);
        for ((t, p), bm) in &self.expired.series {
            out.push(t.byte());
            put_varint(&mut out, *p);
            // Serializing into a Vec cannot fail.
            let _ = bm.serialize_into(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, WriteBatch};
    use crate::model::{Labels, Sample};
    use crate::options::EngineOptions;

    fn shard() -> Shard {
        Shard::new(
            0,
            EngineOptions {
                partition_ms: 100,
                chunk_samples_max: 8,
            },
        )
    }

    fn write(s: &mut Shard, index: u64, name: &str, ts: &[i64]) {
        let labels = Labels::from_pairs(&[("__name__", name)]);
        s.apply(
            index,
            &Command::Write(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![labels],
                samples: vec![(
                    crate::command::SeriesRef::New(0),
                    ts.iter().map(|&t| Sample::new(t, 1.0)).collect(),
                )],
            }),
        );
    }

    fn expire(s: &mut Shard, index: u64, p: i64, scope: ExpireScope) {
        s.apply(
            index,
            &Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: p,
                scope,
            },
        );
    }

    #[test]
    fn whole_partitions_fold_into_the_horizon_once_nothing_older_holds_data() {
        let mut s = shard();
        write(&mut s, 1, "a", &[10, 110, 210]);
        // The middle partition goes first: the oldest still holds data.
        expire(&mut s, 2, 100, ExpireScope::All);
        assert_eq!(s.horizon_ms, i64::MIN);
        assert!(s.expired.whole.contains(&(Tier::Raw, 100)));
        assert!(s.expired_at(0, 150) && !s.expired_at(0, 50));
        assert_eq!(
            s.known_partitions().into_iter().collect::<Vec<_>>(),
            [0, 200]
        );
        // Then the oldest: the horizon passes both, the record goes.
        expire(&mut s, 3, 0, ExpireScope::All);
        assert_eq!(s.horizon_ms, 200);
        assert!(s.expired.whole.is_empty());
        assert_eq!(s.known_partitions().into_iter().collect::<Vec<_>>(), [200]);
        // A sample for an expired partition is not applied again.
        let before = s.heads[0].counts();
        s.apply(
            4,
            &Command::Write(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![],
                samples: vec![(
                    crate::command::SeriesRef::Id(0),
                    vec![Sample::new(120, 2.0)],
                )],
            }),
        );
        assert_eq!(s.heads[0].counts(), before);
    }

    #[test]
    fn series_expiry_hides_one_series_and_refuses_its_late_samples() {
        let mut s = shard();
        write(&mut s, 1, "a", &[10, 20]);
        write(&mut s, 2, "b", &[10, 20]);
        expire(&mut s, 3, 0, ExpireScope::Series(vec![0, 99]));
        assert_eq!(
            s.expired_in(Tier::Raw, 0)
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [0],
            "an id the registry does not have is ignored"
        );
        assert_eq!(s.heads[0].counts(), (0, 0));
        assert_eq!(s.heads[1].counts().1, 2);
        assert!(s.expired_at(0, 30) && !s.expired_at(1, 30));
        let f = s.expiry_flush();
        assert_eq!(f.dropped_series.len(), 1);
        assert_eq!(f.records.len(), 1);
        // Expiring the same series again changes nothing.
        s.finish_expiry_flush();
        expire(&mut s, 4, 0, ExpireScope::Series(vec![0]));
        assert!(s.expiry_flush().records.is_empty());
        // The whole partition then takes the record with it.
        expire(&mut s, 5, 0, ExpireScope::All);
        let f = s.expiry_flush();
        assert_eq!(f.records, vec![(Tier::Raw, 0, None)]);
        assert_eq!(s.horizon_ms, 100);
    }
}
