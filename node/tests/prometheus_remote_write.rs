//! A real Prometheus 3.5 scrapes itself and remote-writes to Tidemark (1.0 and 2.0 protocols):
//! every sample Prometheus stored for a closed window must be in Tidemark, with the same value.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{Node, free_port, peers_bin, spawn_prometheus};

/// How long Prometheus scrapes before the comparison window closes.
const SCRAPE_FOR_S: u64 = 12;
/// How long Tidemark may lag behind Prometheus' TSDB (remote-write batches every second here).
const CATCH_UP_TIMEOUT_S: u64 = 45;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(
    dir: &Path,
    port: u16,
    remote_write_url: &str,
    protobuf_message: &str,
) -> Killed {
    let bin = peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: {remote_write_url}
    protobuf_message: {protobuf_message}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#
    );
    Killed(spawn_prometheus(&bin, dir, &config, port, &[]))
}

/// Raw samples of every series in `(end - window, end]`, keyed by the series' labels.
async fn raw_samples(
    client: &reqwest::Client,
    base: &str,
    end_s: f64,
    window_s: u64,
) -> BTreeMap<String, Vec<(i64, String)>> {
    let r = client
        .post(format!("{base}/api/v1/query"))
        .form(&[
            ("query", format!("{{__name__=~\".+\"}}[{window_s}s]")),
            ("time", format!("{end_s:.3}")),
        ])
        .send()
        .await
        .expect("query");
    let json: serde_json::Value = r.json().await.expect("json");
    assert_eq!(json["status"], "success", "{base}: {json}");
    let mut out = BTreeMap::new();
    for s in json["data"]["result"].as_array().unwrap() {
        let points = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.insert(s["metric"].to_string(), points);
    }
    out
}

async fn prometheus_delivers_everything(protobuf_message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let prom_port = free_port();
    let _prom = start_prometheus(
        &dir.path().join("prometheus"),
        prom_port,
        &format!("{}/api/v1/write", node.url()),
        protobuf_message,
    );
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    tokio::time::sleep(Duration::from_secs(SCRAPE_FOR_S)).await;
    let end_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64
        / 1000.0
        - 2.0;
    let window_s = SCRAPE_FOR_S;
    let expected = raw_samples(&client, &prom_url, end_s, window_s).await;
    assert!(
        expected.len() > 50,
        "Prometheus scraped too little to compare: {} series",
        expected.len()
    );
    let expected_samples: usize = expected.values().map(|v| v.len()).sum();

    let deadline = Instant::now() + Duration::from_secs(CATCH_UP_TIMEOUT_S);
    loop {
        let got = raw_samples(&client, &node.url(), end_s, window_s).await;
        let missing: Vec<_> = expected
            .iter()
            .filter(|(series, points)| got.get(*series) != Some(points))
            .map(|(series, _)| series.clone())
            .collect();
        if missing.is_empty() {
            let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
            assert!(
                extra.is_empty(),
                "series in Tidemark that Prometheus does not have: {extra:?}"
            );
            eprintln!(
                "{protobuf_message}: {} series, {expected_samples} samples identical in Prometheus and Tidemark",
                expected.len()
            );
            return;
        }
        if Instant::now() > deadline {
            let example = &missing[0];
            panic!(
                "{} of {} series differ after {CATCH_UP_TIMEOUT_S} s; e.g. {example}:\n prometheus {:?}\n tidemark   {:?}\nnode log:\n{}",
                missing.len(),
                expected.len(),
                expected.get(example),
                got.get(example),
                node.log()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_v1_delivers_everything() {
    prometheus_delivers_everything("prometheus.WriteRequest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_v2_delivers_everything() {
    prometheus_delivers_everything("io.prometheus.write.v2.Request").await;
}
