//! `GET /api/v1/status/cluster`: this node's view of the cluster (its id, the cluster id, and
//! every group's leader, term and indexes as `Shards::status` reports them), as JSON in
//! Prometheus' envelope. Mounted by the server next to the API routes (it needs the shards
//! themselves, not the `Backend` seam).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use crate::shards::Shards;

/// The cluster status routes over `shards`.
pub fn routes(shards: Arc<Shards>) -> Router {
    Router::new()
        .route("/api/v1/status/cluster", get(status))
        .with_state(shards)
}

async fn status(State(shards): State<Arc<Shards>>) -> Response {
    let body = serde_json::json!({
        "status": "success",
        "data": {
            "nodeId": shards.node_id(),
            "clusterId": shards.cluster_id(),
            "shardCount": shards.shard_count(),
            "nodes": shards.cluster_map().nodes,
            "groups": shards.status(),
        },
    });
    super::json_response(body.to_string())
}
