//! Cluster endpoints, mounted by the server next to the API routes (they need the shards
//! themselves, not the `Backend` seam), as JSON in Prometheus' envelope:
//!
//! - `GET /api/v1/status/cluster`: this node's view of the cluster (its id, the cluster id,
//!   the replication factor, the cluster map's nodes and shard placement, and every group's
//!   leader, term and indexes: this node's replicas as it knows them, other shards as one of
//!   their replicas reports them, `Node::cluster_status`).
//! - `POST /api/v1/admin/cluster/members`: changes one group's voters, on the group's leader
//!   (`Node::change_member`). JSON body `{"group": G, "op": "add"|"remove", "nodeId": N,
//!   "addr": "HOST:GRPC_PORT"}` (`addr` for `add` only), or `"op": "transfer-leader"` to make
//!   voter `nodeId` the group's leader; answers `{"group": G, "outcome":
//!   "added"|"removed"|"transferred"|"unchanged"}`. One group per call, so that a client shows progress over
//!   many groups (`tidemarkctl node add`); 503 means retry. Adding waits until the new member
//!   has caught up, which can take as long as sending it a snapshot of the shard.
//!
//! - `POST /api/v1/admin/cluster/replication`: sets the target voters per shard, JSON body
//!   `{"replicationFactor": N}` (recorded in the meta group; joins and `tidemarkctl
//!   rebalance` move replicas towards it).
//!
//! - `POST /api/v1/admin/cluster/shards`: adds a shard-map version (`Node::set_shard_count`),
//!   JSON body `{"shardCount": S}`; answers `{"changed": bool, "version": {"startMs": T,
//!   "shardCount": S, "groups": G}, "placement": {shard: [voters]}}` once this node has applied
//!   it and started the groups of new shards (their elections follow: `tidemarkctl shards
//!   set` waits for them). Unchanged when the newest version already has `S` shards.
//!
//! - `GET /api/v1/admin/shards/digest`: for every shard this node holds a replica of, its
//!   applied index and a hash of its logical content (`Engine::digest`); replicas at the same
//!   applied index must agree (the jepsen suite's consistency check). Reads every sample: not
//!   for hot paths.
//!
//! - `GET /api/v1/admin/shards/local`: what this node's storage holds of every shard, held
//!   or not: `{"shard", "held", "series", "appliedIndex", "flushedIndex", "minTimeMs",
//!   "maxTimeMs", "logLastIndex"}`. A replica the group has removed this node from is emptied shortly after
//!   (`Placement::retire_replica`): its shard then shows no series and applied index 0.
//!
//! Who may call them is `http/auth.rs`'s business.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_api::{
    ClusterStatus, Envelope, LocalShard, MemberChange, MemberChangeAnswer, MemberChangeOp,
    ReplicationChange, ShardCountChange, ShardDigest,
};

use super::ApiError;
use super::auth::{JOIN_CHECK_PATH, JOIN_TOKEN_PATH, MEMBERS_PATH};
use crate::meta::{MetaCommand, REPLICATION_FACTOR_MAX};
use crate::node::Node;
use crate::request::MemberOp;

/// The cluster routes over `shards`.
pub fn routes(node: Arc<Node>) -> Router {
    Router::new()
        .route("/api/v1/status/cluster", get(status))
        .route(MEMBERS_PATH, post(change_member))
        .route(JOIN_CHECK_PATH, get(join_check))
        .route(JOIN_TOKEN_PATH, get(join_token))
        .route("/api/v1/admin/cluster/replication", post(set_replication))
        .route("/api/v1/admin/cluster/shards", post(set_shards))
        .route("/api/v1/admin/shards/digest", get(digests))
        .route("/api/v1/admin/shards/local", get(local_shards))
        .with_state(node)
}

/// `GET /api/v1/admin/cluster/join-check`: `{"clusterId": ...}` to a caller whose join token
/// (or admin token) the middleware accepted: a joining node learns that its token is wrong
/// before it stores the token's secret.
async fn join_check(State(node): State<Arc<Node>>) -> Response {
    success(serde_json::json!({ "clusterId": node.cluster_id() }))
}

/// `GET /api/v1/admin/cluster/join-token`: `{"joinToken": "<cluster id>.<secret>"}`.
async fn join_token(State(node): State<Arc<Node>>) -> Result<Response, ApiError> {
    let token = node.join_token().ok_or_else(|| {
        ApiError::BadParam(
            "this cluster was made before cluster secrets and has no join token: give every \
             member the same cluster_secret_file (docs/security.md)"
                .into(),
        )
    })?;
    Ok(success(
        serde_json::json!({ "joinToken": token.to_string() }),
    ))
}

/// A success in Prometheus' envelope.
pub(super) fn success<T: Serialize>(data: T) -> Response {
    let body = serde_json::to_string(&Envelope::success(data)).unwrap_or_default();
    super::json_response(body)
}

/// A JSON request body; a malformed one is a bad parameter naming `what`.
fn body<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadParam(format!("invalid {what}: {e}")))
}

async fn digests(State(node): State<Arc<Node>>) -> Result<Response, ApiError> {
    let result = tokio::task::spawn_blocking(move || {
        let engine = node.engine();
        (0..node.shard_count())
            .filter(|shard| node.holds(*shard))
            .map(|shard| {
                // Applied index and digest must describe the same state: retry if an apply
                // landed in between.
                loop {
                    let before = engine.applied_index(shard);
                    let digest = node.digest(shard)?;
                    if engine.applied_index(shard) == before {
                        return Ok(ShardDigest {
                            shard,
                            applied_index: before,
                            digest: format!("{digest:016x}"),
                        });
                    }
                }
            })
            .collect::<Result<Vec<_>, crate::error::NodeError>>()
    })
    .await
    .map_err(|e| crate::error::NodeError::Internal(format!("digest task: {e}")))??;
    Ok(success(result))
}

async fn local_shards(State(node): State<Arc<Node>>) -> Response {
    let engine = node.engine();
    let logs: std::collections::BTreeMap<u64, Option<u64>> = node
        .status()
        .into_iter()
        .map(|g| (g.group_id, g.last_log_index))
        .collect();
    let result: Vec<LocalShard> = (0..node.shard_count())
        .map(|shard| {
            let st = engine.stats(shard);
            LocalShard {
                log_last_index: logs
                    .get(&crate::raft::shard_group(shard))
                    .copied()
                    .flatten(),
                shard,
                held: node.holds(shard),
                series: st.series,
                applied_index: st.applied_index,
                flushed_index: st.flushed_index,
                min_time_ms: st.min_time_ms,
                max_time_ms: st.max_time_ms,
            }
        })
        .collect();
    success(result)
}

async fn change_member(
    State(node): State<Arc<Node>>,
    grant: Option<axum::Extension<super::auth::MemberGrant>>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: MemberChange = body(&bytes, "member change")?;
    if let Some(axum::Extension(grant)) = grant
        && !grant.any_op
        && req.op != MemberChangeOp::Add
    {
        return Err(ApiError::Forbidden(format!(
            "the join token only adds members: \"{}\" needs a token with the admin role",
            req.op.as_str()
        )));
    }
    if req.node_id == 0 {
        return Err(ApiError::BadParam("nodeId must be non-zero".into()));
    }
    let node_id = req.node_id;
    let op = match (req.op, req.addr) {
        (MemberChangeOp::Add, Some(addr)) if !addr.is_empty() => MemberOp::Add {
            node: node_id,
            addr,
        },
        (MemberChangeOp::Add, _) => return Err(ApiError::BadParam("op \"add\" needs addr".into())),
        (MemberChangeOp::Remove, _) => MemberOp::Remove { node: node_id },
        (MemberChangeOp::TransferLeader, _) => MemberOp::TransferLeader { node: node_id },
    };
    let outcome = node.change_member(req.group, op).await?;
    Ok(success(MemberChangeAnswer {
        group: req.group,
        outcome,
    }))
}

async fn status(State(node): State<Arc<Node>>) -> Response {
    let map = node.cluster_map();
    success(ClusterStatus {
        node_id: node.node_id(),
        cluster_id: node.cluster_id().to_string(),
        shard_count: node.shard_count(),
        shard_map: node.shard_map().versions().to_vec(),
        replication_factor: map.replication_factor,
        placement: (0..node.shard_count())
            .map(|s| (s, map.replicas_of(s)))
            .collect(),
        nodes: map.nodes,
        groups: node.cluster_status().await,
    })
}

/// Records the target number of voters per shard (`tidemarkctl cluster set-replication`).
/// Replicas are added and removed towards it by joins and `tidemarkctl rebalance`.
async fn set_replication(
    State(node): State<Arc<Node>>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: ReplicationChange = body(&bytes, "replication request")?;
    if req.replication_factor == 0 || req.replication_factor > REPLICATION_FACTOR_MAX {
        return Err(ApiError::BadParam(format!(
            "replicationFactor must be between 1 and {REPLICATION_FACTOR_MAX}"
        )));
    }
    node.propose_meta(MetaCommand::SetReplicationFactor {
        replication_factor: req.replication_factor,
    })
    .await?;
    Ok(success(req))
}

/// Adds a shard-map version (`tidemarkctl shards set`).
async fn set_shards(
    State(node): State<Arc<Node>>,
    bytes: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: ShardCountChange = body(&bytes, "shards request")?;
    Ok(success(node.set_shard_count(req.shard_count).await?))
}
