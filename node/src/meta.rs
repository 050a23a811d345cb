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

mod checks;
pub use checks::{NODE_ADDR_BYTES_MAX, REPLICATION_FACTOR_MAX, SHARD_COUNT_MAX};
pub mod metadata;
pub use metadata::MetadataMap;

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
    /// Adds a shard-map version (`tidemarkctl shards set`): from `start_ms` on, series go to
    /// `shard_count` shards. Ignored unless `start_ms` is after the last version's start and
    /// `shard_count` is at least 1. Shards it brings into existence get the voters in
    /// `placement`; the nodes listed there initialise their groups.
    AddShardVersion {
        /// Chosen by the proposer: a multiple of `shard_version_align_ms` at least
        /// `shard_version_lead_ms` plus `write_timeout_ms` ahead of its clock.
        start_ms: i64,
        /// `S` of the new version.
        shard_count: u32,
        /// The voters of each shard this version creates (shard ids from the current number of
        /// shard groups up to `shard_count`).
        placement: BTreeMap<ShardId, Vec<NodeId>>,
    },
    /// Records that `node_id` creates the ruler group (the meta leader proposes it once, when
    /// no node has): that node, and only it, initialises the group with itself as its voter;
    /// the ruler leader then gives it the meta group's voters. Ignored once a creator is
    /// recorded.
    CreateRuler {
        /// The creating node.
        node_id: NodeId,
    },
    /// Sets the retention policy (`None`: back to the built-in defaults). The proposer checked
    /// it and wrote it as canonical JSON (`tidemark_api::retention::RetentionPolicy`); apply
    /// stores the text. Level 2: proposed once every node applies it.
    SetRetention {
        /// The policy's canonical JSON.
        policy: Option<String>,
        /// A seed from a node's configuration: applied only when no policy was ever set.
        if_unset: bool,
    },
    /// Adds an API token (`tidemarkctl token create`). Ignored when the id is taken. Level 4.
    CreateToken {
        /// The token's id (the public part of the token).
        id: String,
        /// Its name, roles, secret hash and creation time.
        token: crate::tokens::StoredToken,
    },
    /// Removes an API token (`tidemarkctl token revoke`; a no-op for an unknown id). Level 4.
    RevokeToken {
        /// The token's id.
        id: String,
    },
    /// Adds metric metadata received with remote-write (what the map does not hold yet,
    /// normalized by the proposer: `meta/metadata.rs`). Applied to the state machine's
    /// [`MetadataMap`], not to the [`ClusterMap`]. Level 10.
    SetMetadata {
        /// Metric name and entry, in the order they are added.
        entries: Vec<(String, tidemark_ingest::MetricMetadata)>,
        /// Most metric names the map may hold (the proposer's `metadata_metrics_max`).
        names_max: u64,
    },
}

impl MetaCommand {
    /// The cluster version every node must support before this command is proposed.
    pub fn required_level(&self) -> u32 {
        match self {
            MetaCommand::SetRetention { .. } => 2,
            MetaCommand::CreateToken { .. } | MetaCommand::RevokeToken { .. } => 4,
            MetaCommand::SetMetadata { .. } => 10,
            _ => 1,
        }
    }
}

pub use tidemark_api::ShardMapVersion;

/// The versions of a shard map, in start order, and what they say about a series and a time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMap {
    versions: Vec<ShardMapVersion>,
}

impl ShardMap {
    /// A map with one version of `shard_count` shards covering all time.
    pub fn fixed(shard_count: u32) -> Self {
        ShardMap {
            versions: vec![ShardMapVersion {
                start_ms: i64::MIN,
                shard_count,
                groups: shard_count,
            }],
        }
    }

    /// The versions, in start order.
    pub fn versions(&self) -> &[ShardMapVersion] {
        &self.versions
    }

    /// Number of shard groups (ids `0..groups`).
    pub fn groups(&self) -> u32 {
        self.versions.last().map_or(0, |v| v.groups)
    }

    /// The version covering `t_ms`.
    pub fn version_at(&self, t_ms: i64) -> &ShardMapVersion {
        let i = self.versions.partition_point(|v| v.start_ms <= t_ms);
        &self.versions[i.saturating_sub(1)]
    }

    /// The shard a series with key hash `key` belongs to at `t_ms`.
    pub fn shard_of(&self, key: &tidemark_storage::SeriesKey, t_ms: i64) -> ShardId {
        key.shard(self.version_at(t_ms).shard_count)
    }

    /// The starts of every version after the first: a series may be in a different shard on
    /// each side of one.
    pub fn boundaries(&self) -> Vec<i64> {
        self.versions.iter().skip(1).map(|v| v.start_ms).collect()
    }

    /// The start of the first version after the one covering `t_ms`, if any.
    pub fn next_start_after(&self, t_ms: i64) -> Option<i64> {
        let i = self.versions.partition_point(|v| v.start_ms <= t_ms);
        self.versions.get(i).map(|v| v.start_ms)
    }

    /// Hands each run of `sw`'s samples that one version covers to `out`, with the shard the
    /// series belongs to in that version (samples are sorted by time).
    pub(crate) fn split_write<P: crate::writes::WritePart>(
        &self,
        sw: P,
        mut out: impl FnMut(ShardId, P),
    ) {
        let (Some(first), Some(last)) = (sw.first_t(), sw.last_t()) else {
            return;
        };
        if !self.splits(first, last) {
            out(self.shard_of(sw.key(), first), sw);
            return;
        }
        let mut part = sw;
        while let Some(first) = part.first_t() {
            let shard = self.shard_of(part.key(), first);
            let n = match self.next_start_after(first) {
                Some(next) => part.count_before(next),
                None => part.len(),
            };
            let rest = part.split_off(n);
            out(shard, part);
            part = rest;
        }
    }

    /// Whether every sample of `sw` (sorted by time) belongs to shard `shard`.
    pub(crate) fn all_in<P: crate::writes::WritePart>(&self, sw: &P, shard: ShardId) -> bool {
        let (Some(first), Some(last)) = (sw.first_t(), sw.last_t()) else {
            return true;
        };
        if !self.splits(first, last) {
            return self.shard_of(sw.key(), first) == shard;
        }
        (0..sw.len()).all(|i| self.shard_of(sw.key(), sw.t(i)) == shard)
    }

    /// Whether a series may have samples in more than one shard within `[mint_ms, maxt_ms]`.
    pub fn splits(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        self.versions
            .iter()
            .skip(1)
            .any(|v| mint_ms < v.start_ms && v.start_ms <= maxt_ms)
    }

    /// Adds a version of `shard_count` shards from `start_ms` on; `false` (and no change) when
    /// it does not start after the last one or has no shard.
    fn push(&mut self, start_ms: i64, shard_count: u32) -> bool {
        let last = self.versions.last();
        if shard_count == 0 || last.is_some_and(|v| v.start_ms >= start_ms) {
            return false;
        }
        let groups = self.groups().max(shard_count);
        self.versions.push(ShardMapVersion {
            start_ms,
            shard_count,
            groups,
        });
        true
    }
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
    /// The shard map's versions (empty until `Init`, whose `shard_count` is the first).
    pub shard_map: ShardMap,
    /// The voters each shard created by a later version started with (its nodes initialise
    /// the group with them while the shard's recorded voters are still these).
    pub created: BTreeMap<ShardId, Vec<NodeId>>,
    /// The node that created the ruler group ([`MetaCommand::CreateRuler`]).
    pub ruler_creator: Option<NodeId>,
    /// The retention policy as its canonical JSON ([`MetaCommand::SetRetention`]); `None`: the
    /// built-in defaults.
    pub retention: Option<String>,
    /// API tokens by id ([`MetaCommand::CreateToken`]).
    pub tokens: BTreeMap<String, crate::tokens::StoredToken>,
    /// Whether a token was ever created: authentication stays on once it is, even when every
    /// token is revoked (revoking the last one must not open the cluster).
    pub auth_enabled: bool,
}

impl ClusterMap {
    /// Applies one command (deterministic; never fails: an `Init` of an initialised cluster is
    /// a no-op).
    pub fn apply(&mut self, cmd: &MetaCommand) {
        if let Some(why) = cmd.refusal(self) {
            tracing::warn!(command = ?cmd, refused = %why, "meta command not applied");
            return;
        }
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
                self.shard_map = ShardMap::fixed(*shard_count);
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
            MetaCommand::AddShardVersion {
                start_ms,
                shard_count,
                placement,
            } => {
                let before = self.shard_map.groups();
                if self.cluster_id.is_none() || !self.shard_map.push(*start_ms, *shard_count) {
                    return;
                }
                for shard in before..self.shard_map.groups() {
                    let nodes = placement.get(&shard).cloned().unwrap_or_default();
                    self.created.insert(shard, nodes.clone());
                    self.replicas.insert(shard, nodes);
                }
            }
            MetaCommand::CreateRuler { node_id } => {
                if self.ruler_creator.is_none() {
                    self.ruler_creator = Some(*node_id);
                }
            }
            MetaCommand::SetRetention { policy, if_unset } => {
                if !*if_unset || self.retention.is_none() {
                    self.retention = policy.clone();
                }
            }
            MetaCommand::CreateToken { id, token } => {
                self.tokens
                    .entry(id.clone())
                    .or_insert_with(|| token.clone());
                self.auth_enabled = true;
            }
            MetaCommand::RevokeToken { id } => {
                self.tokens.remove(id);
            }
            // The state machine applies it to its metadata map.
            MetaCommand::SetMetadata { .. } => {}
        }
    }

    /// The shard map, or one fixed version of `shard_count` shards before `Init` is applied.
    pub fn shard_map_or(&self, shard_count: u32) -> ShardMap {
        if self.shard_map.versions.is_empty() {
            ShardMap::fixed(shard_count)
        } else {
            self.shard_map.clone()
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
    random_uuid()
}

/// A fresh random UUID v4 in text form (cluster ids, silence ids).
pub fn random_uuid() -> String {
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
    use std::collections::BTreeSet;

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
            replication_factor: 2,
        });
        // Refused where it is applied (the API refuses it before): the factor stays.
        m.apply(&MetaCommand::SetReplicationFactor {
            replication_factor: 0,
        });
        assert_eq!(m.replication_factor, 2);
    }

    #[test]
    fn shard_map_versions_route_by_time_and_only_grow() {
        let mut m = ClusterMap::default();
        let add = |start_ms: i64, shard_count: u32, placement: &[(ShardId, &[NodeId])]| {
            MetaCommand::AddShardVersion {
                start_ms,
                shard_count,
                placement: placement.iter().map(|(s, n)| (*s, n.to_vec())).collect(),
            }
        };
        // Before Init there is no map to add to.
        m.apply(&add(7_200_000, 4, &[]));
        assert!(m.shard_map.versions().is_empty());
        assert_eq!(m.shard_map_or(3).groups(), 3);
        m.apply(&MetaCommand::Init {
            cluster_id: "x".into(),
            shard_count: 2,
            replication_factor: 1,
            node_id: 1,
            addr: "a:1".into(),
        });
        m.apply(&add(7_200_000, 4, &[(2, &[1]), (3, &[1])]));
        // Not after the last start, or no shard: ignored.
        m.apply(&add(7_200_000, 8, &[]));
        m.apply(&add(10_800_000, 0, &[]));
        m.apply(&add(14_400_000, 3, &[(9, &[2])]));
        let map = &m.shard_map;
        assert_eq!(
            map.versions()
                .iter()
                .map(|v| (v.start_ms, v.shard_count, v.groups))
                .collect::<Vec<_>>(),
            vec![(i64::MIN, 2, 2), (7_200_000, 4, 4), (14_400_000, 3, 4)]
        );
        assert_eq!(map.groups(), 4);
        assert_eq!(map.boundaries(), vec![7_200_000, 14_400_000]);
        assert_eq!(map.version_at(i64::MIN).shard_count, 2);
        assert_eq!(map.version_at(7_199_999).shard_count, 2);
        assert_eq!(map.version_at(7_200_000).shard_count, 4);
        assert_eq!(map.version_at(i64::MAX).shard_count, 3);
        assert_eq!(map.next_start_after(0), Some(7_200_000));
        assert_eq!(map.next_start_after(7_200_000), Some(14_400_000));
        assert_eq!(map.next_start_after(14_400_000), None);
        assert!(map.splits(7_199_999, 7_200_000));
        assert!(!map.splits(7_200_000, 14_399_999));
        assert!(!map.splits(0, 7_199_999));
        // Only the shards a version creates take its placement; a shrinking one creates none.
        assert_eq!(m.replicas_of(2), vec![1]);
        assert_eq!(m.created.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert!(!m.replicas.contains_key(&9));
        let key = tidemark_storage::SeriesKey::from(&tidemark_storage::Labels::from_pairs(&[(
            "__name__", "up",
        )]));
        let samples: Vec<tidemark_storage::Sample> = [0, 7_200_000, 20_000_000]
            .iter()
            .map(|&t| tidemark_storage::Sample::new(t, 1.0))
            .collect();
        let write = |samples: &[tidemark_storage::Sample]| crate::request::SeriesWrite {
            key: key.clone(),
            samples: samples.to_vec(),
        };
        for s in &samples {
            let shard = map.shard_of(&key, s.t);
            assert_eq!(shard, key.shard(map.version_at(s.t).shard_count));
            assert!(map.all_in(&write(std::slice::from_ref(s)), shard));
        }
        let shards: BTreeSet<ShardId> = samples.iter().map(|s| map.shard_of(&key, s.t)).collect();
        assert_eq!(
            map.all_in(&write(&samples), map.shard_of(&key, 0)),
            shards.len() == 1
        );
        // A write split by version: each run to its shard, in order.
        let mut runs = Vec::new();
        map.split_write(write(&samples), |shard, part| {
            runs.push((shard, part.samples.len()))
        });
        let want: Vec<(ShardId, usize)> = samples
            .iter()
            .map(|s| (map.shard_of(&key, s.t), 1))
            .collect();
        assert_eq!(runs, want);
    }
}
