//! Status, metadata and admin endpoints: `/api/v1/metadata`, `/api/v1/status/buildinfo`,
//! `/api/v1/admin/flush`, `/api/v1/admin/tsdb/{delete_series,clean_tombstones,snapshot}`,
//! `/-/healthy`, `/-/ready`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::params::{Params, parse_go_int};
use super::series::matcher_sets;
use super::{AppState, json, json_response};
use crate::error::NodeError;
use crate::request::DeleteRequest;

/// Longest `/-/ready` waits for the read barrier that proves the shards serve reads.
const READY_TIMEOUT_MS: u64 = 2_000;

/// `GET /api/v1/metadata`: `metric`, `limit`, `limit_per_metric`, read as Prometheus 3.5 reads
/// them: a `limit` of 0 answers no metric and a negative one means no limit; a
/// `limit_per_metric` above 0 keeps that many entries per metric, otherwise all. Answered from
/// this node's replica of the meta group's metadata (`meta/metadata.rs`).
pub async fn metadata(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let number = |name: &str| match params.get(name) {
        None => Ok(None),
        Some(s) => parse_go_int(s)
            .map(|n| usize::try_from(n).ok())
            .map_err(|_| ApiError::BadParam(format!("{name} must be a number"))),
    };
    let limit = number("limit")?;
    let limit_per_metric = number("limit_per_metric")?.filter(|&n| n > 0);
    let metric = params.get("metric");
    if limit == Some(0) {
        return Ok(json_response(json::success("{}", &[], &[])));
    }
    let entries = state.backend.metadata(metric, limit, limit_per_metric);
    let mut data = String::from("{");
    for (i, (name, mds)) in entries.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        json::write_str(&mut data, name);
        data.push_str(":[");
        for (j, md) in mds.iter().enumerate() {
            if j > 0 {
                data.push(',');
            }
            data.push_str(r#"{"type":"#);
            json::write_str(&mut data, md.metric_type.as_str());
            data.push_str(r#","help":"#);
            json::write_str(&mut data, &md.help);
            data.push_str(r#","unit":"#);
            json::write_str(&mut data, &md.unit);
            data.push('}');
        }
        data.push(']');
    }
    data.push('}');
    Ok(json_response(json::success(&data, &[], &[])))
}

/// `GET /api/v1/status/buildinfo`, with the fields Prometheus 3.5 has, plus the two Mimir adds
/// and Grafana reads to offer rule editing for a Mimir/Cortex data source: `application` and
/// `features.ruler_config_api`.
pub async fn buildinfo() -> Response {
    let data = serde_json::json!({
        "application": "Tidemark",
        "features": {"ruler_config_api": "true", "alertmanager_config_api": "false"},
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("TIDEMARK_GIT_REVISION").unwrap_or("unknown"),
        "branch": option_env!("TIDEMARK_GIT_BRANCH").unwrap_or("unknown"),
        "buildUser": option_env!("TIDEMARK_BUILD_USER").unwrap_or("unknown"),
        "buildDate": option_env!("TIDEMARK_BUILD_DATE").unwrap_or("unknown"),
        "goVersion": "rust",
    });
    json_response(json::success(&data.to_string(), &[], &[]))
}

/// `POST /api/v1/admin/flush`: persists every shard's head; 204 when done.
#[tracing::instrument(skip_all)]
pub async fn flush(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    state.backend.flush().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST|PUT /api/v1/admin/tsdb/delete_series`: `match[]` (required, one or more), `start`,
/// `end` (default: all time). Every shard's leader resolves the selectors and commits a
/// replicated delete (a tombstone: see `tidemark_storage::Command::Delete`); 204 once every
/// shard has applied it. A delete is idempotent, so a failed one (503) can be retried.
#[tracing::instrument(skip_all)]
pub async fn delete_series(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    if params.all("match[]").is_empty() {
        return Err(ApiError::BadParam("no match[] parameter provided".into()));
    }
    let selectors = matcher_sets(&params, &state.engine.limits.syntax())?;
    let mint_ms = params.time_or("start", i64::MIN)?;
    let maxt_ms = params.time_or("end", i64::MAX)?;
    let deleted = state
        .backend
        .delete_series(DeleteRequest::new(&selectors, mint_ms, maxt_ms))
        .await?;
    tracing::info!(series = deleted, mint_ms, maxt_ms, "series deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST|PUT /api/v1/admin/tsdb/clean_tombstones`: every shard's leader commits
/// `CleanTombstones`, after which each replica's next flush re-encodes the sealed partitions
/// holding deleted samples without them (this node flushes at once); 204 once committed and
/// applied everywhere and flushed here. Reads do not change: the deleted samples were hidden.
#[tracing::instrument(skip_all)]
pub async fn clean_tombstones(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    state.backend.clean_tombstones().await?;
    tracing::info!("tombstones cleaned");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/admin/tsdb/snapshot`: not implemented (501).
pub async fn snapshot() -> ApiError {
    ApiError::Node(NodeError::NotImplemented(
        "tsdb snapshots (/api/v1/admin/tsdb/snapshot) are not implemented yet; \
         POST /api/v1/admin/flush persists every in-memory head"
            .into(),
    ))
}

/// `/-/healthy`: the process is up.
pub async fn healthy() -> &'static str {
    "Tidemark is Healthy.\n"
}

/// `/-/ready`: 200 when a read barrier over every shard succeeds (leaders elected, reads
/// served), 503 otherwise.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let barrier = tokio::time::timeout(
        Duration::from_millis(READY_TIMEOUT_MS),
        state.backend.reader(true, 0),
    )
    .await;
    match barrier {
        Ok(Ok(_)) => (StatusCode::OK, "Tidemark is Ready.\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Tidemark is not ready: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Tidemark is not ready: read barrier timed out\n",
        )
            .into_response(),
    }
}
