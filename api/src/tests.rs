//! The JSON of every type, pinned: a renamed field is a change clients see.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn round_trip<T>(v: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    serde_json::from_value(to_json(v)).unwrap()
}

fn group() -> GroupStatus {
    GroupStatus {
        group_id: 1,
        shard: Some(0),
        leader: Some(2),
        term: 3,
        last_log_index: Some(10),
        applied_index: Some(9),
        flushed_index: None,
        purged_index: Some(4),
        voters: vec![1, 2],
        learners: vec![],
    }
}

#[test]
fn cluster_status_is_camel_case() {
    let status = ClusterStatus {
        node_id: 1,
        cluster_id: "c".into(),
        shard_count: 1,
        shard_map: vec![ShardMapVersion {
            start_ms: i64::MIN,
            shard_count: 1,
            groups: 1,
        }],
        replication_factor: 2,
        nodes: BTreeMap::from([(1, "a:1".into())]),
        placement: BTreeMap::from([(0, vec![1, 2])]),
        groups: vec![group()],
    };
    assert_eq!(
        to_json(&Envelope::success(status.clone())),
        json!({"status": "success", "data": {
            "nodeId": 1, "clusterId": "c", "shardCount": 1,
            "shardMap": [{"startMs": i64::MIN, "shardCount": 1, "groups": 1}],
            "replicationFactor": 2, "nodes": {"1": "a:1"}, "placement": {"0": [1, 2]},
            "groups": [{"groupId": 1, "shard": 0, "leader": 2, "term": 3, "lastLogIndex": 10,
                "appliedIndex": 9, "flushedIndex": null, "purgedIndex": 4, "voters": [1, 2],
                "learners": []}],
        }})
    );
    assert_eq!(round_trip(&status), status);
}

#[test]
fn admin_bodies_are_camel_case() {
    let change = MemberChange {
        group: 3,
        op: MemberChangeOp::TransferLeader,
        node_id: 2,
        addr: None,
    };
    assert_eq!(
        to_json(&change),
        json!({"group": 3, "op": "transfer-leader", "nodeId": 2})
    );
    assert_eq!(round_trip(&change), change);
    assert_eq!(
        to_json(&MemberChangeAnswer {
            group: 3,
            outcome: MemberOutcome::Unchanged
        }),
        json!({"group": 3, "outcome": "unchanged"})
    );
    assert_eq!(MemberOutcome::Added.as_str(), "added");
    assert_eq!(
        to_json(&ReplicationChange {
            replication_factor: 3
        }),
        json!({"replicationFactor": 3})
    );
    assert_eq!(
        to_json(&ShardCountChange { shard_count: 8 }),
        json!({"shardCount": 8})
    );
    assert_eq!(
        to_json(&ShardVersionOutcome {
            changed: true,
            version: ShardMapVersion {
                start_ms: 7_200_000,
                shard_count: 8,
                groups: 8
            },
            placement: BTreeMap::from([(4, vec![1])]),
        }),
        json!({"changed": true, "version": {"startMs": 7_200_000, "shardCount": 8, "groups": 8},
            "placement": {"4": [1]}})
    );
    assert_eq!(
        to_json(&ShardDigest {
            shard: 0,
            applied_index: 5,
            digest: "00ff".into()
        }),
        json!({"shard": 0, "appliedIndex": 5, "digest": "00ff"})
    );
    assert_eq!(
        to_json(&LocalShard {
            shard: 0,
            held: true,
            series: 2,
            applied_index: 5,
            flushed_index: 4,
            min_time_ms: Some(1),
            max_time_ms: None,
            log_last_index: Some(6),
        }),
        json!({"shard": 0, "held": true, "series": 2, "appliedIndex": 5, "flushedIndex": 4,
            "minTimeMs": 1, "maxTimeMs": null, "logLastIndex": 6})
    );
    // A node of an earlier build sends no log index.
    let old: LocalShard = serde_json::from_value(json!({"shard": 0, "held": false,
        "series": 0, "appliedIndex": 0, "flushedIndex": 0, "minTimeMs": null,
        "maxTimeMs": null}))
    .unwrap();
    assert_eq!(old.log_last_index, None);
}

#[test]
fn unknown_request_fields_are_refused_and_errors_read() {
    assert!(serde_json::from_value::<ShardCountChange>(json!({"shard_count": 2})).is_err());
    let e: Envelope<ClusterStatus> = serde_json::from_value(
        json!({"status": "error", "errorType": "unavailable", "error": "no leader"}),
    )
    .unwrap();
    assert_eq!(e.into_result().unwrap_err(), "unavailable: no leader");
}
