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

/// What one hold of the shard's lock says of any sample of a batch.
struct Rules<'s> {
    st: &'s Shard,
    /// The oldest timestamp the out-of-order window admits (unless a backfill).
    min_allowed: i64,
    /// The end of the newest sealed partition: only samples before it can be in one.
    sealed_until: i64,
    rolled_until: i64,
    backfill_from_ms: i64,
}

/// Whether the shard takes a sample, and whether its partition is sealed.
type Verdict = (bool, bool);

/// A series judged under the lock: its answer, or the verdicts its answer needs stored values
/// for.
enum Judged {
    Done(AppendCheck),
    NeedsStored { last_t: i64, verdicts: Vec<Verdict> },
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
        let checks = self.check_many(
            shard,
            &[(series, samples)],
            |_, &id| id,
            ooo_window_ms,
            backfill_from_ms,
        );
        checks
            .into_iter()
            .next()
            .map(|(_, c)| c)
            .unwrap_or_default()
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
        self.check_many(
            shard,
            writes,
            |st, key| st.and_then(|st| st.registry.get_key(key)),
            ooo_window_ms,
            backfill_from_ms,
        )
    }

    /// Checks each series' samples, the series being the one `id_of(shard, name)` finds for
    /// its name (a key, or an id already known).
    fn check_many<N>(
        &self,
        shard: ShardId,
        series: &[(N, &[Sample])],
        id_of: impl Fn(Option<&Shard>, &N) -> Option<SeriesId>,
        ooo_window_ms: i64,
        backfill_from_ms: i64,
    ) -> Vec<(Option<SeriesId>, AppendCheck)> {
        let Some(cell) = self.shard(shard) else {
            // A shard not created yet takes everything.
            return series
                .iter()
                .map(|(name, samples)| {
                    (
                        id_of(None, name),
                        sort_samples(samples, |_| (true, false), &[]),
                    )
                })
                .collect();
        };
        let judged: Vec<(Option<SeriesId>, Judged)> = {
            let st = read(&cell);
            let rules = self.rules(&st, ooo_window_ms, backfill_from_ms);
            series
                .iter()
                .map(|(name, samples)| {
                    let id = id_of(Some(&st), name);
                    (id, rules.judge(&self.opts, id, samples))
                })
                .collect()
        };
        series
            .iter()
            .zip(judged)
            .map(|(&(_, samples), (id, judged))| match judged {
                Judged::Done(check) => (id, check),
                Judged::NeedsStored { last_t, verdicts } => {
                    let stored = id.map_or_else(Vec::new, |id| {
                        self.stored_at(&cell, shard, id, samples, last_t)
                    });
                    let mut verdicts = verdicts.into_iter();
                    let check = sort_samples(
                        samples,
                        |_| verdicts.next().unwrap_or((false, false)),
                        &stored,
                    );
                    (id, check)
                }
            })
            .collect()
    }

    fn rules<'s>(&self, st: &'s Shard, ooo_window_ms: i64, backfill_from_ms: i64) -> Rules<'s> {
        Rules {
            st,
            min_allowed: st
                .max_t
                .map_or(i64::MIN, |m| m.saturating_sub(ooo_window_ms.max(0))),
            sealed_until: st
                .sealed
                .last()
                .map_or(i64::MIN, |&p| self.opts.partition_end(p)),
            rolled_until: st.rolled_until(),
            backfill_from_ms,
        }
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
            Ok(Some(read)) => read.samples,
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(shard, series = id, error = %e, "check_append could not read stored samples");
                Vec::new()
            }
        }
    }
}

impl Rules<'_> {
    /// Answers at once for a new series or samples all newer than the series' newest (nothing
    /// stored at their timestamps); otherwise takes the verdicts for after the stored values
    /// are read.
    fn judge(
        &self,
        opts: &crate::options::EngineOptions,
        id: Option<SeriesId>,
        samples: &[Sample],
    ) -> Judged {
        let last_t = id
            .and_then(|id| self.st.heads.get(id as usize))
            .map_or(i64::MIN, |h| h.last_t);
        let verdict = |s: &Sample| self.verdict(opts, id, s.t);
        if id.is_none() || samples.iter().all(|s| s.t > last_t) {
            return Judged::Done(sort_samples(samples, verdict, &[]));
        }
        Judged::NeedsStored {
            last_t,
            verdicts: samples.iter().map(verdict).collect(),
        }
    }

    fn verdict(
        &self,
        opts: &crate::options::EngineOptions,
        id: Option<SeriesId>,
        t: i64,
    ) -> Verdict {
        let sealed = t < self.sealed_until && self.st.sealed.contains(&opts.partition_of(t));
        let backfill = t >= self.backfill_from_ms;
        let takes = self.st.accepts(id, t, backfill, self.rolled_until)
            && (t >= self.min_allowed || backfill);
        (takes, sealed)
    }
}

/// Sorts `samples` into the answer: refused by their verdict (too old), identical to a stored
/// or an earlier sample (a duplicate), at a taken timestamp with another value (conflicting),
/// or taken, into the sealed partitions' list or the other.
fn sort_samples(
    samples: &[Sample],
    mut verdict: impl FnMut(&Sample) -> Verdict,
    stored: &[Sample],
) -> AppendCheck {
    let mut out = AppendCheck::default();
    let mut prev: Option<Sample> = None;
    for s in samples {
        let (takes, sealed) = verdict(s);
        if !takes {
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
