//! `histogram_quantile` and `histogram_fraction`: over classic histograms (series with an `le`
//! bucket label) here, over native histograms in [`super::native`]. One input may hold both;
//! where a native histogram and classic buckets of the same series meet at a step, neither
//! answers there and a warning says so.

use std::collections::HashMap;

use promql_parser::parser::Call;
use tidemark_storage::Labels;
use tidemark_storage::model::METRIC_NAME;

use super::native::{self, NativeQuery};
use super::{mixed_vector_arg, scalar_arg};
use crate::error::QueryError;
use crate::eval::numeric::{almost_equal, format_float};
use crate::eval::series::merge_same_labels;
use crate::eval::{Evaluator, Series, drop_name, positions};

/// The bucket label.
const BUCKET_LABEL: &str = "le";
/// Relative differences between bucket counts below this are float noise, not decreases.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One classic bucket: upper bound and cumulative count.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// The buckets of a classic histogram: its labels but `le`, and per member the index of its
/// series in the input and its upper bound.
type BucketGroup = (Labels, Vec<(usize, f64)>);

/// Groups `input` by its labels but `le`; a series without a parsable `le` is dropped with
/// Prometheus' warning.
fn bucket_groups(ev: &Evaluator<'_>, c: &Call, arg: usize, input: &[Series]) -> Vec<BucketGroup> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<BucketGroup> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let le = s.labels.get(BUCKET_LABEL).unwrap_or("");
        let Ok(upper_bound) = le.parse::<f64>() else {
            ev.warn(ev.at_arg(
                format!(
                    "PromQL warning: bucket label {BUCKET_LABEL:?} is missing or has a malformed value of {le:?} for metric name {:?}",
                    s.labels.metric_name().unwrap_or("")
                ),
                positions::call_addr(c),
                arg,
            ));
            continue;
        };
        let sig = Labels::from_sorted(
            s.labels
                .iter()
                .filter(|l| l.name != BUCKET_LABEL)
                .cloned()
                .collect(),
        );
        let g = *index.entry(sig).or_insert_with_key(|sig| {
            groups.push((sig.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push((i, upper_bound));
    }
    groups
}

/// Per group of buckets and step, `f(step, buckets)` over the buckets present at that step;
/// steps without any bucket stay empty, and so do steps where a native histogram of the
/// same series answers too (both drop: `natives` is told of the conflict). Then the native
/// histograms' own answers. The result drops the metric name.
fn per_group_step(
    ev: &Evaluator<'_>,
    c: &Call,
    arg: usize,
    mut input: Vec<Series>,
    steps: usize,
    natives: &mut NativeQuery,
    mut f: impl FnMut(&Labels, usize, &mut [Bucket]) -> f64,
) -> Result<Vec<Series>, QueryError> {
    natives.take_from(&mut input);
    let groups = bucket_groups(ev, c, arg, &input);
    let mut out = Vec::with_capacity(groups.len());
    let mut buckets: Vec<Bucket> = Vec::new();
    for (sig, members) in groups {
        ev.check_deadline()?;
        let mut values = Vec::with_capacity(steps);
        for step in 0..steps {
            buckets.clear();
            buckets.extend(members.iter().filter_map(|&(i, upper_bound)| {
                input[i].values[step].map(|count| Bucket { upper_bound, count })
            }));
            if buckets.is_empty() || natives.conflicts(ev, c, arg, &sig, step) {
                values.push(None);
                continue;
            }
            values.push(Some(f(&sig, step, &mut buckets)));
        }
        out.push(Series::new(drop_name(sig), values));
    }
    out.extend(natives.answers(ev, c)?);
    merge_same_labels(out)
}

/// `histogram_quantile(q, buckets)`: per group of buckets (the labels but `le`) and step, the
/// quantile interpolated within the bucket it falls in.
pub(crate) fn histogram_quantile(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let q = scalar_arg(ev, c, 0, ts)?;
    if let Some(bad) = q.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q)) {
        ev.warn(ev.at_arg(
            format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}",
                format_float(*bad)
            ),
            positions::call_addr(c),
            0,
        ));
    }
    let input = mixed_vector_arg(ev, c, 1, ts)?;
    let mut natives = NativeQuery::new(ts.len(), native::Question::Quantile(q.clone()));
    per_group_step(
        ev,
        c,
        1,
        input,
        ts.len(),
        &mut natives,
        |sig, step, buckets| {
            let (v, forced) = bucket_quantile(q[step], buckets);
            if forced {
                ev.info(ev.at_arg(
                format!(
                    "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
                    sig.get(METRIC_NAME).unwrap_or("")
                ),
                positions::call_addr(c),
                1,
            ));
            }
            v
        },
    )
}

/// `histogram_fraction(lower, upper, buckets)`: per group of buckets and step, the estimated
/// share of observations between `lower` and `upper`.
pub(crate) fn histogram_fraction(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let lower = scalar_arg(ev, c, 0, ts)?;
    let upper = scalar_arg(ev, c, 1, ts)?;
    let input = mixed_vector_arg(ev, c, 2, ts)?;
    let question = native::Question::Fraction(lower.clone(), upper.clone());
    let mut natives = NativeQuery::new(ts.len(), question);
    per_group_step(
        ev,
        c,
        2,
        input,
        ts.len(),
        &mut natives,
        |_, step, buckets| bucket_fraction(lower[step], upper[step], buckets),
    )
}

/// Sorts buckets by upper bound and merges those with the same bound.
fn sort_and_coalesce(buckets: &mut [Bucket]) -> Vec<Bucket> {
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    merged
}

/// The share of observations in `(lower, upper]`, interpolating linearly within the buckets
/// the bounds fall in. As in Prometheus 3.5, the first bucket starts at -Inf, so a bound inside
/// it interpolates to NaN (later Prometheus versions start an all-positive histogram at 0).
/// NaN without a `+Inf` bucket or observations.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [Bucket]) -> f64 {
    let buckets = sort_and_coalesce(buckets);
    let Some(last) = buckets.last() else {
        return f64::NAN;
    };
    if last.upper_bound != f64::INFINITY {
        return f64::NAN;
    }
    let count = last.count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let mut rank = 0.0;
    let mut lower_rank = None;
    let mut upper_rank = None;
    let mut bucket_start = f64::NEG_INFINITY;
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            bucket_start = buckets[i - 1].upper_bound;
        }
        let bucket_end = b.upper_bound;
        let interpolate =
            |v: f64| rank + (b.count - rank) * (v - bucket_start) / (bucket_end - bucket_start);
        // A bound at or below the bucket's start: everything below it is counted.
        if lower_rank.is_none() && bucket_start >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && bucket_start >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        // A bound inside the bucket.
        if lower_rank.is_none() && bucket_start < lower && bucket_end > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && bucket_start < upper && bucket_end > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = b.count;
    }
    // Not `f64::min`: a NaN rank (a bound inside the first bucket) must stay NaN.
    let at_most_count = |r: Option<f64>| match r {
        Some(r) if r.is_nan() || r <= count => r,
        _ => count,
    };
    let (lower_rank, upper_rank) = (at_most_count(lower_rank), at_most_count(upper_rank));
    (upper_rank - lower_rank) / count
}

/// The `q`-quantile of classic buckets by linear interpolation within the bucket; also whether
/// the counts had to be forced monotonic.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let mut merged = sort_and_coalesce(buckets);
    if merged.last().is_none_or(|b| b.upper_bound != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let mut forced = false;
    let mut prev = merged[0].count;
    for b in merged.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    let buckets = merged;
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|x| x.count < rank);
    if b == buckets.len() - 1 {
        return (buckets[buckets.len() - 2].upper_bound, forced);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return (buckets[0].upper_bound, forced);
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (
        bucket_start + (bucket_end - bucket_start) * (rank / count),
        forced,
    )
}
