//! The one place a [`Call`] is executed on this node: the node service runs every call that
//! arrives from another node here, and each is handed to the owner of what it asks.

use super::Node;
use crate::error::NodeError;
use crate::peer::{Answer, Call};

impl Node {
    /// Runs `call` on this node (which must lead the group the call is for, except for
    /// `GroupStatus`, which any node answers). Never forwards: a node that does not lead the
    /// group answers that it does not.
    pub(crate) async fn execute(&self, call: Call) -> Result<Answer, NodeError> {
        Ok(match call {
            Call::Write { shard, part } => Answer::Written(self.writes.accept(shard, part).await?),
            Call::WriteHistograms { shard, part } => {
                Answer::Written(self.writes.accept(shard, part).await?)
            }
            Call::Delete { shard, request } => {
                Answer::Deleted(self.writes.delete_local(shard, request).await?)
            }
            Call::ReadIndex { shard } => Answer::Index(self.host.shard_read_index(shard).await?),
            Call::MetaReadIndex => Answer::Index(self.host.meta_read_index().await?),
            Call::Members { shard } => Answer::Members(self.host.committed_members(shard).await?),
            Call::ChangeMember { group, op } => {
                Answer::Member(self.placement.change_member_local(group, op).await?)
            }
            Call::GroupStatus { shard } => Answer::Status(
                self.holds(shard)
                    .then(|| self.host.slot(shard).ok())
                    .flatten()
                    .map(|s| self.host.group_status(&s.group)),
            ),
            Call::ProposeMeta(cmd) => {
                self.host.propose_meta(cmd).await?;
                Answer::Proposed
            }
            Call::ProposeRuler(cmd) => {
                self.ruler().propose_here(cmd).await?;
                Answer::Proposed
            }
            Call::CommandLevel => Answer::Level(tidemark_storage::COMMAND_LEVEL),
            Call::RunMaintenance { shard, job } => {
                Answer::Maintenance(self.retention.run_local(shard, job).await?)
            }
        })
    }
}
