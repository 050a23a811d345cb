//! `--join URL --join-token TOKEN`: how a new node enters an existing cluster through any
//! member's HTTP API.
//!
//! Before the groups start, [`cluster_of`] asks the member for the cluster id and shard count
//! (`GET /api/v1/status/cluster`), which an empty data directory adopts with the secret of the
//! join token (whose cluster id must be the member's). Every member call below carries the
//! join token, which the member checks against its own secret. Once this node serves
//! gRPC, [`add_self`] asks the member to add it to the meta group, then to every shard group
//! that has fewer voters than the cluster's replication factor, one group at a time through
//! `POST /api/v1/admin/cluster/members`: the group's leader adds it as a learner, sends it the
//! log or a shard snapshot, then makes it a voter. Shards that already have their voters get
//! replicas on this node through `tidemarkctl rebalance`. Every step is idempotent and retried
//! until done, so a restart in the middle resumes.

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use anyhow::Context;

use crate::groups::JoinTarget;
use crate::node::Node;
use crate::raft::{GroupId, META_GROUP, shard_group};

/// Pause between attempts when the member answers 503 or cannot be reached.
const RETRY_MS: u64 = 1_000;

/// The member a node joins through: its HTTP API's URL and the CAs trusted for it.
#[derive(Clone)]
pub struct Member {
    base: String,
    /// Trusted beside the public roots (`join_ca_file`).
    roots: Vec<reqwest::Certificate>,
}

impl Member {
    /// The member at `url`, its certificate checked against `ca_file` too when given.
    pub fn new(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Member> {
        let roots = match ca_file {
            None => Vec::new(),
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("join_ca_file {}", path.display()))?;
                let roots = reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("join_ca_file {}", path.display()))?;
                anyhow::ensure!(
                    !roots.is_empty(),
                    "join_ca_file {}: no certificate in it",
                    path.display()
                );
                roots
            }
        };
        Ok(Member {
            base: url.trim_end_matches('/').to_string(),
            roots,
        })
    }

    /// The member's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn client(&self, timeout: Duration) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder().timeout(timeout);
        for root in &self.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        builder.build().context("building the HTTP client")
    }
}

/// What a joining node needs of `/api/v1/status/cluster`: only these fields, so that a member
/// of another build (whose other fields differ) can be joined through too.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterIdentity {
    cluster_id: String,
    shard_count: u32,
}

/// The cluster of the member at `url`, asked with `token` (the join token or an admin token:
/// a cluster with authentication on serves its status to nobody else).
pub async fn cluster_of(member: &Member, token: Option<&str>) -> anyhow::Result<JoinTarget> {
    let base = &member.base;
    let mut request = member
        .client(Duration::from_secs(10))?
        .get(format!("{base}/api/v1/status/cluster"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let body: tidemark_api::Envelope<ClusterIdentity> = request
        .send()
        .await
        .with_context(|| format!("asking {base} for its cluster"))?
        .error_for_status()
        .with_context(|| format!("asking {base} for its cluster"))?
        .json()
        .await
        .with_context(|| format!("reading the cluster of {base}"))?;
    let status = body
        .into_result()
        .map_err(|e| anyhow::anyhow!("{base} reports no cluster: {e}"))?;
    let (cluster_id, shard_count) = (status.cluster_id, status.shard_count);
    anyhow::ensure!(
        !cluster_id.is_empty() && shard_count > 0,
        "{base} reports no cluster id or no shards"
    );
    Ok(JoinTarget {
        cluster_id,
        shard_count,
        secret: None,
    })
}

/// Checks `token` with the member at `url` (`GET /api/v1/admin/cluster/join-check`) before
/// this node stores its secret: a refused token fails the start with a clear error instead
/// of leaving a data directory with a wrong secret. A member of an older version, which has
/// no such path, is taken at its word.
pub async fn check_token(member: &Member, token: &str) -> anyhow::Result<()> {
    let base = &member.base;
    let r = member
        .client(Duration::from_secs(10))?
        .get(format!("{base}/api/v1/admin/cluster/join-check"))
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("checking the join token with {base}"))?;
    match r.status().as_u16() {
        200..=299 | 404 => Ok(()),
        401 | 403 => anyhow::bail!(
            "{base} refuses the join token: its secret is not this cluster's (a token of \
             another cluster, or an old one?); print the right one with `tidemarkctl cluster \
             join-token`"
        ),
        s => anyhow::bail!("{base} answered {s} to the join token check: retry"),
    }
}

/// Asks the member at `url` to add this node to the meta group, then to every shard group
/// below the replication factor, until each is done (or the node stops).
pub async fn add_self(shards: Weak<Node>, member: Member, admin_token: Option<String>) {
    let base = member.base.clone();
    // Adding waits for the new member to catch up: allow for a snapshot transfer.
    let http = match member.client(Duration::from_secs(3_600)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot join");
            return;
        }
    };
    let joiner = Joiner {
        shards,
        http,
        base,
        admin_token,
    };
    if !joiner.join_group(META_GROUP).await {
        return;
    }
    // Placement decisions read this node's replica of the cluster map: wait until it has
    // applied this node's own record.
    loop {
        let Some(s) = joiner.shards.upgrade() else {
            return;
        };
        if s.cluster_map().nodes.contains_key(&s.node_id()) {
            break;
        }
        drop(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut joined = 0;
    loop {
        let Some(s) = joiner.shards.upgrade() else {
            return;
        };
        let map = s.cluster_map();
        let me = s.node_id();
        // Every shard the map has, including those of versions this node has not started
        // groups for yet (it does once its meta replica applies them).
        let groups = map.shard_map.groups().max(s.shard_count());
        let next = (0..groups).find(|shard| {
            let replicas = map.replicas_of(*shard);
            !replicas.contains(&me) && (replicas.len() as u32) < map.replication_factor
        });
        drop(s);
        let Some(shard) = next else { break };
        if !joiner.join_group(shard_group(shard)).await {
            return;
        }
        joined += 1;
        // The shard's leader records the new placement; wait for it (bounded) so the next
        // choice sees it.
        for _ in 0..50 {
            let Some(s) = joiner.shards.upgrade() else {
                return;
            };
            if s.cluster_map().is_replica(shard, me) {
                break;
            }
            drop(s);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tracing::info!(
        shard_groups = joined,
        "joined the cluster; `tidemarkctl rebalance` moves further replicas here"
    );
}

/// What [`add_self`] works with.
struct Joiner {
    shards: Weak<Node>,
    http: reqwest::Client,
    base: String,
    admin_token: Option<String>,
}

impl Joiner {
    /// Asks the member to add this node to `group` until it is a voter; `false` when the
    /// member refused (it needs the operator) or the node stops.
    async fn join_group(&self, group: GroupId) -> bool {
        loop {
            let Some(s) = self.shards.upgrade() else {
                return false;
            };
            if s.is_voter(group) {
                return true;
            }
            let (node_id, addr) = (s.node_id(), s.grpc_addr().to_string());
            // The join token lets a new node in where the admin token would be needed; a
            // cluster made before secrets has none.
            let credential = s
                .join_token()
                .map(|t| t.to_string())
                .or_else(|| self.admin_token.clone());
            drop(s);
            let mut req = self
                .http
                .post(format!("{}/api/v1/admin/cluster/members", self.base))
                .json(&tidemark_api::MemberChange {
                    group,
                    op: tidemark_api::MemberChangeOp::Add,
                    node_id,
                    addr: Some(addr),
                });
            if let Some(t) = &credential {
                req = req.bearer_auth(t);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(group, "joined group");
                    return true;
                }
                Ok(r) if r.status().as_u16() == 503 => {
                    tracing::info!(group, "join: group busy or leaderless; retrying");
                }
                Ok(r) => {
                    // A refusal (bad token, address conflict) needs the operator: stop here.
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::error!(group, %status, body = %text, "join refused");
                    return false;
                }
                Err(e) => tracing::warn!(group, error = %e, "join: member unreachable; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
        }
    }
}
