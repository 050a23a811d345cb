//! `POST /api/v1/read` through the router, over an in-memory backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use futures::FutureExt;
use futures::future::BoxFuture;
use prost::Message;
use tidemark_proto::prometheus as pb;
use tidemark_query::querier::QuerySeriesIter;
use tidemark_query::{Querier, QueryError};
use tidemark_storage::{Labels, Matcher, Sample, SeriesSamples};
use tower::ServiceExt;

use crate::config::Config;
use crate::error::NodeError;
use crate::http::{AppState, Backend, router};
use crate::remote_read::frame::read_frames;
use crate::remote_read::xor;
use crate::remote_read::{STREAMED_CONTENT_TYPE, VERSION_HEADER};
use crate::request::{SeriesWrite, WriteOutcome};

const SAMPLES: i32 = pb::read_request::ResponseType::Samples as i32;
const STREAMED: i32 = pb::read_request::ResponseType::StreamedXorChunks as i32;
const EQ: i32 = pb::label_matcher::Type::Eq as i32;
const NEQ: i32 = pb::label_matcher::Type::Neq as i32;
const RE: i32 = pb::label_matcher::Type::Re as i32;
const NRE: i32 = pb::label_matcher::Type::Nre as i32;

/// Series held in memory, yielded unsorted as shards would; the barrier can be held closed.
#[derive(Default)]
struct MemBackend {
    series: Vec<SeriesSamples>,
    barriers: AtomicUsize,
    barrier_gate: Option<Arc<tokio::sync::Semaphore>>,
    barrier_fails: bool,
}

impl Backend for MemBackend {
    fn write(&self, _: Vec<SeriesWrite>) -> BoxFuture<'_, Result<WriteOutcome, NodeError>> {
        async { Ok(WriteOutcome::default()) }.boxed()
    }

    fn reader(
        &self,
        linearizable: bool,
        _samples_max: u64,
    ) -> BoxFuture<'_, Result<Arc<dyn Querier>, NodeError>> {
        async move {
            if linearizable {
                self.barriers.fetch_add(1, Ordering::SeqCst);
                if let Some(gate) = &self.barrier_gate {
                    let _p = gate.acquire().await.unwrap();
                }
                if self.barrier_fails {
                    return Err(NodeError::NoLeader {
                        shard: 3,
                        message: "no leader".into(),
                    });
                }
            }
            Ok(Arc::new(MemQuerier(self.series.clone())) as Arc<dyn Querier>)
        }
        .boxed()
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        async { Ok(()) }.boxed()
    }

    fn storage_stats(&self) -> Vec<tidemark_storage::ShardStats> {
        Vec::new()
    }

    fn delete_series(
        &self,
        _: crate::request::DeleteRequest,
    ) -> BoxFuture<'_, Result<u64, NodeError>> {
        async { Err(NodeError::NotImplemented("not used by these tests".into())) }.boxed()
    }
}

struct MemQuerier(Vec<SeriesSamples>);

impl Querier for MemQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        let matchers = matchers.to_vec();
        Ok(Box::new(self.0.iter().filter_map(move |s| {
            if !matchers.iter().all(|m| m.matches_labels(&s.labels)) {
                return None;
            }
            let samples: Vec<Sample> = s
                .samples
                .iter()
                .filter(|x| x.t >= mint_ms && x.t <= maxt_ms)
                .copied()
                .collect();
            (!samples.is_empty()).then(|| {
                Ok(SeriesSamples {
                    histograms: Vec::new(),
                    labels: s.labels.clone(),
                    samples,
                })
            })
        })))
    }

    fn series(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Labels>, QueryError> {
        unimplemented!()
    }

    fn label_names(
        &self,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<std::collections::BTreeSet<String>, QueryError> {
        unimplemented!()
    }

    fn label_values(
        &self,
        _: &str,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<std::collections::BTreeSet<String>, QueryError> {
        unimplemented!()
    }
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        histograms: Vec::new(),
        labels: Labels::from_pairs(pairs),
        samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    }
}

/// Three series of `up`, deliberately out of label order, and one of `other`.
fn dataset() -> Vec<SeriesSamples> {
    let ramp: Vec<(i64, f64)> = (0..400).map(|i| (i * 1000, i as f64 / 4.0)).collect();
    vec![
        series(
            &[("__name__", "up"), ("job", "b")],
            &[(1000, 0.0), (2000, 1.0)],
        ),
        series(&[("__name__", "up"), ("job", "a")], &ramp),
        series(&[("__name__", "other"), ("job", "a")], &[(1000, 7.0)]),
        series(
            &[("__name__", "up"), ("job", "c"), ("zone", "z")],
            &[(1500, f64::from_bits(0x7ff0_0000_0000_0002)), (2500, 3.0)],
        ),
    ]
}

fn app_with(backend: Arc<MemBackend>, config: Config) -> Router {
    router(Arc::new(AppState::with_backend(backend, Arc::new(config))))
}

fn app(backend: MemBackend) -> Router {
    app_with(Arc::new(backend), Config::default())
}

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

fn body(queries: Vec<pb::Query>, accepted: &[i32]) -> Vec<u8> {
    let req = pb::ReadRequest {
        queries,
        accepted_response_types: accepted.to_vec(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

async fn post(app: &Router, body: Vec<u8>) -> (StatusCode, HeaderMap, Bytes) {
    post_with(app, body, &[("X-Prometheus-Remote-Read-Version", "0.1.0")]).await
}

async fn post_with(
    app: &Router,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = Request::post("/api/v1/read")
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy");
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let r = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes)
}

/// Labels as `name=value,...` and samples, per series of a SAMPLES result.
type Flat = Vec<(String, Vec<(i64, u64)>)>;

fn label_string(labels: &[pb::Label]) -> String {
    labels
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_samples(headers: &HeaderMap, bytes: &[u8]) -> Vec<Flat> {
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "snappy");
    let raw = snap::raw::Decoder::new().decompress_vec(bytes).unwrap();
    pb::ReadResponse::decode(raw.as_slice())
        .unwrap()
        .results
        .into_iter()
        .map(|r| {
            r.timeseries
                .into_iter()
                .map(|ts| {
                    (
                        label_string(&ts.labels),
                        ts.samples
                            .iter()
                            .map(|s| (s.timestamp, s.value.to_bits()))
                            .collect(),
                    )
                })
                .collect()
        })
        .collect()
}

/// A streamed body as per-query series, each series' frames joined; checks the frame rules.
fn decode_streamed(headers: &HeaderMap, bytes: &[u8], queries: usize) -> Vec<Flat> {
    assert_eq!(headers["content-type"], STREAMED_CONTENT_TYPE);
    let mut out: Vec<Flat> = vec![Vec::new(); queries];
    let mut last_index = 0;
    for m in read_frames(bytes, 1 << 20).unwrap() {
        let r = pb::ChunkedReadResponse::decode(m).unwrap();
        assert!(r.query_index >= last_index, "queries in order");
        last_index = r.query_index;
        assert_eq!(r.chunked_series.len(), 1, "one series per frame");
        let s = &r.chunked_series[0];
        let name = label_string(&s.labels);
        let mut samples = Vec::new();
        for c in &s.chunks {
            assert_eq!(c.r#type, pb::chunk::Encoding::Xor as i32);
            let decoded = xor::decode(&c.data).unwrap();
            assert_eq!(decoded.first().unwrap().t, c.min_time_ms);
            assert_eq!(decoded.last().unwrap().t, c.max_time_ms);
            samples.extend(decoded.iter().map(|x| (x.t, x.v.to_bits())));
        }
        let q = &mut out[r.query_index as usize];
        match q.last_mut() {
            Some((n, prev)) if *n == name => prev.extend(samples),
            _ => q.push((name, samples)),
        }
    }
    for q in &out {
        assert!(q.windows(2).all(|w| w[0].0 < w[1].0), "series sorted");
    }
    out
}

/// What the dataset holds for `up` series in [mint, maxt].
fn expected_up(mint: i64, maxt: i64, jobs: &[&str]) -> Flat {
    let mut out: Flat = dataset()
        .into_iter()
        .filter(|s| s.labels.metric_name() == Some("up"))
        .filter(|s| jobs.contains(&s.labels.get("job").unwrap()))
        .map(|s| {
            (
                s.labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect::<Vec<_>>()
                    .join(","),
                s.samples
                    .iter()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .map(|x| (x.t, x.v.to_bits()))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    out.sort();
    out
}

fn queries() -> Vec<pb::Query> {
    vec![
        query(0, 1_000_000, &[(EQ, "__name__", "up")]),
        query(
            1500,
            100_000,
            &[
                (RE, "__name__", "u.|oth.*"),
                (NEQ, "job", "b"),
                (NRE, "zone", "z+"),
            ],
        ),
    ]
}

#[tokio::test]
async fn samples_answer_every_query_in_order_sorted_by_labels() {
    let backend = Arc::new(MemBackend {
        series: dataset(),
        ..Default::default()
    });
    let app = app_with(backend.clone(), Config::default());
    for accepted in [
        vec![],
        vec![SAMPLES],
        vec![SAMPLES, STREAMED],
        vec![77, SAMPLES],
    ] {
        let (status, headers, bytes) = post(&app, body(queries(), &accepted)).await;
        assert_eq!(status, StatusCode::OK, "{accepted:?}");
        let got = decode_samples(&headers, &bytes);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], expected_up(0, 1_000_000, &["a", "b", "c"]));
        // `other` has its only sample at 1000, before the second query's range.
        assert_eq!(got[1], expected_up(1500, 100_000, &["a"]));
    }
    assert_eq!(backend.barriers.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn streamed_chunks_carry_the_same_data() {
    let app = app(MemBackend {
        series: dataset(),
        ..Default::default()
    });
    for accepted in [vec![STREAMED], vec![STREAMED, SAMPLES], vec![99, STREAMED]] {
        let (status, headers, bytes) = post(&app, body(queries(), &accepted)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("content-encoding").is_none());
        let got = decode_streamed(&headers, &bytes, 2);
        assert_eq!(got[0], expected_up(0, 1_000_000, &["a", "b", "c"]));
        assert_eq!(got[1], expected_up(1500, 100_000, &["a"]));
    }
    // The stale marker's exact bits survive.
    let (_, headers, bytes) = post(&app, body(queries(), &[STREAMED])).await;
    let got = decode_streamed(&headers, &bytes, 2);
    assert!(got[0][2].1.contains(&(1500, 0x7ff0_0000_0000_0002)));
}

#[tokio::test]
async fn long_series_span_several_frames_of_bounded_size() {
    let mut config = Config::default();
    config.limits.remote_read_frame_bytes_max = 300;
    let app = app_with(
        Arc::new(MemBackend {
            series: dataset(),
            ..Default::default()
        }),
        config,
    );
    let (status, headers, bytes) = post(&app, body(queries(), &[STREAMED])).await;
    assert_eq!(status, StatusCode::OK);
    let frames = read_frames(&bytes, 1 << 20).unwrap();
    // The 400-sample series is 4 chunks, more than 300 bytes together.
    assert!(frames.len() > 5, "{} frames", frames.len());
    let got = decode_streamed(&headers, &bytes, 2);
    assert_eq!(got[0], expected_up(0, 1_000_000, &["a", "b", "c"]));
}

#[tokio::test]
async fn hints_narrow_the_range() {
    let app = app(MemBackend {
        series: dataset(),
        ..Default::default()
    });
    let mut q = query(0, 1_000_000, &[(EQ, "__name__", "up")]);
    q.hints = Some(pb::ReadHints {
        start_ms: 1500,
        end_ms: 2000,
        step_ms: 1000,
        func: "rate".into(),
        ..Default::default()
    });
    // An all-zero hint range is unset.
    let mut unset = query(0, 1_000_000, &[(EQ, "__name__", "up")]);
    unset.hints = Some(pb::ReadHints {
        step_ms: 1000,
        ..Default::default()
    });
    let (status, headers, bytes) = post(&app, body(vec![q, unset], &[SAMPLES])).await;
    assert_eq!(status, StatusCode::OK);
    let got = decode_samples(&headers, &bytes);
    assert_eq!(got[0], expected_up(1500, 2000, &["a", "b", "c"]));
    assert_eq!(got[1], expected_up(0, 1_000_000, &["a", "b", "c"]));
}

#[tokio::test]
async fn empty_requests_and_queries_select_nothing() {
    let app = app(MemBackend {
        series: dataset(),
        ..Default::default()
    });
    // No query at all.
    let (status, headers, bytes) = post(&app, body(vec![], &[SAMPLES])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(decode_samples(&headers, &bytes).is_empty());
    let (status, _, bytes) = post(&app, body(vec![], &[STREAMED])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.is_empty());
    // A query without matchers, one with an inverted range, one that matches nothing.
    let qs = vec![
        query(0, 1_000_000, &[]),
        query(5000, 10, &[(EQ, "__name__", "up")]),
        query(0, 1_000_000, &[(EQ, "__name__", "nope")]),
    ];
    let (status, headers, bytes) = post(&app, body(qs.clone(), &[SAMPLES])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decode_samples(&headers, &bytes), vec![vec![]; 3]);
    let (status, _, bytes) = post(&app, body(qs, &[STREAMED])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes.is_empty());
    // Matchers that all match the empty string select by exclusion, as in Prometheus.
    let q = query(0, 1_000_000, &[(EQ, "zone", ""), (NEQ, "job", "b")]);
    let (_, headers, bytes) = post(&app, body(vec![q], &[SAMPLES])).await;
    let got = decode_samples(&headers, &bytes);
    let names: Vec<&str> = got[0].iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["__name__=other,job=a", "__name__=up,job=a"]);
}

fn assert_plain_error(got: &(StatusCode, HeaderMap, Bytes), status: u16, contains: &str) {
    let (s, headers, bytes) = got;
    let text = String::from_utf8_lossy(bytes);
    assert_eq!(s.as_u16(), status, "{text}");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(text.contains(contains), "{text:?} lacks {contains:?}");
    assert!(text.ends_with('\n'));
}

#[tokio::test]
async fn bad_input_gets_prometheus_statuses() {
    let backend = Arc::new(MemBackend {
        series: dataset(),
        ..Default::default()
    });
    let app = app_with(backend.clone(), Config::default());
    // Not snappy, or snappy of something that is not a ReadRequest: 400.
    let not_snappy = post(&app, b"\xff\xff\xff\xff\xff\xff not snappy".to_vec()).await;
    assert_plain_error(&not_snappy, 400, "snappy");
    assert_plain_error(&post(&app, Vec::new()).await, 400, "snappy");
    let not_proto = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\x0fgarbage")
        .unwrap();
    assert_plain_error(&post(&app, not_proto).await, 400, "ReadRequest");
    // No supported response type: 400.
    assert_plain_error(
        &post(&app, body(queries(), &[5, 6])).await,
        400,
        "server does not support any of the requested response types",
    );
    // Bad matchers: 500, as Prometheus answers them.
    assert_plain_error(
        &post(
            &app,
            body(vec![query(0, 1, &[(RE, "job", "(")])], &[SAMPLES]),
        )
        .await,
        500,
        "invalid regular expression",
    );
    assert_plain_error(
        &post(
            &app,
            body(vec![query(0, 1, &[(9, "job", "x")])], &[SAMPLES]),
        )
        .await,
        500,
        "invalid matcher type",
    );
    // A remote-read version this server does not speak.
    assert_plain_error(
        &post_with(
            &app,
            body(queries(), &[SAMPLES]),
            &[(VERSION_HEADER, "1.0.0")],
        )
        .await,
        400,
        "unsupported remote-read version",
    );
    // None of them reached the shards; a request without the version header is fine.
    assert_eq!(backend.barriers.load(Ordering::SeqCst), 0);
    let (status, _, _) = post_with(&app, body(queries(), &[SAMPLES]), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn limits_are_enforced() {
    let mut config = Config::default();
    config.limits.remote_read_samples_max = 403;
    config.limits.remote_read_body_bytes_max = 200;
    let app = app_with(
        Arc::new(MemBackend {
            series: dataset(),
            ..Default::default()
        }),
        config,
    );
    // `up` holds 404 samples in all.
    for accepted in [SAMPLES, STREAMED] {
        assert_plain_error(
            &post(&app, body(queries()[..1].to_vec(), &[accepted])).await,
            400,
            "exceeded sample limit (403)",
        );
    }
    let big = vec![query(0, 1, &[(EQ, "__name__", &"x".repeat(300))])];
    assert_plain_error(
        &post(&app, body(big, &[SAMPLES])).await,
        413,
        "remote_read_body_bytes_max",
    );
    // A snappy body whose header claims 1,000,000 decompressed bytes: refused before decoding.
    let bomb = vec![0xc0, 0x84, 0x3d];
    assert_eq!(snap::raw::decompress_len(&bomb).unwrap(), 1_000_000);
    assert_plain_error(&post(&app, bomb).await, 413, "decompressed");

    let mut config = Config::default();
    config.limits.remote_read_series_max = 2;
    let app = app_with(
        Arc::new(MemBackend {
            series: dataset(),
            ..Default::default()
        }),
        config,
    );
    assert_plain_error(
        &post(&app, body(queries(), &[STREAMED])).await,
        400,
        "exceeded series limit (2)",
    );
}

#[tokio::test]
async fn shard_failures_keep_the_api_status() {
    let app = app(MemBackend {
        series: dataset(),
        barrier_fails: true,
        ..Default::default()
    });
    assert_plain_error(
        &post(&app, body(queries(), &[STREAMED])).await,
        503,
        "no leader",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_concurrency_limit_wait() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let backend = Arc::new(MemBackend {
        series: dataset(),
        barrier_gate: Some(gate.clone()),
        ..Default::default()
    });
    let mut config = Config::default();
    config.limits.remote_read_concurrent_requests_max = 1;
    let app = app_with(backend.clone(), config);
    let first = tokio::spawn({
        let app = app.clone();
        async move { post(&app, body(queries(), &[STREAMED])).await }
    });
    let second = tokio::spawn({
        let app = app.clone();
        async move { post(&app, body(queries(), &[SAMPLES])).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(backend.barriers.load(Ordering::SeqCst), 1, "second waits");
    gate.add_permits(2);
    let (a, b) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(backend.barriers.load(Ordering::SeqCst), 2);
}
