//! The `/api/v1/admin/*` endpoints that take or answer JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ShardMapVersion;

/// `POST /api/v1/admin/cluster/members`: one change of one group's members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberChange {
    /// The group (0: meta, shard s: s + 1).
    pub group: u64,
    pub op: MemberChangeOp,
    /// The node to add, remove or make leader.
    pub node_id: u64,
    /// Its gRPC address (for `add` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
}

/// What a [`MemberChange`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberChangeOp {
    /// Add the node as a voter (a learner first, promoted once caught up).
    Add,
    /// Remove the node from the group.
    Remove,
    /// Make the node (a voter) the group's leader.
    TransferLeader,
}

impl MemberChangeOp {
    /// The op as it is written on the wire (`add`, `remove`, `transfer-leader`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberChangeOp::Add => "add",
            MemberChangeOp::Remove => "remove",
            MemberChangeOp::TransferLeader => "transfer-leader",
        }
    }
}

/// The answer to a [`MemberChange`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberChangeAnswer {
    pub group: u64,
    pub outcome: MemberOutcome,
}

/// What a member change did. Also crosses between nodes (variant order is part of that
/// format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberOutcome {
    /// The node is now a voter of the group.
    Added,
    /// The node is no longer in the group.
    Removed,
    /// The node leads the group now.
    Transferred,
    /// Nothing to do: the group already was as asked.
    Unchanged,
}

impl MemberOutcome {
    /// The outcome as it is written on the wire (`added`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberOutcome::Added => "added",
            MemberOutcome::Removed => "removed",
            MemberOutcome::Transferred => "transferred",
            MemberOutcome::Unchanged => "unchanged",
        }
    }
}

/// `POST /api/v1/admin/cluster/replication`: the target voters per shard (also its answer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicationChange {
    pub replication_factor: u32,
}

/// `POST /api/v1/admin/cluster/shards`: a new shard-map version of `shard_count` shards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShardCountChange {
    pub shard_count: u32,
}

/// The answer to a [`ShardCountChange`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardVersionOutcome {
    /// Whether a version was added (`false`: the newest one already had the shard count).
    pub changed: bool,
    /// The version (the newest one when nothing changed).
    pub version: ShardMapVersion,
    /// The voters of each shard the version created.
    pub placement: BTreeMap<u32, Vec<u64>>,
}

/// `GET /api/v1/admin/shards/digest`: one shard of the node, at one applied index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardDigest {
    pub shard: u32,
    pub applied_index: u64,
    /// A hash of the shard's logical content, 16 hex digits: replicas at one applied index
    /// must agree.
    pub digest: String,
}

/// `GET /api/v1/admin/shards/local`: what the node's storage holds of one shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalShard {
    pub shard: u32,
    /// Whether the node holds a replica of the shard.
    pub held: bool,
    pub series: u64,
    pub applied_index: u64,
    pub flushed_index: u64,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
    /// The index of the last entry of the node's log of the shard's group (none: its log is
    /// empty, as after the node emptied a replica it no longer holds). Absent from nodes of
    /// earlier builds.
    #[serde(default)]
    pub log_last_index: Option<u64>,
}
