//! Deleted time ranges per series (`Command::Delete`, the API's `delete_series`).
//!
//! A tombstone hides every sample of its series inside its closed interval from every read,
//! including samples written into that interval after the delete was applied (as Prometheus'
//! tombstones do until its compaction rewrites the block). The samples themselves stay where
//! they are until retention drops their partition.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::model::{Sample, SeriesId};
use crate::varint::{Reader, put_uvarint, put_varint};

/// Deleted intervals `[mint, maxt]` per series: sorted, disjoint and not adjacent.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Tombstones {
    by_series: BTreeMap<SeriesId, Vec<(i64, i64)>>,
}

impl Tombstones {
    /// Adds `[mint, maxt]` for `id`, merging with the intervals it overlaps or touches.
    pub fn add(&mut self, id: SeriesId, mint: i64, maxt: i64) {
        if mint > maxt {
            return;
        }
        let intervals = self.by_series.entry(id).or_default();
        let (mut lo, mut hi) = (mint, maxt);
        intervals.retain(|&(a, b)| {
            let apart = b < lo.saturating_sub(1) || a > hi.saturating_add(1);
            if !apart {
                lo = lo.min(a);
                hi = hi.max(b);
            }
            apart
        });
        let at = intervals.partition_point(|&(a, _)| a < lo);
        intervals.insert(at, (lo, hi));
    }

    /// The deleted intervals of `id` (empty when none).
    pub fn of(&self, id: SeriesId) -> &[(i64, i64)] {
        self.by_series.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Whether every timestamp of `[mint, maxt]` is deleted for `id`.
    pub fn covers(&self, id: SeriesId, mint: i64, maxt: i64) -> bool {
        self.of(id).iter().any(|&(a, b)| a <= mint && maxt <= b)
    }

    /// Series with a tombstone covering `[mint, maxt]` whole.
    pub fn covering(&self, mint: i64, maxt: i64) -> roaring::RoaringBitmap {
        self.by_series
            .keys()
            .copied()
            .filter(|&id| self.covers(id, mint, maxt))
            .collect()
    }

    /// The smallest and largest deleted timestamp over every series (`None`: nothing deleted).
    pub fn span(&self) -> Option<(i64, i64)> {
        let mut it = self.by_series.values().flatten();
        let &(a, b) = it.next()?;
        Some(it.fold((a, b), |(lo, hi), &(x, y)| (lo.min(x), hi.max(y))))
    }

    /// `n:uvarint (id_delta:uvarint n_iv:uvarint (mint:varint maxt:varint){n_iv}){n}`, ids
    /// ascending (the first delta is the id itself).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uvarint(&mut out, self.by_series.len() as u64);
        let mut prev = 0u32;
        for (&id, intervals) in &self.by_series {
            put_uvarint(&mut out, u64::from(id - prev));
            prev = id;
            put_uvarint(&mut out, intervals.len() as u64);
            for &(a, b) in intervals {
                put_varint(&mut out, a);
                put_varint(&mut out, b);
            }
        }
        out
    }

    /// Reads what [`Tombstones::encode`] wrote.
    pub fn decode(r: &mut Reader<'_>) -> Result<Tombstones> {
        let mut out = Tombstones::default();
        let n = r.len(2)?;
        let mut id = 0u32;
        for i in 0..n {
            let delta = u32::try_from(r.uvarint()?)
                .map_err(|_| Error::Decode("tombstone series id overflows".into()))?;
            id = id
                .checked_add(delta)
                .filter(|_| i == 0 || delta > 0)
                .ok_or_else(|| Error::Decode("tombstone series ids not ascending".into()))?;
            let k = r.len(2)?;
            let mut intervals = Vec::with_capacity(k);
            for _ in 0..k {
                intervals.push((r.varint()?, r.varint()?));
            }
            out.by_series.insert(id, intervals);
        }
        Ok(out)
    }
}

/// Removes the samples inside `intervals` (as [`Tombstones::of`] returns them) from `samples`.
pub(crate) fn remove_deleted(intervals: &[(i64, i64)], samples: &mut Vec<Sample>) {
    remove_deleted_by(intervals, samples, |s| s.t);
}

/// [`remove_deleted`] for items whose timestamp `time_of` gives.
pub(crate) fn remove_deleted_by<T>(
    intervals: &[(i64, i64)],
    items: &mut Vec<T>,
    time_of: impl Fn(&T) -> i64,
) {
    if intervals.is_empty() {
        return;
    }
    items.retain(|s| {
        let t = time_of(s);
        let i = intervals.partition_point(|&(_, b)| b < t);
        intervals.get(i).is_none_or(|&(a, _)| t < a)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_filter() {
        let mut t = Tombstones::default();
        t.add(7, 100, 200);
        t.add(7, 300, 400);
        assert_eq!(t.of(7), &[(100, 200), (300, 400)]);
        // Touching intervals merge; so do overlapping ones.
        t.add(7, 201, 250);
        assert_eq!(t.of(7), &[(100, 250), (300, 400)]);
        t.add(7, 240, 310);
        assert_eq!(t.of(7), &[(100, 400)]);
        t.add(7, i64::MIN, i64::MAX);
        assert_eq!(t.of(7), &[(i64::MIN, i64::MAX)]);
        t.add(3, 10, 20);
        let mut s: Vec<Sample> = (0..30).map(|i| Sample::new(i, 0.0)).collect();
        remove_deleted(t.of(3), &mut s);
        let left: Vec<i64> = s.iter().map(|x| x.t).collect();
        assert_eq!(left, (0..10).chain(21..30).collect::<Vec<_>>());
        assert!(t.covers(3, 12, 20) && !t.covers(3, 9, 20));
        assert_eq!(t.covering(12, 15).iter().collect::<Vec<_>>(), vec![3, 7]);
        let bytes = t.encode();
        let back = Tombstones::decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(back, t);
    }
}
