//! The Raft layer of a node: one openraft type configuration shared by every group, the log
//! store that all groups of a node share, the state machines (meta, ruler and shard groups) and
//! the gRPC transport.
//!
//! Group ids: the meta group is group [`META_GROUP`] (0); shard `s` is group `s + 1`
//! ([`shard_group`]); the ruler group is [`RULER_GROUP`], just above the shard id space. Every
//! Raft message and every log-store key carries the group id.
//!
//! Entry payloads ([`Request`]) are encoded with bincode (see [`codec`]); a shard command is
//! carried as the storage crate's compact binary `Command` encoding, never as JSON.

pub mod codec;
pub mod counters;
pub mod log_store;
pub mod network;
pub mod shard_timings;
pub mod state_machine;
pub mod transport_service;

#[cfg(test)]
pub(crate) mod test_engine;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};
use tidemark_storage::ShardId;

use crate::meta::MetaCommand;
use crate::ruler::record::RulerCommand;

/// A node's id in the cluster (stable across restarts, chosen by the operator or at init).
pub type NodeId = u64;

/// The id of a Raft group on a node: [`META_GROUP`] or [`shard_group`] of a shard.
pub type GroupId = u64;

/// The meta group: cluster id, nodes and their addresses, shard count, replication factor.
pub const META_GROUP: GroupId = 0;

/// The ruler group (rules, alert state, notification outbox): the first id above every
/// shard's.
pub const RULER_GROUP: GroupId = tidemark_api::RULER_GROUP_ID;

const _: () = assert!(RULER_GROUP == ShardId::MAX as GroupId + 2);

/// The group id of shard `shard`.
pub fn shard_group(shard: ShardId) -> GroupId {
    GroupId::from(shard) + 1
}

/// The shard of group `group`, `None` for the meta group (and ids beyond the shard id space).
pub fn group_shard(group: GroupId) -> Option<ShardId> {
    group.checked_sub(1).and_then(|s| ShardId::try_from(s).ok())
}

/// The application payload of a log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// A command of the meta group.
    Meta(MetaCommand),
    /// A shard command in the storage crate's binary `Command` encoding.
    Shard(Vec<u8>),
    /// A command of the ruler group.
    Ruler(RulerCommand),
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Meta(cmd) => write!(f, "meta({cmd:?})"),
            Request::Shard(bytes) => write!(f, "shard({} bytes)", bytes.len()),
            Request::Ruler(cmd) => write!(f, "ruler({})", cmd.kind()),
        }
    }
}

/// What applying an entry answers to the proposer: nothing beyond "applied".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {}

openraft::declare_raft_types!(
    /// The openraft type configuration of every Tidemark group: u64 node ids, node info is the
    /// node's advertised gRPC address (`BasicNode::addr`), Tokio runtime.
    pub TypeConfig:
        D = Request,
        R = Response,
);

/// One Raft group as run by this node.
pub type RaftGroup = openraft::Raft<TypeConfig, state_machine::GroupStateMachine>;

/// The node info stored in memberships: the node's advertised gRPC address.
pub type NodeInfo = openraft::BasicNode;

/// A log id of this configuration.
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;

/// A stored membership of this configuration.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;

/// Maps an openraft-side failure to an I/O error (openraft's storage traits speak `io::Error`).
pub(crate) fn io_err(e: impl fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
