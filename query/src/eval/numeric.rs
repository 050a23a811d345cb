//! Float helpers with Go's semantics where Prometheus relies on them (NaN handling of min/max,
//! Kahan summation, quantiles, float formatting).

/// One step of Kahan-Neumaier summation: returns the new sum and compensation.
#[inline]
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    // Both corrections computed and one chosen, without a branch: the choice follows the
    // data, and in loops over samples (`predict_linear`, `deriv`, `avg_over_time`) a
    // mispredicted branch per sum cost more than the arithmetic. Same result either way.
    let keep_sum = (sum - t) + inc;
    let keep_inc = (inc - t) + sum;
    let correction = if sum.abs() >= inc.abs() {
        keep_sum
    } else {
        keep_inc
    };
    let c = if t.is_infinite() { 0.0 } else { c + correction };
    (t, c)
}

/// Go's `math.Max`: NaN if either is NaN, +Inf wins.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a > b { a } else { b }
}

/// Go's `math.Min`: NaN if either is NaN.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a < b { a } else { b }
}

/// Sort order of Prometheus' `vectorByValueHeap`: NaN first, then ascending.
pub(crate) fn cmp_nan_first(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The `q`-quantile of `values` by linear interpolation (Prometheus' `quantile`).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| cmp_nan_first(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Least-squares slope and intercept of `samples`, with x in seconds relative to `intercept_ms`:
/// Prometheus' four Kahan sums (x, y, xy, x^2). On x86-64 with AVX2 the four sums are one
/// 256-bit register each step (the same operations in the same order, so bit-identical
/// results; no fused multiply-add); elsewhere two 128-bit ones (SSE2, the baseline).
pub(crate) fn linear_regression(
    samples: &[tidemark_storage::Sample],
    intercept_ms: i64,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { linear_regression_avx2(samples, intercept_ms) };
    }
    regression(samples, intercept_ms)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn linear_regression_avx2(samples: &[tidemark_storage::Sample], intercept_ms: i64) -> (f64, f64) {
    regression(samples, intercept_ms)
}

/// [`linear_regression`]'s arithmetic, inlined into each instruction set's function.
#[inline(always)]
fn regression(samples: &[tidemark_storage::Sample], intercept_ms: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum, mut c) = ([0.0f64; 4], [0.0f64; 4]);
    let init_y = samples[0].v;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        const_y &= i == 0 || s.v == init_y;
        n += 1.0;
        let x = (s.t - intercept_ms) as f64 / 1e3;
        let inc = [x, s.v, x * s.v, x * x];
        for k in 0..4 {
            (sum[k], c[k]) = kahan_sum_inc(inc[k], sum[k], c[k]);
        }
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let [sum_x, sum_y, sum_xy, sum_x2] = [0, 1, 2, 3].map(|k| sum[k] + c[k]);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    (slope, sum_y / n - slope * sum_x / n)
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` (used by `count_values` for label values).
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}

/// Whether `a` and `b` are equal within relative `epsilon` (Prometheus' `almost.Equal`).
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 build of the regression gives the baseline's results bit for bit (the same
    /// operations, no fused multiply-add), on ramps, noise, huge and tiny values, and NaN.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_regression_is_bit_identical_to_the_baseline() {
        use tidemark_storage::Sample;
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..200 {
            let n = 2 + (next() % 300) as usize;
            let scale = [1e-9, 1.0, 1e3, 1e12, 1e300][case % 5];
            let samples: Vec<Sample> = (0..n)
                .map(|i| {
                    let jitter = (next() % 9) as i64 - 4;
                    let noise = (next() % 10_000) as f64 / 10_000.0;
                    let v = match (case, i) {
                        (7, 3) => f64::NAN,
                        (8, _) => 42.0,
                        _ => (i as f64 * 0.37 + noise) * scale,
                    };
                    Sample::new(1_700_000_000_000 + i as i64 * 15_000 + jitter, v)
                })
                .collect();
            let t = samples[n - 1].t + (next() % 60_000) as i64;
            for intercept in [samples[0].t, t] {
                let base = regression(&samples, intercept);
                // SAFETY: AVX2 is there, checked above.
                let avx = unsafe { linear_regression_avx2(&samples, intercept) };
                assert_eq!(
                    (base.0.to_bits(), base.1.to_bits()),
                    (avx.0.to_bits(), avx.1.to_bits()),
                    "case {case}: {base:?} != {avx:?}"
                );
            }
        }
    }

    #[test]
    fn go_min_max_propagate_nan() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert!(go_min(f64::NAN, 1.0).is_nan());
        assert_eq!(go_max(1.0, 2.0), 2.0);
    }

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 2.0, 3.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
    }

    #[test]
    fn kahan_compensates() {
        let (mut s, mut c) = (0.0, 0.0);
        for x in [1e100, 1.0, -1e100] {
            (s, c) = kahan_sum_inc(x, s, c);
        }
        assert_eq!(s + c, 1.0);
    }
}
