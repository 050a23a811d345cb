//! A real Prometheus 3.5 scrapes itself and remote-writes to Tidemark (1.0 and 2.0 protocols):
//! every sample Prometheus stored for a closed window must be in Tidemark, with the same value.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{Node, peers_bin, raw_samples, spawn_prometheus};
use tidemark_testkit::{ChildProcess, free_port};

/// How long Prometheus scrapes before the comparison window closes.
const SCRAPE_FOR_S: u64 = 12;
/// How long Tidemark may lag behind Prometheus' TSDB (remote-write batches every second here).
const CATCH_UP_TIMEOUT_S: u64 = 45;

fn start_prometheus(
    dir: &Path,
    port: u16,
    remote_write_url: &str,
    protobuf_message: &str,
) -> ChildProcess {
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
    spawn_prometheus(&bin, dir, &config, port, &[])
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
    let expected = raw_samples(&client, &prom_url, end_s, window_s * 1000).await;
    assert!(
        expected.len() > 50,
        "Prometheus scraped too little to compare: {} series",
        expected.len()
    );
    let expected_samples: usize = expected.values().map(|v| v.len()).sum();

    let deadline = Instant::now() + Duration::from_secs(CATCH_UP_TIMEOUT_S);
    loop {
        let got = raw_samples(&client, &node.url(), end_s, window_s * 1000).await;
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
