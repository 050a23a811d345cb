//! Router tests over an in-memory backend (the real shards are exercised by the node's
//! integration tests).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::FutureExt;
use prost::Message;
use tidemark_query::querier::QuerySeriesIter;
use tidemark_query::{Querier, QueryError};
use tidemark_storage::{Labels, Matcher, SeriesKey, SeriesSamples};
use tower::ServiceExt;

use super::*;
use crate::error::NodeError;
use crate::remote_write::testing::{V2Builder, snappy, v1_body, v1_series};
use crate::request::{HistogramWrite, SeriesWrite, WriteOutcome};

/// Stores writes in memory; rejects samples with negative timestamps as "too old".
#[derive(Default)]
struct MemBackend {
    series: Arc<Mutex<Vec<SeriesWrite>>>,
    histograms: Mutex<Vec<HistogramWrite>>,
    fail_writes: Mutex<Option<NodeError>>,
    flushes: AtomicUsize,
    /// When set, the read barrier fails as a shard without a leader does.
    leaderless: std::sync::atomic::AtomicBool,
    /// Every delete asked for.
    deletes: Mutex<Vec<crate::request::DeleteRequest>>,
    /// Metric metadata, applied at once as the meta group would.
    metadata: Mutex<crate::meta::MetadataMap>,
}

impl Backend for MemBackend {
    fn write(
        &self,
        series: Vec<SeriesWrite>,
    ) -> futures::future::BoxFuture<'_, Result<WriteOutcome, NodeError>> {
        async move {
            if let Some(e) = self.fail_writes.lock().unwrap().take() {
                return Err(e);
            }
            let mut out = WriteOutcome::default();
            let mut stored = self.series.lock().unwrap();
            for mut s in series {
                let before = s.samples.len();
                s.samples.retain(|x| x.t >= 0);
                out.too_old += before - s.samples.len();
                out.samples_written += s.samples.len();
                out.series_written += 1;
                stored.push(s);
            }
            Ok(out)
        }
        .boxed()
    }

    fn record_metadata<'a>(
        &'a self,
        received: &'a [(String, crate::remote_write::MetricMetadata)],
        names_max: usize,
    ) -> futures::future::BoxFuture<'a, Result<crate::request::MetadataOutcome, NodeError>> {
        async move {
            let mut map = self.metadata.lock().unwrap();
            let (missing, full) = map.missing(received, names_max);
            map.apply(&missing, names_max as u64);
            Ok(crate::request::MetadataOutcome {
                stored: missing.len(),
                full,
                unavailable: 0,
            })
        }
        .boxed()
    }

    fn metadata(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> Vec<(String, Vec<crate::remote_write::MetricMetadata>)> {
        let map = self.metadata.lock().unwrap();
        map.list(metric, limit, limit_per_metric)
    }

    fn write_histograms(
        &self,
        series: Vec<HistogramWrite>,
    ) -> futures::future::BoxFuture<'_, Result<WriteOutcome, NodeError>> {
        async move {
            let mut out = WriteOutcome::default();
            let mut stored = self.histograms.lock().unwrap();
            for mut s in series {
                let before = s.samples.len();
                s.samples.retain(|x| x.t >= 0);
                out.too_old += before - s.samples.len();
                out.samples_written += s.samples.len();
                out.series_written += 1;
                stored.push(s);
            }
            Ok(out)
        }
        .boxed()
    }

    fn reader(
        &self,
        linearizable: bool,
        _samples_max: u64,
    ) -> futures::future::BoxFuture<'_, Result<Arc<dyn Querier>, NodeError>> {
        let leaderless = self.leaderless.load(Ordering::SeqCst);
        async move {
            if linearizable && leaderless {
                return Err(NodeError::NoLeader {
                    shard: 0,
                    message: "election in progress".into(),
                });
            }
            Ok(Arc::new(MemQuerier(self.series.clone())) as Arc<dyn Querier>)
        }
        .boxed()
    }

    fn flush(&self) -> futures::future::BoxFuture<'_, Result<(), NodeError>> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }.boxed()
    }

    fn delete_series(
        &self,
        req: crate::request::DeleteRequest,
    ) -> futures::future::BoxFuture<'_, Result<u64, NodeError>> {
        self.deletes.lock().unwrap().push(req);
        async { Ok(1) }.boxed()
    }

    /// One shard holding every stored series (one head chunk per series).
    fn storage_stats(&self) -> Vec<tidemark_storage::ShardStats> {
        let stored = self.series.lock().unwrap();
        let distinct: BTreeSet<&[u8]> = stored.iter().map(|s| s.key.canonical()).collect();
        let times = stored.iter().flat_map(|s| s.samples.iter().map(|x| x.t));
        vec![tidemark_storage::ShardStats {
            series: distinct.len() as u64,
            head_chunks: distinct.len() as u64,
            head_samples: stored.iter().map(|s| s.samples.len() as u64).sum(),
            min_time_ms: times.clone().min(),
            max_time_ms: times.max(),
            ..Default::default()
        }]
    }
}

struct MemQuerier(Arc<Mutex<Vec<SeriesWrite>>>);

impl MemQuerier {
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let stored = self.0.lock().unwrap();
        let set: BTreeSet<Labels> = stored
            .iter()
            .filter(|s| s.samples.iter().any(|x| x.t >= mint && x.t <= maxt))
            .map(|s| s.key.labels())
            .filter(|l| matchers.iter().all(|m| m.matches_labels(l)))
            .collect();
        set.into_iter().collect()
    }
}

impl Querier for MemQuerier {
    fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<QuerySeriesIter<'_>, QueryError> {
        Ok(Box::new(std::iter::empty::<
            Result<SeriesSamples, QueryError>,
        >()))
    }
    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        Ok(self.matching(matchers, mint, maxt))
    }
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        Ok(self
            .matching(matchers, mint, maxt)
            .iter()
            .flat_map(|l| l.iter().map(|x| x.name.clone()))
            .collect())
    }
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        Ok(self
            .matching(matchers, mint, maxt)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect())
    }
}

fn setup(config: Config) -> (Arc<MemBackend>, Router) {
    let backend = Arc::new(MemBackend::default());
    let state = Arc::new(AppState::with_backend(backend.clone(), Arc::new(config)));
    (backend, router(state))
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn write_v1(body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/write")
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(Body::from(body))
        .unwrap()
}

fn write_v2(body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/write")
        .header(
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "2.0.0")
        .body(Body::from(body))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_form(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

async fn seed(app: &Router) {
    let body = v1_body(vec![
        v1_series(&[("__name__", "up"), ("job", "api")], &[(1000, 1.0)]),
        v1_series(&[("__name__", "up"), ("job", "db")], &[(2000, 0.0)]),
        v1_series(
            &[("__name__", "errors_total"), ("job", "api")],
            &[(1000, 5.0)],
        ),
    ]);
    assert_eq!(
        send(app, write_v1(body)).await.status,
        StatusCode::NO_CONTENT
    );
}

/// `/api/v1/series` stops at `query.series_max`: beyond it a caller without a smaller `limit`
/// gets 422 naming the setting; with one, the first `limit` in label order and a warning.
#[tokio::test]
async fn series_answers_are_bounded_by_query_series_max() {
    let mut config = Config::default();
    config.query.series_max = 2;
    let (_, app) = setup(config);
    seed(&app).await;
    let all = "/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D";
    let r = send(&app, get(all)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("query.series_max"), "{}", r.body);
    let r = send(&app, get(&format!("{all}&limit=5"))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = send(&app, get(&format!("{all}&limit=2"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json()["data"],
        serde_json::json!([
            {"__name__":"errors_total","job":"api"},
            {"__name__":"up","job":"api"}
        ])
    );
    assert_eq!(
        r.json()["warnings"],
        serde_json::json!(["results truncated due to limit"])
    );
    // Exactly at the bound is no error.
    let r = send(&app, get("/api/v1/series?match[]=up")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn series_labels_and_values() {
    let (_, app) = setup(Config::default());
    seed(&app).await;
    let r = send(&app, get("/api/v1/series?match[]=up")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"status":"success","data":[{"__name__":"up","job":"api"},{"__name__":"up","job":"db"}]})
    );
    // POST form, two selectors, a time range that excludes t=2s, and a limit.
    let r = send(
        &app,
        post_form(
            "/api/v1/series",
            "match[]=up&match[]=%7Bjob%3D%22api%22%7D&start=0&end=1.5",
        ),
    )
    .await;
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2, "{}", r.body);
    let r = send(
        &app,
        get("/api/v1/series?match[]=%7Bjob%3D~%22.%2B%22%7D&limit=1"),
    )
    .await;
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.json()["warnings"],
        serde_json::json!(["results truncated due to limit"])
    );
    let r = send(&app, get("/api/v1/series")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errorType"], "bad_data");
    assert_eq!(
        send(&app, get("/api/v1/series?match[]=sum(up)"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let r = send(&app, get("/api/v1/labels")).await;
    assert_eq!(r.json()["data"], serde_json::json!(["__name__", "job"]));
    let r = send(&app, get("/api/v1/label/job/values?match[]=errors_total")).await;
    assert_eq!(r.json()["data"], serde_json::json!(["api"]));
    let r = send(&app, get("/api/v1/label/__name__/values")).await;
    assert_eq!(r.json()["data"], serde_json::json!(["errors_total", "up"]));
    let r = send(&app, get("/api/v1/label/nope/values")).await;
    assert_eq!(r.body, r#"{"status":"success","data":[]}"#);
    let r = send(&app, get("/api/v1/labels?start=x")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid parameter \"start\"")
    );
}

#[tokio::test]
async fn query_parameters_are_validated() {
    let (_, app) = setup(Config::default());
    for (uri, needle) in [
        ("/api/v1/query", "\"query\""),
        ("/api/v1/query?query=up&time=yesterday", "\"time\""),
        ("/api/v1/query?query=up&timeout=-1s", "\"timeout\""),
        (
            "/api/v1/query_range?query=up&start=10&end=5&step=1",
            "end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=5&step=0",
            "zero or negative query resolution step",
        ),
        ("/api/v1/query_range?query=up&start=0&end=5", "\"step\""),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            "exceeded maximum resolution of 11000 points",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=1h&step=1",
            "\"end\"",
        ),
    ] {
        let r = send(&app, get(uri)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.body);
        let j = r.json();
        assert_eq!(j["errorType"], "bad_data");
        assert!(
            j["error"].as_str().unwrap().contains(needle),
            "{uri}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn query_answers_with_an_envelope() {
    let (_, app) = setup(Config::default());
    seed(&app).await;
    for req in [
        get("/api/v1/query?query=up&time=2015-07-01T20:10:51.781Z"),
        post_form("/api/v1/query", "query=up&time=1"),
        get("/api/v1/query_range?query=up&start=0&end=60&step=15s"),
    ] {
        let r = send(&app, req).await;
        let j = r.json();
        // The engine is being written: until it lands, it answers "not implemented" (422).
        match r.status {
            StatusCode::OK => assert_eq!(j["status"], "success"),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(j["status"], "error");
                assert_eq!(j["errorType"], "execution");
            }
            other => panic!("{other}: {}", r.body),
        }
    }
}

#[tokio::test]
async fn admin_status_and_health() {
    let (backend, app) = setup(Config::default());
    assert_eq!(
        send(
            &app,
            Request::post("/api/v1/admin/flush")
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(backend.flushes.load(Ordering::SeqCst), 1);
    assert_eq!(
        send(&app, get("/api/v1/admin/flush")).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let j = send(&app, get("/api/v1/status/buildinfo")).await.json();
    assert_eq!(j["status"], "success");
    for field in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        assert!(j["data"][field].is_string(), "{field}");
    }
    assert_eq!(send(&app, get("/-/healthy")).await.status, StatusCode::OK);
    assert_eq!(send(&app, get("/-/ready")).await.status, StatusCode::OK);
}

/// The router over real shards (single-node Raft groups on a test engine).
#[tokio::test]
async fn real_shards_write_query_flush() {
    use tidemark_storage::Engine;

    use crate::node::Node;
    use crate::raft::test_engine::TestEngine;

    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(TestEngine::open(&dir.path().join("data")));
    let config = Arc::new(Config::test_node(dir.path(), 2));
    let shards = Node::open(config, None, engine as Arc<dyn Engine>)
        .await
        .unwrap();
    let app = router(Arc::new(AppState::new(
        shards.clone(),
        Arc::new(Config::default()),
    )));
    let now = crate::clock::now_ms();
    let body = v1_body(vec![
        v1_series(
            &[("__name__", "up"), ("job", "api")],
            &[(now, 1.0), (now - 1000, 1.0)],
        ),
        v1_series(&[("__name__", "up"), ("job", "db")], &[(now, 0.0)]),
    ]);
    let r = send(&app, write_v1(body)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = send(&app, get("/api/v1/series?match%5B%5D=up")).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"status":"success","data":[{"__name__":"up","job":"api"},{"__name__":"up","job":"db"}]}),
        "{}",
        r.body
    );
    // Older than the out-of-order window and than the longest retention (no backfill reaches
    // back 400 days): rejected, while the other sample of the request is written.
    let mut b = V2Builder::new();
    b.series(
        &[("__name__", "up"), ("job", "api")],
        &[(now - 400 * 86_400_000, 1.0), (now + 1000, 2.0)],
    );
    let r = send(&app, write_v2(b.body())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("out of order samples: 1 samples"),
        "{}",
        r.body
    );
    assert_eq!(r.headers["X-Prometheus-Remote-Write-Samples-Written"], "1");
    let r = send(
        &app,
        Request::post("/api/v1/admin/flush")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(send(&app, get("/-/ready")).await.status, StatusCode::OK);
    let r = send(&app, get("/api/v1/label/job/values")).await;
    assert_eq!(r.json()["data"], serde_json::json!(["api", "db"]));
    shards.shutdown().await.unwrap();
}

mod remote_read;
mod status_api;
mod write;

#[tokio::test]
async fn follower_reads_skip_the_read_barrier() {
    let (backend, app) = setup(Config::default());
    seed(&app).await;
    backend
        .leaderless
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Linearizable (the default) needs the shard leaders: 503 without one.
    let r = send(&app, get("/api/v1/query?query=up&time=2")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let r = send(
        &app,
        get("/api/v1/query?query=up&time=2&consistency=linearizable"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    // A follower read answers from the local replicas.
    let r = send(
        &app,
        get("/api/v1/query?query=up&time=2&consistency=follower"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["data"]["resultType"], "vector");
    let r = send(
        &app,
        post_form("/api/v1/series", "match[]=up&consistency=follower"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2, "{}", r.body);
    let r = send(&app, get("/api/v1/labels?consistency=follower")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = send(&app, get("/api/v1/query?query=up&consistency=eventual")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("consistency"), "{}", r.body);
}

/// With every query slot taken and no queue, queries, series and label reads are refused with
/// 429 and `Retry-After` at once; the node answers them again once a slot is free.
#[tokio::test]
async fn queries_beyond_the_slots_and_the_queue_get_429() {
    let mut config = Config::default();
    config.query.concurrent_max = 1;
    config.query.queue_max = 0;
    let state = Arc::new(AppState::with_backend(
        Arc::new(MemBackend::default()),
        Arc::new(config),
    ));
    let app = router(state.clone());
    let paths = [
        "/api/v1/query?query=up&time=2",
        "/api/v1/query_range?query=up&start=0&end=60&step=15",
        "/api/v1/series?match[]=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
    ];
    let held = state.query_slots.acquire().await.unwrap();
    for path in paths {
        let r = send(&app, get(path)).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            r.body
        );
        assert_eq!(r.headers["retry-after"], "1", "{path}");
        assert!(
            r.body.contains("query.concurrent_max"),
            "{path}: {}",
            r.body
        );
    }
    drop(held);
    for path in paths {
        let r = send(&app, get(path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
}

/// `/metrics` counts requests by route and code, samples written and rejected, queries, and
/// reads the query slots at each scrape, in Prometheus' text format.
#[tokio::test]
async fn metrics_count_requests_samples_and_queries() {
    let state = Arc::new(AppState::with_backend(
        Arc::new(MemBackend::default()),
        Arc::new(Config::default()),
    ));
    let app = router(state.clone()).route_layer(axum::middleware::from_fn_with_state(
        state.metrics.clone(),
        crate::http::track,
    ));
    let body = v1_body(vec![v1_series(
        &[("__name__", "up"), ("job", "a")],
        &[(1, 0.0), (2, 1.0)],
    )]);
    assert_eq!(
        send(&app, write_v1(body)).await.status,
        StatusCode::NO_CONTENT
    );
    let r = send(&app, get("/api/v1/query?query=up&time=2")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&app, get("/api/v1/query?query=sum(")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let m = send(&app, get("/metrics")).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(
        m.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        m.headers
    );
    let text = &m.body;
    for line in [
        "tidemark_http_requests_total{handler=\"/api/v1/query\",code=\"200\"} 1",
        "tidemark_http_requests_total{handler=\"/api/v1/query\",code=\"400\"} 1",
        "# TYPE tidemark_http_request_duration_seconds histogram",
        // Both queries took a slot: the malformed one fails while it is parsed.
        "tidemark_query_duration_seconds_count 2",
        "tidemark_queries_running 0",
        "tidemark_queries_queued 0",
        "tidemark_samples_ingested_total 2",
        "tidemark_http_requests_total{handler=\"/api/v1/write\",code=\"204\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
}
