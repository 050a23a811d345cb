//! Reading the meta group's persisted record of any earlier layout version: each is decoded
//! into its own shape and upgraded to the current [`MetaSmRecord`].

use std::io;

use serde::Deserialize;
use tidemark_storage::ShardId;

use super::{META_RECORD_VERSION, MetaSmRecord};
use crate::meta::ClusterMap;
use crate::raft::{LogId, StoredMembership, codec};

/// Versions 1 to 5 of [`MetaSmRecord`]: a cluster map without API tokens (before 5 without
/// the retention policy, before 4 without the ruler's creator, before 3 without shard-map
/// versions, in version 1 without replica placement).
#[derive(Deserialize)]
struct MetaSmRecordOld<M> {
    version: u32,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    map: M,
}

/// The cluster map of version 1.
#[derive(Deserialize)]
struct ClusterMapV1 {
    cluster_id: Option<String>,
    shard_count: u32,
    replication_factor: u32,
    nodes: std::collections::BTreeMap<crate::raft::NodeId, String>,
}

/// The cluster map of version 5.
#[derive(Deserialize)]
struct ClusterMapV5 {
    cluster_id: Option<String>,
    shard_count: u32,
    replication_factor: u32,
    nodes: std::collections::BTreeMap<crate::raft::NodeId, String>,
    replicas: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
    shard_map: crate::meta::ShardMap,
    created: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
    ruler_creator: Option<crate::raft::NodeId>,
    retention: Option<String>,
}

/// The cluster map of version 4.
#[derive(Deserialize)]
struct ClusterMapV4 {
    cluster_id: Option<String>,
    shard_count: u32,
    replication_factor: u32,
    nodes: std::collections::BTreeMap<crate::raft::NodeId, String>,
    replicas: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
    shard_map: crate::meta::ShardMap,
    created: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
    ruler_creator: Option<crate::raft::NodeId>,
}

/// The cluster map of version 3.
#[derive(Deserialize)]
struct ClusterMapV3 {
    cluster_id: Option<String>,
    shard_count: u32,
    replication_factor: u32,
    nodes: std::collections::BTreeMap<crate::raft::NodeId, String>,
    replicas: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
    shard_map: crate::meta::ShardMap,
    created: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
}

/// The cluster map of version 2.
#[derive(Deserialize)]
struct ClusterMapV2 {
    cluster_id: Option<String>,
    shard_count: u32,
    replication_factor: u32,
    nodes: std::collections::BTreeMap<crate::raft::NodeId, String>,
    replicas: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
}

/// Decodes a [`MetaSmRecord`] of any version. A version 1 map has no recorded placement (every
/// node holds every shard, which is what version 1 clusters did); maps before version 3 have
/// one shard-map version, their fixed shard count.
pub(super) fn decode_meta_record(bytes: &[u8]) -> io::Result<MetaSmRecord> {
    if let Ok(rec) = codec::decode::<MetaSmRecord>(bytes)
        && rec.version == META_RECORD_VERSION
    {
        return Ok(rec);
    }
    if let Ok(v5) = codec::decode::<MetaSmRecordOld<ClusterMapV5>>(bytes)
        && v5.version == 5
    {
        let m = v5.map;
        return Ok(MetaSmRecord {
            version: META_RECORD_VERSION,
            last_applied: v5.last_applied,
            membership: v5.membership,
            map: ClusterMap {
                cluster_id: m.cluster_id,
                shard_count: m.shard_count,
                replication_factor: m.replication_factor,
                nodes: m.nodes,
                replicas: m.replicas,
                shard_map: m.shard_map,
                created: m.created,
                ruler_creator: m.ruler_creator,
                retention: m.retention,
                ..Default::default()
            },
        });
    }
    if let Ok(v4) = codec::decode::<MetaSmRecordOld<ClusterMapV4>>(bytes)
        && v4.version == 4
    {
        let m = v4.map;
        return Ok(MetaSmRecord {
            version: META_RECORD_VERSION,
            last_applied: v4.last_applied,
            membership: v4.membership,
            map: ClusterMap {
                cluster_id: m.cluster_id,
                shard_count: m.shard_count,
                replication_factor: m.replication_factor,
                nodes: m.nodes,
                replicas: m.replicas,
                shard_map: m.shard_map,
                created: m.created,
                ruler_creator: m.ruler_creator,
                ..Default::default()
            },
        });
    }
    if let Ok(v3) = codec::decode::<MetaSmRecordOld<ClusterMapV3>>(bytes)
        && v3.version == 3
    {
        let m = v3.map;
        return Ok(MetaSmRecord {
            version: META_RECORD_VERSION,
            last_applied: v3.last_applied,
            membership: v3.membership,
            map: ClusterMap {
                cluster_id: m.cluster_id,
                shard_count: m.shard_count,
                replication_factor: m.replication_factor,
                nodes: m.nodes,
                replicas: m.replicas,
                shard_map: m.shard_map,
                created: m.created,
                ..Default::default()
            },
        });
    }
    let upgrade =
        |last_applied: Option<LogId>, membership: StoredMembership, map: ClusterMap| MetaSmRecord {
            version: META_RECORD_VERSION,
            last_applied,
            membership,
            map: ClusterMap {
                shard_map: match map.cluster_id {
                    Some(_) => crate::meta::ShardMap::fixed(map.shard_count),
                    None => Default::default(),
                },
                ..map
            },
        };
    if let Ok(v2) = codec::decode::<MetaSmRecordOld<ClusterMapV2>>(bytes)
        && v2.version == 2
    {
        let m = v2.map;
        return Ok(upgrade(
            v2.last_applied,
            v2.membership,
            ClusterMap {
                cluster_id: m.cluster_id,
                shard_count: m.shard_count,
                replication_factor: m.replication_factor,
                nodes: m.nodes,
                replicas: m.replicas,
                ..Default::default()
            },
        ));
    }
    let v1: MetaSmRecordOld<ClusterMapV1> = codec::decode(bytes)?;
    if v1.version != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("meta state record version {} is not supported", v1.version),
        ));
    }
    let m = v1.map;
    Ok(upgrade(
        v1.last_applied,
        v1.membership,
        ClusterMap {
            cluster_id: m.cluster_id,
            shard_count: m.shard_count,
            replication_factor: m.replication_factor,
            nodes: m.nodes,
            ..Default::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[test]
    fn a_version_4_record_reads_without_a_retention_policy() {
        #[derive(Serialize)]
        struct V4Map {
            cluster_id: Option<String>,
            shard_count: u32,
            replication_factor: u32,
            nodes: std::collections::BTreeMap<crate::raft::NodeId, String>,
            replicas: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
            shard_map: crate::meta::ShardMap,
            created: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
            ruler_creator: Option<crate::raft::NodeId>,
        }
        #[derive(Serialize)]
        struct V4 {
            version: u32,
            last_applied: Option<LogId>,
            membership: StoredMembership,
            map: V4Map,
        }
        let bytes = codec::encode(&V4 {
            version: 4,
            last_applied: None,
            membership: StoredMembership::default(),
            map: V4Map {
                cluster_id: Some("c".into()),
                shard_count: 4,
                replication_factor: 1,
                nodes: [(1, "a:1".to_string())].into_iter().collect(),
                replicas: Default::default(),
                shard_map: crate::meta::ShardMap::fixed(4),
                created: Default::default(),
                ruler_creator: Some(1),
            },
        })
        .unwrap();
        let rec = decode_meta_record(&bytes).unwrap();
        assert_eq!(rec.version, META_RECORD_VERSION);
        assert_eq!(rec.map.ruler_creator, Some(1));
        assert_eq!(rec.map.retention, None);
        let again = codec::encode(&rec).unwrap();
        assert_eq!(decode_meta_record(&again).unwrap(), rec);
    }

    #[test]
    fn a_version_5_record_reads_with_its_policy_and_without_tokens() {
        #[derive(Serialize)]
        struct V5Map {
            cluster_id: Option<String>,
            shard_count: u32,
            replication_factor: u32,
            nodes: std::collections::BTreeMap<crate::raft::NodeId, String>,
            replicas: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
            shard_map: crate::meta::ShardMap,
            created: std::collections::BTreeMap<ShardId, Vec<crate::raft::NodeId>>,
            ruler_creator: Option<crate::raft::NodeId>,
            retention: Option<String>,
        }
        #[derive(Serialize)]
        struct V5 {
            version: u32,
            last_applied: Option<LogId>,
            membership: StoredMembership,
            map: V5Map,
        }
        let bytes = codec::encode(&V5 {
            version: 5,
            last_applied: None,
            membership: StoredMembership::default(),
            map: V5Map {
                cluster_id: Some("c".into()),
                shard_count: 2,
                replication_factor: 1,
                nodes: [(1, "a:1".to_string())].into_iter().collect(),
                replicas: Default::default(),
                shard_map: crate::meta::ShardMap::fixed(2),
                created: Default::default(),
                ruler_creator: None,
                retention: Some("{\"raw\":\"3d\"}".into()),
            },
        })
        .unwrap();
        let rec = decode_meta_record(&bytes).unwrap();
        assert_eq!(rec.version, META_RECORD_VERSION);
        assert_eq!(rec.map.retention.as_deref(), Some("{\"raw\":\"3d\"}"));
        assert!(rec.map.tokens.is_empty());
        let again = codec::encode(&rec).unwrap();
        assert_eq!(decode_meta_record(&again).unwrap(), rec);
    }
}
