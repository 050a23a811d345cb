//! Member changes of a group (`tidemarkctl node add|remove|drain`, `shard move`, `rebalance`,
//! joins) and the record of each shard's voters in the cluster map.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::ChangeMembers;
use openraft::async_runtime::WatchReceiver;
use tidemark_storage::ShardId;

use super::Placement;
use crate::error::NodeError;
use crate::groups::{GroupKind, membership_error};
use crate::meta::MetaCommand;
use crate::peer::{Call, Route};
use crate::raft::{GroupId, META_GROUP, NodeId, NodeInfo};
use crate::request::{MemberOp, MemberOutcome};

impl Placement {
    /// Applies `op` to group `group` on its leader: this node, or the leader another node
    /// names (forwarded once over gRPC). Idempotent: adding a voter that is there with the
    /// same address, or removing a node that is not there, is `Unchanged`.
    pub async fn change_member(
        &self,
        group: GroupId,
        op: MemberOp,
    ) -> Result<MemberOutcome, NodeError> {
        let g = self.host.group(group)?;
        // Adding a member can take as long as sending it a snapshot of the shard.
        let timeout_ms = self.host.config().raft.snapshot_timeout_ms;
        let call = |route: Route| {
            let op = op.clone();
            async move {
                match route {
                    Route::Local => self.change_member_local(group, op).await,
                    Route::Remote(peer) => self
                        .peers
                        .call(&peer, Call::ChangeMember { group, op }, timeout_ms)
                        .await?
                        .member(),
                }
            }
        };
        match GroupKind::of(group).shard() {
            Some(shard) => self.router.on_leader(shard, call).await,
            None => {
                let route = self
                    .router
                    .leader_of(&g)
                    .map_err(|why| NodeError::Unavailable(format!("group {group}: {why}")))?;
                call(route).await
            }
        }
    }

    /// [`Placement::change_member`] on the leader: a learner is added and caught up (log or
    /// snapshot) before it becomes a voter, one change at a time (openraft's joint consensus).
    /// The meta group also records the node in (or removes it from) the cluster map.
    pub async fn change_member_local(
        &self,
        group: GroupId,
        op: MemberOp,
    ) -> Result<MemberOutcome, NodeError> {
        let g = &self.host.group(group)?;
        let me = self.host.node_id();
        let m = g.raft.metrics().borrow_watched().clone();
        if !self.host.leads(&m) {
            return Err(NodeError::NotLeader {
                group,
                node: me,
                leader: m.current_leader.filter(|&l| l != me),
            });
        }
        let membership = m.membership_config.membership().clone();
        let is_voter = |n: NodeId| membership.voter_ids().any(|v| v == n);
        let raft_err = |e| membership_error(group, e);
        // One membership change, not keeping removed voters as learners.
        let change = |c: ChangeMembers<NodeId, NodeInfo>| async move {
            g.raft
                .change_membership(c, false)
                .await
                .map(|_| ())
                .map_err(raft_err)
        };
        let meta_voters_max = self.host.config().meta_voters_max as usize;
        let outcome = match &op {
            MemberOp::Add { node, addr } => {
                if let Some(info) = membership.get_node(node)
                    && info.addr != *addr
                {
                    return Err(NodeError::BadRequest(format!(
                        "node {node} is a member of group {group} at {}, not {addr}: remove it first",
                        info.addr
                    )));
                }
                let meta_full =
                    group == META_GROUP && membership.voter_ids().count() >= meta_voters_max;
                if is_voter(*node) || (meta_full && membership.get_node(node).is_some()) {
                    MemberOutcome::Unchanged
                } else {
                    g.raft
                        .add_learner(*node, NodeInfo { addr: addr.clone() }, true)
                        .await
                        .map_err(raft_err)?;
                    if meta_full {
                        tracing::info!(group, node, %addr, "added a learner (the meta group has its voters)");
                    } else {
                        change(ChangeMembers::AddVoterIds(BTreeSet::from([*node]))).await?;
                        tracing::info!(group, node, %addr, "added a voter");
                    }
                    MemberOutcome::Added
                }
            }
            MemberOp::Remove { node } => {
                if membership.get_node(node).is_none() {
                    MemberOutcome::Unchanged
                } else {
                    let just = BTreeSet::from([*node]);
                    if !is_voter(*node) {
                        change(ChangeMembers::RemoveNodes(just)).await?;
                    } else if membership.voter_ids().count() == 1 {
                        return Err(NodeError::BadRequest(format!(
                            "node {node} is the last voter of group {group}"
                        )));
                    } else {
                        change(ChangeMembers::RemoveVoters(just)).await?;
                        // The meta group keeps its voters: a learner takes the seat.
                        if group == META_GROUP
                            && let Some(learner) = membership.learner_ids().next()
                        {
                            change(ChangeMembers::AddVoterIds(BTreeSet::from([learner]))).await?;
                            tracing::info!(group, node = learner, "promoted a learner to voter");
                        }
                    }
                    tracing::info!(group, node, "removed a member");
                    MemberOutcome::Removed
                }
            }
            MemberOp::TransferLeader { node } => {
                if *node == me {
                    return Ok(MemberOutcome::Unchanged);
                }
                if !is_voter(*node) {
                    return Err(NodeError::BadRequest(format!(
                        "node {node} is not a voter of group {group}"
                    )));
                }
                g.raft
                    .trigger()
                    .transfer_leader(*node)
                    .await
                    .map_err(|e| NodeError::raft(group)(e.to_string()))?;
                let wait = Duration::from_millis(self.host.config().raft.election_timeout_ms * 4);
                g.raft
                    .wait(Some(wait))
                    .metrics(|m| m.current_leader == Some(*node), "leader moved")
                    .await
                    .map_err(|e| {
                        NodeError::Unavailable(format!(
                            "group {group}: leadership did not move to node {node}: {e}"
                        ))
                    })?;
                tracing::info!(group, node, "transferred leadership");
                MemberOutcome::Transferred
            }
        };
        if let Some(shard) = GroupKind::of(group).shard()
            && let Err(e) = self.record_placement(shard).await
        {
            // The periodic check records it later; the change itself is done.
            tracing::warn!(shard, error = %e, "recording the shard's placement failed");
        }
        if group == META_GROUP {
            // Also when nothing changed above: a previous attempt may have stopped in between.
            let map = self.host.cluster_map();
            let cmd = match op {
                MemberOp::Add { node, addr } if map.nodes.get(&node) != Some(&addr) => {
                    Some(MetaCommand::SetNode {
                        node_id: node,
                        addr,
                    })
                }
                MemberOp::Remove { node } if map.nodes.contains_key(&node) => {
                    Some(MetaCommand::RemoveNode { node_id: node })
                }
                _ => None,
            };
            if let Some(cmd) = cmd {
                self.host.propose_meta(cmd).await?;
            }
        }
        Ok(outcome)
    }

    /// Records shard `shard`'s voters in the cluster map when the map says otherwise (run by
    /// the shard's leader after every membership change and periodically, so that a record
    /// lost to a crash is made good).
    pub async fn record_placement(&self, shard: ShardId) -> Result<(), NodeError> {
        let m = self
            .host
            .slot(shard)?
            .group
            .raft
            .metrics()
            .borrow_watched()
            .clone();
        if !self.host.leads(&m) {
            return Ok(());
        }
        let mut voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        voters.sort_unstable();
        if voters.is_empty() {
            return Ok(());
        }
        if self.host.cluster_map().replicas.get(&shard) == Some(&voters) {
            return Ok(());
        }
        self.propose_meta(MetaCommand::SetReplicas {
            shard,
            nodes: voters,
        })
        .await
    }
}
