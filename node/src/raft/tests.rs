//! Tests of the Raft layer: openraft's log-store conformance suite on the shared RocksDB log,
//! codec round trips, and two in-process nodes replicating a shard group over loopback gRPC.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::StorageError;
use openraft::async_runtime::WatchReceiver;
use openraft::testing::log::{StoreBuilder, Suite};
use tidemark_storage::{
    Command, Engine, EngineOptions, Labels, RocksEngine, Sample, SeriesRef, WriteBatch,
};

use super::log_store::{LogDb, LogStore};
use super::network::{NetworkFactory, PeerChannels};
use super::state_machine::{GroupStateMachine, encode_command};
use super::test_engine::TestEngine;
use super::transport_service::{GroupRegistry, RaftTransportService};
use super::{META_GROUP, NodeInfo, RaftGroup, Request, TypeConfig, codec, shard_group};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, GroupStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, GroupStateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().unwrap();
        let db = LogDb::open(dir.path()).unwrap();
        // A second group in the same database: the suite must not see its entries.
        let other = db.store(7);
        let sm = GroupStateMachine::meta(db.store(META_GROUP)).unwrap();
        drop(other);
        Ok((dir, db.store(META_GROUP), sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_conformance() {
    Suite::test_all(Builder).await.unwrap();
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

fn write_cmd() -> Command {
    Command::Write(WriteBatch {
        histograms: Vec::new(),
        new_series: vec![labels(1)],
        samples: vec![(
            SeriesRef::New(0),
            vec![Sample::new(1000, 1.5), Sample::new(2000, 2.5)],
        )],
    })
}

#[test]
fn request_round_trips_through_codec() {
    let req = Request::Shard(encode_command(&write_cmd()));
    let bytes = codec::encode(&req).unwrap();
    assert_eq!(codec::decode::<Request>(&bytes).unwrap(), req);
    assert!(codec::decode::<Request>(&bytes[..bytes.len() - 1]).is_err());
}

async fn start_node(
    node_id: u64,
    dir: &std::path::Path,
    engine: Arc<dyn Engine>,
) -> (RaftGroup, String, tokio::task::JoinHandle<()>) {
    // A free loopback port (released right away; the server binds it again below).
    let socket_addr: std::net::SocketAddr = ([127, 0, 0, 1], tidemark_testkit::free_port()).into();
    let addr = socket_addr.to_string();
    let db = LogDb::open(dir).unwrap();
    let group = shard_group(0);
    let config = openraft::Config {
        election_timeout_min: 300,
        election_timeout_max: 600,
        heartbeat_interval: 100,
        snapshot_policy: openraft::SnapshotPolicy::Never,
        // Purge everything a flush covers, so that a new member needs the snapshot.
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    };
    let sm = GroupStateMachine::shard(0, engine, Default::default()).unwrap();
    let raft = RaftGroup::new(
        node_id,
        Arc::new(config.validate().unwrap()),
        NetworkFactory::new(group, PeerChannels::default()),
        db.store(group),
        sm,
    )
    .await
    .unwrap();
    let registry = GroupRegistry::default();
    registry.insert(group, raft.clone());
    let svc = RaftTransportService::new(registry, dir.join("snapshots")).into_server();
    let server = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve(socket_addr)
            .await;
    });
    (raft, addr, server)
}

/// [`start_node`] as node 1, initialised as the only voter of its group, once it leads it.
async fn start_leader(
    dir: &std::path::Path,
    engine: Arc<dyn Engine>,
) -> (RaftGroup, tokio::task::JoinHandle<()>) {
    let (r1, a1, s1) = start_node(1, dir, engine).await;
    r1.initialize(BTreeMap::from([(1u64, NodeInfo { addr: a1 })]))
        .await
        .unwrap();
    r1.wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader == Some(1), "leader")
        .await
        .unwrap();
    (r1, s1)
}

/// Nodes 1 and 2 in this process (in-memory engines), serving shard 0's group, which neither
/// has initialised yet.
struct Pair {
    _dirs: [tempfile::TempDir; 2],
    engines: [Arc<TestEngine>; 2],
    /// The membership of both.
    members: BTreeMap<u64, NodeInfo>,
    servers: [tokio::task::JoinHandle<()>; 2],
}

async fn start_pair() -> (Pair, RaftGroup, RaftGroup) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let engines = [
        Arc::new(TestEngine::in_memory()),
        Arc::new(TestEngine::in_memory()),
    ];
    let (r1, a1, s1) = start_node(1, dirs[0].path(), engines[0].clone()).await;
    let (r2, a2, s2) = start_node(2, dirs[1].path(), engines[1].clone()).await;
    let members = BTreeMap::from([(1u64, NodeInfo { addr: a1 }), (2u64, NodeInfo { addr: a2 })]);
    let pair = Pair {
        _dirs: dirs,
        engines,
        members,
        servers: [s1, s2],
    };
    (pair, r1, r2)
}

impl Pair {
    async fn stop(self, rafts: [RaftGroup; 2]) {
        for r in rafts {
            r.shutdown().await.unwrap();
        }
        for s in self.servers {
            s.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_replicate_a_shard_group_over_grpc() {
    let (pair, r1, r2) = start_pair().await;
    let (engines, members) = (&pair.engines, pair.members.clone());

    // Every first voter initialises the group, as a fixed cluster's nodes do.
    r1.initialize(members.clone()).await.unwrap();
    r2.initialize(members).await.unwrap();
    r1.wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "leader")
        .await
        .unwrap();
    let leader = r1.current_leader().await.unwrap();
    let (lr, follower_engine) = if leader == 1 {
        (&r1, &engines[1])
    } else {
        (&r2, &engines[0])
    };

    // Right after the election the leader may still be establishing its lease: retry briefly.
    let mut attempt = 0;
    let resp = loop {
        match lr
            .client_write(Request::Shard(encode_command(&write_cmd())))
            .await
        {
            Ok(resp) => break resp,
            Err(e) if attempt < 50 => {
                attempt += 1;
                tracing::debug!(error = %e, "retrying write");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("write failed: {e}"),
        }
    };
    let index = resp.log_id().index();
    let follower = if leader == 1 { &r2 } else { &r1 };
    follower
        .wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(index), "follower applied")
        .await
        .unwrap();
    let dump = follower_engine.dump(0);
    assert_eq!(
        dump.get(&labels(1)).unwrap(),
        &vec![Sample::new(1000, 1.5), Sample::new(2000, 2.5)]
    );

    // Read index works across the two voters.
    lr.ensure_linearizable(openraft::ReadPolicy::ReadIndex)
        .await
        .unwrap();

    pair.stop([r1, r2]).await;
}

/// Proposes `cmd` on `raft` (the leader), retrying while its leadership settles.
async fn propose(raft: &RaftGroup, cmd: &Command) -> u64 {
    for _ in 0..50 {
        match raft.client_write(Request::Shard(encode_command(cmd))).await {
            Ok(resp) => return resp.log_id().index(),
            Err(e) => {
                tracing::debug!(error = %e, "retrying write");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!("write never committed");
}

fn write_of(i: usize) -> Command {
    Command::Write(WriteBatch {
        histograms: Vec::new(),
        new_series: vec![labels(i)],
        samples: vec![(
            SeriesRef::New(0),
            vec![Sample::new(1000 * i as i64, i as f64)],
        )],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_member_catches_up_from_a_streamed_shard_snapshot() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let engines: Vec<Arc<RocksEngine>> = dirs
        .iter()
        .map(|d| {
            Arc::new(RocksEngine::open(d.path().join("data"), EngineOptions::default()).unwrap())
        })
        .collect();
    let (r1, s1) = start_leader(dirs[0].path(), engines[0].clone()).await;
    for i in 0..40 {
        propose(&r1, &write_of(i)).await;
    }
    // Flush (the snapshot) and let openraft purge the whole log below it.
    r1.trigger().snapshot().await.unwrap();
    let flushed = r1
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.purged.is_some_and(|p| p.index() >= 40), "purged")
        .await
        .unwrap()
        .purged
        .unwrap()
        .index();
    // Applied after the flush: reaches the new member through the log, after the snapshot.
    for i in 40..50 {
        propose(&r1, &write_of(i)).await;
    }

    let (r2, a2, s2) = start_node(2, dirs[1].path(), engines[1].clone()).await;
    r1.add_learner(2, NodeInfo { addr: a2 }, true)
        .await
        .unwrap();
    let last = propose(&r1, &write_of(50)).await;
    r2.wait(Some(Duration::from_secs(20)))
        .applied_index_at_least(Some(last), "learner applied")
        .await
        .unwrap();
    assert!(
        r2.metrics()
            .borrow_watched()
            .snapshot
            .is_some_and(|s| s.index() >= flushed),
        "the learner installed a snapshot"
    );
    assert_eq!(engines[1].series_id(0, &labels(3)).map(|_| ()), Some(()));
    assert_eq!(engines[1].digest(0).unwrap(), engines[0].digest(0).unwrap());
    // The snapshot file is gone once installed.
    let leftovers = std::fs::read_dir(dirs[1].path().join("snapshots"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0);

    r1.shutdown().await.unwrap();
    r2.shutdown().await.unwrap();
    s1.abort();
    s2.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_knows_no_membership_does_not_vote() {
    let (pair, r1, r2) = start_pair().await;
    let members = pair.members.clone();
    // Node 1 campaigns for {1, 2}; node 2, with an empty log and no membership, would grant
    // openraft's vote on log length alone. It refuses: after ten election timeouts there is
    // still no leader.
    r1.initialize(members.clone()).await.unwrap();
    let waited = r1
        .wait(Some(Duration::from_secs(3)))
        .metrics(|m| m.current_leader.is_some(), "leader")
        .await;
    assert!(
        waited.is_err(),
        "a leader was elected with an uninitialised replica's vote"
    );
    assert_eq!(r2.metrics().borrow_watched().current_leader, None);
    // Once node 2 knows the membership, it votes and the group elects a leader.
    r2.initialize(members).await.unwrap();
    r1.wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "leader")
        .await
        .unwrap();

    pair.stop([r1, r2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_emptied_replica_votes_only_for_logs_reaching_its_floor() {
    use tidemark_proto::raft::RaftRequest;
    use tidemark_proto::raft::raft_transport_server::RaftTransport;

    let dir = tempfile::tempdir().unwrap();
    let (r1, s1) = start_leader(dir.path(), Arc::new(TestEngine::in_memory())).await;
    let early = *r1
        .client_write(Request::Shard(encode_command(&write_of(1))))
        .await
        .unwrap()
        .log_id();
    let floor = *r1
        .client_write(Request::Shard(encode_command(&write_of(2))))
        .await
        .unwrap()
        .log_id();
    let registry = GroupRegistry::default();
    let group = shard_group(0);
    registry.insert(group, r1.clone());
    registry.set_vote_floor(group, Some(floor));
    let svc = RaftTransportService::new(registry.clone(), dir.path().join("snapshots"));
    let vote = r1.metrics().borrow_watched().vote;
    let ask = |last: LogIdOf| {
        let req = openraft::raft::VoteRequest::<TypeConfig>::new(vote, Some(last));
        tonic::Request::new(RaftRequest {
            version: super::network::WIRE_VERSION,
            group_id: group,
            payload: codec::encode(&req).unwrap(),
        })
    };
    // A candidate whose log ends before the floor gets no vote, whatever openraft would say.
    let refused = svc.vote(ask(early)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused}");
    assert!(refused.message().contains("ends before"), "{refused}");
    assert!(svc.pre_vote(ask(early)).await.is_err());
    // One that reaches it is passed to openraft.
    svc.vote(ask(floor)).await.unwrap();
    // Without a floor, openraft decides.
    registry.set_vote_floor(group, None);
    let svc = RaftTransportService::new(registry, dir.path().join("snapshots"));
    svc.pre_vote(ask(floor)).await.unwrap();

    r1.shutdown().await.unwrap();
    s1.abort();
}

type LogIdOf = super::LogId;
