//! Cardinality statistics of `/api/v1/status/tsdb`, counted from series label sets: what
//! Prometheus' `MemPostings.Stats` computes from its head postings (`tsdb/index/postings.go`).
//! Plain counting, no I/O: the handler feeds it the series it reads.

use std::collections::HashMap;

use tidemark_storage::Labels;
use tidemark_storage::model::METRIC_NAME;

/// One entry of a top list: `{"name": ..., "value": ...}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Stat {
    pub name: String,
    pub value: u64,
}

/// The four top lists and the label pair count, as Prometheus names them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardinalityReport {
    /// Series per metric name.
    pub series_count_by_metric_name: Vec<Stat>,
    /// Distinct values per label name.
    pub label_value_count_by_label_name: Vec<Stat>,
    /// Bytes the label's name/value pairs take over all series (Prometheus' `SizeOfLabels`
    /// of the default `stringlabels` build: each string with its length prefix).
    pub memory_in_bytes_by_label_name: Vec<Stat>,
    /// Series per `name=value` pair.
    pub series_count_by_label_value_pair: Vec<Stat>,
    /// Distinct `name=value` pairs.
    pub num_label_pairs: u64,
}

/// Series per label value, per label name, over the series added so far.
#[derive(Debug, Default)]
pub struct Cardinality {
    series_by_value: HashMap<String, HashMap<String, u64>>,
    series: u64,
}

impl Cardinality {
    /// Counts one series.
    pub fn add(&mut self, labels: &Labels) {
        self.series += 1;
        for l in labels.iter() {
            *self
                .series_by_value
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default() += 1;
        }
    }

    /// Series added so far.
    pub fn series(&self) -> u64 {
        self.series
    }

    /// The top `limit` entries of every list: highest value first, ties by name (Prometheus
    /// leaves ties in map order, which varies from call to call).
    pub fn report(&self, limit: usize) -> CardinalityReport {
        let mut metrics = Vec::new();
        let mut values_per_name = Vec::new();
        let mut bytes_per_name = Vec::new();
        let mut pairs = Vec::new();
        let mut num_label_pairs = 0u64;
        for (name, values) in &self.series_by_value {
            values_per_name.push(Stat {
                name: name.clone(),
                value: values.len() as u64,
            });
            num_label_pairs += values.len() as u64;
            let mut bytes = 0u64;
            for (value, &series) in values {
                if name == METRIC_NAME {
                    metrics.push(Stat {
                        name: value.clone(),
                        value: series,
                    });
                }
                pairs.push(Stat {
                    name: format!("{name}={value}"),
                    value: series,
                });
                bytes += label_size(name, value) * series;
            }
            bytes_per_name.push(Stat {
                name: name.clone(),
                value: bytes,
            });
        }
        CardinalityReport {
            series_count_by_metric_name: top(metrics, limit),
            label_value_count_by_label_name: top(values_per_name, limit),
            memory_in_bytes_by_label_name: top(bytes_per_name, limit),
            series_count_by_label_value_pair: top(pairs, limit),
            num_label_pairs,
        }
    }
}

/// Bytes of one label in Prometheus' `stringlabels` encoding: each string prefixed by its
/// length (1 byte below 255, else 4).
fn label_size(name: &str, value: &str) -> u64 {
    let prefixed = |s: &str| s.len() as u64 + if s.len() < 255 { 1 } else { 4 };
    prefixed(name) + prefixed(value)
}

fn top(mut stats: Vec<Stat>, limit: usize) -> Vec<Stat> {
    stats.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    stats.truncate(limit);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(name: &str, value: u64) -> Stat {
        Stat {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn counts_like_prometheus_postings_stats() {
        let mut c = Cardinality::default();
        for (name, job, instance) in [
            ("up", "api", "a:1"),
            ("up", "db", "b:1"),
            ("errors_total", "api", "a:1"),
        ] {
            c.add(&Labels::from_pairs(&[
                ("__name__", name),
                ("instance", instance),
                ("job", job),
            ]));
        }
        assert_eq!(c.series(), 3);
        let r = c.report(10);
        assert_eq!(
            r.series_count_by_metric_name,
            vec![stat("up", 2), stat("errors_total", 1)]
        );
        assert_eq!(
            r.label_value_count_by_label_name,
            vec![stat("__name__", 2), stat("instance", 2), stat("job", 2)]
        );
        // job: "job"(3+1) + "api"(3+1) = 8 bytes on two series, + "job" "db" 7 on one.
        assert_eq!(r.memory_in_bytes_by_label_name[2], stat("job", 23));
        // __name__: (8+1 + 2+1) * 2 + (8+1 + 12+1) * 1.
        assert_eq!(r.memory_in_bytes_by_label_name[0], stat("__name__", 46));
        assert_eq!(
            r.series_count_by_label_value_pair[..3],
            [
                stat("__name__=up", 2),
                stat("instance=a:1", 2),
                stat("job=api", 2)
            ]
        );
        assert_eq!(r.num_label_pairs, 6);
        let r = c.report(1);
        assert_eq!(r.series_count_by_metric_name, vec![stat("up", 2)]);
        assert_eq!(r.series_count_by_label_value_pair.len(), 1);
        assert_eq!(r.num_label_pairs, 6, "not cut by the limit");
    }

    #[test]
    fn long_strings_take_a_four_byte_length() {
        let long = "v".repeat(300);
        assert_eq!(label_size("a", &long), 2 + 304);
        assert_eq!(
            Cardinality::default().report(10),
            CardinalityReport::default()
        );
    }
}
