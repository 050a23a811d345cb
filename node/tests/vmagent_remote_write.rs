//! A real vmagent scrapes itself and a Prometheus and remote-writes to Tidemark and, as the
//! reference, to that Prometheus (its remote-write receiver; VictoriaMetrics would do, but it
//! keeps only about 12 significant digits of a value): every sample Prometheus received for a
//! closed window must be in Tidemark with the same value, and vmagent must have dropped no
//! packet. vmagent appends target labels after the scraped ones without sorting them, and
//! tries its own protocol first, falling back to Prometheus remote-write.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{Node, get_text, peers_bin, raw_samples, spawn_peer, spawn_prometheus};
use tidemark_testkit::free_port;

/// How long vmagent scrapes before the comparison window closes.
const SCRAPE_FOR_S: u64 = 12;
/// How long Tidemark may lag behind the reference.
const CATCH_UP_TIMEOUT_S: u64 = 45;

/// The sum of a counter over all its series in a Prometheus text exposition.
fn counter_sum(exposition: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let v: f64 = rest.rsplit(' ').next()?.parse().ok()?;
        found = Some(found.unwrap_or(0.0) + v);
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vmagent_delivers_everything() {
    let bin = peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);

    let prom_port = free_port();
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let _prom = spawn_prometheus(
        &bin,
        &dir.path().join("prometheus"),
        // vmagent sends on several connections at once, so blocks of one series can arrive
        // out of order: Prometheus needs an out-of-order window to take them all.
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n\
         storage:\n  tsdb:\n    out_of_order_time_window: 10m\n",
        prom_port,
        &["--web.enable-remote-write-receiver"],
    );
    let agent_port = free_port();
    let agent_url = format!("http://127.0.0.1:{agent_port}");
    let scrape = dir.path().join("scrape.yml");
    std::fs::write(
        &scrape,
        format!(
            r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vmagent
    static_configs:
      - targets: ["127.0.0.1:{agent_port}"]
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{prom_port}"]
"#
        ),
    )
    .unwrap();
    let _agent = spawn_peer(
        &bin.join("vmagent"),
        &[
            format!("-promscrape.config={}", scrape.display()),
            format!("-httpListenAddr=127.0.0.1:{agent_port}"),
            format!(
                "-remoteWrite.tmpDataPath={}",
                dir.path().join("vmagent").display()
            ),
            format!("-remoteWrite.url={}/api/v1/write", node.url()),
            format!("-remoteWrite.url={prom_url}/api/v1/write"),
            "-remoteWrite.flushInterval=1s".into(),
            "-loggerLevel=WARN".into(),
        ],
        &dir.path().join("vmagent.log"),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    tokio::time::sleep(Duration::from_secs(SCRAPE_FOR_S)).await;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end_s = (now_ms - 3_000) as f64 / 1000.0;
    let window_ms = (SCRAPE_FOR_S - 2) * 1000;
    // Give both receivers a flush interval beyond the window's end.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let expected = raw_samples(&client, &prom_url, end_s, window_ms).await;
    let jobs: std::collections::BTreeSet<String> = expected
        .keys()
        .filter_map(|k| {
            let j: serde_json::Value = serde_json::from_str(k).ok()?;
            j["job"].as_str().map(str::to_string)
        })
        .collect();
    assert!(
        expected.len() > 200 && jobs.contains("vmagent") && jobs.contains("prometheus"),
        "the reference received too little to compare: {} series, jobs {jobs:?}",
        expected.len()
    );
    let expected_samples: usize = expected.values().map(Vec::len).sum();

    let deadline = Instant::now() + Duration::from_secs(CATCH_UP_TIMEOUT_S);
    loop {
        let got = raw_samples(&client, &node.url(), end_s, window_ms).await;
        let differ: Vec<&String> = expected
            .iter()
            .filter(|(series, points)| got.get(*series) != Some(points))
            .map(|(series, _)| series)
            .collect();
        if differ.is_empty() {
            let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
            assert!(extra.is_empty(), "series only Tidemark has: {extra:?}");
            eprintln!(
                "vmagent: {} series, {expected_samples} samples identical in Prometheus and Tidemark",
                expected.len()
            );
            break;
        }
        if Instant::now() > deadline {
            let example = differ[0];
            panic!(
                "{} of {} series differ after {CATCH_UP_TIMEOUT_S} s; e.g. {example}:\n prometheus {:?}\n tidemark   {:?}\nvmagent log:\n{}\nnode log:\n{}",
                differ.len(),
                expected.len(),
                expected.get(example),
                got.get(example),
                std::fs::read_to_string(dir.path().join("vmagent.log")).unwrap_or_default(),
                node.log()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let metrics = get_text(&client, &format!("{agent_url}/metrics")).await;
    let sent = counter_sum(&metrics, "vmagent_remotewrite_requests_total")
        .expect("vmagent_remotewrite_requests_total in vmagent's metrics");
    let dropped = counter_sum(&metrics, "vmagent_remotewrite_packets_dropped_total").unwrap_or(0.0);
    assert!(sent > 0.0);
    assert_eq!(
        dropped,
        0.0,
        "vmagent dropped packets; its log:\n{}",
        std::fs::read_to_string(dir.path().join("vmagent.log")).unwrap_or_default()
    );
}
