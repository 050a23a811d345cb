//! A fake Alertmanager: `POST /api/v2/alerts` in the harness process, recording every alert of
//! every request with the time it arrived and who sent it, and answering 200. A body that is
//! not Alertmanager's API v2 list of postable alerts is answered 400 and counted.
//!
//! It listens where the nodes reach the harness: the harness' bridge address (`10.x.y.254`)
//! in namespace mode, 127.0.0.1 in loopback mode.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::Error;
use crate::workload::now_ms;

/// One alert as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// When it arrived, ms since the epoch.
    pub received_ms: i64,
    /// The sender's address (in namespace mode, the node's).
    pub from: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// `startsAt`, ms since the epoch.
    pub starts_at_ms: i64,
    /// `endsAt`, ms since the epoch.
    pub ends_at_ms: i64,
}

impl Notification {
    /// Whether Alertmanager takes it as resolved: its `endsAt` is not after its arrival.
    pub fn is_resolved(&self) -> bool {
        self.ends_at_ms <= self.received_ms
    }
}

/// Alertmanager's API v2 `postableAlert`, as far as the check reads it.
#[derive(Deserialize)]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
}

#[derive(Default)]
struct Received {
    alerts: Vec<Notification>,
    /// Requests whose body was not a list of postable alerts, with what was wrong.
    malformed: Vec<String>,
}

/// The running fake Alertmanager; stops when dropped.
pub struct FakeAlertmanager {
    url: String,
    received: Arc<Mutex<Received>>,
    task: JoinHandle<()>,
}

fn millis(rfc3339: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{rfc3339:?}: {e}"))
}

async fn post_alerts(
    State(received): State<Arc<Mutex<Received>>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> StatusCode {
    let received_ms = now_ms();
    let parsed: Result<Vec<Notification>, String> =
        match serde_json::from_slice::<Vec<PostableAlert>>(&body) {
            Err(e) => Err(e.to_string()),
            Ok(alerts) => alerts
                .into_iter()
                .map(|a| {
                    Ok(Notification {
                        received_ms,
                        from: from.ip().to_string(),
                        labels: a.labels,
                        starts_at_ms: millis(&a.starts_at)?,
                        ends_at_ms: millis(&a.ends_at)?,
                    })
                })
                .collect(),
        };
    let mut r = received.lock().unwrap_or_else(|p| p.into_inner());
    match parsed {
        Ok(alerts) => {
            r.alerts.extend(alerts);
            StatusCode::OK
        }
        Err(e) => {
            let body: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            r.malformed.push(format!("{e} in {body}"));
            StatusCode::BAD_REQUEST
        }
    }
}

impl FakeAlertmanager {
    /// Listens on `ip` (a free port) and serves until dropped.
    pub async fn start(ip: IpAddr) -> Result<FakeAlertmanager, Error> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| Error::Setup(format!("fake Alertmanager on {ip}: {e}")))?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/api/v2/alerts", post(post_alerts))
            .with_state(received.clone());
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                eprintln!("fake Alertmanager stopped: {e}");
            }
        });
        Ok(FakeAlertmanager {
            url: format!("http://{addr}"),
            received,
            task,
        })
    }

    /// Its base URL (what the nodes' `alertmanagers:` names).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every alert received so far, in arrival order.
    pub fn received(&self) -> Vec<Notification> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .alerts
            .clone()
    }

    /// The requests it refused as malformed, with why.
    pub fn malformed(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .malformed
            .clone()
    }
}

impl Drop for FakeAlertmanager {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_postable_alerts_and_refuses_other_bodies() {
        let am = FakeAlertmanager::start("127.0.0.1".parse().unwrap())
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}/api/v2/alerts", am.url());
        let body = serde_json::json!([{
            "labels": {"alertname": "JepsenAlert", "episode": "3"},
            "annotations": {},
            "startsAt": "2023-11-14T22:13:20.123Z",
            "endsAt": "2023-11-14T22:17:20.123Z",
            "generatorURL": "/graph"
        }]);
        let r = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = http.post(&url).body("{}").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let got = am.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels["episode"], "3");
        assert_eq!(got[0].starts_at_ms, 1_700_000_000_123);
        assert_eq!(got[0].ends_at_ms, 1_700_000_240_123);
        // Its `endsAt` is long past: Alertmanager takes it as resolved.
        assert!(got[0].is_resolved());
        assert_eq!(am.malformed().len(), 1);
    }
}
