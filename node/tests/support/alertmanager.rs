//! A real Alertmanager for the ruler's tests, and the webhook receiver it notifies: a small
//! HTTP server in the test that records every notification (Alertmanager's webhook JSON) with
//! the instant it arrived, so tests can count notifications and time them.
//!
//! Also the gauge the tests' alert conditions read, written through remote write by a
//! background task (one sample per series every [`GAUGE_WRITE_EVERY_MS`], so the condition
//! never goes stale), and a few reads of the ruler's state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use tidemark_testkit::{ChildProcess, free_port};

use super::{TestSeries, encode_write_v1, post_write_v1};

/// Where Debian's Alertmanager reads its default notification templates from; without them it
/// refuses every configuration (`scripts/install-peers.sh` copies them there when it can).
pub const AM_TEMPLATES: &str = "/usr/share/prometheus/alertmanager/default.tmpl";
/// Time Alertmanager may take to answer `/-/ready` after start.
const AM_READY_TIMEOUT_MS: u64 = 30_000;
/// Alertmanager's `group_wait`: how long a new group waits before its first notification.
pub const AM_GROUP_WAIT_MS: u64 = 1_000;
/// Alertmanager's `group_interval`: how often a group with changes is notified again.
pub const AM_GROUP_INTERVAL_MS: u64 = 5_000;
/// How often the gauge writer writes every series.
pub const GAUGE_WRITE_EVERY_MS: u64 = 250;
/// The ruler group's id (`u32::MAX + 2`, just above the shard groups).
pub const RULER_GROUP_ID: u64 = u32::MAX as u64 + 2;

/// The Alertmanager binary of the peers folder, or why the test cannot run Alertmanager:
/// panics if the peers are not installed (as the other peer tests do), `Err` with the reason
/// when only the templates Debian's build needs are missing (the caller skips).
pub fn alertmanager_bins() -> Result<PathBuf, String> {
    let bin = super::peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    for b in ["prometheus-alertmanager", "amtool"] {
        assert!(
            bin.join(b).exists(),
            "{b} missing in {}: run scripts/install-peers.sh",
            bin.display()
        );
    }
    if !Path::new(AM_TEMPLATES).exists() {
        return Err(format!(
            "{AM_TEMPLATES} is missing and Debian's Alertmanager refuses to start without it: \
             run scripts/install-peers.sh as root, or copy \
             ~/.cache/tsdb-peers{}/*.tmpl there",
            Path::new(AM_TEMPLATES).parent().unwrap().display()
        ));
    }
    Ok(bin)
}

/// A real Alertmanager with one route (`group_by: ['...']`, every alert its own group;
/// [`AM_GROUP_WAIT_MS`], [`AM_GROUP_INTERVAL_MS`], `repeat_interval` 1 h) to a webhook;
/// killed when dropped.
pub struct Alertmanager {
    /// The process; its log is `dir/alertmanager.log`.
    pub process: ChildProcess,
    /// Base URL of its API.
    pub url: String,
    bin: PathBuf,
}

impl Alertmanager {
    /// Starts `bin/prometheus-alertmanager` in `dir` notifying `webhook_url`, gossip off, and
    /// waits until it is ready (panics with its log if it is not).
    pub fn start(bin: &Path, dir: &Path, webhook_url: &str) -> Alertmanager {
        std::fs::create_dir_all(dir).unwrap();
        let config = format!(
            "route:\n  receiver: webhook\n  group_by: ['...']\n  group_wait: {AM_GROUP_WAIT_MS}ms\n  \
             group_interval: {AM_GROUP_INTERVAL_MS}ms\n  repeat_interval: 1h\n\
             receivers:\n  - name: webhook\n    webhook_configs:\n      - url: {webhook_url}\n        \
             send_resolved: true\n"
        );
        let config_path = dir.join("alertmanager.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let mut command = std::process::Command::new(bin.join("prometheus-alertmanager"));
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let mut process =
            ChildProcess::spawn("alertmanager", command, &dir.join("alertmanager.log"))
                .unwrap_or_else(|e| panic!("{e}"));
        let url = format!("http://127.0.0.1:{port}");
        process.expect_ready(&format!("{url}/-/ready"), AM_READY_TIMEOUT_MS);
        Alertmanager {
            process,
            url,
            bin: bin.to_path_buf(),
        }
    }

    /// `amtool alert query --alertmanager.url=… -o json <matchers>`: the alerts Alertmanager
    /// holds, as amtool prints them (panics if amtool fails).
    pub fn amtool_query(&self, matchers: &[&str]) -> Vec<serde_json::Value> {
        let out = std::process::Command::new(self.bin.join("amtool"))
            .args(["alert", "query", "-o", "json"])
            .arg(format!("--alertmanager.url={}", self.url))
            .args(matchers)
            .output()
            .expect("run amtool");
        assert!(
            out.status.success(),
            "amtool failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "amtool output: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Its stdout/stderr so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// One webhook notification as it arrived.
#[derive(Clone, Debug)]
pub struct Notification {
    /// When the test's server received it.
    pub at: Instant,
    /// The same, as wall-clock milliseconds since the epoch (to compare with alert times).
    pub wall_ms: i64,
    /// Alertmanager's webhook JSON (`status`, `alerts`, `groupKey`, ...).
    pub body: serde_json::Value,
}

impl Notification {
    /// Its alerts whose label `name` is `value`, each with its `status` (`firing`,
    /// `resolved`).
    pub fn alerts_with<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
        self.body["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(move |a| a["labels"][name].as_str() == Some(value))
    }

    /// Whether it carries an alert with label `name` = `value` in `status`.
    pub fn has(&self, name: &str, value: &str, status: &str) -> bool {
        self.alerts_with(name, value)
            .any(|a| a["status"].as_str() == Some(status))
    }
}

/// The webhook receiver: an HTTP server on its own thread and runtime (so that a test blocked
/// in a restart does not delay Alertmanager's deliveries), recording every POST.
pub struct WebhookRecorder {
    /// The URL Alertmanager posts to.
    pub url: String,
    received: Arc<Mutex<Vec<Notification>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebhookRecorder {
    /// Starts the server on a free loopback port.
    pub fn start() -> WebhookRecorder {
        let received: Arc<Mutex<Vec<Notification>>> = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = received.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new()
                    .route("/hook", post(record))
                    .with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        WebhookRecorder {
            url,
            received,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Every notification so far, in arrival order.
    pub fn all(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }

    /// Notifications carrying an alert with label `name` = `value` in `status`.
    pub fn with(&self, name: &str, value: &str, status: &str) -> Vec<Notification> {
        self.all()
            .into_iter()
            .filter(|n| n.has(name, value, status))
            .collect()
    }

    /// Waits up to `timeout` for the first notification carrying an alert with label `name` =
    /// `value` in `status`.
    pub async fn wait_for(
        &self,
        name: &str,
        value: &str,
        status: &str,
        timeout: Duration,
    ) -> Option<Notification> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = self.with(name, value, status).into_iter().next() {
                return Some(n);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every notification, one JSON line each, for failure messages.
    pub fn dump(&self) -> String {
        self.all()
            .iter()
            .map(|n| n.body.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn record(
    State(received): State<Arc<Mutex<Vec<Notification>>>>,
    Json(body): Json<serde_json::Value>,
) {
    let at = Instant::now();
    let wall_ms = wall_clock_ms();
    received
        .lock()
        .unwrap()
        .push(Notification { at, wall_ms, body });
}

impl Drop for WebhookRecorder {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Gauges written to a cluster by a background task: every series, its current value, stamped
/// with the wall clock, every [`GAUGE_WRITE_EVERY_MS`], through the first node of `urls` that
/// takes the write (killed nodes refuse; 503s during elections are retried next round).
pub struct GaugeWriter {
    shared: Arc<GaugeShared>,
    task: tokio::task::JoinHandle<()>,
}

/// The gauges' current values.
#[derive(Default)]
struct GaugeValues {
    /// Series (labels) → value.
    series: BTreeMap<Vec<(String, String)>, f64>,
    /// Bumped by every change.
    generation: u64,
}

struct GaugeShared {
    values: Mutex<GaugeValues>,
    /// The generation of the last write acknowledged.
    acked: tokio::sync::watch::Sender<u64>,
    urls: Vec<String>,
}

impl GaugeWriter {
    /// Starts writing (nothing until a value is set) through the nodes of `urls`.
    pub fn start(urls: Vec<String>) -> GaugeWriter {
        let (acked, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(GaugeShared {
            values: Mutex::default(),
            acked,
            urls,
        });
        let task = tokio::spawn(write_loop(shared.clone()));
        GaugeWriter { shared, task }
    }

    /// Sets series `labels` to `value` and waits until a write carrying it was acknowledged;
    /// returns that instant: from then on a query sees the new value.
    pub async fn set(&self, labels: &[(&str, &str)], value: f64) -> Instant {
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let generation = {
            let mut values = self.shared.values.lock().unwrap();
            values.series.insert(labels, value);
            values.generation += 1;
            values.generation
        };
        let mut acked = self.shared.acked.subscribe();
        tokio::time::timeout(
            Duration::from_secs(60),
            acked.wait_for(|&g| g >= generation),
        )
        .await
        .expect("no gauge write acknowledged within 60 s")
        .expect("gauge writer ended");
        Instant::now()
    }
}

impl Drop for GaugeWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn write_loop(shared: Arc<GaugeShared>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut first = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(GAUGE_WRITE_EVERY_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ms = 0;
    loop {
        tick.tick().await;
        let (series, generation) = {
            let values = shared.values.lock().unwrap();
            (values.series.clone(), values.generation)
        };
        if series.is_empty() {
            continue;
        }
        // Strictly increasing timestamps, whatever the wall clock does.
        let now_ms = wall_clock_ms().max(last_ms + 1);
        last_ms = now_ms;
        let batch: Vec<TestSeries> = series
            .into_iter()
            .map(|(labels, v)| (labels, vec![(now_ms, v)]))
            .collect();
        let body = encode_write_v1(&batch);
        for k in 0..shared.urls.len() {
            let i = (first + k) % shared.urls.len();
            match post_write_v1(&client, &shared.urls[i], body.clone()).await {
                Ok((status, _)) if (200..300).contains(&status) => {
                    first = i;
                    shared.acked.send_replace(generation);
                    break;
                }
                _ => {}
            }
        }
    }
}

pub use super::wall_clock_ms;

/// Uploads the YAML rule `group` into `namespace` through `base` (Mimir's API), retrying while
/// the ruler group has no leader yet (503); panics unless it is accepted (202) within 60 s.
pub async fn upload_rule_group(client: &reqwest::Client, base: &str, namespace: &str, group: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .post(format!("{base}/config/v1/rules/{namespace}"))
            .header("Content-Type", "application/yaml")
            .body(group.to_string())
            .send()
            .await;
        match r {
            Ok(r) if r.status().as_u16() == 202 => return,
            Ok(r) if r.status().as_u16() == 503 && Instant::now() < deadline => {}
            Ok(r) => {
                let status = r.status();
                panic!(
                    "rule group upload: {status} {}",
                    r.text().await.unwrap_or_default()
                )
            }
            Err(e) if Instant::now() < deadline => {
                eprintln!("rule group upload: {e}; retrying");
            }
            Err(e) => panic!("rule group upload: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The leader of the ruler group as `base` reports it (`/api/v1/status/cluster`), if it
/// answers and knows one.
pub async fn ruler_leader(client: &reqwest::Client, base: &str) -> Option<u64> {
    let json: serde_json::Value = client
        .get(format!("{base}/api/v1/status/cluster"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    json["data"]["groups"]
        .as_array()?
        .iter()
        .find(|g| g["groupId"].as_u64() == Some(RULER_GROUP_ID))?["leader"]
        .as_u64()
}

/// `data.alerts` of `GET /api/v1/alerts` on `base` (empty if it does not answer).
pub async fn api_alerts(client: &reqwest::Client, base: &str) -> Vec<serde_json::Value> {
    let r = client.get(format!("{base}/api/v1/alerts")).send().await;
    let Ok(r) = r else {
        return Vec::new();
    };
    let json: serde_json::Value = r.json().await.unwrap_or_default();
    json["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The alert of `GET /api/v1/alerts` on `base` whose label `name` is `value`, if any.
pub async fn api_alert(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    value: &str,
) -> Option<serde_json::Value> {
    api_alerts(client, base)
        .await
        .into_iter()
        .find(|a| a["labels"][name].as_str() == Some(value))
}

/// An RFC 3339 time of the APIs (`activeAt`, `startsAt`) in milliseconds since the epoch.
pub fn rfc3339_ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .timestamp_millis()
}

/// Seconds with millisecond precision, for the printed figures.
pub fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// Waits (up to 30 s) until the built-in notifier of the node at `base` has a configuration
/// (a `--notifier-config` is imported once the ruler group runs).
pub async fn wait_notifier_configured(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: Option<serde_json::Value> = match client
            .get(format!("{base}/api/v1/status/notifier"))
            .send()
            .await
        {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        if status
            .as_ref()
            .is_some_and(|s| s["data"]["configured"] == serde_json::json!(true))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the notifier of {base} has no configuration after 30 s: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
