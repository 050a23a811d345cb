//! Reading the meta group's persisted record of any earlier layout version: each is decoded
//! into its own shape and upgraded to the current [`MetaSmRecord`].

use std::io;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tidemark_storage::ShardId;

use super::{META_RECORD_VERSION, MetaSmRecord};
use crate::meta::ClusterMap;
use crate::raft::{LogId, StoredMembership, codec};

/// Versions 1 to 6 of [`MetaSmRecord`]: no metric metadata, and before 6 a cluster map
/// without API tokens (before 5 without
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
    if let Some(rec) = older::<ClusterMap>(bytes, 6)
        .or_else(|| older::<ClusterMapV5>(bytes, 5))
        .or_else(|| older::<ClusterMapV4>(bytes, 4))
        .or_else(|| older::<ClusterMapV3>(bytes, 3))
        .or_else(|| older::<ClusterMapV2>(bytes, 2))
    {
        return Ok(rec);
    }
    let v1: MetaSmRecordOld<ClusterMapV1> = codec::decode(bytes)?;
    if v1.version != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("meta state record version {} is not supported", v1.version),
        ));
    }
    Ok(upgraded(v1))
}

/// The record of `bytes` when it is one of layout `version`, with map `M`, upgraded.
fn older<M: DeserializeOwned + Into<ClusterMap>>(
    bytes: &[u8],
    version: u32,
) -> Option<MetaSmRecord> {
    codec::decode::<MetaSmRecordOld<M>>(bytes)
        .ok()
        .filter(|r| r.version == version)
        .map(upgraded)
}

fn upgraded<M: Into<ClusterMap>>(old: MetaSmRecordOld<M>) -> MetaSmRecord {
    MetaSmRecord {
        version: META_RECORD_VERSION,
        last_applied: old.last_applied,
        membership: old.membership,
        map: old.map.into(),
        metadata: Default::default(),
    }
}

// Each layout upgrades to the next, and so to the current map.

impl From<ClusterMapV5> for ClusterMap {
    fn from(m: ClusterMapV5) -> Self {
        ClusterMap {
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
        }
    }
}

impl From<ClusterMapV4> for ClusterMapV5 {
    fn from(m: ClusterMapV4) -> Self {
        ClusterMapV5 {
            cluster_id: m.cluster_id,
            shard_count: m.shard_count,
            replication_factor: m.replication_factor,
            nodes: m.nodes,
            replicas: m.replicas,
            shard_map: m.shard_map,
            created: m.created,
            ruler_creator: m.ruler_creator,
            retention: None,
        }
    }
}

impl From<ClusterMapV3> for ClusterMapV4 {
    fn from(m: ClusterMapV3) -> Self {
        ClusterMapV4 {
            cluster_id: m.cluster_id,
            shard_count: m.shard_count,
            replication_factor: m.replication_factor,
            nodes: m.nodes,
            replicas: m.replicas,
            shard_map: m.shard_map,
            created: m.created,
            ruler_creator: None,
        }
    }
}

impl From<ClusterMapV2> for ClusterMapV3 {
    fn from(m: ClusterMapV2) -> Self {
        ClusterMapV3 {
            shard_map: match m.cluster_id {
                Some(_) => crate::meta::ShardMap::fixed(m.shard_count),
                None => Default::default(),
            },
            cluster_id: m.cluster_id,
            shard_count: m.shard_count,
            replication_factor: m.replication_factor,
            nodes: m.nodes,
            replicas: m.replicas,
            created: Default::default(),
        }
    }
}

impl From<ClusterMapV1> for ClusterMapV2 {
    fn from(m: ClusterMapV1) -> Self {
        ClusterMapV2 {
            cluster_id: m.cluster_id,
            shard_count: m.shard_count,
            replication_factor: m.replication_factor,
            nodes: m.nodes,
            replicas: Default::default(),
        }
    }
}

/// Older maps to the current one, through each layout after theirs.
macro_rules! through {
    ($($old:ty => $next:ty),*) => {$(
        impl From<$old> for ClusterMap {
            fn from(m: $old) -> Self {
                <$next>::from(m).into()
            }
        }
    )*};
}
through!(ClusterMapV4 => ClusterMapV5, ClusterMapV3 => ClusterMapV4, ClusterMapV2 => ClusterMapV3, ClusterMapV1 => ClusterMapV2);

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

    #[test]
    fn a_version_6_record_reads_with_its_tokens_and_without_metadata() {
        #[derive(Serialize)]
        struct V6 {
            version: u32,
            last_applied: Option<LogId>,
            membership: StoredMembership,
            map: ClusterMap,
        }
        let mut map = ClusterMap::default();
        map.apply(&crate::meta::MetaCommand::RevokeToken { id: "t".into() });
        map.retention = Some("{}".into());
        let bytes = codec::encode(&V6 {
            version: 6,
            last_applied: None,
            membership: StoredMembership::default(),
            map: map.clone(),
        })
        .unwrap();
        let rec = decode_meta_record(&bytes).unwrap();
        assert_eq!(rec.version, META_RECORD_VERSION);
        assert_eq!(rec.map, map);
        assert!(rec.metadata.is_empty());
        let again = codec::encode(&rec).unwrap();
        assert_eq!(decode_meta_record(&again).unwrap(), rec);
    }
}
