//! Prometheus remote-read (`POST /api/v1/read`) against the real Prometheus 3.5:
//!
//! 1. A Prometheus without local data uses Tidemark as its `remote_read` backend (streamed XOR
//!    chunks, its default); its `/api/v1/query_range`, `/api/v1/query` (range vectors) and
//!    `/api/v1/series` answers must equal Tidemark's own, value for value.
//! 2. Hand-built requests (`SAMPLES` and `STREAMED_XOR_CHUNKS`; Prometheus cannot be told to ask
//!    for `SAMPLES`) must return exactly the written dataset.
//! 3. The same dataset is remote-written to a Prometheus too, and the same read requests go to
//!    both servers: the answers must be the same series and samples, Prometheus' frames must
//!    pass Tidemark's CRC-32C check, and every XOR chunk Prometheus serves must be byte for byte
//!    what Tidemark's encoder makes of its samples.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use tidemark_node::remote_read::{frame, xor};
use tidemark_proto::prometheus as pb;
use tidemark_storage::Sample;

use support::{Node, Prometheus, TestSeries, api, encode_write_v1, peers_bin, post_write_v1};

/// The Prometheus stale marker.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// A NaN that is not the stale marker.
const PLAIN_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;
/// The dataset starts this long before "now".
const DATA_START_AGO_MS: i64 = 50 * 60_000;
/// Frames larger than this are refused by the test's reader (Prometheus' reader: 50 MB).
const FRAME_READ_MAX: usize = 50_000_000;

const SAMPLES: i32 = pb::read_request::ResponseType::Samples as i32;
const STREAMED: i32 = pb::read_request::ResponseType::StreamedXorChunks as i32;
const EQ: i32 = pb::label_matcher::Type::Eq as i32;
const NEQ: i32 = pb::label_matcher::Type::Neq as i32;
const RE: i32 = pb::label_matcher::Type::Re as i32;
const NRE: i32 = pb::label_matcher::Type::Nre as i32;

// ---------------------------------------------------------------------------------------------
// Dataset

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Jitter of a few hundred ms, so that timestamps use several delta-of-delta buckets.
fn jitter(i: i64) -> i64 {
    (i * 7919) % 700 - 350
}

/// Known series starting at `base_ms`: irregular timestamps, special values (NaN, ±Inf, the
/// stale marker, huge and tiny numbers, -0 which remote-write turns into 0), a counter reset,
/// long gaps.
fn dataset(base_ms: i64) -> Vec<TestSeries> {
    let gauge = |seed: i64| -> Vec<(i64, f64)> {
        (0..240)
            .map(|i| {
                let t = base_ms + i * 10_000 + jitter(i + seed);
                (t, ((i * 37 + seed) % 101) as f64 * 0.25 - 7.5)
            })
            .collect()
    };
    let mut specials = gauge(3);
    let special_values = [
        f64::from_bits(PLAIN_NAN_BITS),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e300,
        -1e-300,
        9_007_199_254_740_993.0,
        0.1 + 0.2,
    ];
    for (k, v) in special_values.iter().enumerate() {
        specials[20 + k * 25].1 = *v;
    }
    let mut counter = 0.0;
    let counter_samples: Vec<(i64, f64)> = (0..200)
        .map(|i| {
            counter = if i == 120 {
                3.0
            } else {
                counter + (i % 7) as f64 + 0.5
            };
            (base_ms + i * 15_000 + jitter(i) / 10, counter)
        })
        .collect();
    // Long gaps (large deltas of delta) and a stale marker in the middle.
    let sparse: Vec<(i64, f64)> = vec![
        (base_ms + 1_000, 1.0),
        (base_ms + 61_000, 2.0),
        (base_ms + 62_000, 2.0),
        (base_ms + 600_000, f64::from_bits(STALE_NAN_BITS)),
        (base_ms + 1_500_000, 4.0),
        (base_ms + 1_500_001, 5.0),
        (base_ms + 2_700_000, 6.0),
    ];
    // Long enough to span several chunks.
    let dense: Vec<(i64, f64)> = (0..2000)
        .map(|i| (base_ms + i * 1_000, (i as f64).sin()))
        .collect();
    vec![
        (
            labels(&[("__name__", "rr_gauge"), ("job", "api"), ("instance", "a")]),
            gauge(0),
        ),
        (
            labels(&[("__name__", "rr_gauge"), ("job", "api"), ("instance", "b")]),
            specials,
        ),
        (
            labels(&[
                ("__name__", "rr_counter_total"),
                ("job", "worker"),
                ("instance", "a"),
            ]),
            counter_samples,
        ),
        (
            labels(&[
                ("__name__", "rr_sparse"),
                ("job", "worker"),
                ("instance", "c"),
                ("zone", "eu"),
            ]),
            sparse,
        ),
        (labels(&[("__name__", "rr_dense"), ("job", "batch")]), dense),
        (
            labels(&[
                ("__name__", "other_metric"),
                ("job", "api"),
                ("instance", "a"),
            ]),
            gauge(11),
        ),
    ]
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The dataset's series as `name="value",...` keys with their samples in `[mint, maxt]`
/// (values as bits), for the series `keep` accepts.
fn expected(
    ds: &[TestSeries],
    mint: i64,
    maxt: i64,
    keep: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut out = BTreeMap::new();
    for (l, samples) in ds {
        let map: BTreeMap<String, String> = l.iter().cloned().collect();
        if !keep(&map) {
            continue;
        }
        let s: Vec<(i64, u64)> = samples
            .iter()
            .filter(|(t, _)| *t >= mint && *t <= maxt)
            .map(|(t, v)| (*t, wire_bits(*v)))
            .collect();
        if !s.is_empty() {
            out.insert(key(map.iter().map(|(n, v)| (n.as_str(), v.as_str()))), s);
        }
    }
    out
}

/// The bits of `v` after a protobuf round trip: proto3 leaves out a double field equal to 0,
/// and -0.0 is equal to 0, so -0.0 arrives as 0.0 (in Prometheus' Go encoding too).
fn wire_bits(v: f64) -> u64 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

fn key<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    labels
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------------------------
// Prometheus

/// Starts the installed Prometheus with `config` (YAML) and extra flags, and waits until it is
/// ready.
fn start_prometheus(dir: &Path, config: &str, flags: &[&str]) -> Prometheus {
    let bin = peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    Prometheus::start(&bin, dir, config, flags)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn write(client: &reqwest::Client, base: &str, ds: &[TestSeries]) {
    let (status, text) = post_write_v1(client, base, encode_write_v1(ds))
        .await
        .expect("remote write");
    assert!(
        (200..300).contains(&status),
        "remote write to {base}: {status} {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// The HTTP query API

/// A matrix or vector result as series key -> points (t ms, value), values compared as floats
/// (NaN equals NaN; -0 equals 0, as the JSON may spell either).
type Points = BTreeMap<String, Vec<(i64, String)>>;

fn result_points(data: &serde_json::Value) -> Points {
    let mut out = Points::new();
    for s in data["result"].as_array().expect("result array") {
        let metric: BTreeMap<String, String> = serde_json::from_value(s["metric"].clone()).unwrap();
        let values: Vec<serde_json::Value> = match s.get("values") {
            Some(v) => v.as_array().unwrap().clone(),
            None => vec![s["value"].clone()],
        };
        let points = values
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap().to_string())
            })
            .collect();
        let k = key(metric.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        assert!(
            out.insert(k, points).is_none(),
            "duplicate series in {data}"
        );
    }
    out
}

fn same_value(a: &str, b: &str) -> bool {
    let (x, y) = (support::parse_value(a), support::parse_value(b));
    x == y || (x.is_nan() && y.is_nan())
}

fn assert_same_points(what: &str, prom: &Points, tide: &Points) {
    assert!(!tide.is_empty(), "{what}: Tidemark answered nothing");
    assert_eq!(
        prom.keys().collect::<Vec<_>>(),
        tide.keys().collect::<Vec<_>>(),
        "{what}: series differ"
    );
    for (k, p) in prom {
        let t = &tide[k];
        assert_eq!(p.len(), t.len(), "{what} {k}: point counts differ");
        for (a, b) in p.iter().zip(t) {
            assert!(
                a.0 == b.0 && same_value(&a.1, &b.1),
                "{what} {k}: prometheus {a:?} tidemark {b:?}"
            );
        }
    }
}

/// `/api/v1/series` as a sorted list of label-set keys.
async fn series_keys(
    client: &reqwest::Client,
    base: &str,
    selector: &str,
    start_s: f64,
    end_s: f64,
) -> Vec<String> {
    let data = api(
        client,
        &format!("{base}/api/v1/series"),
        &[
            ("match[]", selector.to_string()),
            ("start", format!("{start_s:.3}")),
            ("end", format!("{end_s:.3}")),
        ],
    )
    .await;
    let mut out: Vec<String> = data
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let m: BTreeMap<String, String> = serde_json::from_value(m.clone()).unwrap();
            key(m.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        })
        .collect();
    out.sort();
    out
}

/// Prometheus' counter of remote-read queries by response type (`chunked` or `sampled`).
async fn remote_read_queries(client: &reqwest::Client, prom: &str, response_type: &str) -> f64 {
    let text = client
        .get(format!("{prom}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("prometheus_remote_read_client_queries_total{"))
        .filter(|l| l.contains(&format!("response_type=\"{response_type}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Hand-built remote-read requests

fn query(start: i64, end: i64, matchers: &[(i32, &str, &str)]) -> pb::Query {
    pb::Query {
        start_timestamp_ms: start,
        end_timestamp_ms: end,
        matchers: matchers
            .iter()
            .map(|&(t, n, v)| pb::LabelMatcher {
                r#type: t,
                name: n.into(),
                value: v.into(),
            })
            .collect(),
        hints: None,
    }
}

/// Series of one query: key -> samples (t, value bits), plus the raw chunks when streamed.
#[derive(Debug, Default, PartialEq)]
struct QueryAnswer {
    series: BTreeMap<String, Vec<(i64, u64)>>,
    /// Labels in the order the server sent them.
    order: Vec<String>,
}

/// Posts a read request; returns per-query answers and, when streamed, every chunk served.
async fn remote_read(
    client: &reqwest::Client,
    base: &str,
    queries: &[pb::Query],
    accepted: i32,
) -> (Vec<QueryAnswer>, Vec<pb::Chunk>) {
    let req = pb::ReadRequest {
        queries: queries.to_vec(),
        accepted_response_types: vec![accepted],
    };
    let (content_type, bytes) = support::post_read(client, base, &req).await;
    let mut answers: Vec<QueryAnswer> =
        (0..queries.len()).map(|_| QueryAnswer::default()).collect();
    let mut chunks = Vec::new();
    let label_key = |ls: &[pb::Label]| key(ls.iter().map(|l| (l.name.as_str(), l.value.as_str())));
    if accepted == SAMPLES {
        assert_eq!(content_type, "application/x-protobuf", "{base}");
        let raw = snap::raw::Decoder::new().decompress_vec(&bytes).unwrap();
        let resp = pb::ReadResponse::decode(raw.as_slice()).unwrap();
        assert_eq!(resp.results.len(), queries.len());
        for (a, r) in answers.iter_mut().zip(resp.results) {
            for ts in r.timeseries {
                let k = label_key(&ts.labels);
                a.order.push(k.clone());
                let s = ts
                    .samples
                    .iter()
                    .map(|s| (s.timestamp, s.value.to_bits()))
                    .collect();
                assert!(a.series.insert(k, s).is_none());
            }
        }
    } else {
        assert_eq!(
            content_type, "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse",
            "{base}"
        );
        for m in frame::read_frames(&bytes, FRAME_READ_MAX).expect("valid frames") {
            let r = pb::ChunkedReadResponse::decode(m).unwrap();
            assert_eq!(r.chunked_series.len(), 1, "{base}: one series per frame");
            let a = &mut answers[r.query_index as usize];
            for cs in r.chunked_series {
                let k = label_key(&cs.labels);
                if a.order.last() != Some(&k) {
                    a.order.push(k.clone());
                }
                let samples = a.series.entry(k).or_default();
                for c in cs.chunks {
                    assert_eq!(c.r#type, pb::chunk::Encoding::Xor as i32);
                    let decoded = xor::decode(&c.data).expect("XOR chunk decodes");
                    samples.extend(decoded.iter().map(|s| (s.t, s.v.to_bits())));
                    chunks.push(c);
                }
            }
        }
    }
    (answers, chunks)
}

/// Which series of the dataset a query selects, by their labels.
type Selects = Box<dyn Fn(&BTreeMap<String, String>) -> bool>;

/// Read queries with every matcher type (the tests send all of them in one request).
fn read_queries(base_ms: i64) -> Vec<(pb::Query, Selects)> {
    let (lo, hi) = (base_ms - 60_000, base_ms + 3_600_000);
    let get = |m: &BTreeMap<String, String>, n: &str| m.get(n).cloned().unwrap_or_default();
    vec![
        (
            query(lo, hi, &[(EQ, "__name__", "rr_gauge")]),
            Box::new(move |m| get(m, "__name__") == "rr_gauge"),
        ),
        (
            query(lo, hi, &[(RE, "__name__", "rr_.*"), (NEQ, "job", "api")]),
            Box::new(move |m| get(m, "__name__").starts_with("rr_") && get(m, "job") != "api"),
        ),
        (
            query(
                base_ms + 200_000,
                base_ms + 1_500_000,
                &[(RE, "job", "api|worker"), (NRE, "instance", "b|c")],
            ),
            Box::new(move |m| {
                ["api", "worker"].contains(&get(m, "job").as_str())
                    && !["b", "c"].contains(&get(m, "instance").as_str())
            }),
        ),
        (
            query(lo, hi, &[(RE, "__name__", ".+"), (EQ, "zone", "")]),
            Box::new(move |m| get(m, "zone").is_empty()),
        ),
        (
            query(lo, hi, &[(EQ, "__name__", "nope")]),
            Box::new(|_| false),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests

/// A Prometheus without local data answers from Tidemark exactly what Tidemark answers itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_tidemark_through_remote_read() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let client = client();
    let base_ms = (now_ms() - DATA_START_AGO_MS) / 1000 * 1000;
    let ds = dataset(base_ms);
    write(&client, &node.url(), &ds).await;

    let config = format!(
        "global:\n  evaluation_interval: 1m\nscrape_configs: []\n\
         remote_read:\n  - url: {}/api/v1/read\n    read_recent: true\n",
        node.url()
    );
    let prom = start_prometheus(&dir.path().join("prometheus"), &config, &[]);
    let tide = node.url();

    let start_s = (base_ms - 120_000) as f64 / 1000.0;
    let end_s = (base_ms + 2_820_000) as f64 / 1000.0;
    let selectors = [
        "rr_gauge",
        "rr_gauge{instance=\"b\"}",
        "{__name__=~\"rr_.*\", job!=\"api\"}",
        "{job=~\"api|worker\", instance!~\"b|c\"}",
        "rr_sparse",
        "rr_counter_total",
        "rr_dense",
        "{__name__=~\".+\", zone=\"\"}",
    ];
    for sel in selectors {
        let form = [
            ("query", sel.to_string()),
            ("start", format!("{start_s:.3}")),
            ("end", format!("{end_s:.3}")),
            ("step", "10s".to_string()),
        ];
        let p = api(&client, &format!("{}/api/v1/query_range", prom.url), &form).await;
        let t = api(&client, &format!("{tide}/api/v1/query_range"), &form).await;
        assert_same_points(
            &format!("query_range {sel}"),
            &result_points(&p),
            &result_points(&t),
        );
        // Raw samples: a range vector at a few times.
        for at_ms in [base_ms + 600_000, base_ms + 1_500_000, base_ms + 2_700_000] {
            let form = [
                ("query", format!("{sel}[7m]")),
                ("time", format!("{:.3}", at_ms as f64 / 1000.0)),
            ];
            let p = api(&client, &format!("{}/api/v1/query", prom.url), &form).await;
            let t = api(&client, &format!("{tide}/api/v1/query"), &form).await;
            let tp = result_points(&t);
            // The range vector must be the dataset itself (range vectors skip stale markers).
            let want = expected(&ds, at_ms - 420_000 + 1, at_ms, |_| true);
            for (k, points) in &tp {
                let w: Vec<&(i64, u64)> = want[k]
                    .iter()
                    .filter(|(_, v)| *v != STALE_NAN_BITS)
                    .collect();
                assert_eq!(points.len(), w.len(), "{sel}[7m] @{at_ms} {k}");
                for (p, w) in points.iter().zip(w) {
                    let v = support::parse_value(&p.1);
                    let wv = f64::from_bits(w.1);
                    assert!(
                        p.0 == w.0 && (v == wv || (v.is_nan() && wv.is_nan())),
                        "{sel}[7m] @{at_ms} {k}: {p:?} vs {w:?}"
                    );
                }
            }
            if !tp.is_empty() {
                assert_same_points(&format!("{sel}[7m] @{at_ms}"), &result_points(&p), &tp);
            }
        }
        let ps = series_keys(&client, &prom.url, sel, start_s, end_s).await;
        let ts = series_keys(&client, &tide, sel, start_s, end_s).await;
        assert!(!ts.is_empty(), "series {sel}: Tidemark answered nothing");
        assert_eq!(ps, ts, "series {sel}");
    }
    assert!(
        remote_read_queries(&client, &prom.url, "chunked").await > 0.0,
        "Prometheus did not read streamed chunks:\n{}",
        prom.log()
    );
    eprintln!(
        "remote read: {} selectors identical through Prometheus and Tidemark",
        selectors.len()
    );
}

/// Hand-built requests, both response types, several queries per request: exactly the dataset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_read_returns_the_dataset_in_both_response_types() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let client = client();
    let base_ms = (now_ms() - DATA_START_AGO_MS) / 1000 * 1000;
    let ds = dataset(base_ms);
    write(&client, &node.url(), &ds).await;

    let cases = read_queries(base_ms);
    let queries: Vec<pb::Query> = cases.iter().map(|(q, _)| q.clone()).collect();
    for accepted in [SAMPLES, STREAMED] {
        let (answers, _) = remote_read(&client, &node.url(), &queries, accepted).await;
        for ((q, keep), a) in cases.iter().zip(&answers) {
            let want = expected(&ds, q.start_timestamp_ms, q.end_timestamp_ms, keep);
            assert_eq!(a.series, want, "{accepted} {:?}", q.matchers);
            let mut sorted = a.order.clone();
            sorted.sort();
            assert_eq!(a.order, sorted, "series sorted by labels");
        }
    }
    // Hints narrow the range.
    let mut q = query(
        base_ms - 60_000,
        base_ms + 3_600_000,
        &[(EQ, "__name__", "rr_dense")],
    );
    q.hints = Some(pb::ReadHints {
        start_ms: base_ms + 10_000,
        end_ms: base_ms + 20_000,
        step_ms: 1000,
        ..Default::default()
    });
    let (answers, _) = remote_read(&client, &node.url(), &[q], STREAMED).await;
    let want = expected(&ds, base_ms + 10_000, base_ms + 20_000, |m| {
        m["__name__"] == "rr_dense"
    });
    assert_eq!(answers[0].series, want);
    assert_eq!(want.values().next().unwrap().len(), 11);
}

/// Prometheus, given the same data, serves the same answers; its chunks are our encoder's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_serves_the_same_remote_read_answers() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let prom = start_prometheus(
        &dir.path().join("prometheus"),
        "global:\n  evaluation_interval: 1m\nscrape_configs: []\n",
        &["--web.enable-remote-write-receiver"],
    );
    let client = client();
    let base_ms = (now_ms() - DATA_START_AGO_MS) / 1000 * 1000;
    let ds = dataset(base_ms);
    write(&client, &node.url(), &ds).await;
    write(&client, &prom.url, &ds).await;

    let cases = read_queries(base_ms);
    let queries: Vec<pb::Query> = cases.iter().map(|(q, _)| q.clone()).collect();
    for accepted in [SAMPLES, STREAMED] {
        let (p, prom_chunks) = remote_read(&client, &prom.url, &queries, accepted).await;
        let (t, _) = remote_read(&client, &node.url(), &queries, accepted).await;
        for ((q, p), t) in queries.iter().zip(&p).zip(&t) {
            // Prometheus' chunks may reach past the query's range: its client trims them.
            let trim = |a: &QueryAnswer| -> BTreeMap<String, Vec<(i64, u64)>> {
                a.series
                    .iter()
                    .map(|(k, s)| {
                        let s: Vec<(i64, u64)> = s
                            .iter()
                            .copied()
                            .filter(|(ts, _)| {
                                *ts >= q.start_timestamp_ms && *ts <= q.end_timestamp_ms
                            })
                            .collect();
                        (k.clone(), s)
                    })
                    .filter(|(_, s)| !s.is_empty())
                    .collect()
            };
            assert_eq!(trim(p), trim(t), "{accepted} {:?}", q.matchers);
            if accepted == STREAMED {
                assert_eq!(p.order, t.order, "streamed series order {:?}", q.matchers);
            }
        }
        // Prometheus' XOR chunks are exactly what our encoder makes of their samples.
        for c in &prom_chunks {
            let samples: Vec<Sample> = xor::decode(&c.data).unwrap();
            let mut enc = xor::XorEncoder::new();
            for s in &samples {
                enc.append(s.t, s.v);
            }
            let ours = enc.finish().expect("non-empty chunk");
            assert_eq!(ours.data, c.data, "chunk bytes differ");
            assert_eq!(
                (ours.min_time_ms, ours.max_time_ms),
                (c.min_time_ms, c.max_time_ms)
            );
        }
        if accepted == STREAMED {
            assert!(prom_chunks.len() > 5, "Prometheus served too few chunks");
            eprintln!(
                "remote read: {} Prometheus chunks re-encoded byte for byte",
                prom_chunks.len()
            );
        }
    }
}
