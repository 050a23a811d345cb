//! What a meta command must be to be applied, checked where it is applied against constants
//! and the replicated map only (so every replica decides alike): the proposer validated it
//! already, but a proposal that bypassed that (a bug, an older node, a hand-made call) must not
//! wedge the map, for example with a shard-map version of a million shards that every node
//! would then try to start. A refused command is skipped and logged.

use super::{ClusterMap, MetaCommand};

/// Most shards a shard-map version may have (each is a Raft group on every node).
pub const SHARD_COUNT_MAX: u32 = 1024;

/// Most voters per shard group.
pub const REPLICATION_FACTOR_MAX: u32 = 9;

/// Longest advertised node address, in bytes.
pub const NODE_ADDR_BYTES_MAX: usize = 256;

impl MetaCommand {
    /// Why this command may not be applied to `map`, if it may not.
    pub(crate) fn refusal(&self, map: &ClusterMap) -> Option<String> {
        match self {
            MetaCommand::Init {
                cluster_id,
                shard_count,
                replication_factor,
                node_id,
                addr,
            } => (cluster_id.is_empty())
                .then(|| "an empty cluster id".to_string())
                // Earlier versions capped neither at apply nor in the configuration: only what
                // never worked is refused, so that replicas of every version apply alike.
                .or_else(|| (*shard_count == 0).then(|| "no shards".to_string()))
                .or_else(|| replication_refusal(*replication_factor))
                .or_else(|| node_refusal(*node_id, addr)),
            MetaCommand::SetNode { node_id, addr } => node_refusal(*node_id, addr),
            MetaCommand::RemoveNode { .. } | MetaCommand::CreateRuler { .. } => None,
            MetaCommand::SetReplicas { shard, nodes } => {
                if map.cluster_id.is_some() && *shard >= map.shard_map.groups() {
                    return Some(format!(
                        "shard {shard} does not exist ({} shard groups)",
                        map.shard_map.groups()
                    ));
                }
                voters_refusal(nodes)
            }
            MetaCommand::SetReplicationFactor { replication_factor } => {
                replication_refusal(*replication_factor)
            }
            MetaCommand::AddShardVersion {
                shard_count,
                placement,
                ..
            } => {
                if let Some(r) = shard_count_refusal(*shard_count) {
                    return Some(r);
                }
                // Entries for shards the version does not create are ignored by apply.
                placement.values().find_map(|nodes| voters_refusal(nodes))
            }
            // The policy's text is checked by its proposer, not here: a later version's
            // policy fields would make older replicas refuse what newer ones apply. A text
            // that does not resolve leaves retention idle (logged), not the map wedged.
            MetaCommand::SetRetention { .. } => None,
            MetaCommand::CreateToken { id, token } => {
                if map.tokens.len() >= crate::tokens::TOKENS_MAX {
                    return Some(format!(
                        "a token beyond the {} the cluster keeps",
                        crate::tokens::TOKENS_MAX
                    ));
                }
                if id.is_empty() || id.len() > 64 || token.hash.len() != 32 {
                    return Some("a malformed token".into());
                }
                crate::tokens::refusal(&token.name, &token.roles)
            }
            MetaCommand::RevokeToken { .. } | MetaCommand::SetMetadata { .. } => None,
        }
    }
}

fn shard_count_refusal(count: u32) -> Option<String> {
    (count == 0 || count > SHARD_COUNT_MAX)
        .then(|| format!("a shard count of {count}, not 1 to {SHARD_COUNT_MAX}"))
}

/// Only 0: the API and the configuration cap the factor at [`REPLICATION_FACTOR_MAX`], but
/// earlier versions did not, and a cap at apply would make replicas of different versions
/// apply the same entry differently.
fn replication_refusal(rf: u32) -> Option<String> {
    (rf == 0).then(|| "a replication factor of 0".to_string())
}

fn node_refusal(node_id: u64, addr: &str) -> Option<String> {
    if node_id == 0 {
        return Some("node id 0".into());
    }
    (addr.is_empty() || addr.len() > NODE_ADDR_BYTES_MAX).then(|| {
        format!(
            "node {node_id}'s address of {} bytes, not 1 to {NODE_ADDR_BYTES_MAX}",
            addr.len()
        )
    })
}

/// Voters one record may list: a group at the largest factor may hold more for a while, as
/// a replica is added before another is removed.
const VOTERS_MAX: usize = 2 * REPLICATION_FACTOR_MAX as usize;

fn voters_refusal(nodes: &[u64]) -> Option<String> {
    if nodes.len() > VOTERS_MAX {
        return Some(format!("{} voters, more than {VOTERS_MAX}", nodes.len()));
    }
    nodes
        .contains(&0)
        .then(|| "node id 0 among the voters".to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn initialised() -> ClusterMap {
        let mut m = ClusterMap::default();
        m.apply(&MetaCommand::Init {
            cluster_id: "c".into(),
            shard_count: 4,
            replication_factor: 1,
            node_id: 1,
            addr: "a:1".into(),
        });
        m
    }

    #[test]
    fn bad_commands_leave_the_map_as_it_was() {
        let m = initialised();
        let bad = [
            MetaCommand::AddShardVersion {
                start_ms: 1,
                shard_count: SHARD_COUNT_MAX + 1,
                placement: BTreeMap::new(),
            },
            MetaCommand::AddShardVersion {
                start_ms: 1,
                shard_count: 8,
                placement: BTreeMap::from([(7, vec![0])]),
            },
            MetaCommand::SetReplicationFactor {
                replication_factor: 0,
            },
            MetaCommand::SetNode {
                node_id: 0,
                addr: "a:2".into(),
            },
            MetaCommand::SetNode {
                node_id: 2,
                addr: "x".repeat(NODE_ADDR_BYTES_MAX + 1),
            },
            MetaCommand::SetReplicas {
                shard: 4,
                nodes: vec![1],
            },
            MetaCommand::SetReplicas {
                shard: 0,
                nodes: (1..=20).collect(),
            },
        ];
        for cmd in bad {
            let mut after = m.clone();
            after.apply(&cmd);
            assert_eq!(after, m, "{cmd:?} changed the map");
            assert!(cmd.refusal(&m).is_some(), "{cmd:?}");
        }
    }

    #[test]
    fn good_commands_pass() {
        let m = initialised();
        let good = [
            MetaCommand::AddShardVersion {
                start_ms: 1,
                shard_count: 8,
                placement: BTreeMap::from([(7, vec![1])]),
            },
            MetaCommand::SetReplicationFactor {
                replication_factor: 3,
            },
            MetaCommand::SetNode {
                node_id: 2,
                addr: "10.0.0.2:9202".into(),
            },
            MetaCommand::SetReplicas {
                shard: 3,
                nodes: vec![1, 2, 3],
            },
            MetaCommand::SetRetention {
                policy: Some(r#"{"raw":"7d"}"#.into()),
                if_unset: false,
            },
        ];
        let reset = MetaCommand::SetRetention {
            policy: None,
            if_unset: false,
        };
        assert_eq!(reset.refusal(&m), None);
        for cmd in good {
            assert_eq!(cmd.refusal(&m), None, "{cmd:?}");
            let mut after = m.clone();
            after.apply(&cmd);
            assert_ne!(after, m, "{cmd:?} did nothing");
        }
    }
}
