//! A real Prometheus 3.5 scrapes itself and remote-writes to Tidemark (1.0 and 2.0 protocols):
//! every sample Prometheus stored for a closed window must be in Tidemark, with the same value.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{Node, peers_bin, raw_samples, same_result, spawn_prometheus};
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

/// The sum of every series of counter `name` in Prometheus' text exposition `text`.
fn counter_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A Prometheus with native histograms on, scraping itself over the protobuf exposition (which
/// carries them), sends them beside its floats: none of either fails, and the native histogram
/// series are in Tidemark.
async fn native_histograms_are_written(protobuf_message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let port = free_port();
    let bin = peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4]
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: {}/api/v1/write
    protobuf_message: {protobuf_message}
    send_native_histograms: true
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
"#,
        node.url()
    );
    let prom_dir = dir.path().join("prometheus");
    let _prom = spawn_prometheus(
        &bin,
        &prom_dir,
        &config,
        port,
        &["--enable-feature=native-histograms"],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(CATCH_UP_TIMEOUT_S);
    let metrics = loop {
        let text = match client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if counter_sum(&text, "prometheus_remote_storage_histograms_total") >= 20.0 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus sent fewer than 20 native histograms in {CATCH_UP_TIMEOUT_S} s:\n{}",
            std::fs::read_to_string(prom_dir.join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    for failed in [
        "prometheus_remote_storage_histograms_failed_total",
        "prometheus_remote_storage_samples_failed_total",
    ] {
        assert_eq!(
            counter_sum(&metrics, failed),
            0.0,
            "{failed}\nnode log:\n{}",
            node.log()
        );
    }
    let series: serde_json::Value = client
        .get(format!(
            "{}/api/v1/series?match[]=prometheus_http_request_duration_seconds",
            node.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = series["data"].as_array().map_or(0, |a| a.len());
    assert!(n > 0, "no native histogram series in Tidemark: {series}");
    eprintln!(
        "{protobuf_message}: {} histograms sent, none failed; {n} histogram series",
        counter_sum(&metrics, "prometheus_remote_storage_histograms_total")
    );
    // Both answer the histogram functions alike, at a time whose samples have been sent (the
    // queue sends within a second or two).
    let at = now_s() - 3.0;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let prom_url = format!("http://127.0.0.1:{port}");
    for query in HISTOGRAM_QUERIES {
        let want = instant_query(&client, &prom_url, query, at).await;
        let got = instant_query(&client, &node.url(), query, at).await;
        assert!(
            !want.as_array().is_none_or(Vec::is_empty),
            "Prometheus has no answer to {query}: {want}"
        );
        if let Err(e) = same_result(&want, &got) {
            panic!("{query}: {e}\nPrometheus: {want}\nTidemark:   {got}");
        }
    }
}

/// What dashboards ask of native histograms; the selector is a histogram Prometheus observes
/// from its first scrape on (its own `/metrics` handler).
const HISTOGRAM_QUERIES: [&str; 10] = [
    r#"prometheus_http_request_duration_seconds{handler="/metrics"}"#,
    r#"rate(prometheus_http_request_duration_seconds{handler="/metrics"}[1m])"#,
    "histogram_quantile(0.9, sum(rate(prometheus_http_request_duration_seconds[1m])))",
    "histogram_quantile(0.5, sum by (handler) (rate(prometheus_http_request_duration_seconds[1m])))",
    "histogram_count(sum(prometheus_http_request_duration_seconds))",
    "histogram_sum(rate(prometheus_http_request_duration_seconds[1m]))",
    "histogram_avg(sum(increase(prometheus_http_request_duration_seconds[1m])))",
    "histogram_fraction(0, 0.01, sum(rate(prometheus_http_request_duration_seconds[1m])))",
    "histogram_stddev(sum(prometheus_http_request_duration_seconds))",
    "histogram_stdvar(avg(prometheus_http_request_duration_seconds))",
];

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        .floor()
}

/// The `result` of an instant query at `at_s`.
async fn instant_query(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    at_s: f64,
) -> serde_json::Value {
    let r: serde_json::Value = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query), ("time", &format!("{at_s:.3}"))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "success", "{base}: {query}: {r}");
    r["data"]["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_native_histograms_v1_are_written() {
    native_histograms_are_written("prometheus.WriteRequest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_native_histograms_v2_are_written() {
    native_histograms_are_written("io.prometheus.write.v2.Request").await;
}
