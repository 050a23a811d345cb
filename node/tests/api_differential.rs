//! Differential test of the Prometheus HTTP API around the query engine: the same small dataset
//! is remote-written to a real Prometheus 3.5 and to Tidemark, then both answer
//! `format_query`, `parse_query`, `series`/`labels`/`label values` with `limit`,
//! `query_exemplars`, `status/tsdb`, `status/buildinfo`, `status/runtimeinfo`,
//! `status/flags`, `status/config`, `metadata` limits, `stats=all` and `delete_series` (and what
//! `query_range`, `series` and label values answer after it), and the answers are
//! compared: exactly where Tidemark claims Prometheus' behaviour (pretty printed text, syntax
//! trees, results, warnings, error types and messages), by shape where values legitimately
//! differ (versions, paths, timings, chunk counts).
//!
//! Every difference is listed in the report (printed, and written to
//! `$TMPDIR/tidemark-api-differential.txt`); the test fails on any that is not in
//! [`KNOWN_DIFFERENCES`].

mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{Node, Prometheus, TestSeries, encode_write_v1, peers_bin, post_write_v1};

/// Differences that are understood and accepted, by check name, each with its reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "after delete: series up",
        "Prometheus lists a series deleted over all time in /api/v1/series until its head block \
         is compacted (only series are asked for, so tombstones are not read); Tidemark hides it \
         at once, as Prometheus does after compaction and as both do for label values",
    ),
    (
        "format_query +x",
        "promql-parser drops a unary plus while parsing, so it cannot be printed back",
    ),
    (
        "parse_query +x",
        "promql-parser drops a unary plus while parsing: no unaryExpr node",
    ),
    (
        "format_query 1h + 1",
        "promql-parser keeps a number written as a duration as its value (3600)",
    ),
    (
        "/api/v1/status/buildinfo",
        "Tidemark adds Mimir's `application` and `features` (with `ruler_config_api`), which \
         Grafana reads to offer rule editing for a Mimir-compatible ruler; Prometheus 3.5 has \
         neither",
    ),
];

/// Queries both sides pretty print and parse. Parse errors are compared by error type only.
const PROMQL: &[&str] = &[
    "up",
    "1 + 2",
    "a + b",
    "a > bool 1",
    "a + on(job) group_left(x) b",
    "x * on(a) group_right() y",
    "a and b",
    "x or on() y",
    "x unless ignoring(a) y",
    r#"a + ignoring("a.b") b"#,
    "sum by (job) (x)",
    "sum without (a) (x)",
    "sum by () (x)",
    "count without () (x)",
    r#"sum by ("a.b", c) (x)"#,
    "topk(3, x)",
    "quantile(0.5, x)",
    r#"count_values("v", x)"#,
    "limitk(2, x)",
    "rate(x[5m] offset 1h)",
    "x[5m:1m] @ end()",
    "x[5m:] @ start()",
    "foo @ 1000 offset -5m",
    "x @ -10",
    "x[5m] @ -10.5",
    "x offset 1h30m",
    "x[90s]",
    "x[2w]",
    "x[1h1s]",
    "-x",
    "+x",
    "-1",
    "+1",
    "- - x",
    "-(1)",
    r#""str""#,
    "(x)",
    "time()",
    "vector(1)",
    r#"label_join(up, "a", ",", "b", "c")"#,
    r#"label_replace(up, "a", "$1", "b", "(.*)")"#,
    "round(x, 5)",
    "histogram_quantile(0.9, sum by (le) (rate(b[5m])))",
    "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:])",
    r#"{__name__="x"}"#,
    r#"{__name__="x", "a.b"="c"}"#,
    r#"{"utf8.metric.name", a="b"}"#,
    r#"x{b="1",a="2"}"#,
    r#"x{a!="1",b=~"x",c!~"y"}"#,
    "x{a=\"\u{e9}\u{1}\\n\"}",
    "Inf",
    "-Inf",
    "NaN",
    "1e21",
    "0.0000001",
    "0x1f",
    "1h + 1",
    "sum(x) by (a, b) > 100",
    "2 ^ 3 ^ 2",
    "(1 + 2) * 3",
    "x % 2 atan2 y",
    r#"sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) by (job) / on(job) group_left sum by (job) (rate(x[5m]))"#,
    r#"sum(rate(some_really_long_metric_name_total{environment="production",cluster="eu-west-1",service="checkout"}[5m])) by (service)"#,
    r#"histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket{environment="production",cluster="eu-west-1"}[5m])))"#,
    "(sum(rate(a_very_long_metric_name_one_total[5m])) + sum(rate(a_very_long_metric_name_two_total[5m]))) / sum(rate(a_very_long_metric_name_three_total[5m]))",
    "quantile_over_time(0.99, very_long_metric_name_here_for_testing_purposes_aaaaaaaaaaaaaaaaaaaaaaaaaaaaa[5m:30s] offset 1h)",
    "-(rate(a_long_metric_name_that_takes_space_aaaaaaaaaaaaaaaaaaaaaaaaa[5m]) + rate(another_long_metric_name_that_takes_spac[5m]))",
    "max_over_time((rate(a_long_metric_name_that_takes_space_aaaaaaaaaaaaaaaaaaaaaaaaa[5m]) * on (job) another_long_metric_name)[1h:5m])",
    "1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19 + 20 + 21 + 22 + 23 + 24 + 25",
    r#"topk(10, sum without (instance, pod, container, namespace) (rate(container_cpu_usage_seconds_total{image!=""}[5m])))"#,
    "sum(",
    "abs(-1)",
    "",
    "x[5m",
];

// ---------------------------------------------------------------------------------------------
// Data

/// A series per job × instance × code of one counter, one gauge per job × instance, and one
/// series with a label value longer than 255 bytes (a 4-byte length in Prometheus' size).
fn dataset(anchor_ms: i64) -> Vec<TestSeries> {
    let mut out = Vec::new();
    let times: Vec<i64> = (0..5).map(|i| anchor_ms - (4 - i) * 60_000).collect();
    let labels = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    for (j, job) in ["api", "db", "web"].iter().enumerate() {
        for i in 0..(j + 1) {
            let instance = format!("host-{i}:9100");
            for code in ["200", "500"] {
                out.push((
                    labels(&[
                        ("__name__", "http_requests_total"),
                        ("job", job),
                        ("instance", &instance),
                        ("code", code),
                    ]),
                    times.iter().map(|&t| (t, (t / 1000) as f64)).collect(),
                ));
            }
            out.push((
                labels(&[("__name__", "up"), ("job", job), ("instance", &instance)]),
                times.iter().map(|&t| (t, 1.0)).collect(),
            ));
        }
    }
    out.push((
        labels(&[("__name__", "build_info"), ("version", &"v".repeat(300))]),
        times.iter().map(|&t| (t, 1.0)).collect(),
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// Requests and comparison

/// An answer: HTTP status and body (JSON when it parses).
#[derive(Clone, Debug)]
struct Answer {
    http: u16,
    text: String,
    json: Value,
}

/// Tidemark's `/api/v1/status/tsdb` without its three documented additions, which must be
/// there: `data.retention` (the retention tiers; docs/retention.md; Prometheus has no tiers),
/// `data.memory` (where the node's memory goes; docs/ARCHITECTURE.md; Prometheus shows its own
/// in `/metrics` only) and `data.disk` (the data store's bytes per column family).
fn without_additions(mut a: Answer) -> Answer {
    let data = a.json.get_mut("data").and_then(|d| d.as_object_mut());
    let (retention, memory, disk) = match data {
        Some(d) => (d.remove("retention"), d.remove("memory"), d.remove("disk")),
        None => (None, None, None),
    };
    assert!(
        retention.is_some_and(|r| r["tiers"].is_array()),
        "status/tsdb without data.retention.tiers: {}",
        a.text
    );
    assert!(
        memory.is_some_and(|m| m["budgetBytes"].is_u64() && m["series"].is_object()),
        "status/tsdb without data.memory: {}",
        a.text
    );
    assert!(
        disk.is_some_and(|d| d["sstBytes"].is_u64() && d["sstBytesByColumnFamily"].is_object()),
        "status/tsdb without data.disk: {}",
        a.text
    );
    a.text = a.json.to_string();
    a
}

async fn ask(client: &reqwest::Client, base: &str, path: &str, form: &[(&str, &str)]) -> Answer {
    let req = if form.is_empty() {
        client.get(format!("{base}{path}"))
    } else {
        client.post(format!("{base}{path}")).form(form)
    };
    let r = req.send().await.expect("request");
    let http = r.status().as_u16();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { http, text, json }
}

/// The JSON shape of a value: keys and value kinds, not values.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::String("string".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::Null => Value::Null,
    }
}

/// Collects differences.
#[derive(Default)]
struct Report {
    checks: usize,
    lines: String,
    unexpected: Vec<String>,
    known_seen: Vec<&'static str>,
}

impl Report {
    fn check(&mut self, name: &str, p: &Answer, t: &Answer, same: Result<(), String>) {
        self.checks += 1;
        let Err(why) = same else { return };
        let known = KNOWN_DIFFERENCES.iter().find(|(n, _)| *n == name);
        let tag = match known {
            Some((n, reason)) => {
                self.known_seen.push(n);
                format!("KNOWN ({reason})")
            }
            None => {
                self.unexpected.push(name.to_string());
                "DIFF".into()
            }
        };
        let _ = writeln!(
            self.lines,
            "{tag} {name}\n  why: {why}\n  prometheus ({}): {}\n  tidemark   ({}): {}",
            p.http,
            shorten(&p.text),
            t.http,
            shorten(&t.text)
        );
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 600;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    format!("{}…", s.chars().take(MAX).collect::<String>())
}

/// The same HTTP status, and the same body as JSON.
fn same_body(p: &Answer, t: &Answer) -> Result<(), String> {
    if p.http != t.http {
        return Err(format!("HTTP {} vs {}", p.http, t.http));
    }
    if p.json != t.json {
        return Err("bodies differ".into());
    }
    Ok(())
}

/// The same HTTP status, `status` and `errorType` (messages may differ).
fn same_outcome(p: &Answer, t: &Answer) -> Result<(), String> {
    if p.http != t.http {
        return Err(format!("HTTP {} vs {}", p.http, t.http));
    }
    for key in ["status", "errorType"] {
        if p.json.get(key) != t.json.get(key) {
            return Err(format!("{key} differs"));
        }
    }
    Ok(())
}

/// Parse errors are compared by outcome, successes by body.
fn same_answer_or_error(p: &Answer, t: &Answer) -> Result<(), String> {
    if p.json["status"] == "error" || t.json["status"] == "error" {
        same_outcome(p, t)
    } else {
        same_body(p, t)
    }
}

fn same_shape(p: &Answer, t: &Answer) -> Result<(), String> {
    if p.http != t.http {
        return Err(format!("HTTP {} vs {}", p.http, t.http));
    }
    if shape(&p.json) != shape(&t.json) {
        return Err(format!(
            "shapes differ: {} vs {}",
            shape(&p.json),
            shape(&t.json)
        ));
    }
    Ok(())
}

/// A top list as a set of (name, value) pairs.
fn stat_set(v: &Value) -> BTreeSet<(String, u64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or("").to_string(),
                        s["value"].as_u64().unwrap_or(u64::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn stat_values(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().map(|s| s["value"].as_u64().unwrap_or(0)).collect())
        .unwrap_or_default()
}

/// A limited answer: the same HTTP status, warnings and number of entries as Prometheus',
/// every entry one of Prometheus' unlimited answer `full` (a set of series or strings).
fn same_truncation(p: &Answer, t: &Answer, full: &Answer) -> Result<(), String> {
    if p.http != t.http {
        return Err(format!("HTTP {} vs {}", p.http, t.http));
    }
    if p.json.get("warnings") != t.json.get("warnings") {
        return Err("warnings differ".into());
    }
    let (Some(pd), Some(td), Some(all)) = (
        p.json["data"].as_array(),
        t.json["data"].as_array(),
        full.json["data"].as_array(),
    ) else {
        return Err("data is not a list".into());
    };
    if pd.len() != td.len() {
        return Err(format!("{} vs {} entries", pd.len(), td.len()));
    }
    if let Some(extra) = td.iter().find(|e| !all.contains(e)) {
        return Err(format!("{extra} is not in Prometheus' unlimited answer"));
    }
    let mut sorted = td.clone();
    sorted.sort_by_key(|e| e.to_string());
    sorted.dedup();
    if sorted.len() != td.len() {
        return Err("duplicate entries".into());
    }
    Ok(())
}

/// `/api/v1/status/tsdb` with a limit that shows every entry: every list equal as a set,
/// head stats equal but for the chunk count (chunks are cut differently).
fn same_tsdb_status(p: &Answer, t: &Answer) -> Result<(), String> {
    same_shape(p, t)?;
    let (pd, td) = (&p.json["data"], &t.json["data"]);
    for key in ["numSeries", "numLabelPairs", "minTime", "maxTime"] {
        if pd["headStats"][key] != td["headStats"][key] {
            return Err(format!("headStats.{key} differs"));
        }
    }
    for list in [
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ] {
        if stat_set(&pd[list]) != stat_set(&td[list]) {
            return Err(format!("{list} differs"));
        }
        if stat_values(&pd[list]) != stat_values(&td[list]) {
            return Err(format!("{list} is not ordered the same"));
        }
    }
    Ok(())
}

/// `/api/v1/status/tsdb` with a small limit: same lengths and values; entries with equal values
/// may be different ones (Prometheus breaks ties in map order).
fn same_tsdb_top(p: &Answer, t: &Answer) -> Result<(), String> {
    same_shape(p, t)?;
    for list in [
        "seriesCountByMetricName",
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ] {
        if stat_values(&p.json["data"][list]) != stat_values(&t.json["data"][list]) {
            return Err(format!("{list} values differ"));
        }
    }
    Ok(())
}

/// Tidemark's `data.stats.timings` keys are among Prometheus'; both have the same result.
fn same_result_with_stats(p: &Answer, t: &Answer) -> Result<(), String> {
    if p.http != t.http || p.http != 200 {
        return Err(format!("HTTP {} vs {}", p.http, t.http));
    }
    if p.json["data"]["result"] != t.json["data"]["result"] {
        return Err("results differ".into());
    }
    let keys = |a: &Answer| -> BTreeSet<String> {
        a.json["data"]["stats"]["timings"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (pk, tk) = (keys(p), keys(t));
    if tk.is_empty() || !tk.is_subset(&pk) {
        return Err(format!("timings keys {tk:?} not within {pk:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The test

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn series_count(client: &reqwest::Client, base: &str) -> usize {
    let a = ask(
        client,
        base,
        "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D",
        &[],
    )
    .await;
    a.json["data"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_match_prometheus() {
    let bin = peers_bin()
        .expect("prometheus missing: run scripts/install-peers.sh (or set TIDEMARK_PEERS_BIN)");
    let dir = tempfile::tempdir().unwrap();
    let prom = Prometheus::start(
        &bin,
        &dir.path().join("prometheus"),
        "scrape_configs: []\n",
        &[
            "--web.enable-remote-write-receiver",
            "--web.enable-admin-api",
            "--enable-feature=promql-experimental-functions",
        ],
    );
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (p, t) = (prom.url.as_str(), node.url());
    let t = t.as_str();
    let mut report = Report::default();

    // Empty stores first: the status of an empty head.
    let path = "/api/v1/status/tsdb";
    let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
    let ta = without_additions(ta);
    report.check("status/tsdb empty", &pa, &ta, same_body(&pa, &ta));

    let anchor_ms = now_ms() / 60_000 * 60_000;
    let data = dataset(anchor_ms);
    for base in [p, t] {
        let (status, text) = post_write_v1(&client, base, encode_write_v1(&data))
            .await
            .expect("remote write");
        assert!((200..300).contains(&status), "{base}: {status} {text}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for base in [p, t] {
        while series_count(&client, base).await != data.len() {
            assert!(
                Instant::now() < deadline,
                "{base} does not show the {} written series:\n{}",
                data.len(),
                prom.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    for q in PROMQL {
        for endpoint in ["format_query", "parse_query"] {
            let path = format!("/api/v1/{endpoint}");
            let form = [("query", *q)];
            let (pa, ta) =
                tokio::join!(ask(&client, p, &path, &form), ask(&client, t, &path, &form));
            report.check(
                &format!("{endpoint} {q}"),
                &pa,
                &ta,
                same_answer_or_error(&pa, &ta),
            );
        }
    }
    // GET answers as POST does.
    let path = "/api/v1/format_query?query=sum(x)%20by%20(a)";
    let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
    report.check("format_query GET", &pa, &ta, same_body(&pa, &ta));

    // Limits: which entries a limit keeps is unspecified in Prometheus (head series come in
    // creation order unless several match[] are merged; label values in map order, sorted
    // after the cut), while Tidemark keeps the first ones in sorted order. So: the same
    // count, the same warnings, entries from the same unlimited answer.
    let limited = [
        (
            "/api/v1/series?match[]=up&limit=4",
            "/api/v1/series?match[]=up",
        ),
        (
            "/api/v1/series?match[]=up&limit=6",
            "/api/v1/series?match[]=up",
        ),
        (
            "/api/v1/series?match[]=up&limit=7",
            "/api/v1/series?match[]=up",
        ),
        (
            "/api/v1/series?match[]=up&limit=0",
            "/api/v1/series?match[]=up",
        ),
        ("/api/v1/series?match[]=up", "/api/v1/series?match[]=up"),
        (
            "/api/v1/series?match[]=%7Bjob%3D%22api%22%7D&match[]=up&limit=5",
            "/api/v1/series?match[]=%7Bjob%3D%22api%22%7D&match[]=up",
        ),
        ("/api/v1/labels?limit=2", "/api/v1/labels"),
        (
            "/api/v1/labels?match[]=up&limit=1",
            "/api/v1/labels?match[]=up",
        ),
        (
            "/api/v1/label/job/values?limit=2",
            "/api/v1/label/job/values",
        ),
        (
            "/api/v1/label/instance/values?match[]=up&limit=1",
            "/api/v1/label/instance/values?match[]=up",
        ),
        (
            "/api/v1/label/__name__/values?limit=1",
            "/api/v1/label/__name__/values",
        ),
    ];
    for (path, unlimited) in limited {
        let (pa, ta, full) = tokio::join!(
            ask(&client, p, path, &[]),
            ask(&client, t, path, &[]),
            ask(&client, p, unlimited, &[])
        );
        report.check(path, &pa, &ta, same_truncation(&pa, &ta, &full));
    }

    // Results, warnings and error messages, exactly.
    let exact = [
        "/api/v1/series?match[]=%7Bjob%3D%22api%22%7D&match[]=up",
        "/api/v1/series?match[]=up&limit=-1",
        "/api/v1/series?match[]=up&limit=abc",
        "/api/v1/series?match[]=up&limit=1.5",
        "/api/v1/labels",
        "/api/v1/labels?limit=5",
        "/api/v1/labels?limit=-1",
        "/api/v1/labels?limit=x",
        "/api/v1/labels?start=x",
        "/api/v1/label/job/values?limit=3",
        "/api/v1/label/__name__/values",
        "/api/v1/label/job/values?limit=-5",
        "/api/v1/label/job/values?limit=",
        "/api/v1/label/job/values?end=x",
        "/api/v1/metadata?limit=x",
        "/api/v1/metadata?limit_per_metric=x",
        "/api/v1/query?query=up&limit=-1",
        "/api/v1/query?query=up&time=x",
        "/api/v1/query_exemplars?query=up",
        "/api/v1/query_exemplars?query=rate(up%5B5m%5D)&start=0&end=100",
        "/api/v1/query_exemplars?query=1%2B1",
        "/api/v1/query_exemplars?query=up&start=10&end=5",
        "/api/v1/query_exemplars?query=up&start=x",
        "/api/v1/status/tsdb?limit=0",
        "/api/v1/status/tsdb?limit=x",
    ];
    for path in exact {
        let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
        report.check(path, &pa, &ta, same_body(&pa, &ta));
    }
    // Parse errors of exemplar queries: the parsers' messages differ.
    for path in [
        "/api/v1/query_exemplars?query=sum(",
        "/api/v1/query_exemplars",
    ] {
        let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
        report.check(path, &pa, &ta, same_outcome(&pa, &ta));
    }

    let path = "/api/v1/status/tsdb?limit=1000";
    let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
    let ta = without_additions(ta);
    report.check(path, &pa, &ta, same_tsdb_status(&pa, &ta));
    for path in ["/api/v1/status/tsdb", "/api/v1/status/tsdb?limit=3"] {
        let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
        let ta = without_additions(ta);
        report.check(path, &pa, &ta, same_tsdb_top(&pa, &ta));
    }

    // Values that legitimately differ: compared by shape (keys and kinds).
    for path in [
        "/api/v1/status/buildinfo",
        "/api/v1/status/runtimeinfo",
        "/api/v1/status/config",
    ] {
        let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
        report.check(path, &pa, &ta, same_shape(&pa, &ta));
    }
    let path = "/api/v1/status/flags";
    let (pa, ta) = tokio::join!(ask(&client, p, path, &[]), ask(&client, t, path, &[]));
    let flags_ok = |a: &Answer| {
        a.http == 200
            && a.json["data"]
                .as_object()
                .is_some_and(|m| !m.is_empty() && m.values().all(Value::is_string))
    };
    let flags_same = if flags_ok(&pa) && flags_ok(&ta) {
        Ok(())
    } else {
        Err("not a map of flag names to strings".into())
    };
    report.check(path, &pa, &ta, flags_same);

    let now_s = format!("{:.3}", now_ms() as f64 / 1000.0);
    let start_s = format!("{:.3}", (now_ms() - 600_000) as f64 / 1000.0);
    for (path, form) in [
        (
            "/api/v1/query",
            vec![
                ("query", "sum by (job) (up)"),
                ("time", now_s.as_str()),
                ("stats", "all"),
            ],
        ),
        (
            "/api/v1/query_range",
            vec![
                ("query", "sum by (job) (up)"),
                ("start", start_s.as_str()),
                ("end", now_s.as_str()),
                ("step", "60"),
                ("stats", "all"),
            ],
        ),
    ] {
        let (pa, ta) = tokio::join!(ask(&client, p, path, &form), ask(&client, t, path, &form));
        report.check(
            &format!("{path} stats=all"),
            &pa,
            &ta,
            same_result_with_stats(&pa, &ta),
        );
    }

    // delete_series, last: part of one job's series over a time range, one job's series
    // over all time, and bad requests; then what both answer afterwards.
    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
    let (from, to) = (secs(anchor_ms - 3 * 60_000), secs(anchor_ms - 60_000));
    let deletes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "delete_series range",
            vec![
                ("match[]", r#"http_requests_total{job="db"}"#),
                ("start", from.as_str()),
                ("end", to.as_str()),
            ],
        ),
        (
            "delete_series all time",
            vec![("match[]", r#"up{job="web"}"#), ("match[]", "nothing_here")],
        ),
        ("delete_series no match[]", vec![("start", "0")]),
        ("delete_series bad selector", vec![("match[]", "up{")]),
        (
            "delete_series bad start",
            vec![("match[]", "up"), ("start", "yesterday")],
        ),
    ];
    for (name, form) in deletes {
        let path = "/api/v1/admin/tsdb/delete_series";
        let (pa, ta) = tokio::join!(ask(&client, p, path, &form), ask(&client, t, path, &form));
        report.check(name, &pa, &ta, same_outcome(&pa, &ta));
    }
    let range_form = |q: &'static str| {
        vec![
            ("query", q.to_string()),
            ("start", secs(anchor_ms - 5 * 60_000)),
            ("end", secs(anchor_ms)),
            ("step", "30".to_string()),
        ]
    };
    for (name, path, form) in [
        (
            "after delete: query_range db",
            "/api/v1/query_range",
            range_form(r#"http_requests_total{job="db"}"#),
        ),
        (
            "after delete: query_range up",
            "/api/v1/query_range",
            range_form("up"),
        ),
        (
            "after delete: series up",
            "/api/v1/series",
            vec![("match[]", "up".to_string())],
        ),
        (
            "after delete: job values of up",
            "/api/v1/label/job/values",
            vec![("match[]", "up".to_string())],
        ),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (pa, ta) = tokio::join!(ask(&client, p, path, &form), ask(&client, t, path, &form));
        report.check(name, &pa, &ta, same_body(&pa, &ta));
    }

    for (name, _) in KNOWN_DIFFERENCES {
        if !report.known_seen.contains(name) {
            let _ = writeln!(
                report.lines,
                "NOTE: known difference no longer differs (remove it): {name:?}"
            );
        }
    }
    let summary = format!(
        "api differential: {} checks, {} known differences, {} unexpected",
        report.checks,
        report.known_seen.len(),
        report.unexpected.len()
    );
    report.lines.push_str(&summary);
    report.lines.push('\n');
    let path = std::env::temp_dir().join("tidemark-api-differential.txt");
    let _ = std::fs::write(&path, &report.lines);
    println!("{}full report: {}", report.lines, path.display());
    assert!(
        report.unexpected.is_empty(),
        "{summary}:\n{}",
        report.unexpected.join("\n")
    );
}
