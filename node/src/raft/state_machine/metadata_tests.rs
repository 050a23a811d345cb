//! The meta group's metric metadata through its state machine: applied, persisted per metric
//! name, recovered on reopen, carried by snapshots and replaced whole by an installed one.

use openraft::entry::RaftEntry;
use tidemark_ingest::{MetricMetadata, MetricType};

use super::*;
use crate::raft::META_GROUP;
use crate::raft::log_store::LogDb;

fn md(help: &str) -> MetricMetadata {
    MetricMetadata {
        metric_type: MetricType::Gauge,
        help: help.into(),
        unit: "bytes".into(),
    }
}

fn set(
    index: u64,
    entries: &[(&str, &str)],
    names_max: u64,
) -> openraft::alias::EntryOf<TypeConfig> {
    let entries = entries
        .iter()
        .map(|(n, h)| (n.to_string(), md(h)))
        .collect();
    openraft::alias::EntryOf::<TypeConfig>::new_normal(
        openraft::testing::log_id::<TypeConfig>(1, 1, index),
        Request::Meta(MetaCommand::SetMetadata { entries, names_max }),
    )
}

fn listed(sm: &GroupStateMachine) -> Vec<(String, Vec<MetricMetadata>)> {
    sm.shared().with_metadata(|m| m.list(None, None, None))
}

#[test]
fn metadata_is_applied_persisted_and_carried_by_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let db = LogDb::open(&dir.path().join("a")).unwrap();
    let sm = GroupStateMachine::meta(db.store(META_GROUP)).unwrap();
    let shared = sm.shared();
    shared
        .apply_entry(&set(1, &[("a", "1"), ("b", "1")], 2))
        .unwrap();
    shared
        .apply_entry(&set(2, &[("a", "2"), ("c", "1")], 2))
        .unwrap();
    let want = vec![
        ("a".to_string(), vec![md("1"), md("2")]),
        ("b".to_string(), vec![md("1")]),
    ];
    assert_eq!(listed(&sm), want, "c does not fit: names_max 2");

    // Reopened: the record and the per-name keys give the same state.
    drop((sm, shared));
    let sm = GroupStateMachine::meta(db.store(META_GROUP)).unwrap();
    assert_eq!(listed(&sm), want);
    assert_eq!(sm.shared().last_applied().map(|l| l.index()), Some(2));

    // Another replica with metadata of its own installs the snapshot: it has exactly the
    // snapshot's metadata, also after it reopens.
    let snap = sm.shared().flush().unwrap();
    let other_db = LogDb::open(&dir.path().join("b")).unwrap();
    let other = GroupStateMachine::meta(other_db.store(META_GROUP)).unwrap();
    other
        .shared()
        .apply_entry(&set(1, &[("zzz", "old")], 10))
        .unwrap();
    let SnapshotData::Bytes(bytes) = snap.snapshot else {
        panic!("the meta group's snapshot is bytes");
    };
    other
        .shared()
        .install(&snap.meta, SnapshotData::Bytes(bytes))
        .unwrap();
    assert_eq!(listed(&other), want);
    drop(other);
    let other = GroupStateMachine::meta(other_db.store(META_GROUP)).unwrap();
    assert_eq!(listed(&other), want);
    assert_eq!(other.shared().last_applied().map(|l| l.index()), Some(2));

    // The current snapshot (what a lagging follower is sent) carries it too.
    let current = sm.shared().current_snapshot().unwrap().unwrap();
    let SnapshotData::Bytes(bytes) = current.snapshot else {
        panic!("the meta group's snapshot is bytes");
    };
    let rec = decode_meta_record(&bytes).unwrap();
    assert_eq!(rec.metadata.list(None, None, None), want);
}
