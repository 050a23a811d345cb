//! `--join URL`: how a new node enters an existing cluster through any member's HTTP API.
//!
//! Before the groups start, [`cluster_of`] asks the member for the cluster id and shard count
//! (`GET /api/v1/status/cluster`), which an empty data directory adopts. Once this node serves
//! gRPC, [`add_self`] asks the member to add it to every group it is not yet a voter of (the
//! meta group first), one group at a time through `POST /api/v1/admin/cluster/members`: the
//! group's leader adds it as a learner, sends it the log or a shard snapshot, then makes it a
//! voter. Every step is idempotent and retried until done, so a restart in the middle resumes.

use std::sync::Weak;
use std::time::Duration;

use anyhow::Context;

use crate::shards::{JoinTarget, Shards};

/// Pause between attempts when the member answers 503 or cannot be reached.
const RETRY_MS: u64 = 1_000;

fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("building the HTTP client")
}

/// The cluster of the member at `url`.
pub async fn cluster_of(url: &str) -> anyhow::Result<JoinTarget> {
    let base = url.trim_end_matches('/');
    let body: serde_json::Value = client(Duration::from_secs(10))?
        .get(format!("{base}/api/v1/status/cluster"))
        .send()
        .await
        .with_context(|| format!("asking {base} for its cluster"))?
        .error_for_status()
        .with_context(|| format!("asking {base} for its cluster"))?
        .json()
        .await
        .with_context(|| format!("reading the cluster of {base}"))?;
    let data = &body["data"];
    let cluster_id = data["clusterId"]
        .as_str()
        .with_context(|| format!("{base} reports no cluster id: {body}"))?
        .to_string();
    let shard_count = data["shardCount"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
        .with_context(|| format!("{base} reports no shard count: {body}"))?;
    Ok(JoinTarget {
        cluster_id,
        shard_count,
    })
}

/// Asks the member at `url` to add this node to every group it is not a voter of, until each
/// is done; returns when this node is a voter everywhere (or the node stops).
pub async fn add_self(shards: Weak<Shards>, url: String, admin_token: Option<String>) {
    let base = url.trim_end_matches('/').to_string();
    // Adding waits for the new member to catch up: allow for a snapshot transfer.
    let http = match client(Duration::from_secs(3_600)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot join");
            return;
        }
    };
    let Some((groups, node_id, addr)) = shards
        .upgrade()
        .map(|s| (s.group_ids(), s.node_id(), s.grpc_addr().to_string()))
    else {
        return;
    };
    let total = groups.len();
    for (i, group) in groups.into_iter().enumerate() {
        loop {
            let Some(s) = shards.upgrade() else { return };
            if s.is_voter(group) {
                break;
            }
            drop(s);
            let mut req = http
                .post(format!("{base}/api/v1/admin/cluster/members"))
                .json(&serde_json::json!({
                    "group": group, "op": "add", "nodeId": node_id, "addr": addr,
                }));
            if let Some(t) = &admin_token {
                req = req.bearer_auth(t);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(group, step = i + 1, of = total, "joined group");
                    break;
                }
                Ok(r) if r.status().as_u16() == 503 => {
                    tracing::info!(group, "join: group busy or leaderless; retrying");
                }
                Ok(r) => {
                    // A refusal (bad token, address conflict) needs the operator: stop here.
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::error!(group, %status, body = %text, "join refused");
                    return;
                }
                Err(e) => tracing::warn!(group, error = %e, "join: member unreachable; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
        }
    }
    tracing::info!(groups = total, "this node is a voter of every group");
}
