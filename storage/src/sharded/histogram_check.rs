//! The leader's check of native histogram samples before it proposes them: the float rules
//! that apply to them (the out-of-order window, sealed partitions, what retention dropped; no
//! backfill and no rollups, which histograms do not have), then, for samples at or before the
//! series' newest histogram or float, a comparison with what is stored: an identical
//! histogram is a duplicate, another histogram or a float at the same timestamp a conflict.
//! (The float check does not look at histograms: a float written at a histogram's timestamp
//! is stored beside it.)

use super::{CachedReader, ShardCell, Sharded, read};
use crate::engine::HistogramCheck;
use crate::histogram::HistogramSample;
use crate::model::{Sample, SeriesId, ShardId};
use crate::series_key::SeriesKey;
use crate::store::Store;

/// What is stored of one series where a check needs it.
#[derive(Default)]
struct Stored {
    histograms: Vec<HistogramSample>,
    floats: Vec<Sample>,
}

impl<S: Store> Sharded<S> {
    /// [`crate::Engine::check_histograms`]: the series of each key looked up and its samples
    /// judged under one hold of the shard's lock; stored values read after it, for the series
    /// that need them.
    pub fn check_histograms(
        &self,
        shard: ShardId,
        writes: &[(&SeriesKey, &[HistogramSample])],
        ooo_window_ms: i64,
    ) -> Vec<(Option<SeriesId>, HistogramCheck)> {
        let Some(cell) = self.shard(shard) else {
            // A shard not created yet takes everything.
            return writes
                .iter()
                .map(|(_, samples)| (None, sort(samples, |_| true, &Stored::default())))
                .collect();
        };
        let judged: Vec<(Option<SeriesId>, i64, Vec<bool>)> = {
            let st = read(&cell);
            let min_allowed = st
                .max_t
                .map_or(i64::MIN, |m| m.saturating_sub(ooo_window_ms.max(0)));
            writes
                .iter()
                .map(|(key, samples)| {
                    let id = st.registry.get_key(key);
                    // Nothing is stored after the newest histogram and the newest float.
                    let histogram_t = id
                        .and_then(|id| st.histograms.get(&id))
                        .map_or(i64::MIN, |h| h.last_t);
                    let float_t = id
                        .and_then(|id| st.heads.get(id as usize))
                        .map_or(i64::MIN, |h| h.last_t);
                    let last_t = histogram_t.max(float_t);
                    // No rolled-up day refuses a histogram: `i64::MIN` as its end.
                    let takes = samples
                        .iter()
                        .map(|s| s.t >= min_allowed && st.accepts(id, s.t, false, i64::MIN))
                        .collect();
                    (id, last_t, takes)
                })
                .collect()
        };
        writes
            .iter()
            .zip(judged)
            .map(|(&(_, samples), (id, last_t, takes))| {
                let stored = match id {
                    Some(id) if samples.iter().any(|s| s.t <= last_t) => {
                        self.stored_histograms(&cell, shard, id, samples, last_t)
                    }
                    _ => Stored::default(),
                };
                let mut takes = takes.into_iter();
                (
                    id,
                    sort(samples, |_| takes.next().unwrap_or(false), &stored),
                )
            })
            .collect()
    }

    /// What series `id` stores between the oldest and newest of `samples` at or before
    /// `last_t`; nothing, with a warning, when it cannot be read.
    fn stored_histograms(
        &self,
        cell: &ShardCell,
        shard: ShardId,
        id: SeriesId,
        samples: &[HistogramSample],
        last_t: i64,
    ) -> Stored {
        let old = samples.iter().map(|s| s.t).filter(|&t| t <= last_t);
        let (Some(lo), Some(hi)) = (old.clone().min(), old.max()) else {
            return Stored::default();
        };
        let partitions: Vec<i64> = read(cell)
            .readable_partitions(id)
            .into_iter()
            .filter(|&p| p <= hi && self.opts.partition_end(p) > lo)
            .collect();
        let mut reader = CachedReader::default();
        match self.read_series(cell, shard, id, &partitions, lo, hi, &mut reader) {
            Ok(Some(read)) => Stored {
                histograms: read.histograms,
                floats: read.samples,
            },
            Ok(None) => Stored::default(),
            Err(e) => {
                tracing::warn!(shard, series = id, error = %e, "check_histograms could not read stored samples");
                Stored::default()
            }
        }
    }
}

/// Sorts `samples` (ascending) into the answer: refused by `takes` (too old), identical to a
/// stored or an earlier histogram (a duplicate), at a taken timestamp otherwise (conflicting),
/// or accepted.
fn sort(
    samples: &[HistogramSample],
    mut takes: impl FnMut(&HistogramSample) -> bool,
    stored: &Stored,
) -> HistogramCheck {
    let mut out = HistogramCheck::default();
    for s in samples {
        if !takes(s) {
            out.too_old += 1;
            continue;
        }
        let earlier = out.accepted.last().filter(|p| p.t == s.t);
        let existing = earlier.or_else(|| {
            let i = stored.histograms.binary_search_by(|x| x.t.cmp(&s.t)).ok()?;
            Some(&stored.histograms[i])
        });
        let float_there = stored.floats.binary_search_by(|x| x.t.cmp(&s.t)).is_ok();
        match existing {
            Some(e) if e.h.identical(&s.h) => out.duplicates += 1,
            Some(_) => out.conflicting += 1,
            None if float_there => out.conflicting += 1,
            None => out.accepted.push(s.clone()),
        }
    }
    out
}
