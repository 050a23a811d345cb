//! Recording a new cluster in the meta group: once, by the meta leader of a bootstrap (again
//! after a crash before it was applied), its id, its members and the initial placement of
//! every shard; members beyond the meta group's voters follow it as learners.

use super::Placement;
use crate::error::NodeError;
use crate::groups::{bootstrap_members, bootstrap_replication_factor, meta_voters};
use crate::meta::{ClusterFile, MetaCommand, initial_placement};
use crate::raft::{NodeId, NodeInfo};

impl Placement {
    /// Records the cluster `cluster` in the meta group unless it is there, when this node
    /// leads the meta group.
    pub async fn ensure_meta_init(&self, cluster: &ClusterFile) -> Result<(), NodeError> {
        let meta = self.host.meta();
        if meta.sm.cluster_map().cluster_id.is_some() || !meta.raft.is_leader() {
            return Ok(());
        }
        let config = self.host.config();
        let members = bootstrap_members(config);
        let rf = bootstrap_replication_factor(config);
        let placement = initial_placement(
            &members.keys().copied().collect::<Vec<_>>(),
            cluster.shard_count,
            rf,
        );
        let init = MetaCommand::Init {
            cluster_id: cluster.cluster_id.clone(),
            shard_count: cluster.shard_count,
            replication_factor: rf.min(members.len() as u32).max(1),
            node_id: config.node_id,
            addr: config.grpc_advertised().to_string(),
        };
        let others = members
            .clone()
            .into_iter()
            .filter(|(id, _)| *id != config.node_id)
            .map(|(node_id, addr)| MetaCommand::SetNode { node_id, addr });
        let replicas = placement
            .into_iter()
            .map(|(shard, nodes)| MetaCommand::SetReplicas { shard, nodes });
        let voters = meta_voters(&members, config.meta_voters_max);
        let learners: Vec<(NodeId, String)> = members
            .iter()
            .filter(|(id, _)| !voters.contains(id))
            .map(|(id, addr)| (*id, addr.clone()))
            .collect();
        for cmd in std::iter::once(init).chain(others).chain(replicas) {
            self.host.propose_meta(cmd).await?;
        }
        for (id, addr) in learners {
            meta.raft
                .add_learner(id, NodeInfo { addr }, false)
                .await
                .map_err(|e| NodeError::raft(meta.id)(format!("meta learner {id}: {e}")))?;
        }
        Ok(())
    }
}
