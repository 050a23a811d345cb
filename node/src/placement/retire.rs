//! Emptying a replica this node no longer holds, so that `rebalance`, `shard move` and `node
//! drain` free the disk and memory of the nodes they move replicas away from.
//!
//! Wiping a replica the group still counts on could lose committed entries or let it vote
//! twice in a term, so: the group's leader must say the committed membership lacks this node;
//! then this node stops its replica (from then on it neither receives entries nor votes) and
//! asks again, so that the answer covers everything the replica ever took part in. Only then
//! are the shard's data and log deleted, under a node record that a restart finishes from
//! (`groups::RETIRING_RECORD`). The vote is kept, and the group restarts with no membership:
//! it votes again only once a leader adds this node back and sends it the group's state, and
//! then only for candidates whose log reaches the one it deleted (`raft::network`,
//! `check_may_vote`).

use openraft::async_runtime::WatchReceiver;
use tidemark_storage::ShardId;

use super::Placement;
use crate::error::NodeError;
use crate::groups::{Group, RETIRING_RECORD};
use crate::peer::{Call, Route};

impl Placement {
    /// Whether this node's replica of `shard` looks like one to empty: it has state (a log or
    /// applied entries), it is not in the Leader state, and the cluster map records the
    /// shard's voters without this node. Only a hint: [`Placement::retire_replica`] asks the
    /// leader. A replica that never saw a term above 0 is left alone: its emptied group would
    /// count as never initialised, and a fixed cluster's bootstrap would initialise it again.
    fn may_retire(&self, shard: ShardId, g: &Group) -> bool {
        let me = self.host.node_id();
        let m = g.raft.metrics().borrow_watched().clone();
        let has_state = m.last_log_index.is_some() || m.last_applied.is_some();
        has_state
            && m.current_term > 0
            && m.state != openraft::ServerState::Leader
            && self
                .host
                .meta()
                .sm
                .with_cluster_map(|map| map.replicas.get(&shard).is_some_and(|v| !v.contains(&me)))
    }

    /// Whether shard `shard`'s leader says its group's committed membership lacks this node.
    async fn leader_excludes_me(&self, shard: ShardId) -> Result<bool, NodeError> {
        let timeout_ms = self.host.config().read_timeout_ms;
        let members = self
            .router
            .on_leader(shard, |route| async move {
                match route {
                    Route::Local => self.host.committed_members(shard).await,
                    Route::Remote(peer) => self
                        .peers
                        .call(&peer, Call::Members { shard }, timeout_ms)
                        .await?
                        .members(),
                }
            })
            .await?;
        Ok(!members.contains(&self.host.node_id()))
    }

    /// Empties this node's replica of shard `shard` once the group has removed this node (see
    /// the module docs). Returns whether it did.
    pub async fn retire_replica(&self, shard: ShardId) -> Result<bool, NodeError> {
        {
            let g = self.host.slot(shard)?.group;
            if !self.may_retire(shard, &g) || !self.leader_excludes_me(shard).await? {
                return Ok(false);
            }
        }
        let _grow = self.host.grow_lock.lock().await;
        let _flush = self.host.flush_lock.lock().await;
        let g = self.host.slot(shard)?.group;
        if !self.may_retire(shard, &g) {
            return Ok(false);
        }
        let log_db = self.host.log_db();
        if log_db.get_node_record(RETIRING_RECORD)?.is_some() {
            return Err(NodeError::Internal(format!(
                "shard {shard}: the emptying of another replica did not finish; restarting \
                 the node finishes it"
            )));
        }
        self.host.stop_shard(shard).await?;
        let emptied = match self.leader_excludes_me(shard).await {
            Ok(true) => {
                log_db.put_node_record_sync(RETIRING_RECORD, &shard.to_be_bytes())?;
                // On an error the group stays stopped: the record makes the next start finish.
                self.host.empty_replica(shard).await?;
                Ok(true)
            }
            other => other,
        };
        // Restarted empty, or as it was (the log replays what the flush did not cover).
        self.host.restart_shard(shard).await?;
        if emptied.as_ref().is_ok_and(|e| *e) {
            tracing::info!(
                shard,
                "emptied the replica of a shard this node no longer holds"
            );
        }
        emptied
    }
}
