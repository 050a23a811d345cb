//! `GET /api/v1/status/cluster`: a node's view of the cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A node's view of the cluster: the cluster map and the state of every group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The node that answered.
    pub node_id: u64,
    pub cluster_id: String,
    /// Shard groups there are (the most shards any shard-map version has).
    pub shard_count: u32,
    /// The shard map's versions, oldest first.
    pub shard_map: Vec<ShardMapVersion>,
    /// Target voters per shard.
    pub replication_factor: u32,
    /// Nodes and their gRPC addresses.
    pub nodes: BTreeMap<u64, String>,
    /// The voters of every shard, as the cluster map records them.
    pub placement: BTreeMap<u32, Vec<u64>>,
    /// Every group: the node's own replicas as it knows them, every other shard as one of its
    /// replicas reports it.
    pub groups: Vec<GroupStatus>,
}

/// One version of the shard map: from `start_ms` on (until the next version), a series
/// belongs to shard `xxh3_64(labels) % shard_count`. Also the node's persisted form (field
/// order is part of that format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardMapVersion {
    /// First timestamp the version covers (`i64::MIN` for the first version).
    pub start_ms: i64,
    /// `S` in this version.
    pub shard_count: u32,
    /// The shard groups that exist once this version is added (the largest `shard_count` so
    /// far: shards are never dropped, a smaller `S` leaves the higher shards to their data).
    pub groups: u32,
}

/// The group id of the meta group in [`GroupStatus::group_id`].
pub const META_GROUP_ID: u64 = 0;

/// The group id of the ruler group in [`GroupStatus::group_id`]: the first id above every
/// shard's (shard `s` is group `s + 1`).
pub const RULER_GROUP_ID: u64 = u32::MAX as u64 + 2;

/// The state of one Raft group as a node knows it. Also crosses between nodes (field order
/// is part of that format).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// The group id (0: meta, shard s: s + 1).
    pub group_id: u64,
    /// The shard, for shard groups.
    pub shard: Option<u32>,
    /// The current leader, if known.
    pub leader: Option<u64>,
    /// The current term.
    pub term: u64,
    /// The index of the last log entry.
    pub last_log_index: Option<u64>,
    /// The index of the last applied entry.
    pub applied_index: Option<u64>,
    /// The index covered by the last flush (the last persisted state for the meta group).
    pub flushed_index: Option<u64>,
    /// The last log index purged from this node's log: a follower behind it catches up from a
    /// snapshot.
    pub purged_index: Option<u64>,
    /// The group's voters, as this node's replica knows them.
    pub voters: Vec<u64>,
    /// Members that are not voters yet (being added and caught up).
    pub learners: Vec<u64>,
}
