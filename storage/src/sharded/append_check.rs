//! What the leader checks before it proposes samples: which series exist, and which samples
//! the shard would take (`Engine::check_append`, `Engine::check_writes`). Samples newer than
//! their series' last one, the common case, are decided under the shard's read lock alone;
//! only samples at or before it need the stored values at their timestamps, read after.

use super::{CachedReader, ShardCell, Sharded, read};
use crate::engine::AppendCheck;
use crate::model::{Sample, SeriesId, ShardId};
use crate::series_key::SeriesKey;
use crate::shard::Shard;
use crate::store::Store;

/// What the shard's state says of one series' samples, taken under its lock.
struct Verdicts {
    /// The oldest timestamp the out-of-order window admits.
    min_allowed: i64,
    /// The series' newest sample (`i64::MIN`: none, or a new series).
    last_t: i64,
    /// Per sample: whether the shard takes it, and whether its partition is sealed.
    accepts: Vec<(bool, bool)>,
}

impl<S: Store> Sharded<S> {
    pub fn check_append(
        &self,
        shard: ShardId,
        series: Option<SeriesId>,
        samples: &[Sample],
        ooo_window_ms: i64,
        backfill_from_ms: i64,
    ) -> AppendCheck {
        let cell = self.shard(shard);
        let verdicts = cell.as_ref().map(|c| {
            let st = read(c);
            self.verdicts(&st, series, samples, ooo_window_ms, backfill_from_ms)
        });
        self.finish_check(
            shard,
            cell.as_ref(),
            series,
            samples,
            verdicts,
            backfill_from_ms,
        )
    }

    /// [`Sharded::series_id_of_key`] and [`Sharded::check_append`] for every series of a
    /// batch, looked up and judged under one hold of the shard's read lock. The answers are
    /// those of the per-series calls.
    pub fn check_writes(
        &self,
        shard: ShardId,
        writes: &[(&SeriesKey, &[Sample])],
        ooo_window_ms: i64,
        backfill_from_ms: i64,
    ) -> Vec<(Option<SeriesId>, AppendCheck)> {
        let cell = self.shard(shard);
        let judged: Vec<(Option<SeriesId>, Option<Verdicts>)> = match &cell {
            Some(c) => {
                let st = read(c);
                writes
                    .iter()
                    .map(|&(key, samples)| {
                        let id = st.registry.get_key(key);
                        let v = self.verdicts(&st, id, samples, ooo_window_ms, backfill_from_ms);
                        (id, Some(v))
                    })
                    .collect()
            }
            None => writes.iter().map(|_| (None, None)).collect(),
        };
        writes
            .iter()
            .zip(judged)
            .map(|(&(_, samples), (id, verdicts))| {
                let check = self.finish_check(
                    shard,
                    cell.as_ref(),
                    id,
                    samples,
                    verdicts,
                    backfill_from_ms,
                );
                (id, check)
            })
            .collect()
    }

    fn verdicts(
        &self,
        st: &Shard,
        series: Option<SeriesId>,
        samples: &[Sample],
        ooo_window_ms: i64,
        backfill_from_ms: i64,
    ) -> Verdicts {
        let min_allowed = st
            .max_t
            .map_or(i64::MIN, |m| m.saturating_sub(ooo_window_ms.max(0)));
        let last_t = series
            .and_then(|id| st.heads.get(id as usize))
            .map_or(i64::MIN, |h| h.last_t);
        let sealed_until = st
            .sealed
            .last()
            .map_or(i64::MIN, |&p| self.opts.partition_end(p));
        let rolled_until = st.rolled_until();
        let accepts = samples
            .iter()
            .map(|s| {
                // Only samples before the newest sealed partition's end can be in one.
                let sealed = s.t < sealed_until && st.sealed.contains(&self.opts.partition_of(s.t));
                let backfill = s.t >= backfill_from_ms;
                (st.accepts(series, s.t, backfill, rolled_until), sealed)
            })
            .collect();
        Verdicts {
            min_allowed,
            last_t,
            accepts,
        }
    }

    /// Reads the stored values a check needs (outside the shard's lock) and sorts the samples
    /// into the answer. `verdicts` is `None` when the shard does not exist yet: it takes all.
    fn finish_check(
        &self,
        shard: ShardId,
        cell: Option<&ShardCell>,
        series: Option<SeriesId>,
        samples: &[Sample],
        verdicts: Option<Verdicts>,
        backfill_from_ms: i64,
    ) -> AppendCheck {
        let Verdicts {
            min_allowed,
            last_t,
            accepts,
        } = verdicts.unwrap_or_else(|| Verdicts {
            min_allowed: i64::MIN,
            last_t: i64::MIN,
            accepts: vec![(true, false); samples.len()],
        });
        // Stored values at the timestamps of samples that are not plainly new.
        let mut stored: Vec<Sample> = Vec::new();
        if let (Some(c), Some(id)) = (cell, series)
            && samples.iter().any(|s| s.t <= last_t)
        {
            stored = self.stored_at(c, shard, id, samples, last_t);
        }
        let mut out = AppendCheck::default();
        let mut prev: Option<Sample> = None;
        for (s, (ok, sealed)) in samples.iter().zip(accepts) {
            if !ok || (s.t < min_allowed && s.t < backfill_from_ms) {
                out.too_old += 1;
                continue;
            }
            let existing = match prev {
                Some(p) if p.t == s.t => Some(p),
                _ => stored
                    .binary_search_by(|x| x.t.cmp(&s.t))
                    .ok()
                    .map(|i| stored[i]),
            };
            match existing {
                Some(e) if e.identical(s) => out.duplicates += 1,
                Some(_) => out.conflicting += 1,
                None => {
                    if sealed {
                        out.backfill.push(*s);
                    } else {
                        out.accepted.push(*s);
                    }
                    prev = Some(*s);
                }
            }
        }
        out
    }

    /// The stored samples of series `id` between the oldest and newest of `samples` at or
    /// before `last_t`; empty, with a warning, when they cannot be read.
    fn stored_at(
        &self,
        cell: &ShardCell,
        shard: ShardId,
        id: SeriesId,
        samples: &[Sample],
        last_t: i64,
    ) -> Vec<Sample> {
        let old = samples.iter().map(|s| s.t).filter(|&t| t <= last_t);
        let (Some(lo), Some(hi)) = (old.clone().min(), old.max()) else {
            return Vec::new();
        };
        let partitions: Vec<i64> = read(cell)
            .readable_partitions(id)
            .into_iter()
            .filter(|&p| p <= hi && self.opts.partition_end(p) > lo)
            .collect();
        match self.read_series(
            cell,
            shard,
            id,
            &partitions,
            lo,
            hi,
            &mut CachedReader::default(),
        ) {
            Ok(Some((_, s))) => s,
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(shard, series = id, error = %e, "check_append could not read stored samples");
                Vec::new()
            }
        }
    }
}
