//! The functions over one range-vector window: the `rate` family with Prometheus'
//! extrapolation, the `*_over_time` functions, `deriv`, `predict_linear`, `resets`, `changes`.
//! Pure functions of the window's samples; `range.rs` slides the windows.

use tidemark_storage::Sample;

use crate::error::QueryError;
use crate::eval::aggregate::{avg, stdvar};
use crate::eval::numeric::{kahan_sum_inc, linear_regression, quantile};

/// The window a function sees at one step: samples in `(start_ms, end_ms]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// Exclusive start, milliseconds.
    pub start_ms: i64,
    /// Inclusive end, milliseconds.
    pub end_ms: i64,
}

/// A function over a range vector's window, resolved from its name once per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    Resets,
    Changes,
    AvgOverTime,
    SumOverTime,
    CountOverTime,
    MinOverTime,
    MaxOverTime,
    LastOverTime,
    FirstOverTime,
    PresentOverTime,
    TsOfLastOverTime,
    TsOfMinOverTime,
    TsOfMaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    MadOverTime,
    DoubleExponentialSmoothing,
}

/// Per-step parameters of a range function (`quantile_over_time`'s q, `predict_linear`'s
/// duration, the smoothing and trend factors).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Params {
    pub a: f64,
    pub b: f64,
}

impl RangeFn {
    pub fn parse(name: &str) -> Result<Self, QueryError> {
        use RangeFn::*;
        Ok(match name {
            "rate" => Rate,
            "increase" => Increase,
            "delta" => Delta,
            "irate" => Irate,
            "idelta" => Idelta,
            "deriv" => Deriv,
            "predict_linear" => PredictLinear,
            "resets" => Resets,
            "changes" => Changes,
            "avg_over_time" => AvgOverTime,
            "sum_over_time" => SumOverTime,
            "count_over_time" => CountOverTime,
            "min_over_time" => MinOverTime,
            "max_over_time" => MaxOverTime,
            "last_over_time" => LastOverTime,
            "first_over_time" => FirstOverTime,
            "present_over_time" => PresentOverTime,
            "ts_of_last_over_time" => TsOfLastOverTime,
            "ts_of_min_over_time" => TsOfMinOverTime,
            "ts_of_max_over_time" => TsOfMaxOverTime,
            "stddev_over_time" => StddevOverTime,
            "stdvar_over_time" => StdvarOverTime,
            "quantile_over_time" => QuantileOverTime,
            "mad_over_time" => MadOverTime,
            "double_exponential_smoothing" => DoubleExponentialSmoothing,
            other => return Err(QueryError::not_implemented(format!("function {other}"))),
        })
    }

    /// Whether the result keeps the metric name (every other function drops it).
    pub fn keeps_name(self) -> bool {
        matches!(self, RangeFn::LastOverTime | RangeFn::FirstOverTime)
    }

    /// Whether the result depends on the evaluation time itself, not only on the window.
    pub fn uses_eval_time(self) -> bool {
        self == RangeFn::PredictLinear
    }

    /// The function on the non-empty window `s`; `None` when it yields no element. `t_ms` is
    /// the evaluation time; `scratch` a reusable buffer.
    pub fn apply(
        self,
        s: &[Sample],
        window: Window,
        range_ms: i64,
        p: Params,
        t_ms: i64,
        scratch: &mut Vec<f64>,
    ) -> Option<f64> {
        use RangeFn::*;
        let n = s.len();
        let values = |scratch: &mut Vec<f64>| {
            scratch.clear();
            scratch.extend(s.iter().map(|x| x.v));
        };
        Some(match self {
            Rate => return extrapolated_rate(s, window, range_ms, true, true),
            Increase => return extrapolated_rate(s, window, range_ms, true, false),
            Delta => return extrapolated_rate(s, window, range_ms, false, false),
            Irate | Idelta => {
                if n < 2 {
                    return None;
                }
                let (prev, last) = (s[n - 2], s[n - 1]);
                if self == Idelta {
                    last.v - prev.v
                } else {
                    let dv = if last.v < prev.v {
                        last.v
                    } else {
                        last.v - prev.v
                    };
                    let dt = last.t - prev.t;
                    if dt == 0 {
                        return None;
                    }
                    dv / (dt as f64 / 1000.0)
                }
            }
            Deriv if n < 2 => return None,
            Deriv => linear_regression(s, s[0].t).0,
            PredictLinear if n < 2 => return None,
            PredictLinear => {
                let (slope, intercept) = linear_regression(s, t_ms);
                intercept + slope * p.a
            }
            Resets => s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64,
            Changes => s
                .windows(2)
                .filter(|w| !(w[1].v == w[0].v || (w[1].v.is_nan() && w[0].v.is_nan())))
                .count() as f64,
            AvgOverTime => avg(s.iter().map(|x| x.v)),
            SumOverTime => {
                let (mut sum, mut c) = (0.0, 0.0);
                for x in s {
                    (sum, c) = kahan_sum_inc(x.v, sum, c);
                }
                sum + c
            }
            CountOverTime => n as f64,
            MinOverTime => s[1..]
                .iter()
                .fold(s[0].v, |m, x| if x.v < m || m.is_nan() { x.v } else { m }),
            MaxOverTime => s[1..]
                .iter()
                .fold(s[0].v, |m, x| if x.v > m || m.is_nan() { x.v } else { m }),
            LastOverTime => s[n - 1].v,
            FirstOverTime => s[0].v,
            PresentOverTime => 1.0,
            TsOfLastOverTime => s[n - 1].t as f64 / 1000.0,
            TsOfMinOverTime | TsOfMaxOverTime => {
                let max = self == TsOfMaxOverTime;
                let mut best = s[0];
                for x in &s[1..] {
                    // Ties go to the latest sample, as in Prometheus.
                    if (max && x.v >= best.v) || (!max && x.v <= best.v) || best.v.is_nan() {
                        best = *x;
                    }
                }
                best.t as f64 / 1000.0
            }
            StddevOverTime => stdvar(s.iter().map(|x| x.v)).sqrt(),
            StdvarOverTime => stdvar(s.iter().map(|x| x.v)),
            QuantileOverTime => {
                values(scratch);
                quantile(p.a, scratch)
            }
            MadOverTime => {
                values(scratch);
                let median = quantile(0.5, scratch);
                scratch.iter_mut().for_each(|x| *x = (*x - median).abs());
                quantile(0.5, scratch)
            }
            DoubleExponentialSmoothing => return double_exponential_smoothing(s, p.a, p.b),
        })
    }
}

/// Holt's double exponential smoothing with smoothing factor `sf` and trend factor `tf`.
fn double_exponential_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, s[0].v);
    let mut b = s[1].v - s[0].v;
    for (i, x) in s.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, sf * x.v + y);
    }
    Some(s1)
}

/// `rate`, `increase` and `delta`: the change over the samples in the window, extrapolated to
/// the window's edges the way Prometheus does (at most to the edge, or half an average sample
/// interval when the series seems to start or end inside the window; counters never below zero).
pub(crate) fn extrapolated_rate(
    s: &[Sample],
    window: Window,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let resets = s.windows(2).filter(|w| w[1].v < w[0].v).map(|w| w[0].v);
    extrapolate(s, window, range_ms, is_counter.then_some(resets), is_rate)
}

/// [`extrapolated_rate`] with the values before each counter reset in the window given (in
/// order), `None` for `delta`: they are added to the raw change exactly as Prometheus adds them.
pub(crate) fn extrapolate(
    s: &[Sample],
    window: Window,
    range_ms: i64,
    counter_resets: Option<impl Iterator<Item = f64>>,
    is_rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let is_counter = counter_resets.is_some();
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.v - first.v;
    for before_reset in counter_resets.into_iter().flatten() {
        result += before_reset;
    }
    extrapolate_from(
        first,
        last,
        s.len(),
        result,
        window,
        range_ms,
        is_counter,
        is_rate,
    )
}

/// Prometheus' extrapolation of `result`, the change (reset-corrected for a counter) from
/// sample `first` to sample `last` of a window of `count` samples: what [`extrapolate`] does
/// once it has added up the samples, and what rollup windows' columns give directly.
#[allow(clippy::too_many_arguments)]
pub(crate) fn extrapolate_from(
    first: Sample,
    last: Sample,
    count: usize,
    result: f64,
    window: Window,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if count < 2 {
        return None;
    }
    let n1 = count - 1;
    let mut duration_to_start = (first.t - window.start_ms) as f64 / 1000.0;
    let mut duration_to_end = (window.end_ms - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_between = sampled_interval / n1 as f64;
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    extrapolate_to += duration_to_start;
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    extrapolate_to += duration_to_end;
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    #[test]
    fn rate_extrapolates_to_window_edges_when_samples_cover_it() {
        // Samples every 10 s over a 60 s window (0, 60]: first at 10 s, last at 60 s.
        let s = samples(&[
            (10_000, 1.0),
            (20_000, 2.0),
            (30_000, 3.0),
            (40_000, 4.0),
            (50_000, 5.0),
            (60_000, 6.0),
        ]);
        let w = Window {
            start_ms: 0,
            end_ms: 60_000,
        };
        // Increase 5 over 50 s sampled, extrapolated by 10 s to the start: 6, per 60 s = 0.1.
        // The zero point (10 s before the first sample) limits nothing here.
        let r = extrapolated_rate(&s, w, 60_000, true, true).unwrap();
        assert!((r - 0.1).abs() < 1e-12, "{r}");
    }

    #[test]
    fn rate_extrapolation_stops_at_counter_zero() {
        // A counter starting at 1 with slope 1/10s cannot have been zero more than 10 s earlier.
        let s = samples(&[(30_000, 1.0), (40_000, 2.0), (50_000, 3.0)]);
        let w = Window {
            start_ms: 0,
            end_ms: 60_000,
        };
        // To start: 30 s >= 1.1 * 10 s, so half an interval (5 s); zero point 10 s: 5 s wins.
        // To end: 10 s < 11 s, so the full 10 s. Total 20 + 5 + 10 = 35 s; increase 2 * 35/20.
        let inc = extrapolated_rate(&s, w, 60_000, true, false).unwrap();
        assert!((inc - 3.5).abs() < 1e-12, "{inc}");
    }

    #[test]
    fn counter_resets_are_added_back() {
        let s = samples(&[(10_000, 5.0), (20_000, 1.0), (30_000, 3.0)]);
        let w = Window {
            start_ms: 10_000 - 1,
            end_ms: 30_000,
        };
        let inc = extrapolated_rate(&s, w, 20_001, true, false).unwrap();
        // Raw increase 3 - 5 + 5 = 3, extrapolated by the 1 ms to the start (limited by zero).
        assert!((inc - 3.0 * 20.001 / 20.0).abs() < 1e-9, "{inc}");
        assert!(extrapolated_rate(&s[..1], w, 20_001, true, false).is_none());
    }

    #[test]
    fn delta_is_not_limited_by_zero() {
        let s = samples(&[(30_000, 10.0), (40_000, 5.0)]);
        let w = Window {
            start_ms: 20_000,
            end_ms: 40_000,
        };
        // -5 over 10 s, extrapolated 5 s to the start (10 s >= 11 s? no: 10 < 11, full 10 s).
        let d = extrapolated_rate(&s, w, 20_000, false, false).unwrap();
        assert!((d + 10.0).abs() < 1e-12, "{d}");
    }

    #[test]
    fn over_time_functions() {
        let s = samples(&[(1_000, 3.0), (2_000, 1.0), (3_000, 2.0)]);
        let w = Window {
            start_ms: 0,
            end_ms: 3_000,
        };
        let mut scratch = Vec::new();
        let f = |name, p| {
            RangeFn::parse(name)
                .unwrap()
                .apply(&s, w, 3_000, p, 3_000, &mut Vec::new())
        };
        assert_eq!(f("min_over_time", Params::default()), Some(1.0));
        assert_eq!(f("ts_of_max_over_time", Params::default()), Some(1.0));
        assert_eq!(f("resets", Params::default()), Some(1.0));
        let q = Params { a: 0.5, b: 0.0 };
        assert_eq!(f("quantile_over_time", q), Some(2.0));
        assert_eq!(f("mad_over_time", Params::default()), Some(1.0));
        assert_eq!(
            RangeFn::AvgOverTime.apply(&s, w, 3_000, q, 0, &mut scratch),
            Some(2.0)
        );
    }
}
