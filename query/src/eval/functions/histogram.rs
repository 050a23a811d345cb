//! `histogram_quantile` over classic histograms (series with an `le` bucket label).

use std::collections::HashMap;

use promql_parser::parser::Call;
use tidemark_storage::Labels;
use tidemark_storage::model::METRIC_NAME;

use super::{scalar_arg, vector_arg};
use crate::error::QueryError;
use crate::eval::numeric::{almost_equal, format_float};
use crate::eval::{Elem, Evaluator, drop_name};

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

/// `histogram_quantile(q, buckets)`.
pub(crate) fn histogram_quantile(
    ev: &Evaluator<'_>,
    c: &Call,
    t_ms: i64,
) -> Result<Vec<Elem>, QueryError> {
    let q = scalar_arg(ev, c, 0, t_ms)?;
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            format_float(q)
        ));
    }
    let input = vector_arg(ev, c, 1, t_ms)?;
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, (Labels, Vec<Bucket>)> = HashMap::new();
    for e in input {
        let le = e.labels.get(BUCKET_LABEL).unwrap_or("");
        let Ok(upper_bound) = le.parse::<f64>() else {
            ev.warn(format!(
                "PromQL warning: bucket label {BUCKET_LABEL:?} is missing or has a malformed value of {le:?} for metric name {:?}",
                e.labels.metric_name().unwrap_or("")
            ));
            continue;
        };
        let sig = Labels::from_sorted(
            e.labels
                .iter()
                .filter(|l| l.name != BUCKET_LABEL)
                .cloned()
                .collect(),
        );
        let entry = groups.entry(sig.clone()).or_insert_with(|| {
            order.push(sig);
            let metric = drop_name(Labels::from_sorted(
                e.labels
                    .iter()
                    .filter(|l| l.name != BUCKET_LABEL)
                    .cloned()
                    .collect(),
            ));
            (metric, Vec::new())
        });
        entry.1.push(Bucket {
            upper_bound,
            count: e.v,
        });
    }
    let mut out = Vec::new();
    for sig in order {
        let (metric, mut buckets) = groups.remove(&sig).expect("every signature has a group");
        let (v, forced) = bucket_quantile(q, &mut buckets);
        if forced {
            ev.info(format!(
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
                sig.get(METRIC_NAME).unwrap_or("")
            ));
        }
        out.push(Elem { labels: metric, v });
    }
    Ok(out)
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
