//! Sending alerts to Alertmanager: `POST {url}/api/v2/alerts` with the JSON body Alertmanager's
//! API v2 defines (`labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`), to every
//! configured Alertmanager. Each has a bounded queue of batches (the oldest is dropped and
//! counted when it is full: newer batches carry the newer state) and one sender task; a failed
//! send is logged and counted, and the alert goes out again at its next resend (Prometheus'
//! behaviour: sends are at least once per resend delay, never retried in a loop). A node that
//! stops leading the ruler group clears its queues ([`Notifier::clear`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tidemark_alerting::eval::OutgoingAlert;
use tokio::sync::Notify;

use crate::config::Config;

/// Alerts per request (Prometheus' `maxBatchSize`).
const BATCH_ALERTS_MAX: usize = 256;

/// One alert as Alertmanager's API v2 reads it.
#[derive(Debug, Serialize)]
struct PostableAlert<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
}

/// Counters of the sender.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    /// Alerts delivered (2xx).
    pub sent: AtomicU64,
    /// Alerts whose request failed.
    pub errors: AtomicU64,
    /// Batches dropped because a queue was full.
    pub dropped: AtomicU64,
}

/// A batch of alerts, shared by every Alertmanager's queue.
type Batch = Arc<Vec<OutgoingAlert>>;

/// One Alertmanager's queue: at most `max` batches, the oldest dropped first.
struct Queue {
    batches: Mutex<VecDeque<Batch>>,
    max: usize,
    ready: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Batch>> {
        self.batches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `batch`; `true` when the oldest batch was dropped for it.
    fn push(&self, batch: Batch) -> bool {
        let dropped = {
            let mut q = self.lock();
            let dropped = q.len() >= self.max && q.pop_front().is_some();
            q.push_back(batch);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    async fn pop(&self) -> Batch {
        loop {
            if let Some(b) = self.lock().pop_front() {
                return b;
            }
            self.ready.notified().await;
        }
    }
}

/// The senders to the configured Alertmanagers.
pub struct Notifier {
    queues: Vec<Arc<Queue>>,
    counters: Arc<NotifyCounters>,
}

impl Notifier {
    /// Senders for `config.alertmanagers` (none: alerts are evaluated and stored, not sent).
    pub fn new(config: &Config) -> Self {
        let counters = Arc::new(NotifyCounters::default());
        let timeout = Duration::from_millis(config.ruler.alertmanager_timeout_ms);
        let client = reqwest::Client::builder().timeout(timeout).build();
        let queues = match client {
            Ok(client) => config
                .alertmanagers
                .iter()
                .map(|url| {
                    let queue = Arc::new(Queue {
                        batches: Mutex::new(VecDeque::new()),
                        max: config.ruler.alertmanager_queue_batches_max.max(1),
                        ready: Notify::new(),
                    });
                    let url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
                    tokio::spawn(send_loop(
                        client.clone(),
                        url,
                        queue.clone(),
                        counters.clone(),
                    ));
                    queue
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "no HTTP client for Alertmanager: alerts are not sent");
                Vec::new()
            }
        };
        Notifier { queues, counters }
    }

    /// The sender's counters.
    pub fn counters(&self) -> &NotifyCounters {
        &self.counters
    }

    /// Queues `alerts` for every Alertmanager; never waits.
    pub fn send(&self, alerts: Vec<OutgoingAlert>) {
        if self.queues.is_empty() {
            return;
        }
        let batch = Arc::new(alerts);
        for q in &self.queues {
            if q.push(batch.clone()) {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("an Alertmanager queue is full: its oldest batch was dropped");
            }
        }
    }

    /// Drops every queued batch (this node no longer leads the ruler group).
    pub fn clear(&self) {
        for q in &self.queues {
            q.lock().clear();
        }
    }
}

async fn send_loop(
    client: reqwest::Client,
    url: String,
    queue: Arc<Queue>,
    counters: Arc<NotifyCounters>,
) {
    loop {
        let batch = queue.pop().await;
        for chunk in batch.chunks(BATCH_ALERTS_MAX) {
            let body = payload(chunk);
            let res = client.post(&url).json(&body).send().await;
            match res.and_then(|r| r.error_for_status()) {
                Ok(_) => {
                    counters
                        .sent
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    counters
                        .errors
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    tracing::warn!(url = %url, error = %e, "sending alerts to Alertmanager failed");
                }
            }
        }
    }
}

/// The request body for `alerts`.
fn payload(alerts: &[OutgoingAlert]) -> Vec<PostableAlert<'_>> {
    alerts
        .iter()
        .map(|a| PostableAlert {
            labels: a
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()))
                .collect(),
            annotations: &a.annotations,
            starts_at: rfc3339(a.starts_at_ms),
            ends_at: rfc3339(a.ends_at_ms),
            generator_url: &a.generator_url,
        })
        .collect()
}

/// `t_ms` as Alertmanager's timestamps (RFC 3339, UTC, milliseconds).
fn rfc3339(t_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_storage::Labels;

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_batch() {
        let q = Queue {
            batches: Mutex::new(VecDeque::new()),
            max: 2,
            ready: Notify::new(),
        };
        let batch = |n: usize| -> Batch {
            Arc::new(
                (0..n)
                    .map(|i| OutgoingAlert {
                        labels: Labels::from_pairs(&[("i", &i.to_string())]),
                        annotations: BTreeMap::new(),
                        starts_at_ms: 0,
                        ends_at_ms: 0,
                        generator_url: String::new(),
                    })
                    .collect(),
            )
        };
        assert!(!q.push(batch(1)));
        assert!(!q.push(batch(2)));
        assert!(q.push(batch(3)), "the oldest goes");
        assert_eq!(q.pop().await.len(), 2);
        assert_eq!(q.pop().await.len(), 3);
        assert!(q.lock().is_empty());
    }

    #[test]
    fn the_body_is_alertmanagers_postable_alerts() {
        let alert = OutgoingAlert {
            labels: Labels::from_pairs(&[("alertname", "Down"), ("job", "api")]),
            annotations: BTreeMap::from([("summary".to_string(), "api is down".to_string())]),
            starts_at_ms: 1_700_000_000_123,
            ends_at_ms: 1_700_000_240_123,
            generator_url: "http://tidemark:9201/graph?g0.expr=up+%3D%3D+0&g0.tab=1".into(),
        };
        let body = serde_json::to_value(payload(std::slice::from_ref(&alert))).unwrap();
        assert_eq!(
            body,
            serde_json::json!([{
                "labels": {"alertname": "Down", "job": "api"},
                "annotations": {"summary": "api is down"},
                "startsAt": "2023-11-14T22:13:20.123Z",
                "endsAt": "2023-11-14T22:17:20.123Z",
                "generatorURL": "http://tidemark:9201/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
            }])
        );
    }
}
