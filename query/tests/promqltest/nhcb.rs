//! `load_with_nhcb`: Prometheus' runner also loads every classic histogram of the block
//! (`x_bucket{le=...}`, `x_count`, `x_sum`) as a native histogram with custom buckets (`x`),
//! one at each timestamp any of its series has a float sample.

use std::collections::BTreeMap;
use std::sync::Arc;

use tidemark_query::histogram::{Bucket, Hist, HistogramPoint};
use tidemark_storage::histogram::CUSTOM_BUCKETS_SCHEMA;
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels};

use super::store::Loaded;

/// What one timestamp of one classic histogram holds.
#[derive(Default)]
struct Classic {
    /// `(le, cumulative count)`, by `le`.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
}

/// The native histograms with custom buckets the classic histograms of `defs` convert to.
pub fn convert(defs: &[Loaded]) -> Result<Vec<Loaded>, String> {
    let mut by_series: BTreeMap<Labels, BTreeMap<i64, Classic>> = BTreeMap::new();
    for d in defs {
        let name = d.labels.metric_name().unwrap_or("");
        let (base, part) = if let Some(b) = name.strip_suffix("_bucket") {
            (b, "bucket")
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, "count")
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, "sum")
        } else {
            continue;
        };
        let le = match part {
            "bucket" => match d.labels.get("le").map(str::parse::<f64>) {
                Some(Ok(le)) if !le.is_nan() => Some(le),
                Some(_) => continue,
                None => return Err(format!("expected bucket label in metric {}", d.labels)),
            },
            _ => None,
        };
        let labels = Labels::new(
            d.labels
                .iter()
                .filter(|l| l.name != "le" && l.name != METRIC_NAME)
                .cloned()
                .chain(std::iter::once(Label::new(METRIC_NAME, base)))
                .collect(),
        );
        let at = by_series.entry(labels).or_default();
        for s in &d.samples {
            let c = at.entry(s.t).or_default();
            match (part, le) {
                ("bucket", Some(le)) => {
                    if c.buckets.iter().all(|b| b.0 != le) {
                        c.buckets.push((le, s.v));
                    }
                }
                ("count", _) => c.count = Some(s.v),
                _ => c.sum = s.v,
            }
        }
    }
    let mut out = Vec::new();
    for (labels, at) in by_series {
        let mut histograms = Vec::new();
        for (t, c) in at {
            histograms.push(HistogramPoint {
                t,
                h: Arc::new(to_native(c).map_err(|e| format!("{labels} at {t}: {e}"))?),
            });
        }
        out.push(Loaded {
            labels,
            samples: Vec::new(),
            histograms,
        });
    }
    Ok(out)
}

/// One classic histogram as a native one with custom buckets, compacted as Prometheus'
/// conversion compacts it (integer counts keep runs of up to two empty buckets).
fn to_native(mut c: Classic) -> Result<Hist, String> {
    c.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(w) = c.buckets.windows(2).find(|w| w[1].1 < w[0].1) {
        return Err(format!("count is not cumulative: {} < {}", w[1].1, w[0].1));
    }
    if let Some(b) = c.buckets.iter().find(|b| b.1 < 0.0) {
        return Err(format!("negative bucket count: le={}, count={}", b.0, b.1));
    }
    let count = c
        .count
        .unwrap_or_else(|| c.buckets.last().map_or(0.0, |b| b.1));
    if c.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        c.buckets.push((f64::INFINITY, count));
    }
    let last = c.buckets[c.buckets.len() - 1].1;
    if count != last {
        return Err(format!(
            "count mismatch: count={count} != +Inf bucket {last}"
        ));
    }
    let integer = c.buckets.iter().all(|b| b.1 == b.1.round()) && count == count.round();
    let mut prev = 0.0;
    let mut positive: Vec<Bucket> = c
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let bucket = Bucket {
                index: i as i32,
                count: b.1 - prev,
            };
            prev = b.1;
            bucket
        })
        .collect();
    compact(&mut positive, if integer { 2 } else { 0 });
    Ok(Hist {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count,
        sum: c.sum,
        positive,
        custom_values: c.buckets[..c.buckets.len() - 1]
            .iter()
            .map(|b| b.0)
            .collect::<Vec<_>>()
            .into(),
        ..Hist::default()
    })
}

/// Removes empty buckets at both ends and runs of more than `max_empty` inside.
fn compact(buckets: &mut Vec<Bucket>, max_empty: usize) {
    let keep: Vec<bool> = (0..buckets.len())
        .map(|i| {
            if buckets[i].count != 0.0 {
                return true;
            }
            let run_start = (0..=i)
                .rev()
                .take_while(|&k| buckets[k].count == 0.0)
                .last();
            let run_end = (i..buckets.len())
                .take_while(|&k| buckets[k].count == 0.0)
                .last();
            let (Some(start), Some(end)) = (run_start, run_end) else {
                return false;
            };
            start > 0 && end + 1 < buckets.len() && end - start < max_empty
        })
        .collect();
    let mut k = 0;
    buckets.retain(|_| {
        k += 1;
        keep[k - 1]
    });
}
