//! Calls of functions over a range vector: per series, a window slides over its samples across
//! all steps (two indexes advancing, nothing copied) and the function is applied to each window.

use promql_parser::parser::{Call, MatrixSelector};
use tidemark_storage::{Labels, Sample};

use super::range_fn::{Params, RangeFn, Window, extrapolate};
use super::range_hist::{self, MixedNotes};
use super::rolled::{self, Notes, Stitched};
use super::{absent, matrix_selector, scalar_arg};
use crate::error::QueryError;
use crate::eval::numeric::format_float;
use crate::eval::positions;
use crate::eval::selector::SlidingWindow;
use crate::eval::series::check_distinct_labels;
use crate::eval::{Evaluator, Series, Val, drop_name, duration_ms};
use crate::histogram::HistogramPoint;

/// Name suffixes of counters: `rate` and `increase` on other metrics get an info annotation.
const COUNTER_SUFFIXES: [&str; 4] = ["_total", "_sum", "_count", "_bucket"];

/// Evaluates a function whose argument `arg` is a range vector, at every time of `ts`. A
/// matrix selector's series stream from the querier one at a time; the result is sorted by
/// labels either way.
pub(crate) fn eval_range_function(
    ev: &Evaluator<'_>,
    c: &Call,
    arg: usize,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let name = c.func.name;
    let mut apply = if name == "absent_over_time" {
        PerSeries::Present(vec![None; ts.len()])
    } else {
        PerSeries::Function(RangeFnCall::new(ev, c, arg, ts)?)
    };
    // Every window's samples, per step, as Prometheus' `stats` counts what a function reads.
    let mut counts = vec![0u64; ts.len()];
    let mut out = Vec::new();
    if let Some(ms) = matrix_selector(&c.args.args[arg]) {
        stream_range(ev, ms, ts, |labels, input| {
            if let Some(s) = apply.series(ev, labels, input, ts, &mut counts) {
                out.push(s);
                ev.check_points(out.len(), ts.len())?;
            }
            Ok(())
        })?;
    } else {
        let Val::Matrix(rv) = ev.eval(&c.args.args[arg], ts)? else {
            return Err(QueryError::bad_data(format!(
                "expected a range vector in {name}"
            )));
        };
        let windows = Windows {
            ends: &rv.ends,
            range_ms: rv.range_ms,
        };
        for (i, rs) in rv.series.iter().enumerate() {
            if i.is_multiple_of(256) {
                ev.check_deadline()?;
            }
            let labels = rs.labels.clone().into_owned();
            let input = Input {
                samples: &rs.samples,
                histograms: &rs.histograms,
                rolled: None,
                windows,
            };
            if let Some(s) = apply.series(ev, labels, input, ts, &mut counts) {
                out.push(s);
                ev.check_points(out.len(), ts.len())?;
            }
        }
    }
    ev.count_samples(&counts);
    if let PerSeries::Present(present) = apply {
        return Ok(absent(
            &c.args.args[arg],
            &[Series::new(Labels::default(), present)],
            ts.len(),
        ));
    }
    out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    check_distinct_labels(&out)?;
    Ok(out)
}

/// Hands each series of matrix selector `ms` to `f` with the windows it has at the times of
/// `ts`, in the querier's order (stale markers dropped).
pub(crate) fn stream_range(
    ev: &Evaluator<'_>,
    ms: &MatrixSelector,
    ts: &[i64],
    mut f: impl FnMut(Labels, Input<'_>) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    let ends = ev.window_ends(&ms.vs.at, &ms.vs.offset, ts);
    let range_ms = duration_ms(&ms.range);
    let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
        return Ok(());
    };
    let windows = Windows {
        ends: &ends,
        range_ms,
    };
    ev.for_each_selected(&ms.vs, first - range_ms, last, 0, true, |s, r| {
        let stitched = r.map(|r| Stitched::new(&r, &s.samples));
        let input = Input {
            samples: &s.samples,
            histograms: &s.histograms,
            rolled: stitched.as_ref(),
            windows,
        };
        f(s.labels, input)
    })
}

/// Whether range function `name` with number parameters `params` can be computed by parts of
/// the data (`crate::partial`), and if so whether it keeps the metric name. A parameter that
/// would draw a warning (pointing into the query) is left to the whole evaluation.
pub(crate) fn pushable_range_function(name: &str, params: &[f64]) -> Option<bool> {
    let f = RangeFn::parse(name).ok()?;
    if f == RangeFn::QuantileOverTime && !params.iter().all(|q| (0.0..=1.0).contains(q)) {
        return None;
    }
    Some(f.keeps_name())
}

/// The windows a range function sees: step `i` reads `(ends[i] - range_ms, ends[i]]`.
#[derive(Clone, Copy)]
pub(crate) struct Windows<'a> {
    pub ends: &'a [i64],
    pub range_ms: i64,
}

/// What a range-function call does with each series of its argument.
enum PerSeries<'c> {
    /// `absent_over_time`: whether any series has a sample in each step's window.
    Present(Vec<Option<f64>>),
    Function(RangeFnCall<'c>),
}

impl PerSeries<'_> {
    /// The result for one series of the argument, if it has a value at any step (always
    /// `None` for `absent_over_time`, which only notes the steps with samples).
    fn series(
        &mut self,
        ev: &Evaluator<'_>,
        labels: Labels,
        input: Input<'_>,
        ts: &[i64],
        counts: &mut [u64],
    ) -> Option<Series> {
        let Input {
            samples,
            histograms,
            rolled,
            windows,
        } = input;
        match self {
            PerSeries::Present(present) => {
                let (mut slider, mut hists) = (SlidingWindow::new(), SlidingWindow::new());
                for ((p, count), &end) in
                    present.iter_mut().zip(counts.iter_mut()).zip(windows.ends)
                {
                    let n = slider.advance_range(samples, end, windows.range_ms).len()
                        + hists
                            .advance_by(
                                histograms.len(),
                                |i| histograms[i].t,
                                end,
                                windows.range_ms,
                            )
                            .len();
                    *count += n as u64;
                    let start = end - windows.range_ms;
                    let in_windows =
                        rolled.is_some_and(|st| start < st.floor && st.any_in(start, end));
                    if n > 0 || in_windows {
                        *p = Some(1.0);
                    }
                }
                None
            }
            PerSeries::Function(call) => call.series(ev, labels, input, ts, counts),
        }
    }
}

/// A range function with its parameters at every step, applied series by series.
pub(crate) struct RangeFnCall<'c> {
    f: RangeFn,
    params: Vec<Params>,
    /// The call and its range argument's index (where annotations point).
    c: &'c Call,
    arg: usize,
    scratch: Vec<f64>,
}

impl<'c> RangeFnCall<'c> {
    /// The call `c` of a range function over its argument `arg` (not `absent_over_time`).
    pub fn new(
        ev: &Evaluator<'_>,
        c: &'c Call,
        arg: usize,
        ts: &[i64],
    ) -> Result<Self, QueryError> {
        let f = RangeFn::parse(c.func.name)?;
        Ok(RangeFnCall {
            f,
            params: params(ev, c, f, ts)?,
            c,
            arg,
            scratch: Vec::new(),
        })
    }

    /// The function over one series' windows at every step, with its output labels; `None`
    /// when no step has a value. Adds each window's sample count to `counts[step]`.
    pub fn series(
        &mut self,
        ev: &Evaluator<'_>,
        labels: Labels,
        input: Input<'_>,
        ts: &[i64],
        counts: &mut [u64],
    ) -> Option<Series> {
        let f = self.f;
        let mut notes = Notes::default();
        let (values, hists) = if input.histograms.is_empty() {
            let values = apply_over_steps(
                f,
                input,
                &self.params,
                ts,
                &mut self.scratch,
                counts,
                &mut notes,
            );
            (values, Vec::new())
        } else {
            let mut mixed = MixedNotes::default();
            let out = range_hist::apply_over_steps(
                f,
                input,
                &self.params,
                ts,
                &mut self.scratch,
                counts,
                &mut mixed,
            );
            self.note_histograms(ev, &labels, mixed);
            out
        };
        let (warnings, infos) = notes.annotations(self.c.func.name);
        warnings.into_iter().for_each(|w| ev.warn(w));
        infos.into_iter().for_each(|i| ev.info(i));
        if values.iter().all(Option::is_none) && hists.iter().all(Option::is_none) {
            return None;
        }
        if matches!(f, RangeFn::Rate | RangeFn::Increase)
            && values.iter().any(Option::is_some)
            && let Some(metric) = labels.metric_name()
            && !COUNTER_SUFFIXES.iter().any(|s| metric.ends_with(s))
        {
            ev.info(ev.at_arg(
                format!(
                    "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
                ),
                positions::call_addr(self.c),
                self.arg,
            ));
        }
        let labels = if f.keeps_name() {
            labels
        } else {
            drop_name(labels)
        };
        Some(Series {
            labels,
            values,
            hists,
        })
    }

    /// The warnings of a series with histograms, as Prometheus words them.
    fn note_histograms(&self, ev: &Evaluator<'_>, labels: &Labels, notes: MixedNotes) {
        let name = labels.metric_name().unwrap_or("");
        let warn = |what: &str| {
            ev.warn(ev.at_arg(
                format!("PromQL warning: {what}"),
                positions::call_addr(self.c),
                self.arg,
            ))
        };
        if notes.mixed_kinds {
            warn(&format!(
                "encountered a mix of histograms and floats for metric name {name:?}"
            ));
        }
        if notes.change.not_counter {
            warn(&format!(
                "this native histogram metric is not a counter: {name:?}"
            ));
        }
        if notes.change.not_gauge {
            warn(&format!(
                "this native histogram metric is not a gauge: {name:?}"
            ));
        }
        if notes.change.mixed_schemas {
            warn(&format!(
                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}"
            ));
        }
        if notes.ignored_histograms {
            ev.info(ev.at_arg(
                format!(
                    "PromQL info: ignored histograms in a range containing both floats and histograms for metric name {name:?}"
                ),
                positions::call_addr(self.c),
                0,
            ));
        }
        if notes.change.incompatible_bounds {
            warn(&format!(
                "vector contains histograms with incompatible custom buckets for metric name {name:?}"
            ));
        }
    }
}

/// `f` over the windows of one series' samples at every step. Steps whose window and
/// parameters equal the previous step's (an `@` modifier) reuse its value. Adds each window's
/// sample count to `counts[step]`.
fn apply_over_steps(
    f: RangeFn,
    input: Input<'_>,
    params: &[Params],
    ts: &[i64],
    scratch: &mut Vec<f64>,
    counts: &mut [u64],
    notes: &mut Notes,
) -> Vec<Option<f64>> {
    let Input {
        samples,
        rolled,
        windows,
        ..
    } = input;
    let mut slider = SlidingWindow::new();
    let mut resets = CounterResets::new(f, samples);
    let range_ms = windows.range_ms;
    let mut values: Vec<Option<f64>> = Vec::with_capacity(ts.len());
    for (step, &end) in windows.ends.iter().enumerate() {
        let same_as_previous = step > 0
            && windows.ends[step - 1] == end
            && params[step - 1] == params[step]
            && !f.uses_eval_time();
        let range = slider.advance_range(samples, end, range_ms);
        counts[step] += range.len() as u64;
        let w = Window {
            start_ms: end - range_ms,
            end_ms: end,
        };
        let rolled = rolled.filter(|st| w.start_ms < st.floor);
        let v = if same_as_previous {
            values[step - 1]
        } else if let Some(st) = rolled {
            let (v, n) = rolled::apply(f, st, w, range_ms, params[step], ts[step], scratch, notes);
            counts[step] = counts[step] - range.len() as u64 + n as u64;
            v
        } else if range.is_empty() {
            None
        } else if let Some(resets) = resets.as_mut() {
            let before_resets = resets
                .in_window(range.clone())
                .iter()
                .map(|&i| samples[i - 1].v);
            let is_rate = f == RangeFn::Rate;
            extrapolate(&samples[range], w, range_ms, Some(before_resets), is_rate)
        } else {
            f.apply(
                &samples[range],
                w,
                range_ms,
                params[step],
                ts[step],
                scratch,
            )
        };
        values.push(v);
    }
    values
}

/// One series as a range function reads it: its raw samples, its rollup windows where
/// retention dropped raw samples, and the window of every step.
#[derive(Clone, Copy)]
pub(crate) struct Input<'a> {
    pub samples: &'a [Sample],
    /// Native histogram samples (series with any take [`range_hist`]'s path).
    pub histograms: &'a [HistogramPoint],
    pub rolled: Option<&'a Stitched>,
    pub windows: Windows<'a>,
}

/// The counter resets of one series, for `rate` and `increase`: each window adds up only the
/// resets inside it (found by advancing two indexes) instead of scanning all its samples.
struct CounterResets {
    /// Indexes of the samples smaller than their predecessor.
    at: Vec<usize>,
    /// The resets of the current window are `at[lo..hi]`.
    lo: usize,
    hi: usize,
}

impl CounterResets {
    fn new(f: RangeFn, samples: &[Sample]) -> Option<Self> {
        matches!(f, RangeFn::Rate | RangeFn::Increase).then(|| CounterResets {
            at: (1..samples.len())
                .filter(|&i| samples[i].v < samples[i - 1].v)
                .collect(),
            lo: 0,
            hi: 0,
        })
    }

    /// The resets within the samples `window` (a reset needs its predecessor in the window
    /// too), in order. Windows must not move backwards.
    fn in_window(&mut self, window: std::ops::Range<usize>) -> &[usize] {
        while self.lo < self.at.len() && self.at[self.lo] <= window.start {
            self.lo += 1;
        }
        self.hi = self.hi.max(self.lo);
        while self.hi < self.at.len() && self.at[self.hi] < window.end {
            self.hi += 1;
        }
        &self.at[self.lo..self.hi]
    }
}

/// The function's scalar parameters at every step, checked as Prometheus checks them.
fn params(ev: &Evaluator<'_>, c: &Call, f: RangeFn, ts: &[i64]) -> Result<Vec<Params>, QueryError> {
    let one = |i| scalar_arg(ev, c, i, ts);
    Ok(match f {
        RangeFn::QuantileOverTime => {
            let q = one(0)?;
            if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                ev.warn(ev.at_arg(
                    format!(
                        "PromQL warning: quantile value should be between 0 and 1, got {}",
                        format_float(*bad)
                    ),
                    positions::call_addr(c),
                    0,
                ));
            }
            q.into_iter().map(|a| Params { a, b: 0.0 }).collect()
        }
        RangeFn::PredictLinear => one(1)?.into_iter().map(|a| Params { a, b: 0.0 }).collect(),
        RangeFn::DoubleExponentialSmoothing => {
            let (sf, tf) = (one(1)?, one(2)?);
            for (&sf, &tf) in sf.iter().zip(&tf) {
                if sf <= 0.0 || sf >= 1.0 {
                    return Err(QueryError::execution(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                    )));
                }
                if tf <= 0.0 || tf >= 1.0 {
                    return Err(QueryError::execution(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                    )));
                }
            }
            sf.into_iter()
                .zip(tf)
                .map(|(a, b)| Params { a, b })
                .collect()
        }
        _ => vec![Params::default(); ts.len()],
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::eval::functions::range_fn::extrapolated_rate;
    use crate::eval::{RangeSeries, RangeVector};

    #[test]
    fn sliding_rate_equals_rate_of_each_window() {
        // A counter with resets every 7th sample, sampled every 10 s.
        let samples: Vec<Sample> = (0..60)
            .map(|i| Sample::new(i * 10_000, f64::from((i % 7) as i32) * 3.0 + 1.0))
            .collect();
        let ts: Vec<i64> = (0..40).map(|i| 30_000 + i * 15_000).collect();
        let rv = RangeVector {
            series: vec![RangeSeries {
                labels: Cow::Owned(Default::default()),
                samples: Cow::Borrowed(&samples),
                histograms: Cow::Owned(Vec::new()),
            }],
            range_ms: 95_000,
            ends: ts.clone(),
            subquery_samples: None,
        };
        let params = vec![Params::default(); ts.len()];
        for (f, is_rate) in [(RangeFn::Rate, true), (RangeFn::Increase, false)] {
            let mut counts = vec![0; ts.len()];
            let windows = Windows {
                ends: &rv.ends,
                range_ms: rv.range_ms,
            };
            let input = Input {
                samples: &samples,
                histograms: &[],
                rolled: None,
                windows,
            };
            let got = apply_over_steps(
                f,
                input,
                &params,
                &ts,
                &mut Vec::new(),
                &mut counts,
                &mut Notes::default(),
            );
            for (step, &end) in ts.iter().enumerate() {
                let w = Window {
                    start_ms: end - rv.range_ms,
                    end_ms: end,
                };
                let window: Vec<Sample> = samples
                    .iter()
                    .filter(|s| s.t > w.start_ms && s.t <= end)
                    .copied()
                    .collect();
                let want = extrapolated_rate(&window, w, rv.range_ms, true, is_rate);
                assert_eq!(got[step], want, "{f:?} at {end}");
            }
        }
    }
}
