//! The retention policy and jobs through the API (`tidemarkctl retention`):
//!
//! - `GET /api/v1/status/retention`: the policy in force (`source`: `default` or `cluster`),
//!   the default retention per tier, a difference with this node's `retention:` block if any,
//!   and this node's data per tier (partitions, series, bytes, oldest and newest time);
//! - `PUT|POST /api/v1/admin/retention`: a new policy, JSON or YAML (the `retention:` block's
//!   keys), checked (400 naming what is wrong) and committed in the meta group; it applies from
//!   the next run of the jobs, without a restart;
//! - `DELETE /api/v1/admin/retention`: back to the built-in defaults (raw 7d, 1m 30d, 1h 1y);
//! - `POST /api/v1/admin/retention/run`: runs every job due now on every shard's leader and
//!   answers once what they proposed is applied.
//!
//! Changes are logged with who made them (`X-Tidemark-User` or the user agent); the admin
//! paths need the admin token when one is set (`cluster.rs`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use tidemark_api::retention::RetentionPolicy;

use super::ApiError;
use super::cluster::success;
use super::notifier_config::actor;
use crate::node::Node;
use crate::retention::Maintenance;

/// The retention routes.
pub fn routes(node: Arc<Node>) -> Router {
    Router::new()
        .route("/api/v1/status/retention", get(status))
        .route(
            "/api/v1/admin/retention",
            get(status).put(set).post(set).delete(reset),
        )
        .route("/api/v1/admin/retention/run", post(run))
        .with_state(node)
}

async fn status(State(node): State<Arc<Node>>) -> Result<Response, ApiError> {
    let node2 = node.clone();
    let status = tokio::task::spawn_blocking(move || node2.retention().status())
        .await
        .map_err(|e| crate::error::NodeError::Internal(format!("retention status: {e}")))??;
    Ok(success(status))
}

/// A policy from a JSON or YAML body (JSON is YAML, so one parser reads both).
fn parse_policy(bytes: &[u8]) -> Result<RetentionPolicy, ApiError> {
    serde_yaml::from_slice(bytes)
        .map_err(|e| ApiError::BadParam(format!("invalid retention policy: {e}")))
}

async fn set(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let policy = parse_policy(&bytes)?;
    node.retention()
        .set_policy(Some(policy.clone()), false)
        .await?;
    tracing::info!(
        by = %actor(&headers),
        policy = %serde_json::to_string(&policy).unwrap_or_default(),
        "retention policy set"
    );
    status(State(node)).await
}

async fn reset(State(node): State<Arc<Node>>, headers: HeaderMap) -> Result<Response, ApiError> {
    node.retention().set_policy(None, false).await?;
    tracing::info!(by = %actor(&headers), "retention policy reset to the defaults");
    status(State(node)).await
}

async fn run(State(node): State<Arc<Node>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let run = node.retention().run_all(Maintenance::Retention).await?;
    tracing::info!(
        by = %actor(&headers),
        shards = run.shards,
        partitions_expired = run.partitions_expired,
        series_expired = run.series_expired,
        skipped = run.skipped.len(),
        "retention run on request"
    );
    Ok(success(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_policies_read_alike() {
        let yaml = "raw: 7d\nrollup_1m: 30d\noverrides:\n  - match: '{__name__=~\"debug_.*\"}'\n    raw: 2d\n";
        let json = r#"{"raw":"7d","rollup_1m":"30d","overrides":[{"match":"{__name__=~\"debug_.*\"}","raw":"2d"}]}"#;
        assert_eq!(
            parse_policy(yaml.as_bytes()).unwrap(),
            parse_policy(json.as_bytes()).unwrap()
        );
        assert!(parse_policy(b"raw: forever").is_err());
        assert!(parse_policy(b"rawr: 7d").is_err());
    }
}
