//! Range functions over series that have native histograms: per step, the window's floats and
//! histograms. `rate`, `increase`, `delta`, `irate`, `idelta`, `sum_over_time` and
//! `avg_over_time` of histograms give histograms (a window holding both kinds gives nothing,
//! with a warning);
//! `count_over_time`, `present_over_time`, `last_over_time`, `changes` and `resets` take
//! samples of either kind. Every other function reads the floats only (Prometheus 3.5
//! evaluates a few more over histograms: not yet here).

use std::sync::Arc;

use tidemark_storage::Sample;
use tidemark_storage::histogram::ResetHint;

use super::range::Input;
use super::range_fn::{Params, RangeFn, Window, extrapolate_from, extrapolated_rate};
use crate::eval::selector::SlidingWindow;
use crate::histogram::counter::{ChangeNotes, change};
use crate::histogram::{Hist, HistogramPoint, Incompatible};

/// What the steps of one series noticed, for the call's annotations.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MixedNotes {
    /// A window held floats and histograms.
    pub mixed_kinds: bool,
    /// A function over floats met histograms in its window too (they were left out).
    pub ignored_histograms: bool,
    pub change: ChangeNotes,
}

/// A sample of either kind, for the functions that walk both in time order.
enum Either<'a> {
    Float(f64),
    Hist(&'a Hist),
}

/// The samples of both kinds in time order (a histogram first where both share a time).
fn in_time_order<'a>(
    floats: &'a [Sample],
    hists: &'a [HistogramPoint],
) -> impl Iterator<Item = Either<'a>> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let take_float = match (floats.get(i), hists.get(j)) {
            (None, None) => return None,
            (Some(f), Some(h)) => f.t < h.t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if take_float {
            i += 1;
            Some(Either::Float(floats[i - 1].v))
        } else {
            j += 1;
            Some(Either::Hist(&hists[j - 1].h))
        }
    })
}

/// `changes` (`resets` when `resets`) over samples of both kinds: a switch of kind counts.
fn count_changes(floats: &[Sample], hists: &[HistogramPoint], resets: bool) -> f64 {
    let mut n = 0.0;
    let mut prev: Option<Either<'_>> = None;
    for cur in in_time_order(floats, hists) {
        let counts = match (&prev, &cur) {
            (None, _) => false,
            (Some(Either::Float(a)), Either::Float(b)) if resets => b < a,
            (Some(Either::Float(a)), Either::Float(b)) => a != b && !(a.is_nan() && b.is_nan()),
            (Some(Either::Hist(a)), Either::Hist(b)) if resets => b.detect_reset(a),
            (Some(Either::Hist(a)), Either::Hist(b)) => !b.same_bits(a),
            _ => true,
        };
        if counts {
            n += 1.0;
        }
        prev = Some(cur);
    }
    n
}

/// `irate` (`idelta` unless `is_rate`) over a window with histograms: the change between its
/// last two samples of either kind (a float and a histogram give nothing, with a warning).
fn instant_change(
    floats: &[Sample],
    hists: &[HistogramPoint],
    is_rate: bool,
    notes: &mut MixedNotes,
) -> Option<Instant> {
    if floats.len() + hists.len() < 2 {
        return None;
    }
    // The last two samples, as Prometheus picks them: the last two floats, then each of the
    // last two histograms put in its place.
    let mut last: Vec<(i64, Either<'_>)> = floats[floats.len().saturating_sub(2)..]
        .iter()
        .map(|x| (x.t, Either::Float(x.v)))
        .collect();
    for p in &hists[hists.len().saturating_sub(2)..] {
        let s = (p.t, Either::Hist(&p.h));
        match last.len() {
            0 => last.push(s),
            1 if s.0 < last[0].0 => last.insert(0, s),
            1 => last.push(s),
            _ if s.0 < last[0].0 => {}
            _ if s.0 > last[1].0 => {
                last.remove(0);
                last.push(s);
            }
            _ => last[0] = s,
        }
    }
    let ((t0, first), (t1, second)) = (&last[0], &last[1]);
    let interval_s = (t1 - t0) as f64 / 1000.0;
    if t1 == t0 {
        return None;
    }
    match (first, second) {
        (Either::Float(a), Either::Float(b)) => {
            let v = if !is_rate || b >= a || b.is_nan() || a.is_nan() {
                b - a
            } else {
                *b
            };
            Some(Instant::Float(if is_rate { v / interval_s } else { v }))
        }
        (Either::Hist(a), Either::Hist(b)) => {
            let gauge = |h: &Hist| h.hint == ResetHint::Gauge;
            if is_rate && (gauge(a) || gauge(b)) {
                notes.change.not_counter = true;
            }
            if !is_rate && (!gauge(a) || !gauge(b)) {
                notes.change.not_gauge = true;
            }
            let mut h = (*b).clone();
            if !is_rate || !b.detect_reset(a) {
                h = match b.sub(a) {
                    Ok(h) => h,
                    Err(Incompatible::Schema) => {
                        notes.change.mixed_schemas = true;
                        return None;
                    }
                    Err(Incompatible::Bounds) => {
                        notes.change.incompatible_bounds = true;
                        return None;
                    }
                };
            }
            h.hint = ResetHint::Gauge;
            let h = h.without_empty_buckets();
            Some(Instant::Hist(if is_rate {
                h.divided(interval_s)
            } else {
                h
            }))
        }
        _ => {
            notes.mixed_kinds = true;
            None
        }
    }
}

/// The value of `irate` or `idelta`.
enum Instant {
    Float(f64),
    Hist(Hist),
}

/// `sum_over_time` (`avg_over_time` when `mean`) of a window's histograms, as Prometheus
/// folds them (the mean incrementally).
fn fold_histograms(
    hists: &[HistogramPoint],
    mean: bool,
) -> Result<Hist, crate::histogram::Incompatible> {
    let mut acc = (*hists[0].h).clone();
    for (i, p) in hists[1..].iter().enumerate() {
        acc = if mean {
            let count = (i + 2) as f64;
            let to_add = p.h.divided(count).sub(&acc.divided(count))?;
            acc.add(&to_add)?
        } else {
            acc.add(&p.h)?
        };
    }
    Ok(acc)
}

/// The function's value per step over a series with histograms: a float or a histogram (see
/// the module's note); adds each window's sample count to `counts[step]`.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub(crate) fn apply_over_steps(
    f: RangeFn,
    input: Input<'_>,
    params: &[Params],
    ts: &[i64],
    scratch: &mut Vec<f64>,
    counts: &mut [u64],
    notes: &mut MixedNotes,
) -> (Vec<Option<f64>>, Vec<Option<Arc<Hist>>>) {
    let (samples, hists) = (input.samples, input.histograms);
    let range_ms = input.windows.range_ms;
    let (mut floats_w, mut hists_w) = (SlidingWindow::new(), SlidingWindow::new());
    let mut values = Vec::with_capacity(ts.len());
    let mut out_hists = Vec::with_capacity(ts.len());
    for (step, &end) in input.windows.ends.iter().enumerate() {
        let fr = floats_w.advance_range(samples, end, range_ms);
        let hr = hists_w.advance_by(hists.len(), |i| hists[i].t, end, range_ms);
        counts[step] += (fr.len() + hr.len()) as u64;
        let w = Window {
            start_ms: end - range_ms,
            end_ms: end,
        };
        let (floats, window_hists) = (&samples[fr], &hists[hr]);
        let (mut value, mut hist) = (None, None);
        match f {
            RangeFn::Rate | RangeFn::Increase | RangeFn::Delta => {
                let is_counter = f != RangeFn::Delta;
                if !floats.is_empty() && !window_hists.is_empty() {
                    notes.mixed_kinds = true;
                } else if window_hists.len() >= 2 {
                    let (first, last) = (&window_hists[0], &window_hists[window_hists.len() - 1]);
                    let factor = extrapolate_from(
                        Sample::new(first.t, 0.0),
                        Sample::new(last.t, 0.0),
                        window_hists.len(),
                        1.0,
                        w,
                        range_ms,
                        false,
                        f == RangeFn::Rate,
                    );
                    if let (Some(h), Some(factor)) =
                        (change(window_hists, is_counter, &mut notes.change), factor)
                    {
                        hist = Some(Arc::new(h.scaled(factor)));
                    }
                } else {
                    value = extrapolated_rate(floats, w, range_ms, is_counter, f == RangeFn::Rate);
                }
            }
            RangeFn::SumOverTime | RangeFn::AvgOverTime if !window_hists.is_empty() => {
                if !floats.is_empty() {
                    notes.mixed_kinds = true;
                } else {
                    match fold_histograms(window_hists, f == RangeFn::AvgOverTime) {
                        Ok(h) => hist = Some(Arc::new(h)),
                        Err(Incompatible::Schema) => notes.change.mixed_schemas = true,
                        Err(Incompatible::Bounds) => notes.change.incompatible_bounds = true,
                    }
                }
            }
            RangeFn::Irate | RangeFn::Idelta => {
                match instant_change(floats, window_hists, f == RangeFn::Irate, notes) {
                    Some(Instant::Float(v)) => value = Some(v),
                    Some(Instant::Hist(h)) => hist = Some(Arc::new(h)),
                    None => {}
                }
            }
            RangeFn::Changes | RangeFn::Resets
                if !floats.is_empty() || !window_hists.is_empty() =>
            {
                value = Some(count_changes(floats, window_hists, f == RangeFn::Resets));
            }
            RangeFn::CountOverTime if !floats.is_empty() || !window_hists.is_empty() => {
                value = Some((floats.len() + window_hists.len()) as f64);
            }
            RangeFn::PresentOverTime if !floats.is_empty() || !window_hists.is_empty() => {
                value = Some(1.0);
            }
            RangeFn::LastOverTime => match (floats.last(), window_hists.last()) {
                (Some(x), Some(h)) if x.t > h.t => value = Some(x.v),
                (_, Some(h)) => hist = Some(h.h.clone()),
                (Some(x), None) => value = Some(x.v),
                (None, None) => {}
            },
            RangeFn::TsOfLastOverTime => {
                let last = floats
                    .last()
                    .map(|x| x.t)
                    .max(window_hists.last().map(|h| h.t));
                value = last.map(|t| t as f64 / 1000.0);
            }
            _ if !floats.is_empty() => {
                notes.ignored_histograms |= !window_hists.is_empty();
                value = f.apply(floats, w, range_ms, params[step], ts[step], scratch);
            }
            _ => {}
        }
        values.push(value);
        out_hists.push(hist);
    }
    if out_hists.iter().all(Option::is_none) {
        out_hists = Vec::new();
    }
    (values, out_hists)
}
