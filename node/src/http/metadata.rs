//! Metric metadata (type, help, unit) received with remote-write, kept in this node's memory
//! for `/api/v1/metadata`: the latest per metric name, bounded.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::remote_write::MetricMetadata;
#[cfg(test)]
use crate::remote_write::MetricType;

/// Latest metadata per metric name, at most `metrics_max` names.
#[derive(Debug)]
pub struct MetadataStore {
    metrics_max: usize,
    by_metric: Mutex<BTreeMap<String, MetricMetadata>>,
}

impl MetadataStore {
    /// An empty store that keeps at most `metrics_max` metric names.
    pub fn new(metrics_max: usize) -> Self {
        MetadataStore {
            metrics_max,
            by_metric: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records metadata; empty entries are skipped. Returns how many new names were ignored
    /// because the store is full.
    pub fn record(&self, entries: impl IntoIterator<Item = (String, MetricMetadata)>) -> usize {
        let mut map = self.by_metric.lock().unwrap_or_else(|e| e.into_inner());
        let mut ignored = 0;
        for (name, md) in entries {
            if md.is_empty() || name.is_empty() {
                continue;
            }
            if let Some(existing) = map.get_mut(&name) {
                *existing = md;
            } else if map.len() < self.metrics_max {
                map.insert(name, md);
            } else {
                ignored += 1;
            }
        }
        ignored
    }

    /// Metadata sorted by metric name: only `metric` when given, at most `limit` names.
    pub fn list(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
    ) -> Vec<(String, MetricMetadata)> {
        let map = self.by_metric.lock().unwrap_or_else(|e| e.into_inner());
        let limit = limit.unwrap_or(usize::MAX);
        match metric {
            Some(m) => map
                .get(m)
                .map(|md| (m.to_string(), md.clone()))
                .into_iter()
                .collect(),
            None => map
                .iter()
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(help: &str) -> MetricMetadata {
        MetricMetadata {
            metric_type: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn keeps_latest_and_is_bounded() {
        let store = MetadataStore::new(2);
        assert_eq!(
            store.record([("a".into(), md("1")), ("b".into(), md("2"))]),
            0
        );
        assert_eq!(
            store.record([("c".into(), md("3")), ("a".into(), md("4"))]),
            1
        );
        assert_eq!(store.record([("d".into(), MetricMetadata::default())]), 0);
        let all = store.list(None, None);
        assert_eq!(all, vec![("a".into(), md("4")), ("b".into(), md("2"))]);
        assert_eq!(store.list(Some("b"), None), vec![("b".into(), md("2"))]);
        assert_eq!(store.list(None, Some(1)).len(), 1);
        assert!(store.list(Some("zz"), None).is_empty());
    }
}
