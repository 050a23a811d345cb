//! What PromQL's histogram functions read from one native histogram: quantiles, fractions
//! between two values, and the variance of the observations (Prometheus 3.5's
//! `HistogramQuantile`, `HistogramFraction` and `histogramVariance`, with their special cases).

use super::{BucketRange, Hist};

/// What a quantile or fraction found besides its value, for the query's infos.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Notes {
    /// The quantile fell above every bucket: NaN observations (the sum is NaN) hold it.
    pub nan_result: bool,
    /// NaN observations count in no bucket: the result leans towards higher values.
    pub nan_skew: bool,
}

/// The `q` quantile of the observations in `h`, interpolated within the bucket it falls in:
/// exponentially in exponential buckets, linearly in the zero bucket and custom buckets.
pub(crate) fn quantile(q: f64, h: &Hist) -> (f64, Notes) {
    let mut notes = Notes::default();
    if q < 0.0 {
        return (f64::NEG_INFINITY, notes);
    }
    if q > 1.0 {
        return (f64::INFINITY, notes);
    }
    if h.count == 0.0 || q.is_nan() {
        return (f64::NAN, notes);
    }
    // From the bottom for low quantiles (and whenever NaN observations may hide in the
    // count), from the top for high ones.
    let forward = h.sum.is_nan() || q < 0.5;
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    let mut buckets: Box<dyn Iterator<Item = BucketRange>> = if forward {
        Box::new(h.buckets_ascending())
    } else {
        Box::new(h.buckets_descending())
    };
    let mut count = 0.0;
    // The bucket the rank falls in; when it falls in none, the last one looked at.
    let mut bucket = BucketRange {
        lower: 0.0,
        upper: 0.0,
        lower_inclusive: false,
        upper_inclusive: false,
        count: 0.0,
    };
    for b in buckets.by_ref() {
        bucket = b;
        if b.count == 0.0 {
            continue;
        }
        count += b.count;
        if count >= rank {
            break;
        }
    }
    if !h.uses_custom_buckets() && bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative.is_empty() && !h.positive.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive.is_empty() && !h.negative.is_empty() {
            bucket.upper = 0.0;
        }
    } else if h.uses_custom_buckets() {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return (bucket.upper, notes);
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return (bucket.lower, notes);
        }
    }
    let count = count.min(h.count);
    if count < rank {
        if h.sum.is_nan() {
            notes.nan_result = true;
            return (f64::NAN, notes);
        }
        return (bucket.upper, notes);
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    if h.sum.is_nan() {
        // Prometheus goes on through the remaining buckets to find the NaN observations, and
        // interpolates in the last of them, not in the one the rank fell in: so does this.
        let mut total = count;
        for b in buckets {
            total += b.count;
            bucket = b;
        }
        notes.nan_skew = total < h.count;
    }
    let fraction = rank / bucket.count;
    if h.uses_custom_buckets() || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return (
            bucket.lower + (bucket.upper - bucket.lower) * fraction,
            notes,
        );
    }
    let log_lower = bucket.lower.abs().log2();
    let log_upper = bucket.upper.abs().log2();
    if bucket.lower > 0.0 {
        return (
            (log_lower + (log_upper - log_lower) * fraction).exp2(),
            notes,
        );
    }
    (
        -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2(),
        notes,
    )
}

/// The fraction of the observations in `h` between `lower` and `upper`, interpolated as
/// [`quantile`] does; `nan_skew` when NaN observations (in no bucket) leave it below 1 overall.
pub(crate) fn fraction(lower: f64, upper: f64, h: &Hist) -> (f64, Notes) {
    let mut notes = Notes::default();
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return (f64::NAN, notes);
    }
    if lower >= upper {
        return (0.0, notes);
    }
    let (mut count, mut rank) = (0.0, 0.0);
    let (mut lower_rank, mut upper_rank) = (None, None);
    let mut buckets = h.buckets_ascending();
    for mut b in buckets.by_ref() {
        count += b.count;
        let zero_bucket = b.lower <= 0.0 && b.upper >= 0.0;
        if zero_bucket {
            if h.negative.is_empty() && !h.positive.is_empty() {
                b.lower = 0.0;
            } else if h.positive.is_empty() && !h.negative.is_empty() {
                b.upper = 0.0;
            }
        }
        let linear = h.uses_custom_buckets() || zero_bucket;
        let interpolate = |v: f64| -> f64 {
            if linear {
                return rank + b.count * (v - b.lower) / (b.upper - b.lower);
            }
            let log_lower = b.lower.abs().log2();
            let log_upper = b.upper.abs().log2();
            let log_v = v.abs().log2();
            let f = if v > 0.0 {
                (log_v - log_lower) / (log_upper - log_lower)
            } else {
                1.0 - (log_v - log_upper) / (log_lower - log_upper)
            };
            rank + b.count * f
        };
        if lower_rank.is_none() && b.lower >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && b.lower >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && b.lower < lower && b.upper > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && b.lower < upper && b.upper > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += b.count;
    }
    if h.sum.is_nan() {
        count += buckets.map(|b| b.count).sum::<f64>();
        notes.nan_skew = count < h.count;
    } else {
        count = h.count;
    }
    let lower_rank = lower_rank.filter(|r| *r <= count).unwrap_or(count);
    let upper_rank = upper_rank.filter(|r| *r <= count).unwrap_or(count);
    ((upper_rank - lower_rank) / h.count, notes)
}

/// The variance of the observations in `h`, each bucket's taken at its middle: the
/// arithmetic mean of custom bounds, zero in the zero bucket, the geometric mean of
/// exponential bounds. Summed with Kahan-Neumaier compensation, as Prometheus does.
pub(crate) fn variance(h: &Hist) -> f64 {
    let mean = h.sum / h.count;
    let (mut sum, mut c) = (0.0, 0.0);
    for b in h.buckets_ascending() {
        if b.count == 0.0 {
            continue;
        }
        let v = if h.uses_custom_buckets() {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let g = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 { -g } else { g }
        };
        let delta = v - mean;
        (sum, c) = kahan_add(b.count * delta * delta, sum, c);
    }
    (sum + c) / h.count
}

/// One step of Kahan-Neumaier summation: `sum + inc` with the compensation `c` carried.
fn kahan_add(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Bucket;

    fn hist(schema: i32, zero: (f64, f64), positive: &[(i32, f64)], sum: f64) -> Hist {
        let positive: Vec<Bucket> = positive
            .iter()
            .map(|&(index, count)| Bucket { index, count })
            .collect();
        Hist {
            schema,
            zero_threshold: zero.0,
            zero_count: zero.1,
            count: zero.1 + positive.iter().map(|b| b.count).sum::<f64>(),
            sum,
            positive,
            ..Hist::default()
        }
    }

    #[test]
    fn quantiles_interpolate_exponentially_and_in_the_zero_bucket_linearly() {
        // Schema 0: (1, 2] holds 4, (2, 4] holds 4.
        let h = hist(0, (0.0, 0.0), &[(1, 4.0), (2, 4.0)], 20.0);
        assert_eq!(quantile(0.5, &h).0, 2.0);
        // A quarter: half into (1, 2] on a log scale: sqrt(2).
        assert!((quantile(0.25, &h).0 - std::f64::consts::SQRT_2).abs() < 1e-12);
        assert_eq!(quantile(1.0, &h).0, 4.0);
        assert_eq!(quantile(-1.0, &h).0, f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &h).0, f64::INFINITY);
        assert!(quantile(0.5, &hist(0, (0.0, 0.0), &[], 0.0)).0.is_nan());
        // Zero bucket only, positive buckets present: from 0 up to the threshold, linearly.
        let z = hist(0, (1.0, 4.0), &[(3, 4.0)], 20.0);
        assert_eq!(quantile(0.25, &z).0, 0.5);
    }

    #[test]
    fn fractions_invert_quantiles() {
        let h = hist(0, (0.0, 0.0), &[(1, 4.0), (2, 4.0)], 20.0);
        assert_eq!(fraction(f64::NEG_INFINITY, 2.0, &h).0, 0.5);
        let q = quantile(0.3, &h).0;
        assert!((fraction(f64::NEG_INFINITY, q, &h).0 - 0.3).abs() < 1e-12);
        assert_eq!(fraction(3.0, 3.0, &h).0, 0.0);
        assert!(fraction(f64::NAN, 1.0, &h).0.is_nan());
        assert_eq!(fraction(0.0, f64::INFINITY, &h).0, 1.0);
    }

    #[test]
    fn nan_observations_are_noted() {
        // Count 10 with 8 in buckets: two NaN observations.
        let mut h = hist(0, (0.0, 0.0), &[(1, 4.0), (2, 4.0)], f64::NAN);
        h.count = 10.0;
        let (v, notes) = quantile(0.95, &h);
        assert!(v.is_nan() && notes.nan_result);
        let (v, notes) = quantile(0.5, &h);
        assert!(v.is_finite() && notes.nan_skew);
        let (v, notes) = fraction(f64::NEG_INFINITY, f64::INFINITY, &h);
        assert_eq!(v, 0.8);
        assert!(notes.nan_skew);
    }

    #[test]
    fn variance_takes_each_bucket_at_its_middle() {
        // Everything in (1, 4] at schema -1: the geometric middle is 2.
        let h = hist(-1, (0.0, 0.0), &[(1, 3.0)], 6.0);
        assert_eq!(variance(&h), 0.0);
        let two = hist(
            0,
            (0.0, 0.0),
            &[(1, 1.0), (3, 1.0)],
            2f64.sqrt() + 32f64.sqrt(),
        );
        let mean = two.sum / 2.0;
        let expected = ((2f64.sqrt() - mean).powi(2) + (32f64.sqrt() - mean).powi(2)) / 2.0;
        assert!((variance(&two) - expected).abs() < 1e-12);
    }
}
