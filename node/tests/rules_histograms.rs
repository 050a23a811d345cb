//! Rules over native histograms against the real Prometheus 3.5: the same rule group (a
//! recording rule whose result is a histogram, one whose result mixes floats and histograms,
//! an alerting rule whose elements are histograms, with `$value` in its annotation) is given to
//! both, the same histograms are remote-written to both, and then the recorded series and the
//! alerts must be the same: recorded histograms bucket for bucket, alerts with value 0 and the
//! histogram printed as Go prints it.

mod support;

use std::time::{Duration, Instant};

use prost::Message;
use tidemark_proto::prometheus as pb;

use support::{
    Node, Prometheus, by_metric, label, peers_bin, post_write_v1, same_json_numbers, snappy,
    wall_clock_ms,
};

const GROUP: &str = "name: hist
interval: 1s
rules:
  - record: job:rh_latency:sum
    expr: sum by (job) (rh_latency)
  - record: rh:mixed
    expr: rh_latency or rh_plain
  - alert: LatencyPresent
    expr: rh_latency
    labels:
      severity: page
    annotations:
      summary: 'latency of {{ $labels.instance }} is {{ $value }}'
";

/// Two instances' histograms (integer, schema 1, two buckets) and one float series, at `t`.
fn body(t: i64, k: u64) -> Vec<u8> {
    let histogram = |n: u64| pb::Histogram {
        count: Some(pb::histogram::Count::CountInt(3 * n)),
        zero_count: Some(pb::histogram::ZeroCount::ZeroCountInt(n)),
        zero_threshold: 0.001,
        sum: n as f64 * 1.5,
        schema: 1,
        positive_spans: vec![pb::BucketSpan {
            offset: 1,
            length: 2,
        }],
        positive_deltas: vec![n as i64, 0],
        timestamp: t,
        ..Default::default()
    };
    let series = |instance: &str, n: u64| pb::TimeSeries {
        labels: vec![
            label("__name__", "rh_latency"),
            label("instance", instance),
            label("job", "api"),
        ],
        histograms: vec![histogram(n)],
        ..Default::default()
    };
    let plain = pb::TimeSeries {
        labels: vec![label("__name__", "rh_plain"), label("job", "api")],
        samples: vec![pb::Sample {
            value: 7.0,
            timestamp: t,
        }],
        ..Default::default()
    };
    let req = pb::WriteRequest {
        timeseries: vec![series("a", k + 1), series("b", 2 * k + 1), plain],
        metadata: vec![],
    };
    snappy(&req.encode_to_vec())
}

async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let r: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "success", "{url}: {r}");
    r["data"].clone()
}

/// `query`'s result at `at_s`, keyed by series.
async fn instant(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    at_s: f64,
) -> Vec<(String, serde_json::Value)> {
    let data = get_json(
        client,
        &format!(
            "{base}/api/v1/query?query={}&time={at_s:.3}",
            urlencode(query)
        ),
    )
    .await;
    let mut out = by_metric(&data["result"]);
    for (_, e) in &mut out {
        // The rules evaluated at different instants of the second.
        for field in ["value", "histogram"] {
            if let Some(point) = e.get_mut(field) {
                point[0] = serde_json::Value::Null;
            }
        }
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `text` with every number in it rounded to 12 significant digits: Prometheus' table of
/// bucket bounds differs from correctly rounded powers of two in the last digit here and
/// there (`docs/alerting.md`, "Rules"), and a histogram's printing shows them.
fn rounded(text: &str) -> String {
    let mut out = String::new();
    let mut number = String::new();
    let flush = |number: &mut String, out: &mut String| {
        match number.parse::<f64>() {
            Ok(v) if number.contains('.') => out.push_str(&format!("{v:.11e}")),
            _ => out.push_str(number),
        }
        number.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
        } else {
            flush(&mut number, &mut out);
            out.push(c);
        }
    }
    flush(&mut number, &mut out);
    out
}

/// The alerts `base` lists: labels, state, value and annotations, sorted.
async fn alerts(client: &reqwest::Client, base: &str) -> Vec<serde_json::Value> {
    let data = get_json(client, &format!("{base}/api/v1/alerts")).await;
    let mut out: Vec<serde_json::Value> = data["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            serde_json::json!({
                "labels": a["labels"],
                "state": a["state"],
                "value": a["value"],
                "annotations": a["annotations"].as_object().unwrap().iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(rounded(v.as_str().unwrap()))))
                    .collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    out.sort_by_key(|a| a.to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_over_native_histograms_match_prometheus() {
    let bin = peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    let dir = tempfile::tempdir().unwrap();
    let rule_file = dir.path().join("rules.yaml");
    std::fs::write(
        &rule_file,
        format!("groups:\n  - {}", GROUP.replace('\n', "\n    ")),
    )
    .unwrap();
    let config = format!(
        "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs: []\n",
        rule_file.display()
    );
    let prom = Prometheus::start(
        &bin,
        &dir.path().join("prometheus"),
        &config,
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let rules_config = dir.path().join("tidemark.yaml");
    std::fs::write(&rules_config, "ruler:\n  evaluation_interval_ms: 1000\n").unwrap();
    let node = Node::start(
        &dir.path().join("tidemark"),
        &[
            "--config",
            rules_config.to_str().unwrap(),
            "--rule-file",
            rule_file.to_str().unwrap(),
        ],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // One write a second for a few seconds, to both.
    let start = wall_clock_ms() / 1000 * 1000 - 3_000;
    for k in 0..4u64 {
        let t = start + k as i64 * 1000;
        for base in [&prom.url, &node.url()] {
            let (status, text) = post_write_v1(&client, base, body(t, k)).await.unwrap();
            assert!((200..300).contains(&status), "{base}: {status} {text}");
        }
    }
    let last_s = (start + 3_000) as f64 / 1000.0;

    // Wait until both evaluated after the last write, then compare what they recorded and
    // what fires.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut compared = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let at_s = wall_clock_ms() as f64 / 1000.0;
        let mut same = true;
        let mut report = String::new();
        for query in ["job:rh_latency:sum", "rh:mixed"] {
            let p = instant(&client, &prom.url, query, at_s).await;
            let t = instant(&client, &node.url(), query, at_s).await;
            let ok = p.len() == t.len()
                && !p.is_empty()
                && p.iter()
                    .zip(&t)
                    .all(|((pm, pv), (tm, tv))| pm == tm && same_json_numbers(pv, tv).is_ok());
            if !ok {
                same = false;
                report += &format!("{query}:\n  Prometheus {p:?}\n  Tidemark   {t:?}\n");
            }
        }
        let (pa, ta) = (
            alerts(&client, &prom.url).await,
            alerts(&client, &node.url()).await,
        );
        if pa != ta || pa.len() != 2 {
            same = false;
            report += &format!("alerts:\n  Prometheus {pa:#?}\n  Tidemark   {ta:#?}\n");
        }
        if same {
            compared += 1;
            if compared == 2 {
                break;
            }
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "rules over histograms differ (data up to {last_s}):\n{report}"
        );
    }
}
