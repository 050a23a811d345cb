//! `histogram_quantile` over classic histograms (series with an `le` bucket label).

use std::collections::HashMap;

use promql_parser::parser::Call;
use tidemark_storage::Labels;
use tidemark_storage::model::METRIC_NAME;

use super::{scalar_arg, vector_arg};
use crate::error::QueryError;
use crate::eval::numeric::{almost_equal, format_float};
use crate::eval::series::merge_same_labels;
use crate::eval::{Evaluator, Series, drop_name};

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

/// `histogram_quantile(q, buckets)`: per group of buckets (the labels but `le`) and step, the
/// quantile interpolated within the bucket it falls in.
pub(crate) fn histogram_quantile(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let q = scalar_arg(ev, c, 0, ts)?;
    if let Some(bad) = q.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q)) {
        ev.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            format_float(*bad)
        ));
    }
    let input = vector_arg(ev, c, 1, ts)?;
    // Each series' bucket bound and group, once.
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<(usize, f64)>)> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let le = s.labels.get(BUCKET_LABEL).unwrap_or("");
        let Ok(upper_bound) = le.parse::<f64>() else {
            ev.warn(format!(
                "PromQL warning: bucket label {BUCKET_LABEL:?} is missing or has a malformed value of {le:?} for metric name {:?}",
                s.labels.metric_name().unwrap_or("")
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
    let mut out = Vec::with_capacity(groups.len());
    let mut buckets: Vec<Bucket> = Vec::new();
    for (sig, members) in groups {
        ev.check_deadline()?;
        let mut values = Vec::with_capacity(ts.len());
        for (step, &q) in q.iter().enumerate() {
            buckets.clear();
            buckets.extend(members.iter().filter_map(|&(i, upper_bound)| {
                input[i].values[step].map(|count| Bucket { upper_bound, count })
            }));
            if buckets.is_empty() {
                values.push(None);
                continue;
            }
            let (v, forced) = bucket_quantile(q, &mut buckets);
            if forced {
                ev.info(format!(
                    "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
                    sig.get(METRIC_NAME).unwrap_or("")
                ));
            }
            values.push(Some(v));
        }
        out.push(Series::new(drop_name(sig), values));
    }
    merge_same_labels(out)
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
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if buckets
        .last()
        .is_none_or(|b| b.upper_bound != f64::INFINITY)
    {
        return (f64::NAN, false);
    }
    // Coalesce buckets with the same bound.
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => merged.push(*b),
        }
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
