//! Functions over range vectors: the `rate` family with Prometheus' extrapolation, the
//! `*_over_time` functions, `deriv`, `predict_linear`, `resets`, `changes`.

use promql_parser::parser::Call;
use tidemark_storage::Sample;

use super::scalar_arg;
use crate::error::QueryError;
use crate::eval::aggregate::{avg, stdvar};
use crate::eval::numeric::{kahan_sum_inc, linear_regression, quantile};
use crate::eval::{Elem, Evaluator, RangeSeries, Val, drop_name};

/// The window a range vector was selected over.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// Exclusive start, milliseconds.
    pub start_ms: i64,
    /// Inclusive end, milliseconds.
    pub end_ms: i64,
}

/// Evaluates a function whose argument `arg` is a range vector.
pub(crate) fn eval_range_function(
    ev: &Evaluator<'_>,
    c: &Call,
    arg: usize,
    t_ms: i64,
) -> Result<Vec<Elem>, QueryError> {
    let name = c.func.name;
    let Val::Matrix {
        series,
        range_ms,
        end_ms,
    } = ev.eval(&c.args.args[arg], t_ms)?
    else {
        return Err(QueryError::bad_data(format!(
            "expected a range vector in {name}"
        )));
    };
    let window = Window {
        start_ms: end_ms - range_ms,
        end_ms,
    };
    if name == "absent_over_time" {
        return Ok(if series.is_empty() {
            vec![Elem {
                labels: super::labels::absent_labels(&c.args.args[arg]),
                v: 1.0,
            }]
        } else {
            Vec::new()
        });
    }
    let param = match name {
        "quantile_over_time" => Some(scalar_arg(ev, c, 0, t_ms)?),
        "predict_linear" => Some(scalar_arg(ev, c, 1, t_ms)?),
        _ => None,
    };
    let (mut sf, mut tf) = (0.0, 0.0);
    if name == "double_exponential_smoothing" {
        sf = scalar_arg(ev, c, 1, t_ms)?;
        tf = scalar_arg(ev, c, 2, t_ms)?;
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
    if name == "quantile_over_time"
        && let Some(q) = param
        && !(0.0..=1.0).contains(&q)
    {
        ev.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            crate::eval::numeric::format_float(q)
        ));
    }
    let mut out = Vec::with_capacity(series.len());
    for RangeSeries { labels, samples } in series {
        if matches!(name, "rate" | "increase") {
            let metric = labels.metric_name().unwrap_or("");
            if !["_total", "_sum", "_count", "_bucket"]
                .iter()
                .any(|s| metric.ends_with(s))
            {
                ev.info(format!(
                    "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
                ));
            }
        }
        let v = if name == "double_exponential_smoothing" {
            double_exponential_smoothing(&samples, sf, tf)
        } else {
            apply(name, &samples, window, range_ms, param, t_ms)?
        };
        let Some(v) = v else { continue };
        let keep_name = matches!(name, "last_over_time" | "first_over_time");
        out.push(Elem {
            labels: if keep_name { labels } else { drop_name(labels) },
            v,
        });
    }
    Ok(out)
}

/// One range function on one series' samples in `window`; `None` when it yields no element.
pub(crate) fn apply(
    name: &str,
    s: &[Sample],
    window: Window,
    range_ms: i64,
    param: Option<f64>,
    t_ms: i64,
) -> Result<Option<f64>, QueryError> {
    let n = s.len();
    Ok(Some(match name {
        "rate" => return Ok(extrapolated_rate(s, window, range_ms, true, true)),
        "increase" => return Ok(extrapolated_rate(s, window, range_ms, true, false)),
        "delta" => return Ok(extrapolated_rate(s, window, range_ms, false, false)),
        "irate" | "idelta" => {
            if n < 2 {
                return Ok(None);
            }
            let (prev, last) = (s[n - 2], s[n - 1]);
            if name == "idelta" {
                last.v - prev.v
            } else {
                let dv = if last.v < prev.v {
                    last.v
                } else {
                    last.v - prev.v
                };
                let dt = last.t - prev.t;
                if dt == 0 {
                    return Ok(None);
                }
                dv / (dt as f64 / 1000.0)
            }
        }
        "deriv" => {
            if n < 2 {
                return Ok(None);
            }
            linear_regression(s, s[0].t).0
        }
        "predict_linear" => {
            if n < 2 {
                return Ok(None);
            }
            let (slope, intercept) = linear_regression(s, t_ms);
            intercept + slope * param.unwrap_or(0.0)
        }
        "resets" => s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64,
        "changes" => s
            .windows(2)
            .filter(|w| !(w[1].v == w[0].v || (w[1].v.is_nan() && w[0].v.is_nan())))
            .count() as f64,
        "avg_over_time" => avg(&values(s)),
        "sum_over_time" => {
            let (mut sum, mut c) = (0.0, 0.0);
            for x in s {
                (sum, c) = kahan_sum_inc(x.v, sum, c);
            }
            sum + c
        }
        "count_over_time" => n as f64,
        "min_over_time" => s
            .iter()
            .skip(1)
            .fold(s[0].v, |m, x| if x.v < m || m.is_nan() { x.v } else { m }),
        "max_over_time" => s
            .iter()
            .skip(1)
            .fold(s[0].v, |m, x| if x.v > m || m.is_nan() { x.v } else { m }),
        "last_over_time" => s[n - 1].v,
        "first_over_time" => s[0].v,
        "present_over_time" => 1.0,
        "ts_of_last_over_time" => s[n - 1].t as f64 / 1000.0,
        "ts_of_min_over_time" | "ts_of_max_over_time" => {
            let max = name == "ts_of_max_over_time";
            let mut best = s[0];
            for x in &s[1..] {
                // Ties go to the latest sample, as in Prometheus.
                if (max && x.v >= best.v) || (!max && x.v <= best.v) || best.v.is_nan() {
                    best = *x;
                }
            }
            best.t as f64 / 1000.0
        }
        "stddev_over_time" => stdvar(&values(s)).sqrt(),
        "stdvar_over_time" => stdvar(&values(s)),
        "quantile_over_time" => quantile(param.unwrap_or(f64::NAN), &mut values(s)),
        "mad_over_time" => {
            let mut v = values(s);
            let median = quantile(0.5, &mut v);
            let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            quantile(0.5, &mut dev)
        }
        other => return Err(QueryError::not_implemented(format!("function {other}"))),
    }))
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

fn values(s: &[Sample]) -> Vec<f64> {
    s.iter().map(|x| x.v).collect()
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
    if s.len() < 2 {
        return None;
    }
    let n1 = s.len() - 1;
    let (first, last) = (s[0], s[n1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for x in &s[1..] {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
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
}
