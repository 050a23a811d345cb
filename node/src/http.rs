//! The node's HTTP edge: remote-write ingestion, the Prometheus HTTP query API (GET and
//! form-encoded POST, Prometheus' JSON envelope and error types), admin and health endpoints.

pub mod auth;
pub mod backend;
pub mod cluster;
pub mod error;
pub mod json;
pub mod params;

mod admin;
mod alertmanager;
mod cardinality;
mod notifier_config;
mod notifier_status;
mod parse;
mod promql_ast;
mod promql_print;
mod query;
mod query_slots;
mod remote_read;
pub mod retention;
mod ruler_status;
mod rules_config;
mod rules_status;
mod series;
mod status;
pub mod tokens;
mod write;
mod write_budget;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tidemark_query::{PromqlEngine, ResultsCache};

pub use backend::Backend;
pub use error::ApiError;
pub use series::parse_selector;

use crate::config::Config;
use crate::metrics::{Metrics, StateCollector};
use crate::node::Node;
pub use query_slots::QuerySlots;
pub use write_budget::WriteBudget;

/// What every handler shares.
pub struct AppState {
    /// The shards: writes, read barriers, queriers, flushes.
    pub backend: Arc<dyn Backend>,
    /// The PromQL engine with the configured limits.
    pub engine: Arc<PromqlEngine>,
    /// The node configuration (limits, name validation, query bounds).
    pub config: Arc<Config>,
    /// When this state was built (the `startTime` of `/api/v1/status/runtimeinfo`).
    pub started_at: SystemTime,
    /// How many queries evaluate at once, and wait.
    pub query_slots: Arc<QuerySlots>,
    /// What `/metrics` serves.
    pub metrics: Arc<Metrics>,
    /// Bytes of remote-write requests held at once.
    pub write_budget: Arc<write_budget::WriteBudget>,
    /// Range query results kept for the next refresh of a dashboard.
    pub results_cache: Arc<ResultsCache>,
}

impl AppState {
    /// The state over this node's shards.
    pub fn new(node: Arc<Node>, config: Arc<Config>) -> Self {
        Self::with_backend(node, config)
    }

    /// The state over any backend (tests use an in-memory one).
    pub fn with_backend(backend: Arc<dyn Backend>, config: Arc<Config>) -> Self {
        let query_slots = Arc::new(QuerySlots::new(
            config.query.concurrent_max,
            config.query.queue_max,
        ));
        let write_budget = Arc::new(write_budget::WriteBudget::new(
            config.limits.write_inflight_bytes_max,
            config.limits.write_inflight_wait_ms,
        ));
        let results_cache = Arc::new(ResultsCache::new(config.query.results_cache.clone()));
        let mut metrics = Metrics::new(Box::new(StateCollector {
            backend: backend.clone(),
            slots: query_slots.clone(),
            write_budget: write_budget.clone(),
            results_cache: results_cache.clone(),
        }));
        if let Some(h) = backend.raft_log_sync_seconds() {
            metrics.register_raft_log_sync(h);
        }
        if let Some(t) = backend.shard_timings() {
            metrics.register_shard_timings(t);
        }
        let metrics = Arc::new(metrics);
        AppState {
            backend,
            engine: Arc::new(PromqlEngine::new(config.query.clone())),
            query_slots,
            metrics,
            write_budget,
            results_cache,
            config,
            started_at: SystemTime::now(),
        }
    }
}

/// `GET /metrics`: the node's own metrics in Prometheus' text format.
async fn metrics(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts every request that matched a route (`route_layer` over the whole API, cluster and
/// retention routes included): by route and status, with its latency.
pub async fn track(
    axum::extract::State(metrics): axum::extract::State<Arc<Metrics>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let handler = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    metrics.http_request(&handler, response.status().as_u16(), started.elapsed());
    response
}

/// The HTTP API's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/write", post(write::remote_write))
        .route("/metrics", get(metrics))
        .route("/api/v1/read", remote_read::route(&state))
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route("/api/v1/series", get(series::series).post(series::series))
        .route("/api/v1/labels", get(series::labels).post(series::labels))
        .route("/api/v1/label/{name}/values", get(series::label_values))
        .route(
            "/api/v1/query_exemplars",
            get(parse::query_exemplars).post(parse::query_exemplars),
        )
        .route(
            "/api/v1/format_query",
            get(parse::format_query).post(parse::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(parse::parse_query).post(parse::parse_query),
        )
        .route("/api/v1/metadata", get(admin::metadata))
        .route("/api/v1/status/buildinfo", get(admin::buildinfo))
        .route("/api/v1/status/ruler", get(ruler_status::ruler))
        .route("/api/v1/status/notifier", get(notifier_status::status))
        .route("/prometheus/api/v1/status/buildinfo", get(admin::buildinfo))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtime_info))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/admin/flush", post(admin::flush))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(admin::delete_series).put(admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(admin::clean_tombstones).put(admin::clean_tombstones),
        )
        .route("/api/v1/admin/tsdb/snapshot", post(admin::snapshot))
        .merge(ruler_routes(""))
        .merge(ruler_routes("/prometheus"))
        .route(
            "/api/v1/admin/notifier/config",
            get(notifier_config::get)
                .put(notifier_config::set)
                .post(notifier_config::set)
                .delete(notifier_config::delete),
        )
        .merge(alertmanager::routes())
        .route("/-/reload", post(notifier_config::reload))
        .route("/-/healthy", get(admin::healthy))
        .route("/-/ready", get(admin::ready))
        .with_state(state)
}

/// The ruler's endpoints under `prefix` (Mimir serves them under `/prometheus` too).
fn ruler_routes(prefix: &str) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            &format!("{prefix}/api/v1/rules"),
            get(rules_status::rules).post(rules_status::rules),
        )
        .route(
            &format!("{prefix}/api/v1/alerts"),
            get(rules_status::alerts).post(rules_status::alerts),
        )
        .route(
            &format!("{prefix}/config/v1/rules"),
            get(rules_config::list),
        )
        .route(
            &format!("{prefix}/config/v1/rules/{{namespace}}"),
            get(rules_config::get_namespace)
                .post(rules_config::set_group)
                .delete(rules_config::delete_namespace),
        )
        .route(
            &format!("{prefix}/config/v1/rules/{{namespace}}/{{group}}"),
            get(rules_config::get_group).delete(rules_config::delete_group),
        )
}

/// A 200 with a JSON body.
fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
