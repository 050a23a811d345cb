//! `self_scrape: true`: every `self_scrape_interval_ms` the node reads its own `/metrics` (in
//! process, through the same text a Prometheus would scrape) and writes it into its own
//! storage with `job="tidemark"`, `instance` set to its HTTP address and `node` to its id (the
//! HTTP address may be the same on every node, `0.0.0.0:9201`), plus `up` = 1, as a
//! Prometheus scraping it would. A single node then monitors itself: its rules can alert on
//! its own refusals, lag or disk. A write refused (below the disk reserve, no leader) is
//! logged and the next scrape tries again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tidemark_storage::{Label, Labels, Sample, SeriesKey};

use crate::metrics::Metrics;
use crate::node::Node;
use crate::request::SeriesWrite;

/// The `job` label of the node's own series.
pub const JOB: &str = "tidemark";

/// The series of one scrape of `text` at `at_ms`, labelled with `job` and `instance`, `up`
/// included.
pub fn series_of(
    text: &str,
    instance: &str,
    node_id: u64,
    at_ms: i64,
) -> Result<Vec<SeriesWrite>, String> {
    let node = node_id.to_string();
    let lines = crate::exposition::parse(text)?;
    let up = crate::exposition::Line {
        labels: vec![("__name__".into(), "up".into())],
        value: 1.0,
        timestamp_ms: None,
    };
    Ok(lines
        .into_iter()
        .chain(std::iter::once(up))
        .map(|line| {
            let mut labels: Vec<Label> = line
                .labels
                .into_iter()
                .filter(|(n, _)| n != "job" && n != "instance" && n != "node")
                .map(|(n, v)| Label::new(n, v))
                .collect();
            labels.push(Label::new("job", JOB));
            labels.push(Label::new("instance", instance));
            labels.push(Label::new("node", node.as_str()));
            SeriesWrite {
                key: SeriesKey::from(&Labels::new(labels)),
                samples: vec![Sample::new(line.timestamp_ms.unwrap_or(at_ms), line.value)],
            }
        })
        .collect())
}

/// Scrapes `metrics` into `node` every `interval` while the node lives.
pub fn start(
    node: Weak<Node>,
    metrics: Arc<Metrics>,
    instance: String,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(node) = node.upgrade() else {
                return;
            };
            let at = crate::clock::now_ms();
            let series = match series_of(&metrics.render(), &instance, node.node_id(), at) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "self_scrape: /metrics did not parse");
                    continue;
                }
            };
            if let Err(e) = node.write(series).await {
                tracing::warn!(error = %e, "self_scrape: the node's own metrics were not written");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_gets_job_and_instance_and_up_is_added() {
        let text = "# TYPE a_total counter\na_total{job=\"x\",code=\"200\"} 3\nb 1.5\n";
        let series = series_of(text, "h:9201", 3, 1_000).unwrap();
        assert_eq!(series.len(), 3);
        let labels: Vec<Labels> = series.iter().map(|s| s.key.labels()).collect();
        assert_eq!(
            labels[0],
            Labels::from_pairs(&[
                ("__name__", "a_total"),
                ("code", "200"),
                ("instance", "h:9201"),
                ("job", "tidemark"),
                ("node", "3")
            ])
        );
        assert_eq!(series[1].samples, vec![Sample::new(1_000, 1.5)]);
        assert_eq!(
            labels[2],
            Labels::from_pairs(&[
                ("__name__", "up"),
                ("instance", "h:9201"),
                ("job", "tidemark"),
                ("node", "3")
            ])
        );
    }
}
