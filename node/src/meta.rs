//! The meta group's state (the cluster map) and its commands, plus the node's cluster file.
//!
//! The cluster map is small and is applied by plain functions here (no I/O); the meta group's
//! state machine persists it with its last applied log id in the raft-log database (key
//! `0x02 | 0u64 | "sm"`, see `raft/log_store.rs`).
//!
//! # Formats (bincode, `raft/codec.rs`)
//! - [`MetaCommand`]: carried in log entries as `Request::Meta`.
//! - [`ClusterFile`] (node record `"cluster"` in the raft-log database, synced): what a node
//!   needs before any group runs (cluster id, its own node id, shard count). Field
//!   `version` is 1.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use tidemark_storage::ShardId;

use crate::raft::NodeId;

/// Version of [`ClusterFile`]'s layout.
pub const CLUSTER_FILE_VERSION: u32 = 1;

/// A command of the meta group. Applying one depends only on the command and the map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MetaCommand {
    /// Creates the cluster. Applied only once: ignored when the map already has a cluster id.
    Init {
        /// The cluster id (UUID v4 generated once by a one-node bootstrap, or derived from the
        /// token and member list of an `--initial-cluster` bootstrap: [`initial_cluster_id`]).
        cluster_id: String,
        /// Number of shards `S`.
        shard_count: u32,
        /// Voters per shard group.
        replication_factor: u32,
        /// The bootstrapping node and its advertised gRPC address.
        node_id: NodeId,
        /// Advertised gRPC address of `node_id`.
        addr: String,
    },
    /// Adds a node or updates its advertised address.
    SetNode {
        /// The node.
        node_id: NodeId,
        /// Its advertised gRPC address.
        addr: String,
    },
    /// Removes a node from the map (a no-op for a node that is not there).
    RemoveNode {
        /// The node.
        node_id: NodeId,
    },
    /// Records the voters of shard `shard`'s group, as its leader committed them (placement is
    /// a record of the shard groups' memberships: the groups themselves are the truth, and a
    /// shard leader re-records a placement that differs).
    SetReplicas {
        /// The shard.
        shard: ShardId,
        /// Its voters, in id order.
        nodes: Vec<NodeId>,
    },
    /// Sets the target number of voters per shard group (`tidemarkctl cluster
    /// set-replication`): joining nodes fill shards below it, `rebalance` adds and removes
    /// replicas towards it.
    SetReplicationFactor {
        /// The target (at least 1).
        replication_factor: u32,
    },
}

/// The cluster map held by the meta group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterMap {
    /// The cluster id; `None` until `Init` is applied.
    pub cluster_id: Option<String>,
    /// Number of shards `S` (0 until `Init`).
    pub shard_count: u32,
    /// Voters per shard group.
    pub replication_factor: u32,
    /// Nodes and their advertised gRPC addresses.
    pub nodes: BTreeMap<NodeId, String>,
    /// The voters of each shard's group as last recorded ([`MetaCommand::SetReplicas`]). A
    /// shard without an entry is held by every node (clusters created before placement was
    /// recorded).
    pub replicas: BTreeMap<ShardId, Vec<NodeId>>,
}

impl ClusterMap {
    /// Applies one command (deterministic; never fails: an `Init` of an initialised cluster is
    /// a no-op).
    pub fn apply(&mut self, cmd: &MetaCommand) {
        match cmd {
            MetaCommand::Init {
                cluster_id,
                shard_count,
                replication_factor,
                node_id,
                addr,
            } => {
                if self.cluster_id.is_some() {
                    return;
                }
                self.cluster_id = Some(cluster_id.clone());
                self.shard_count = *shard_count;
                self.replication_factor = *replication_factor;
                self.nodes.insert(*node_id, addr.clone());
            }
            MetaCommand::SetNode { node_id, addr } => {
                self.nodes.insert(*node_id, addr.clone());
            }
            MetaCommand::RemoveNode { node_id } => {
                self.nodes.remove(node_id);
            }
            MetaCommand::SetReplicas { shard, nodes } => {
                self.replicas.insert(*shard, nodes.clone());
            }
            MetaCommand::SetReplicationFactor { replication_factor } => {
                self.replication_factor = (*replication_factor).max(1);
            }
        }
    }

    /// The nodes holding a replica of `shard`, as recorded (every node when nothing is).
    pub fn replicas_of(&self, shard: ShardId) -> Vec<NodeId> {
        match self.replicas.get(&shard) {
            Some(nodes) => nodes.clone(),
            None => self.nodes.keys().copied().collect(),
        }
    }

    /// Whether `node` is among [`ClusterMap::replicas_of`] `shard`, without listing them.
    pub fn is_replica(&self, shard: ShardId, node: NodeId) -> bool {
        match self.replicas.get(&shard) {
            Some(nodes) => nodes.contains(&node),
            None => self.nodes.contains_key(&node),
        }
    }
}

/// The initial placement of `shard_count` shards with `replication_factor` voters each over
/// `members` (in id order): shard `s` goes to the `replication_factor` members from position
/// `s mod N` on, so that replicas and (first-listed) leaders spread evenly. Every member of an
/// `--initial-cluster` bootstrap computes the same placement from the same list.
pub fn initial_placement(
    members: &[NodeId],
    shard_count: u32,
    replication_factor: u32,
) -> BTreeMap<ShardId, Vec<NodeId>> {
    let n = members.len();
    let rf = (replication_factor as usize).clamp(1, n.max(1));
    (0..shard_count)
        .map(|shard| {
            let mut nodes: Vec<NodeId> =
                (0..rf).map(|i| members[(shard as usize + i) % n]).collect();
            nodes.sort_unstable();
            (shard, nodes)
        })
        .collect()
}

/// The node's record of the cluster it belongs to, written (synced) before any group is
/// initialised, read first on every start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterFile {
    /// Layout version ([`CLUSTER_FILE_VERSION`]).
    pub version: u32,
    /// The cluster id.
    pub cluster_id: String,
    /// This node's id.
    pub node_id: NodeId,
    /// Number of shards `S` (fixed for now; shard-map versions are the cluster issue's).
    pub shard_count: u32,
}

/// A fresh random cluster id in UUID v4 text form.
pub fn new_cluster_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

/// The cluster id of an `--initial-cluster` bootstrap: a function of the token and the member
/// list only, so that every member computes the same id without talking to the others.
///
/// xxh3-128 over `token \0 (id=addr\0)*` (members in id order), formatted as a UUID with the
/// version nibble 8 (RFC 9562 "custom") and the RFC variant bits.
pub fn initial_cluster_id(token: &str, members: &BTreeMap<NodeId, String>) -> String {
    let mut input = Vec::new();
    input.extend_from_slice(token.as_bytes());
    input.push(0);
    for (id, addr) in members {
        input.extend_from_slice(format!("{id}={addr}").as_bytes());
        input.push(0);
    }
    let mut b = xxhash_rust::xxh3::xxh3_128(&input).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

fn uuid_text(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_applies_once() {
        let mut m = ClusterMap::default();
        let init = |id: &str| MetaCommand::Init {
            cluster_id: id.into(),
            shard_count: 4,
            replication_factor: 1,
            node_id: 1,
            addr: "a:1".into(),
        };
        m.apply(&init("x"));
        m.apply(&init("y"));
        assert_eq!(m.cluster_id.as_deref(), Some("x"));
        assert_eq!(m.shard_count, 4);
        m.apply(&MetaCommand::SetNode {
            node_id: 2,
            addr: "b:2".into(),
        });
        assert_eq!(m.nodes.len(), 2);
    }

    #[test]
    fn cluster_id_is_uuid_v4() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!("89ab".contains(&id[19..20]));
        assert_ne!(id, new_cluster_id());
    }

    #[test]
    fn initial_cluster_id_depends_on_token_and_members_only() {
        let members = |n: u64| -> BTreeMap<NodeId, String> {
            (1..=n)
                .map(|i| (i, format!("127.0.0.1:{}", 7000 + i)))
                .collect()
        };
        let id = initial_cluster_id("tidemark", &members(3));
        assert_eq!(id, initial_cluster_id("tidemark", &members(3)));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert!("89ab".contains(&id[19..20]));
        assert_ne!(id, initial_cluster_id("other", &members(3)));
        assert_ne!(id, initial_cluster_id("tidemark", &members(2)));
    }

    #[test]
    fn initial_placement_spreads_replicas_evenly() {
        let p = initial_placement(&[1, 2, 3, 4, 5], 10, 3);
        assert_eq!(p.len(), 10);
        assert_eq!(p[&0], vec![1, 2, 3]);
        assert_eq!(p[&4], vec![1, 2, 5]);
        let mut per_node = BTreeMap::<NodeId, usize>::new();
        for nodes in p.values() {
            assert_eq!(nodes.len(), 3);
            for n in nodes {
                *per_node.entry(*n).or_default() += 1;
            }
        }
        assert!(per_node.values().all(|&c| c == 6), "{per_node:?}");
        // More voters than members: every member holds every shard.
        assert_eq!(initial_placement(&[7, 9], 2, 3)[&1], vec![7, 9]);
    }

    #[test]
    fn placement_is_recorded_and_defaults_to_every_node() {
        let mut m = ClusterMap::default();
        for (id, addr) in [(1, "a:1"), (2, "b:2"), (3, "c:3")] {
            m.apply(&MetaCommand::SetNode {
                node_id: id,
                addr: addr.into(),
            });
        }
        assert_eq!(m.replicas_of(0), vec![1, 2, 3]);
        m.apply(&MetaCommand::SetReplicas {
            shard: 0,
            nodes: vec![2, 3],
        });
        assert_eq!(m.replicas_of(0), vec![2, 3]);
        assert_eq!(m.replicas_of(1), vec![1, 2, 3]);
        assert!(!m.is_replica(0, 1) && m.is_replica(0, 2) && m.is_replica(1, 1));
        m.apply(&MetaCommand::SetReplicationFactor {
            replication_factor: 0,
        });
        assert_eq!(m.replication_factor, 1);
    }
}
