//! Selectors: each selector's series, streamed from the querier once per query, and their
//! instant-vector and range-vector views at every evaluation step.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::label::{MatchOp as PromMatchOp, Matcher as PromMatcher};
use promql_parser::parser::{MatrixSelector, VectorSelector};
use tidemark_storage::model::{METRIC_NAME, is_stale_nan};
use tidemark_storage::{Labels, MatchOp, Matcher, RolledSeries, Sample, SeriesSamples, TierChoice};

use super::functions::rolled::{self, Stitched};
use super::{Evaluator, RangeSeries, RangeVector, Series, duration_ms, too_many_samples};
use crate::error::QueryError;
use crate::histogram::{Hist, HistogramPoint};

/// The widest rollup window: an instant vector's lookback over windows reaches this far back.
const COARSEST_RESOLUTION_MS: i64 = 3_600_000;

/// One selected series: its labels, float samples and native histogram samples, each sorted
/// by time with unique timestamps.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selected {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub histograms: Vec<HistogramPoint>,
}

impl Selected {
    /// A series as the querier returns it, its histograms as the engine evaluates them.
    fn from_querier(s: SeriesSamples) -> Self {
        Selected {
            labels: s.labels,
            samples: s.samples,
            histograms: s
                .histograms
                .iter()
                .map(|h| HistogramPoint {
                    t: h.t,
                    h: Arc::new(Hist::from_stored(&h.h)),
                })
                .collect(),
        }
    }
}

/// Range vectors loaded whole, by selector node (the node's address: the AST outlives the
/// evaluation), each list sorted by labels.
#[derive(Default)]
pub(crate) struct SelectorData {
    series: HashMap<usize, Vec<Selected>>,
}

fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// Converts a parser matcher to a storage matcher.
fn convert_matcher(m: &PromMatcher) -> Result<Matcher, QueryError> {
    let op = match m.op {
        PromMatchOp::Equal => MatchOp::Equal,
        PromMatchOp::NotEqual => MatchOp::NotEqual,
        PromMatchOp::Re(_) => MatchOp::Regex,
        PromMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone())
        .map_err(|e| QueryError::bad_data(format!("invalid regular expression {:?}: {e}", m.value)))
}

/// The matcher groups of a selector (more than one with `or`), each with the name matcher.
pub(crate) fn matcher_groups(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let mut groups: Vec<Vec<&PromMatcher>> = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        groups.push(vs.matchers.matchers.iter().collect());
    } else {
        for g in &vs.matchers.or_matchers {
            groups.push(g.iter().collect());
        }
        if !vs.matchers.matchers.is_empty() {
            groups.push(vs.matchers.matchers.iter().collect());
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let mut out: Vec<Matcher> = g
                .into_iter()
                .map(convert_matcher)
                .collect::<Result<_, _>>()?;
            if let Some(name) = &vs.name {
                out.push(Matcher::equal(METRIC_NAME, name.clone()));
            }
            Ok(out)
        })
        .collect()
}

/// The metric name every series of `vs` has, when its matchers pin one.
pub(crate) fn pinned_name(vs: &VectorSelector) -> Option<&str> {
    if !vs.matchers.or_matchers.is_empty() {
        return None;
    }
    vs.name.as_deref().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && m.op == PromMatchOp::Equal)
            .map(|m| m.value.as_str())
    })
}

/// The error for a selector that matches more than `series_max` series.
fn too_many_series(series_max: usize) -> QueryError {
    QueryError::execution(format!(
        "query processing would touch too many series: a selector matched more than {series_max} series (query.series_max)"
    ))
}

impl Evaluator<'_> {
    /// Hands the series of `vs` with samples in `(mint_ms, maxt_ms]` to `f` one at a time, in
    /// the querier's order, counting them against the query's limits, each with its rollup
    /// windows where retention dropped raw samples in the range (see
    /// [`Querier::select_rolled`]; series with windows only come last). Range selectors
    /// (`strip_stale`) keep no stale markers: windows never contain them. A selector with
    /// several matcher groups (`or`) is gathered first, so that a series matched twice comes
    /// once. Windows are selected from `widen_ms` earlier than samples (an instant vector's
    /// lookback over windows is at least their resolution).
    ///
    /// [`Querier::select_rolled`]: crate::Querier::select_rolled
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_each_selected(
        &self,
        vs: &VectorSelector,
        mint_ms: i64,
        maxt_ms: i64,
        widen_ms: i64,
        strip_stale: bool,
        mut f: impl FnMut(Selected, Option<RolledSeries>) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let groups = matcher_groups(vs)?;
        let mut gathered: Vec<Selected> = Vec::new();
        let mut gathered_rolled: HashMap<Labels, RolledSeries> = HashMap::new();
        let mut series = 0usize;
        for group in &groups {
            self.check_deadline()?;
            let mut rolled: HashMap<Labels, RolledSeries> = HashMap::new();
            for r in self.querier.select_rolled(
                group,
                mint_ms + 1 - widen_ms,
                maxt_ms,
                TierChoice::Stitched,
            )? {
                self.count_loaded(r.windows.len())?;
                rolled.insert(r.labels.clone(), r);
            }
            let mut emit = |s: Selected, r: Option<RolledSeries>| -> Result<(), QueryError> {
                series += 1;
                if series > self.limits.series_max {
                    return Err(too_many_series(self.limits.series_max));
                }
                if series.is_multiple_of(256) {
                    self.check_deadline()?;
                }
                if groups.len() > 1 {
                    if let Some(r) = r {
                        gathered_rolled.entry(s.labels.clone()).or_insert(r);
                    }
                    gathered.push(s);
                    Ok(())
                } else {
                    f(s, r)
                }
            };
            for s in self.querier.select(group, mint_ms + 1, maxt_ms)? {
                let mut s = s?;
                if strip_stale {
                    s.samples.retain(|x| !is_stale_nan(x.v));
                    s.histograms.retain(|h| !h.h.is_stale());
                }
                let r = if rolled.is_empty() {
                    None
                } else {
                    rolled.remove(&s.labels)
                };
                let s = Selected::from_querier(s);
                // A histogram weighs as Prometheus weighs it: (its size + 8) / 16 samples.
                let weight: usize = s.histograms.iter().map(|h| (h.h.bytes() + 8) / 16).sum();
                self.count_loaded(s.samples.len() + weight)?;
                emit(s, r)?;
            }
            let mut rest: Vec<RolledSeries> = rolled.into_values().collect();
            rest.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
            for r in rest {
                let s = Selected {
                    labels: r.labels.clone(),
                    ..Selected::default()
                };
                emit(s, Some(r))?;
            }
        }
        for s in merge_groups(gathered) {
            let r = gathered_rolled.remove(&s.labels);
            f(s, r)?;
        }
        Ok(())
    }

    /// Counts `n` more samples (or windows) read against the query's `samples_max`.
    fn count_loaded(&self, n: usize) -> Result<(), QueryError> {
        let loaded = self.samples_loaded.get() + n;
        self.samples_loaded.set(loaded);
        if loaded > self.limits.samples_max {
            return Err(too_many_samples());
        }
        Ok(())
    }

    /// Loads the series of `vs` with samples in `(mint_ms, maxt_ms]` whole, for a range vector
    /// that is a result by itself.
    pub(crate) fn load(
        &mut self,
        vs: &VectorSelector,
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<(), QueryError> {
        let mut all: Vec<Selected> = Vec::new();
        let mut rolled = false;
        self.for_each_selected(vs, mint_ms, maxt_ms, 0, true, |mut s, r| {
            if let Some(r) = r.filter(|r| !r.windows.is_empty()) {
                rolled = true;
                s.samples = Stitched::last_samples(&r, &s.samples);
            }
            all.push(s);
            Ok(())
        })?;
        if rolled {
            self.info(
                "PromQL info: where retention dropped raw samples, a range vector holds the last sample of each rollup window".into(),
            );
        }
        // Series of one shard come in id order and shards one after another: sort by labels,
        // the order Prometheus' storage returns them in.
        all.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        self.data.series.insert(key(vs), all);
        Ok(())
    }

    /// The instant vector of `vs` at every time of `ts`: per series and step the latest sample
    /// in `(end - lookback, end]`, unless it is a stale marker. With `timestamps`, the value is
    /// the sample's time in seconds (what `timestamp(vs)` returns). Streams the selector's
    /// series; the result is sorted by labels.
    pub fn instant_selector(
        &self,
        vs: &VectorSelector,
        ts: &[i64],
        timestamps: bool,
    ) -> Result<Vec<Series>, QueryError> {
        let mut out = Vec::new();
        let mut counts = vec![0u64; ts.len()];
        self.stream_instant(vs, ts, timestamps, &mut counts, |s| {
            out.push(s);
            self.check_points(out.len(), ts.len())
        })?;
        self.count_samples(&counts);
        out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    /// Hands each series of `vs` with a value at some time of `ts` to `f`, as an instant
    /// vector's series (see [`Self::instant_selector`]), in the querier's order; adds the
    /// values per step to `counts`.
    pub(crate) fn stream_instant(
        &self,
        vs: &VectorSelector,
        ts: &[i64],
        timestamps: bool,
        counts: &mut [u64],
        mut f: impl FnMut(Series) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let ends = self.window_ends(&vs.at, &vs.offset, ts);
        let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
            return Ok(());
        };
        let lookback = self.limits.lookback_delta_ms;
        self.for_each_selected(
            vs,
            first - lookback,
            last,
            COARSEST_RESOLUTION_MS,
            false,
            |s, r| {
                if !s.histograms.is_empty() {
                    // Histogram series have no rollups: their raw samples answer.
                    return match mixed_instant_values(&s, &ends, lookback, timestamps, counts) {
                        Some((values, hists)) => f(Series {
                            labels: s.labels,
                            values,
                            hists,
                        }),
                        None => Ok(()),
                    };
                }
                let values = match &r {
                    Some(r) => {
                        rolled::instant_values(&s.samples, r, &ends, lookback, timestamps, counts)
                    }
                    None => instant_values(&s.samples, &ends, lookback, timestamps, counts),
                };
                match values {
                    Some(values) => f(Series::new(s.labels, values)),
                    None => Ok(()),
                }
            },
        )
    }
}

/// One series' instant-vector values at window ends `ends` (non-decreasing): the latest sample
/// in `(end - lookback, end]` unless it is a stale marker (its time in seconds with
/// `timestamps`); `None` when it has none at any step. Counts each value at its step.
pub(crate) fn instant_values(
    samples: &[Sample],
    ends: &[i64],
    lookback: i64,
    timestamps: bool,
    counts: &mut [u64],
) -> Option<Vec<Option<f64>>> {
    let mut values = Vec::with_capacity(ends.len());
    let mut any = false;
    // Samples up to the window end: advances with the (non-decreasing) ends.
    let mut upto = 0;
    for (&end, count) in ends.iter().zip(counts) {
        while upto < samples.len() && samples[upto].t <= end {
            upto += 1;
        }
        let v = match upto.checked_sub(1).map(|i| samples[i]) {
            Some(s) if s.t > end - lookback && !is_stale_nan(s.v) => {
                any = true;
                *count += 1;
                Some(if timestamps { s.t as f64 / 1000.0 } else { s.v })
            }
            _ => None,
        };
        values.push(v);
    }
    any.then_some(values)
}

/// The instant-vector elements of a series with native histograms at window ends `ends`
/// (see [`instant_values`]): per step the latest sample of either kind, a float in the first
/// list or a histogram in the second (a histogram wins a timestamp both have); `None` when
/// the series has no element at any step.
#[allow(clippy::type_complexity)]
fn mixed_instant_values(
    s: &Selected,
    ends: &[i64],
    lookback: i64,
    timestamps: bool,
    counts: &mut [u64],
) -> Option<(Vec<Option<f64>>, Vec<Option<Arc<Hist>>>)> {
    let mut values = Vec::with_capacity(ends.len());
    let mut hists = Vec::with_capacity(ends.len());
    let mut any = false;
    let (mut floats_upto, mut hists_upto) = (0, 0);
    for (&end, count) in ends.iter().zip(counts) {
        while floats_upto < s.samples.len() && s.samples[floats_upto].t <= end {
            floats_upto += 1;
        }
        while hists_upto < s.histograms.len() && s.histograms[hists_upto].t <= end {
            hists_upto += 1;
        }
        let float = floats_upto.checked_sub(1).map(|i| s.samples[i]);
        let hist = hists_upto.checked_sub(1).map(|i| &s.histograms[i]);
        let (value, h) = match (float, hist) {
            (Some(f), Some(h)) if f.t > h.t => (Some(f), None),
            (_, Some(h)) => (None, Some(h)),
            (f, None) => (f, None),
        };
        let mut element = (None, None);
        if let Some(f) = value.filter(|f| f.t > end - lookback && !is_stale_nan(f.v)) {
            element.0 = Some(if timestamps { f.t as f64 / 1000.0 } else { f.v });
        }
        if let Some(h) = h.filter(|h| h.t > end - lookback && !is_stale_nan(h.h.sum)) {
            if timestamps {
                element.0 = Some(h.t as f64 / 1000.0);
            } else {
                element.1 = Some(h.h.clone());
            }
        }
        if element.0.is_some() || element.1.is_some() {
            any = true;
            *count += 1;
        }
        values.push(element.0);
        hists.push(element.1);
    }
    if hists.iter().all(Option::is_none) {
        hists = Vec::new();
    }
    any.then_some((values, hists))
}

/// Joins the results of several matcher groups (`{a="1" or b="2"}`): a series matched by more
/// than one group appears once.
fn merge_groups(all: Vec<Selected>) -> Vec<Selected> {
    if all.is_empty() {
        return all;
    }
    let mut by_labels: HashMap<Labels, Selected> = HashMap::with_capacity(all.len());
    for s in all {
        let into = by_labels.entry(s.labels.clone()).or_default();
        into.samples.extend(s.samples);
        into.histograms.extend(s.histograms);
    }
    by_labels
        .into_iter()
        .map(|(labels, mut s)| {
            s.labels = labels;
            s.samples.sort_by_key(|x| x.t);
            s.samples.dedup_by_key(|x| x.t);
            s.histograms.sort_by_key(|x| x.t);
            s.histograms.dedup_by_key(|x| x.t);
            s
        })
        .collect()
}

impl SelectorData {
    fn selected(&self, vs: &VectorSelector) -> &[Selected] {
        self.series.get(&key(vs)).map_or(&[], Vec::as_slice)
    }

    /// The range vector of `ms` at every time of `ts`: its series' samples, borrowed, and the
    /// window end of every step.
    pub fn range<'e>(
        &'e self,
        ev: &Evaluator<'_>,
        ms: &MatrixSelector,
        ts: &[i64],
    ) -> Result<RangeVector<'e>, QueryError> {
        Ok(RangeVector {
            series: self
                .selected(&ms.vs)
                .iter()
                .map(|s| RangeSeries {
                    labels: Cow::Borrowed(&s.labels),
                    samples: Cow::Borrowed(s.samples.as_slice()),
                    histograms: Cow::Borrowed(s.histograms.as_slice()),
                })
                .collect(),
            range_ms: duration_ms(&ms.range),
            ends: ev.window_ends(&ms.vs.at, &ms.vs.offset, ts),
            subquery_samples: None,
        })
    }
}

/// A sliding window over sorted samples: for non-decreasing window ends, the index range of
/// the samples in `(end - range, end]`, found by advancing two indexes (never searching).
pub(crate) struct SlidingWindow {
    lo: usize,
    hi: usize,
}

impl SlidingWindow {
    pub fn new() -> Self {
        SlidingWindow { lo: 0, hi: 0 }
    }

    /// The index range of the samples of `(end_ms - range_ms, end_ms]`; `end_ms` must not
    /// decrease between calls.
    pub fn advance_range(
        &mut self,
        samples: &[Sample],
        end_ms: i64,
        range_ms: i64,
    ) -> std::ops::Range<usize> {
        self.advance_by(samples.len(), |i| samples[i].t, end_ms, range_ms)
    }

    /// [`Self::advance_range`] over `len` points of any kind, `t(i)` the time of point `i`.
    pub fn advance_by(
        &mut self,
        len: usize,
        t: impl Fn(usize) -> i64,
        end_ms: i64,
        range_ms: i64,
    ) -> std::ops::Range<usize> {
        let start = end_ms - range_ms;
        while self.hi < len && t(self.hi) <= end_ms {
            self.hi += 1;
        }
        while self.lo < self.hi && t(self.lo) <= start {
            self.lo += 1;
        }
        self.lo..self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_left_open() {
        let s: Vec<Sample> = (0..10).map(|i| Sample::new(i * 10, i as f64)).collect();
        let mut w = SlidingWindow::new();
        assert_eq!(w.advance_range(&s, 5, 20).len(), 1);
        let got = &s[w.advance_range(&s, 40, 20)];
        assert_eq!(got.iter().map(|x| x.t).collect::<Vec<_>>(), vec![30, 40]);
        assert_eq!(w.advance_range(&s, 40, 20).len(), 2);
        assert!(w.advance_range(&s, 1000, 20).is_empty());
    }
}
