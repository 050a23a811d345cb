//! Rollup windows: what a tier keeps of a series instead of its samples. A window
//! `(end - res, end]` is left-open like a PromQL range and stamped at its end; it keeps, as
//! columns, the count, sum, min and max of the samples in it, the first and last sample, and the
//! counter increase in it, reset-aware, split in two: `increase` between the samples inside the
//! window and `jump` from the series' previous sample (in an earlier window) to the first one.
//! A series' type is not known reliably, so every window keeps every column.
//!
//! With these, a range `(t - r, t]` made of whole windows answers exactly what the samples
//! would: `rate`/`increase` (the windows' increases, the jumps of all but the first, and the
//! first and last samples with the total count for the extrapolation), `sum/count/min/max/avg/
//! last_over_time`. Stale markers are kept out of every column: they end a series for the
//! lookback, they are not values. Pure functions, no I/O.

use crate::model::{Sample, is_stale_nan};

/// One window of one series. Only windows with at least one sample exist.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// The window is `(end_ms - resolution, end_ms]`.
    pub end_ms: i64,
    /// Samples in the window (at least 1).
    pub count: u64,
    pub sum: f64,
    /// Smallest value; NaN only when every value is NaN (as `min_over_time`).
    pub min: f64,
    /// Largest value; NaN only when every value is NaN (as `max_over_time`).
    pub max: f64,
    pub first_t: i64,
    pub first_v: f64,
    pub last_t: i64,
    pub last_v: f64,
    /// Counter increase between consecutive samples of the window: `b - a`, or `b` after a
    /// reset (`b < a`), summed.
    pub increase: f64,
    /// Counter increase from the series' previous sample (the last one before the window) to
    /// the window's first: 0 when the rollup saw no previous sample.
    pub jump: f64,
}

/// The increase of a counter from `a` to `b`, counting a drop as a reset to zero.
pub fn counter_delta(a: f64, b: f64) -> f64 {
    if b < a { b } else { b - a }
}

/// The windows of resolution `res_ms` whose end falls in `(from_ms, to_ms]` (both multiples of
/// `res_ms`), from `samples` (sorted by time, unique), which may extend beyond the range.
/// The last sample before the first window (inside or before the range) gives the first
/// window's jump. Stale markers are skipped.
pub fn windows(samples: &[Sample], res_ms: i64, from_ms: i64, to_ms: i64) -> Vec<Window> {
    let res = res_ms.max(1);
    let mut out: Vec<Window> = Vec::new();
    let mut prev: Option<f64> = None;
    for s in samples.iter().filter(|s| !is_stale_nan(s.v)) {
        if s.t <= from_ms {
            prev = Some(s.v);
            continue;
        }
        if s.t > to_ms {
            break;
        }
        // The end of the window holding `t`: the smallest multiple of `res` >= t.
        let end = s.t.div_euclid(res) * res + if s.t.rem_euclid(res) == 0 { 0 } else { res };
        match out.last_mut() {
            Some(w) if w.end_ms == end => {
                w.count += 1;
                w.sum += s.v;
                if s.v < w.min || w.min.is_nan() {
                    w.min = s.v;
                }
                if s.v > w.max || w.max.is_nan() {
                    w.max = s.v;
                }
                w.increase += counter_delta(w.last_v, s.v);
                w.last_t = s.t;
                w.last_v = s.v;
            }
            _ => out.push(Window {
                end_ms: end,
                count: 1,
                sum: s.v,
                min: s.v,
                max: s.v,
                first_t: s.t,
                first_v: s.v,
                last_t: s.t,
                last_v: s.v,
                increase: 0.0,
                jump: prev.map_or(0.0, |p| counter_delta(p, s.v)),
            }),
        }
        prev = Some(s.v);
    }
    out
}

/// Windows of resolution `res_ms` (a multiple of the finer windows' resolution) composed of
/// `fine` (sorted by end): exactly what [`windows`] gives from the samples, up to floating
/// point rounding of the sums.
pub fn compose(fine: &[Window], res_ms: i64) -> Vec<Window> {
    let res = res_ms.max(1);
    let mut out: Vec<Window> = Vec::new();
    for w in fine {
        let end = w.end_ms.div_euclid(res) * res
            + if w.end_ms.rem_euclid(res) == 0 {
                0
            } else {
                res
            };
        match out.last_mut() {
            Some(c) if c.end_ms == end => {
                c.count += w.count;
                c.sum += w.sum;
                if w.min < c.min || c.min.is_nan() {
                    c.min = w.min;
                }
                if w.max > c.max || c.max.is_nan() {
                    c.max = w.max;
                }
                c.increase += w.jump + w.increase;
                c.last_t = w.last_t;
                c.last_v = w.last_v;
            }
            _ => out.push(Window { end_ms: end, ..*w }),
        }
    }
    out
}

/// What a range of whole windows says about the samples in it: the inputs of PromQL's range
/// functions over those samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RangeSummary {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub first_t: i64,
    pub first_v: f64,
    pub last_t: i64,
    pub last_v: f64,
    /// The counter increase from the first sample to the last, reset-aware (what `rate` and
    /// `increase` extrapolate): every window's increase and the jumps of all but the first.
    pub increase: f64,
}

/// Summarises `ws` (sorted by end, non-empty): the samples of those windows taken together.
pub fn summarise(ws: &[Window]) -> Option<RangeSummary> {
    let (first, rest) = ws.split_first()?;
    let mut s = RangeSummary {
        count: first.count,
        sum: first.sum,
        min: first.min,
        max: first.max,
        first_t: first.first_t,
        first_v: first.first_v,
        last_t: first.last_t,
        last_v: first.last_v,
        increase: first.increase,
    };
    for w in rest {
        s.count += w.count;
        s.sum += w.sum;
        if w.min < s.min || s.min.is_nan() {
            s.min = w.min;
        }
        if w.max > s.max || s.max.is_nan() {
            s.max = w.max;
        }
        s.increase += w.jump + w.increase;
        s.last_t = w.last_t;
        s.last_v = w.last_v;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN_BITS;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    const M: i64 = 60_000;

    fn s(t: i64, v: f64) -> Sample {
        Sample::new(t, v)
    }

    #[test]
    fn windows_are_left_open_and_stamped_at_their_end() {
        // A sample exactly on a minute belongs to the window ending there.
        let got = windows(
            &[s(0, 1.0), s(M, 2.0), s(M + 1, 3.0), s(2 * M, 4.0)],
            M,
            -M,
            2 * M,
        );
        assert_eq!(
            got.iter().map(|w| (w.end_ms, w.count)).collect::<Vec<_>>(),
            vec![(0, 1), (M, 1), (2 * M, 2)]
        );
        // The range is (from, to]: a sample at `from` only gives the next window its jump.
        let got = windows(&[s(0, 5.0), s(M, 7.0)], M, 0, M);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].end_ms, got[0].jump), (M, 2.0));
    }

    #[test]
    fn counter_columns_survive_resets_and_stale_markers_are_not_values() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let samples = [
            s(10_000, 10.0),
            s(20_000, 15.0),
            s(30_000, 3.0), // reset
            s(40_000, stale),
            s(50_000, 4.0),
            s(70_000, 1.0), // reset across windows
            s(80_000, 2.0),
        ];
        let w = windows(&samples, M, 0, 2 * M);
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].count, w[0].sum, w[0].min, w[0].max),
            (4, 32.0, 3.0, 15.0)
        );
        assert_eq!(w[0].increase, 5.0 + 3.0 + 1.0);
        assert_eq!((w[1].jump, w[1].increase), (1.0, 1.0));
        assert_eq!(
            (w[1].first_t, w[1].last_t, w[1].last_v),
            (70_000, 80_000, 2.0)
        );
    }

    /// Prometheus' counter increase over samples: last - first + the value before each reset.
    fn prometheus_increase(samples: &[Sample]) -> f64 {
        let mut correction = 0.0;
        for p in samples.windows(2) {
            if p[1].v < p[0].v {
                correction += p[0].v;
            }
        }
        samples.last().unwrap().v - samples[0].v + correction
    }

    #[test]
    fn whole_window_ranges_summarise_exactly_as_the_samples_do() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let mut t = rng.random_range(-5 * M..5 * M);
            let mut v = 0.0f64;
            let samples: Vec<Sample> = (0..rng.random_range(1..400))
                .map(|_| {
                    t += rng.random_range(1..40_000);
                    v = if rng.random_bool(0.02) {
                        0.0
                    } else {
                        v + f64::from(rng.random_range(0..100u8))
                    };
                    s(t, v)
                })
                .collect();
            let all = windows(&samples, M, i64::MIN / 2, i64::MAX / 2);
            // Every whole-window range (a, b] with at least one sample.
            for _ in 0..20 {
                let i = rng.random_range(0..all.len());
                let j = rng.random_range(i..all.len());
                let sum = summarise(&all[i..=j]).unwrap();
                let lo = all[i].end_ms - M;
                let hi = all[j].end_ms;
                let inside: Vec<Sample> = samples
                    .iter()
                    .copied()
                    .filter(|x| x.t > lo && x.t <= hi)
                    .collect();
                assert_eq!(sum.count, inside.len() as u64);
                assert_eq!((sum.first_t, sum.first_v), (inside[0].t, inside[0].v));
                let last = inside.last().unwrap();
                assert_eq!((sum.last_t, sum.last_v), (last.t, last.v));
                assert_eq!(
                    sum.min,
                    inside.iter().map(|x| x.v).fold(f64::INFINITY, f64::min)
                );
                assert_eq!(
                    sum.max,
                    inside.iter().map(|x| x.v).fold(f64::NEG_INFINITY, f64::max)
                );
                // Integer-valued data: sums and increases are exact.
                assert_eq!(sum.sum, inside.iter().map(|x| x.v).sum::<f64>());
                assert_eq!(sum.increase, prometheus_increase(&inside));
            }
            // Hours composed of minutes are the hours computed from the samples.
            let hours = windows(&samples, 60 * M, i64::MIN / 2, i64::MAX / 2);
            assert_eq!(compose(&all, 60 * M), hours);
        }
    }
}
