//! The ruler group's creation and members.
//!
//! Creation happens once per cluster: the meta leader records itself as the ruler's creator
//! (`MetaCommand::CreateRuler`) after writing a node record saying so (synced), and that node,
//! and only that node, initialises the ruler group with itself as its voter. A node that lost
//! its data directory lacks the record and never initialises a second ruler group.
//!
//! Members: the ruler's leader keeps them the meta group's (voters the meta voters, every
//! other meta member a learner), so that the ruler group's voters are placed like the meta
//! group's and follow its replacements of dead voters, without a policy of its own.

use std::collections::{BTreeMap, BTreeSet};

use openraft::ChangeMembers;
use openraft::async_runtime::WatchReceiver;

use super::Ruler;
use crate::error::NodeError;
use crate::groups::membership_error;
use crate::meta::MetaCommand;
use crate::raft::{NodeId, NodeInfo, RULER_GROUP};

/// Name of the node record written by the node that creates the ruler group, before it
/// proposes itself as the creator.
const RULER_CREATOR_RECORD: &str = "ruler-creator";

/// Entries a ruler learner may lag behind the leader's log and still become a voter.
const RULER_LEARNER_LAG_MAX: u64 = 64;

impl Ruler {
    /// Creates the ruler group if no node has: see the module doc.
    pub(super) async fn ensure_created(&self) -> Result<(), NodeError> {
        let me = self.host.node_id();
        let creator = self.host.meta().sm.with_cluster_map(|m| {
            m.cluster_id.as_ref()?;
            Some(m.ruler_creator)
        });
        let log_db = self.host.log_db();
        match creator {
            None => Ok(()),
            Some(None) => {
                if !self.host.meta().raft.is_leader() {
                    return Ok(());
                }
                log_db.put_node_record_sync(RULER_CREATOR_RECORD, b"1")?;
                self.host
                    .propose_meta(MetaCommand::CreateRuler { node_id: me })
                    .await
            }
            Some(Some(node)) if node == me => {
                let ruler = &self.host.ruler().raft;
                let initialized = ruler
                    .is_initialized()
                    .await
                    .map_err(|e| NodeError::raft(RULER_GROUP)(e.to_string()))?;
                if initialized || log_db.get_node_record(RULER_CREATOR_RECORD)?.is_none() {
                    return Ok(());
                }
                let addr = self.host.config().grpc_advertised().to_string();
                ruler
                    .initialize(BTreeMap::from([(me, NodeInfo { addr })]))
                    .await
                    .map_err(|e| NodeError::raft(RULER_GROUP)(format!("initialize: {e}")))?;
                tracing::info!("created the ruler group");
                Ok(())
            }
            Some(Some(_)) => Ok(()),
        }
    }

    /// On the ruler leader: one step towards the meta group's members (add missing learners,
    /// then make the caught-up meta voters the voters, then drop who left the cluster).
    pub(super) async fn keep_members(&self) -> Result<(), NodeError> {
        let meta = self.host.meta().raft.metrics().borrow_watched().clone();
        let meta_membership = meta.membership_config.membership().clone();
        let ruler = &self.host.ruler().raft;
        let m = ruler.metrics().borrow_watched().clone();
        if !self.host.leads(&m) {
            return Ok(());
        }
        let membership = m.membership_config.membership().clone();
        let members: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let meta_voters: BTreeSet<NodeId> = meta_membership.voter_ids().collect();
        let meta_members: BTreeMap<NodeId, NodeInfo> = meta_membership
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        if meta_voters.is_empty() {
            return Ok(());
        }
        if let Some((id, info)) = meta_members.iter().find(|(id, _)| !members.contains(id)) {
            ruler
                .add_learner(*id, info.clone(), false)
                .await
                .map_err(|e| membership_error(RULER_GROUP, e))?;
            tracing::info!(node = id, "added a ruler learner");
            return Ok(());
        }
        let last = m.last_log_index.unwrap_or(0);
        let caught_up = |n: &NodeId| {
            voters.contains(n)
                || m.replication
                    .as_ref()
                    .and_then(|r| r.get(n))
                    .and_then(|x| x.as_ref())
                    .is_some_and(|id| id.index() + RULER_LEARNER_LAG_MAX >= last)
        };
        let target: BTreeSet<NodeId> = meta_voters.iter().copied().filter(caught_up).collect();
        // A majority of the meta voters must be ready before the voters move.
        if target != voters && target.len() * 2 > meta_voters.len() {
            ruler
                .change_membership(ChangeMembers::ReplaceAllVoters(target.clone()), true)
                .await
                .map_err(|e| membership_error(RULER_GROUP, e))?;
            tracing::info!(voters = ?target, "ruler voters follow the meta voters");
            return Ok(());
        }
        let gone: BTreeSet<NodeId> = members
            .iter()
            .copied()
            .filter(|n| !meta_members.contains_key(n) && !voters.contains(n))
            .collect();
        if !gone.is_empty() {
            ruler
                .change_membership(ChangeMembers::RemoveNodes(gone.clone()), true)
                .await
                .map_err(|e| membership_error(RULER_GROUP, e))?;
            tracing::info!(nodes = ?gone, "removed ruler learners that left the cluster");
        }
        Ok(())
    }
}
