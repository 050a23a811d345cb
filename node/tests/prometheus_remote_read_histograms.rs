//! Native histograms through remote read against the real Prometheus 3.5: a Prometheus without
//! local data reads Tidemark's histograms as streamed chunks (Prometheus' histogram and
//! float-histogram chunk encodings, which its own decoder reads), and its answers to raw range
//! vectors and histogram functions equal Tidemark's own. Then the `SAMPLES` response type,
//! asked for by hand, must carry the same histograms as the streamed one.

mod support;

use std::time::Duration;

use prost::Message;
use tidemark_node::remote_read::frame;
use tidemark_proto::prometheus as pb;
use tidemark_storage::chunk::prom_histogram;

use support::{
    Node, Prometheus, api, by_metric, label, peers_bin, post_read, post_write_v1,
    same_json_numbers, snappy, wall_clock_ms,
};

/// The dataset starts this long before "now".
const DATA_START_AGO_MS: i64 = 40 * 60_000;
/// Samples per series, one every 15 s.
const POINTS: i64 = 150;
const STEP_MS: i64 = 15_000;

/// Deltas between consecutive absolute counts, as integer histograms carry them.
fn deltas(counts: &[u64]) -> Vec<i64> {
    let mut prev = 0i64;
    counts
        .iter()
        .map(|&c| {
            let d = c as i64 - prev;
            prev = c as i64;
            d
        })
        .collect()
}

/// Sample `i` of the exponential counter: positive buckets in two spans (a gap of two), a
/// negative span, more buckets from sample 50 on (the layout grows), a counter reset at
/// sample 100.
fn exponential(i: i64, t: i64) -> pb::Histogram {
    let n = if i >= 100 { (i - 100) as u64 } else { i as u64 };
    let grown = i >= 50;
    let positive: Vec<u64> = (0..if grown { 6 } else { 4 })
        .map(|b| n * (b + 1) + b)
        .collect();
    let negative = [n, 2 * n];
    let zero = n / 3;
    let count = positive.iter().sum::<u64>() + negative.iter().sum::<u64>() + zero;
    pb::Histogram {
        count: Some(pb::histogram::Count::CountInt(count)),
        zero_count: Some(pb::histogram::ZeroCount::ZeroCountInt(zero)),
        zero_threshold: 2f64.powi(-128),
        sum: n as f64 * 3.25,
        schema: 3,
        positive_spans: vec![
            pb::BucketSpan {
                offset: -2,
                length: 2,
            },
            pb::BucketSpan {
                offset: 2,
                length: positive.len() as u32 - 2,
            },
        ],
        positive_deltas: deltas(&positive),
        negative_spans: vec![pb::BucketSpan {
            offset: 1,
            length: 2,
        }],
        negative_deltas: deltas(&negative),
        timestamp: t,
        ..Default::default()
    }
}

/// Sample `i` of a gauge float histogram (counts go up and down, an arbitrary zero
/// threshold).
fn float_gauge(i: i64, t: i64) -> pb::Histogram {
    let wave = |b: i64| ((i + b) % 7) as f64 * 0.5 + 0.25;
    let positive: Vec<f64> = (0..3).map(wave).collect();
    pb::Histogram {
        count: Some(pb::histogram::Count::CountFloat(
            positive.iter().sum::<f64>() + 1.5,
        )),
        zero_count: Some(pb::histogram::ZeroCount::ZeroCountFloat(1.5)),
        zero_threshold: 0.003,
        sum: i as f64 * 0.1,
        schema: 0,
        positive_spans: vec![pb::BucketSpan {
            offset: 0,
            length: 3,
        }],
        positive_counts: positive,
        reset_hint: pb::histogram::ResetHint::Gauge as i32,
        timestamp: t,
        ..Default::default()
    }
}

/// Sample `i` of a custom-bucket counter (NHCB), bounds both compact and arbitrary.
fn custom(i: i64, t: i64) -> pb::Histogram {
    let n = i as u64;
    let counts = [n, 2 * n, n / 2, 1, n];
    pb::Histogram {
        count: Some(pb::histogram::Count::CountInt(counts.iter().sum())),
        zero_count: Some(pb::histogram::ZeroCount::ZeroCountInt(0)),
        sum: n as f64 * 0.7,
        schema: -53,
        positive_spans: vec![pb::BucketSpan {
            offset: 0,
            length: 5,
        }],
        positive_deltas: deltas(&counts),
        custom_values: vec![0.005, 0.25, 1.0, 1.0 / 3.0 + 2.0],
        timestamp: t,
        ..Default::default()
    }
}

/// The dataset as one remote-write 1.0 request.
fn dataset(base_ms: i64) -> Vec<u8> {
    let series = [
        (
            "rh_exponential",
            exponential as fn(i64, i64) -> pb::Histogram,
        ),
        ("rh_float_gauge", float_gauge),
        ("rh_custom", custom),
    ]
    .into_iter()
    .map(|(name, make)| pb::TimeSeries {
        labels: vec![label("__name__", name), label("job", "rh")],
        histograms: (0..POINTS)
            .map(|i| make(i, base_ms + i * STEP_MS + (i * 7919) % 700))
            .collect(),
        ..Default::default()
    })
    .collect();
    snappy(
        &pb::WriteRequest {
            timeseries: series,
            metadata: vec![],
        }
        .encode_to_vec(),
    )
}

/// A hand-built remote-read request of one query over `rh_.*` in `[start, end]`.
fn read_request(
    start: i64,
    end: i64,
    response_type: pb::read_request::ResponseType,
) -> pb::ReadRequest {
    pb::ReadRequest {
        queries: vec![pb::Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: vec![pb::LabelMatcher {
                r#type: pb::label_matcher::Type::Re as i32,
                name: "__name__".into(),
                value: "rh_.*".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![response_type as i32],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_tidemark_histograms_through_remote_read() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("tidemark"), &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base_ms = (wall_clock_ms() - DATA_START_AGO_MS) / 1000 * 1000;
    let (status, text) = post_write_v1(&client, &node.url(), dataset(base_ms))
        .await
        .unwrap();
    assert!(
        (200..300).contains(&status),
        "remote write: {status} {text}"
    );

    let config = format!(
        "global:\n  evaluation_interval: 1m\nscrape_configs: []\n\
         remote_read:\n  - url: {}/api/v1/read\n    read_recent: true\n",
        node.url()
    );
    let bin = peers_bin()
        .expect("peer binaries missing: run scripts/install-peers.sh (scripts/test.sh does)");
    let prom = Prometheus::start(&bin, &dir.path().join("prometheus"), &config, &[]);
    let tide = node.url();

    let end_ms = base_ms + POINTS * STEP_MS;
    let mut compared = 0;
    let instants = [base_ms + 20 * STEP_MS, base_ms + 75 * STEP_MS, end_ms];
    let queries = [
        "rh_exponential[3m]",
        "rh_float_gauge[3m]",
        "rh_custom[3m]",
        "{__name__=~\"rh_.*\"}",
        "rate(rh_exponential[5m])",
        "histogram_quantile(0.9, rate(rh_exponential[5m]))",
        "histogram_quantile(0.5, rh_custom)",
        "histogram_fraction(0, 1, rh_float_gauge)",
        "histogram_count(rh_float_gauge)",
        "histogram_sum(increase(rh_custom[10m]))",
        "sum by (job) (rate(rh_exponential[5m]))",
        "sum by (__name__) ({__name__=~\"rh_exponential|rh_custom\"})",
    ];
    for query in queries {
        for at in instants {
            let form = [
                ("query", query.to_string()),
                ("time", format!("{:.3}", at as f64 / 1000.0)),
            ];
            let p =
                api(&client, &format!("{}/api/v1/query", prom.url), &form).await["result"].clone();
            let t = api(&client, &format!("{tide}/api/v1/query"), &form).await["result"].clone();
            let (p, t) = (by_metric(&p), by_metric(&t));
            assert!(!t.is_empty(), "{query} @{at}: Tidemark answered nothing");
            assert_eq!(
                p.iter().map(|e| &e.0).collect::<Vec<_>>(),
                t.iter().map(|e| &e.0).collect::<Vec<_>>(),
                "{query} @{at}: series"
            );
            for ((m, pv), (_, tv)) in p.iter().zip(&t) {
                if let Err(e) = same_json_numbers(pv, tv) {
                    panic!("{query} @{at} {m}: {e}\nPrometheus: {pv}\nTidemark: {tv}");
                }
            }
            compared += 1;
        }
    }
    let metrics = support::get_text(&client, &format!("{}/metrics", prom.url)).await;
    let chunked: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("prometheus_remote_read_client_queries_total{"))
        .filter(|l| l.contains("response_type=\"chunked\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        chunked > 0.0,
        "Prometheus did not read streamed chunks:\n{}",
        prom.log()
    );

    // The streamed answer holds histogram chunks; SAMPLES asked for by hand holds the same
    // histograms.
    let (ct, streamed) = post_read(
        &client,
        &tide,
        &read_request(
            base_ms,
            end_ms,
            pb::read_request::ResponseType::StreamedXorChunks,
        ),
    )
    .await;
    assert!(ct.starts_with("application/x-streamed-protobuf"), "{ct}");
    let mut from_chunks: Vec<(String, Vec<(i64, pb::Histogram)>)> = Vec::new();
    let mut encodings = std::collections::BTreeSet::new();
    for message in frame::read_frames(&streamed, 1 << 30).unwrap() {
        let r = pb::ChunkedReadResponse::decode(message).unwrap();
        for s in r.chunked_series {
            let name = s.labels.iter().find(|l| l.name == "__name__").unwrap();
            let mut points = Vec::new();
            for c in s.chunks {
                encodings.insert(c.r#type);
                for h in prom_histogram::decode(c.r#type, &c.data).unwrap() {
                    points.push((h.t, tidemark_ingest::histogram::to_wire(&h)));
                }
            }
            from_chunks.push((name.value.clone(), points));
            // Hints are the chunks' to say (a reset starts a chunk); compared apart from them.
        }
    }
    assert_eq!(
        encodings,
        [
            pb::chunk::Encoding::Histogram as i32,
            pb::chunk::Encoding::FloatHistogram as i32
        ]
        .into()
    );
    let (ct, samples) = post_read(
        &client,
        &tide,
        &read_request(base_ms, end_ms, pb::read_request::ResponseType::Samples),
    )
    .await;
    assert_eq!(ct, "application/x-protobuf");
    let r = pb::ReadResponse::decode(&*snap::raw::Decoder::new().decompress_vec(&samples).unwrap())
        .unwrap();
    let from_samples: Vec<(String, Vec<(i64, pb::Histogram)>)> = r.results[0]
        .timeseries
        .iter()
        .map(|ts| {
            let name = ts.labels.iter().find(|l| l.name == "__name__").unwrap();
            let points = ts.histograms.iter().map(|h| (h.timestamp, h.clone()));
            (name.value.clone(), points.collect())
        })
        .collect();
    let without_hints = |v: &mut Vec<(String, Vec<(i64, pb::Histogram)>)>| {
        for (_, points) in v.iter_mut() {
            for (_, h) in points.iter_mut() {
                if h.reset_hint != pb::histogram::ResetHint::Gauge as i32 {
                    h.reset_hint = 0;
                }
            }
        }
    };
    let (mut from_chunks, mut from_samples) = (from_chunks, from_samples);
    without_hints(&mut from_chunks);
    without_hints(&mut from_samples);
    assert_eq!(from_samples.len(), 3);
    assert!(from_samples.iter().all(|(_, p)| p.len() == POINTS as usize));
    assert_eq!(from_chunks, from_samples);
    eprintln!(
        "remote read of native histograms: {compared} queries identical through Prometheus and Tidemark"
    );
}
