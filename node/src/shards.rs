//! The Raft groups of this node (the meta group and the shard groups) and the write, read and
//! flush paths through them.
//!
//! Bootstrap: a data directory without a cluster record becomes a one-node cluster (every group
//! initialised with this node as its only voter; the meta group records the cluster id, the
//! shard count and the placement), or, with `initial_cluster`, a member of a fixed cluster: the
//! first `meta_voters_max` members initialise the meta group, each member initialises the shard
//! groups `initial_placement` puts it in, and every member derives the same cluster id from the
//! token and the list. Otherwise the groups are reopened: each shard's state machine starts
//! from its last flush and openraft replays the log after it (the log is the only WAL).
//!
//! Routing: a write part for a shard this node does not lead is forwarded to the shard's leader
//! (found through this node's replica, or, for a shard it does not hold, by asking the replicas
//! the cluster map records). A read of a shard this node holds waits for the leader's read
//! index on the local replica; a shard it does not hold is read from its leader at that index
//! (`reads.rs`, `remote.rs`, `tidemark.node.v1`).

mod batcher;
pub(crate) mod key_index;
mod reads;
mod remote;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::future::join_all;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{LinearizableReadError, RaftError};
use openraft::{Config, ReadPolicy, SnapshotPolicy};
use tidemark_query::{EngineQuerier, Querier, SplitSeriesQuerier};
use tidemark_storage::{Engine, Matcher, Sample, SeriesKey, ShardId};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::NodeError;
use crate::http::params::now_ms;
use crate::meta::{
    CLUSTER_FILE_VERSION, ClusterFile, MetaCommand, ShardMap, initial_cluster_id,
    initial_placement, new_cluster_id,
};
use crate::raft::codec;
use crate::raft::log_store::LogDb;
use crate::raft::network::{GroupRegistry, NetworkFactory, PeerChannels, RaftTransportService};
use crate::raft::state_machine::{GroupStateMachine, SmShared};
use crate::raft::{GroupId, META_GROUP, NodeId, NodeInfo, RaftGroup, Request, shard_group};
use batcher::{Batcher, BatcherConfig, DeleteJob, Job, WriteJob};

/// How long `stop` waits for the raft tasks to release the log database, in milliseconds.
const STOP_WAIT_MS: u64 = 5_000;

/// Directory under the data directory where shard snapshots being received are written.
const SNAPSHOT_DIR: &str = "snapshots";

/// How long a node waits for another's view of a shard group (routing, status), in
/// milliseconds: a replica cut off must not hold a request up.
const PROBE_TIMEOUT_MS: u64 = 1_000;

/// Name of the node record present once this node joined a cluster (`--join`): its groups are
/// never initialised by this node, only by the leaders that add it.
const JOINED_RECORD: &str = "joined";

/// Name of the node record naming (big-endian `u32`) the shard whose replica this node is
/// emptying ([`Shards::retire_replica`]): a restart finishes the job before it starts the
/// shard's group.
const RETIRING_RECORD: &str = "retiring";

/// Name of the node record holding the [`ClusterFile`] in the raft-log database.
const CLUSTER_RECORD: &str = "cluster";

/// One series' samples in a write request, already validated (label names, sorting, limits).
/// Serialised (bincode) when a part is forwarded to a shard leader (`tidemark.node.v1`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SeriesWrite {
    /// The series, in its canonical encoding (one allocation per series on the hot path).
    pub key: SeriesKey,
    /// Sorted by timestamp.
    pub samples: Vec<Sample>,
}

impl SeriesWrite {
    /// Hands each run of this series' samples that one shard-map version covers to `out`,
    /// with the shard the series belongs to in that version (samples are sorted by time).
    fn split_by_shard(self, map: &ShardMap, mut out: impl FnMut(ShardId, SeriesWrite)) {
        let (Some(first), Some(last)) = (self.samples.first(), self.samples.last()) else {
            return;
        };
        if !map.splits(first.t, last.t) {
            out(map.shard_of(&self.key, first.t), self);
            return;
        }
        let SeriesWrite { key, mut samples } = self;
        while let Some(first) = samples.first() {
            let shard = map.shard_of(&key, first.t);
            let n = match map.next_start_after(first.t) {
                Some(next) => samples.partition_point(|s| s.t < next),
                None => samples.len(),
            };
            let rest = samples.split_off(n);
            out(
                shard,
                SeriesWrite {
                    key: key.clone(),
                    samples,
                },
            );
            samples = rest;
        }
    }
}

/// A `delete_series` request: the samples in `[mint_ms, maxt_ms]` of every series one of the
/// selectors matches (a selector is a set of matchers that must all match). Serialised
/// (bincode) when sent to a shard leader (`tidemark.node.v1`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeleteRequest {
    /// Per selector, its matchers ([`reads::WireMatchers`]).
    pub selectors: Vec<reads::WireMatchers>,
    pub mint_ms: i64,
    pub maxt_ms: i64,
}

impl DeleteRequest {
    /// A request for `selectors` over `[mint_ms, maxt_ms]`.
    pub fn new(selectors: &[Vec<Matcher>], mint_ms: i64, maxt_ms: i64) -> Self {
        DeleteRequest {
            selectors: selectors.iter().map(|sel| reads::to_wire(sel)).collect(),
            mint_ms,
            maxt_ms,
        }
    }

    /// The selectors as storage matchers.
    pub fn selectors(&self) -> Result<Vec<Vec<Matcher>>, NodeError> {
        self.selectors.iter().map(reads::from_wire).collect()
    }
}

/// What a write did. A write returns `Ok` only when every accepted sample is committed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WriteOutcome {
    /// Samples committed (identical duplicates of stored samples count as written: they are).
    pub samples_written: usize,
    /// Samples rejected as older than the out-of-order window.
    pub too_old: usize,
    /// Samples rejected as further ahead of the receiving node's clock than `future_window_ms`.
    pub too_new: usize,
    /// Samples rejected because another value is stored at the same timestamp.
    pub conflicting: usize,
    /// Series written (including new ones).
    pub series_written: usize,
}

impl WriteOutcome {
    fn add(&mut self, o: &WriteOutcome) {
        self.samples_written += o.samples_written;
        self.too_old += o.too_old;
        self.too_new += o.too_new;
        self.conflicting += o.conflicting;
        self.series_written += o.series_written;
    }
}

/// A change of one group's voters.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberOp {
    /// Adds `node` (reached at gRPC address `addr`) as a voter: first as a learner, promoted
    /// once it has caught up.
    Add { node: NodeId, addr: String },
    /// Removes `node` from the group.
    Remove { node: NodeId },
    /// Moves the group's leadership to voter `node` (answered once it leads).
    TransferLeader { node: NodeId },
}

/// What a [`MemberOp`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// How this node runs its groups.
#[derive(Clone, Debug)]
pub struct ShardsOptions {
    /// This node's id (stable across restarts).
    pub node_id: NodeId,
    /// The data directory: `raft-log/` (the shared Raft log) lives here.
    pub data_dir: PathBuf,
    /// The gRPC address other nodes reach this node at (`host:port`).
    pub grpc_addr: String,
    /// Shards `S` of a cluster created by this node; ignored when the cluster exists.
    pub shard_count: u32,
    /// Voters of the meta group at most: a node added beyond them becomes a learner (it
    /// follows the cluster map without voting), promoted when a voter is removed. Read on the
    /// meta leader.
    pub meta_voters_max: u32,
    /// A meta voter the meta leader has not heard from for this long, in milliseconds, gives
    /// its seat to a learner that is caught up (and stays a learner itself); the leader also
    /// promotes such a learner while the group has fewer voters than `meta_voters_max`. 0
    /// disables both.
    pub meta_dead_voter_ms: u64,
    /// Samples older than the shard's newest sample minus this are rejected, in milliseconds.
    pub ooo_window_ms: i64,
    /// Samples more than this ahead of the receiving node's clock are rejected, in
    /// milliseconds (a sample far in the future would make every current one of its shard
    /// "too old").
    pub future_window_ms: i64,
    /// How far ahead a new shard-map version starts at least, in milliseconds (`shards set`
    /// picks the first multiple of `shard_version_align_ms` this far, plus the proposal's
    /// `write_timeout_ms`, from now). A node routes a sample only if it confirmed its shard
    /// map with the meta leader less than this before the sample's time
    /// ([`Shards::check_horizon`]).
    pub shard_version_lead_ms: i64,
    /// Shard-map versions start on multiples of this, in milliseconds (by default the storage
    /// engine's partition width, so that each partition of a shard is in one version).
    pub shard_version_align_ms: i64,
    /// Period of the background flush of every shard, in milliseconds (0 disables it).
    pub flush_interval_ms: u64,
    /// Samples per Raft entry of a shard (soft bound: one write request is never split).
    pub write_batch_samples_max: usize,
    /// Write requests queued per shard before writes are refused as overloaded.
    pub inflight_writes_max: usize,
    /// How long a write waits for commit and apply, in milliseconds.
    pub write_timeout_ms: u64,
    /// How long a read barrier or a flush may take per shard, in milliseconds.
    pub read_timeout_ms: u64,
    /// Minimum election timeout, in milliseconds (the maximum is twice this).
    pub election_timeout_ms: u64,
    /// Leader heartbeat interval, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// Log entries kept below a flush for lagging followers, in entries (a follower further
    /// behind is sent a shard snapshot).
    pub log_keep_entries: u64,
    /// How long sending one snapshot to a follower may take, in milliseconds.
    pub snapshot_timeout_ms: u64,
    /// How long `open` waits for every group to have a leader, in milliseconds (a member of a
    /// multi-node cluster does not wait: its peers may not be up yet).
    pub startup_leader_wait_ms: u64,
    /// The members (node id -> gRPC address) of a fixed cluster to bootstrap in an empty data
    /// directory; `None`: a one-node cluster. Checked against the data directory otherwise.
    pub initial_cluster: Option<BTreeMap<NodeId, String>>,
    /// Token mixed into the cluster id derived from `initial_cluster`.
    pub initial_cluster_token: String,
    /// Voters per shard group of a cluster bootstrapped by this node (capped at the number of
    /// members); ignored when the cluster exists.
    pub replication_factor: u32,
    /// Joining an existing cluster: its id and shard count (learned from a member). An empty
    /// data directory adopts them and starts its groups uninitialised, to be added by the
    /// groups' leaders; a data directory of another cluster is refused.
    pub join: Option<JoinTarget>,
}

/// The cluster a joining node adopts.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinTarget {
    /// The cluster id.
    pub cluster_id: String,
    /// Its number of shards.
    pub shard_count: u32,
}

impl Default for ShardsOptions {
    fn default() -> Self {
        ShardsOptions {
            node_id: 1,
            data_dir: PathBuf::from("data"),
            grpc_addr: "127.0.0.1:9091".into(),
            shard_count: 4,
            meta_voters_max: 5,
            meta_dead_voter_ms: 300_000,
            ooo_window_ms: 10 * 60 * 1000,
            future_window_ms: 10 * 60 * 1000,
            shard_version_lead_ms: tidemark_storage::EngineOptions::default().partition_ms,
            shard_version_align_ms: tidemark_storage::EngineOptions::default().partition_ms,
            flush_interval_ms: 60_000,
            write_batch_samples_max: 50_000,
            inflight_writes_max: 1024,
            write_timeout_ms: 10_000,
            read_timeout_ms: 10_000,
            election_timeout_ms: 1_000,
            heartbeat_interval_ms: 250,
            // An entry holds up to `write_batch_samples_max` samples: 64 of them are enough for
            // a follower a few seconds behind; one further behind gets a snapshot.
            log_keep_entries: 64,
            snapshot_timeout_ms: 600_000,
            startup_leader_wait_ms: 10_000,
            initial_cluster: None,
            initial_cluster_token: "tidemark".into(),
            replication_factor: 3,
            join: None,
        }
    }
}

/// The state of one group, for `/api/v1/status` and the CLI.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupStatus {
    /// The group id (0: meta, shard s: s + 1).
    pub group_id: GroupId,
    /// The shard, for shard groups.
    pub shard: Option<ShardId>,
    /// The current leader, if known.
    pub leader: Option<NodeId>,
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
    pub voters: Vec<NodeId>,
    /// Members that are not voters yet (being added and caught up).
    pub learners: Vec<NodeId>,
}

/// Where a shard's leader is, as this node knows it.
enum Route {
    /// This node leads the shard.
    Local,
    /// Another node leads it.
    Remote { node: NodeId, addr: String },
}

/// One group on this node (cheap to clone: its parts are shared).
#[derive(Clone)]
struct Group {
    id: GroupId,
    raft: RaftGroup,
    sm: Arc<SmShared>,
}

/// One shard group on this node and the queue of its batcher.
#[derive(Clone)]
struct ShardSlot {
    group: Group,
    queue: mpsc::Sender<Job>,
}

/// What starting a group on this node needs.
#[derive(Clone)]
struct GroupStarter {
    node_id: NodeId,
    config: Arc<Config>,
    peers: PeerChannels,
    log_db: LogDb,
    registry: GroupRegistry,
}

impl GroupStarter {
    /// Starts group `id` over `sm` and registers it with the Raft transport.
    async fn start(&self, id: GroupId, sm: GroupStateMachine) -> Result<Group, NodeError> {
        let shared = sm.shared();
        let raft = RaftGroup::new(
            self.node_id,
            self.config.clone(),
            NetworkFactory::new(id, self.peers.clone()),
            self.log_db.store(id),
            sm,
        )
        .await
        .map_err(|e| NodeError::Internal(format!("start group {id}: {e}")))?;
        let floor = self
            .log_db
            .store(id)
            .vote_floor()
            .map_err(|e| NodeError::Internal(format!("group {id} vote floor: {e}")))?;
        self.registry.set_vote_floor(id, floor);
        self.registry.insert(id, raft.clone());
        Ok(Group {
            id,
            raft,
            sm: shared,
        })
    }
}

/// The groups of this node.
pub struct Shards {
    opts: ShardsOptions,
    cluster_id: String,
    /// `S` of the cluster when this node first knew it (the shard map until the meta group
    /// has one).
    initial_shard_count: u32,
    engine: Arc<dyn Engine>,
    /// Starts groups; holds the transport's registry and the channels to peer nodes.
    starter: GroupStarter,
    meta: Group,
    /// Shard groups by shard id. Grows when a shard-map version adds shards, never shrinks.
    shards: std::sync::RwLock<Vec<ShardSlot>>,
    /// Serialises the creation of shard groups.
    grow_lock: tokio::sync::Mutex<()>,
    /// Wall-clock time (ms) at which this node last asked the meta leader for a read index
    /// that its meta replica has since applied: every shard-map version committed before then
    /// is known here ([`Shards::check_horizon`]).
    map_confirmed_ms: std::sync::atomic::AtomicI64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Serialises flushes (the periodic one and explicit ones).
    flush_lock: tokio::sync::Mutex<()>,
    /// The leaders of shards this node holds no replica of, as last learned from a replica.
    leader_hints: Mutex<BTreeMap<ShardId, NodeId>>,
}

fn raft_config(opts: &ShardsOptions) -> Result<Arc<Config>, NodeError> {
    let config = Config {
        cluster_name: "tidemark".into(),
        election_timeout_min: opts.election_timeout_ms,
        election_timeout_max: opts.election_timeout_ms * 2,
        heartbeat_interval: opts.heartbeat_interval_ms,
        // Snapshots are flushes, which this layer triggers itself.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: opts.log_keep_entries,
        install_snapshot_timeout: opts.snapshot_timeout_ms,
        purge_batch_size: 1,
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(|e| {
        NodeError::BadRequest(format!("raft config: {e}"))
    })?))
}

/// Starts the group of shard `shard` on this node (uninitialised unless its log says
/// otherwise) and the batcher that proposes its writes.
async fn start_shard(
    starter: &GroupStarter,
    opts: &ShardsOptions,
    engine: &Arc<dyn Engine>,
    shard: ShardId,
) -> Result<(ShardSlot, JoinHandle<()>), NodeError> {
    let sm = GroupStateMachine::shard(shard, engine.clone())
        .map_err(|e| NodeError::Internal(format!("shard {shard} state: {e}")))?;
    let group = starter.start(shard_group(shard), sm).await?;
    let (queue, rx) = mpsc::channel(opts.inflight_writes_max.max(1));
    let batcher = Batcher {
        shard,
        raft: group.raft.clone(),
        engine: engine.clone(),
        rx,
        config: BatcherConfig {
            write_batch_samples_max: opts.write_batch_samples_max,
            ooo_window_ms: opts.ooo_window_ms,
            write_timeout_ms: opts.write_timeout_ms,
        },
    };
    Ok((ShardSlot { group, queue }, tokio::spawn(batcher.run())))
}

/// Deletes this node's replica of `shard`: its data, then its log (keeping the vote), then
/// the [`RETIRING_RECORD`] the caller wrote after stopping the shard's group. Every step can
/// run again after a crash.
async fn empty_replica(
    engine: &Arc<dyn Engine>,
    log_db: &LogDb,
    shard: ShardId,
) -> Result<(), NodeError> {
    let e = engine.clone();
    tokio::task::spawn_blocking(move || e.drop_shard(shard))
        .await
        .map_err(|e| internal("drop shard")(e.to_string()))?
        .map_err(|e| NodeError::Internal(format!("shard {shard}: drop its data: {e}")))?;
    log_db
        .store(shard_group(shard))
        .clear_keeping_vote()
        .await
        .map_err(|e| NodeError::Internal(format!("shard {shard}: clear its log: {e}")))?;
    log_db.delete_node_record_sync(RETIRING_RECORD)
}

/// Classifies a failed membership change or meta proposal: retryable (503) when leadership
/// moved or another change is in progress, a bad request when the change itself is refused.
fn membership_error(
    group: GroupId,
    e: RaftError<
        crate::raft::TypeConfig,
        openraft::error::ClientWriteError<crate::raft::TypeConfig>,
    >,
) -> NodeError {
    use openraft::error::{ChangeMembershipError, ClientWriteError};
    match e {
        RaftError::APIError(
            e @ (ClientWriteError::ForwardToLeader(_)
            | ClientWriteError::LogEntryDiscarded(_)
            | ClientWriteError::ChangeMembershipError(ChangeMembershipError::InProgress(_))),
        ) => NodeError::Unavailable(format!("group {group}: {e}; retry")),
        RaftError::APIError(e) => NodeError::BadRequest(format!("group {group}: {e}")),
        RaftError::Fatal(f) => NodeError::Internal(format!("group {group}: raft stopped: {f}")),
    }
}

fn internal(what: &str) -> impl Fn(String) -> NodeError + '_ {
    move |e| NodeError::Internal(format!("{what}: {e}"))
}

impl Shards {
    /// Opens this node's groups, creating a one-node cluster in an empty data directory.
    pub async fn open(
        opts: ShardsOptions,
        engine: Arc<dyn Engine>,
    ) -> Result<Arc<Shards>, NodeError> {
        std::fs::create_dir_all(&opts.data_dir)
            .map_err(|e| NodeError::Internal(format!("create {}: {e}", opts.data_dir.display())))?;
        let log_db = LogDb::open(&opts.data_dir.join("raft-log"))?;
        // Snapshots half received before a restart are of no use: their sender starts again.
        let snapshot_dir = opts.data_dir.join(SNAPSHOT_DIR);
        if snapshot_dir.exists() {
            std::fs::remove_dir_all(&snapshot_dir).map_err(|e| {
                NodeError::Internal(format!("clear {}: {e}", snapshot_dir.display()))
            })?;
        }
        let initial_id = opts
            .initial_cluster
            .as_ref()
            .map(|m| initial_cluster_id(&opts.initial_cluster_token, m));
        if let Some(members) = &opts.initial_cluster {
            match members.get(&opts.node_id) {
                Some(addr) if *addr == opts.grpc_addr => {}
                _ => {
                    return Err(NodeError::BadRequest(format!(
                        "initial_cluster must list node {} at its gRPC address {}",
                        opts.node_id, opts.grpc_addr
                    )));
                }
            }
        }
        let cluster = match log_db.get_node_record(CLUSTER_RECORD)? {
            Some(bytes) => {
                let file: ClusterFile =
                    codec::decode(&bytes).map_err(|e| internal("cluster record")(e.to_string()))?;
                if file.node_id != opts.node_id {
                    return Err(NodeError::BadRequest(format!(
                        "data directory {} belongs to node {}, not node {}",
                        opts.data_dir.display(),
                        file.node_id,
                        opts.node_id
                    )));
                }
                if let Some(j) = &opts.join
                    && j.cluster_id != file.cluster_id
                {
                    return Err(NodeError::BadRequest(format!(
                        "data directory {} holds cluster {}, but the node to join belongs to \
                         cluster {}: refusing to join (use an empty data directory)",
                        opts.data_dir.display(),
                        file.cluster_id,
                        j.cluster_id
                    )));
                }
                if let Some(id) = &initial_id
                    && *id != file.cluster_id
                {
                    return Err(NodeError::BadRequest(format!(
                        "data directory {} holds cluster {}, but initial_cluster and its token \
                         describe cluster {id}: refusing to start (use an empty data directory \
                         to bootstrap a new cluster)",
                        opts.data_dir.display(),
                        file.cluster_id
                    )));
                }
                file
            }
            None => {
                if opts.shard_count == 0 {
                    return Err(NodeError::BadRequest(
                        "shard_count must be at least 1".into(),
                    ));
                }
                let file = match &opts.join {
                    Some(j) => ClusterFile {
                        version: CLUSTER_FILE_VERSION,
                        cluster_id: j.cluster_id.clone(),
                        node_id: opts.node_id,
                        shard_count: j.shard_count,
                    },
                    None => ClusterFile {
                        version: CLUSTER_FILE_VERSION,
                        cluster_id: initial_id.clone().unwrap_or_else(new_cluster_id),
                        node_id: opts.node_id,
                        shard_count: opts.shard_count,
                    },
                };
                let bytes =
                    codec::encode(&file).map_err(|e| internal("cluster record")(e.to_string()))?;
                if opts.join.is_some() {
                    // First: a crash right after the cluster record must not leave a node that
                    // initialises its groups alone on the next start.
                    log_db.put_node_record_sync(JOINED_RECORD, b"1")?;
                }
                log_db.put_node_record_sync(CLUSTER_RECORD, &bytes)?;
                match &opts.initial_cluster {
                    _ if opts.join.is_some() => {
                        tracing::info!(cluster_id = %file.cluster_id, shards = file.shard_count, "joining a cluster")
                    }
                    Some(m) => {
                        tracing::info!(cluster_id = %file.cluster_id, shards = file.shard_count, members = m.len(), "bootstrapping a fixed cluster")
                    }
                    None => {
                        tracing::info!(cluster_id = %file.cluster_id, shards = file.shard_count, "created a one-node cluster")
                    }
                }
                file
            }
        };

        if let Some(bytes) = log_db.get_node_record(RETIRING_RECORD)? {
            let shard = <[u8; 4]>::try_from(bytes.as_slice())
                .map(ShardId::from_be_bytes)
                .map_err(|_| internal("retiring record")(format!("{bytes:?}")))?;
            empty_replica(&engine, &log_db, shard).await?;
            tracing::info!(
                shard,
                "finished emptying a replica this node no longer holds"
            );
        }

        let starter = GroupStarter {
            node_id: opts.node_id,
            config: raft_config(&opts)?,
            peers: PeerChannels::default(),
            log_db: log_db.clone(),
            registry: GroupRegistry::default(),
        };
        let meta_sm = GroupStateMachine::meta(log_db.store(META_GROUP))
            .map_err(|e| internal("meta state")(e.to_string()))?;
        let meta = starter.start(META_GROUP, meta_sm).await?;
        // Shards added by shard-map versions since the cluster record was written.
        let group_count = meta
            .sm
            .with_cluster_map(|m| m.shard_map.groups())
            .max(cluster.shard_count);
        let mut shards = Vec::with_capacity(group_count as usize);
        let mut tasks = Vec::new();
        for shard in 0..group_count {
            let (slot, task) = start_shard(&starter, &opts, &engine, shard).await?;
            shards.push(slot);
            tasks.push(task);
        }

        // A cluster this node created: every group has this node as its only voter. A fixed
        // cluster: the first `meta_voters_max` members initialise the meta group (the meta
        // leader adds the others as learners), and every member initialises each shard group
        // it is placed in with that shard's voters ([`initial_placement`]);
        // openraft accepts identical initialisation on several nodes and the vote elects one
        // leader. A joining node's groups stay uninitialised: their leaders add this node.
        let members = bootstrap_members(&opts);
        let placement = initial_placement(
            &members.keys().copied().collect::<Vec<_>>(),
            cluster.shard_count,
            bootstrap_replication_factor(&opts),
        );
        let joined = log_db.get_node_record(JOINED_RECORD)?.is_some();
        let voters_of = |nodes: &[NodeId]| -> BTreeMap<NodeId, NodeInfo> {
            nodes
                .iter()
                .map(|id| {
                    (
                        *id,
                        NodeInfo {
                            addr: members[id].clone(),
                        },
                    )
                })
                .collect()
        };
        let meta_voters = meta_voters(&members, opts.meta_voters_max);
        let initial = std::iter::once((&meta, voters_of(&meta_voters))).chain(
            shards
                .iter()
                .take(cluster.shard_count as usize)
                .enumerate()
                .map(|(shard, s)| (&s.group, voters_of(&placement[&(shard as ShardId)]))),
        );
        for (g, voters) in initial.filter(|_| !joined) {
            if !voters.contains_key(&opts.node_id) {
                continue;
            }
            let initialized = g
                .raft
                .is_initialized()
                .await
                .map_err(|e| NodeError::Internal(format!("group {}: {e}", g.id)))?;
            if !initialized {
                g.raft
                    .initialize(voters)
                    .await
                    .map_err(|e| NodeError::Internal(format!("initialize group {}: {e}", g.id)))?;
            }
        }

        let this = Arc::new(Shards {
            cluster_id: cluster.cluster_id.clone(),
            initial_shard_count: cluster.shard_count,
            opts,
            engine,
            starter,
            meta,
            shards: std::sync::RwLock::new(shards),
            grow_lock: tokio::sync::Mutex::new(()),
            map_confirmed_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            tasks: Mutex::new(tasks),
            flush_lock: tokio::sync::Mutex::new(()),
            leader_hints: Mutex::new(BTreeMap::new()),
        });

        let multi_node = this
            .opts
            .initial_cluster
            .as_ref()
            .is_some_and(|m| m.len() > 1)
            || joined
            || this.meta.raft.voter_ids().count() > 1;
        if multi_node {
            // The peers may not be up yet, and this node's gRPC server starts after `open`:
            // elections and the meta record happen in the background.
            this.keep_task(tokio::spawn(init_meta_in_background(
                Arc::downgrade(&this),
                cluster,
            )));
        } else {
            this.wait_for_leaders().await;
            this.ensure_meta_init(&cluster).await?;
            if let Err(e) = this.confirm_shard_map().await {
                tracing::warn!(error = %e, "shard map not confirmed yet");
            }
        }
        this.keep_task(tokio::spawn(keep_shard_map_confirmed(Arc::downgrade(
            &this,
        ))));
        this.keep_task(tokio::spawn(check_placement(Arc::downgrade(&this))));
        this.keep_task(tokio::spawn(follow_shard_map(Arc::downgrade(&this))));
        if this.opts.meta_dead_voter_ms > 0 {
            this.keep_task(tokio::spawn(keep_meta_voters(Arc::downgrade(&this))));
        }
        if this.opts.flush_interval_ms > 0 {
            this.keep_task(tokio::spawn(periodic_flush(
                Arc::downgrade(&this),
                this.opts.flush_interval_ms,
            )));
        }
        Ok(this)
    }

    async fn wait_for_leaders(&self) {
        let timeout = Duration::from_millis(self.opts.startup_leader_wait_ms);
        let groups = self.groups();
        let waits = groups.iter().map(|g| async move {
            let res = g
                .raft
                .wait(Some(timeout))
                .metrics(|m| m.current_leader.is_some(), "leader elected")
                .await;
            if let Err(e) = res {
                tracing::warn!(group = g.id, error = %e, "group has no leader yet");
            }
        });
        join_all(waits).await;
    }

    /// Records the cluster in the meta group once (after a crash before it was applied, too):
    /// its id, its members and the initial placement of every shard.
    async fn ensure_meta_init(&self, cluster: &ClusterFile) -> Result<(), NodeError> {
        if self.meta.sm.cluster_map().cluster_id.is_some() || !self.meta.raft.is_leader() {
            return Ok(());
        }
        let members = bootstrap_members(&self.opts);
        let rf = bootstrap_replication_factor(&self.opts);
        let placement = initial_placement(
            &members.keys().copied().collect::<Vec<_>>(),
            cluster.shard_count,
            rf,
        );
        let cmd = MetaCommand::Init {
            cluster_id: cluster.cluster_id.clone(),
            shard_count: cluster.shard_count,
            replication_factor: rf.min(members.len() as u32).max(1),
            node_id: self.opts.node_id,
            addr: self.opts.grpc_addr.clone(),
        };
        let others = members
            .clone()
            .into_iter()
            .filter(|(id, _)| *id != self.opts.node_id)
            .map(|(node_id, addr)| MetaCommand::SetNode { node_id, addr });
        let replicas = placement
            .into_iter()
            .map(|(shard, nodes)| MetaCommand::SetReplicas { shard, nodes });
        let voters = meta_voters(&members, self.opts.meta_voters_max);
        let learners: Vec<(NodeId, String)> = members
            .iter()
            .filter(|(id, _)| !voters.contains(id))
            .map(|(id, addr)| (*id, addr.clone()))
            .collect();
        for cmd in std::iter::once(cmd).chain(others).chain(replicas) {
            self.meta
                .raft
                .client_write(Request::Meta(cmd))
                .await
                .map_err(|e| NodeError::Internal(format!("record cluster in meta group: {e}")))?;
        }
        // Members beyond the meta group's voters follow it as learners.
        for (id, addr) in learners {
            self.meta
                .raft
                .add_learner(id, NodeInfo { addr }, false)
                .await
                .map_err(|e| NodeError::Internal(format!("meta learner {id}: {e}")))?;
        }
        Ok(())
    }

    /// One round of [`keep_meta_voters`] on this node: if it leads the meta group, a voter
    /// silent for `meta_dead_voter_ms` is replaced by a learner heard from within an election
    /// timeout and at most [`META_LEARNER_LAG_MAX`] entries behind (one joint membership
    /// change; the silent voter stays a learner and follows again when it is back), and while
    /// there are fewer voters than `meta_voters_max` such a learner is promoted. Without a
    /// quorum the change cannot commit, and nothing changes.
    async fn keep_meta_voters_once(
        &self,
        leading: &mut Option<(u64, Instant)>,
    ) -> Result<(), NodeError> {
        let m = self.meta.raft.metrics().borrow_watched().clone();
        if m.current_leader != Some(self.opts.node_id) {
            *leading = None;
            return Ok(());
        }
        let since = match *leading {
            Some((term, at)) if term == m.current_term => at,
            _ => {
                *leading = Some((m.current_term, Instant::now()));
                return Ok(());
            }
        };
        let (Some(heartbeat), Some(replication)) = (&m.heartbeat, &m.replication) else {
            return Ok(());
        };
        let silent = |n: NodeId| -> Duration {
            match heartbeat.get(&n) {
                Some(Some(at)) => openraft::Instant::elapsed(&**at),
                _ => since.elapsed(),
            }
        };
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let fresh = Duration::from_millis(self.opts.election_timeout_ms);
        let ready = |l: &NodeId| {
            let matched = replication
                .get(l)
                .and_then(|x| x.as_ref())
                .map_or(0, |id| id.index());
            silent(*l) < fresh && matched + META_LEARNER_LAG_MAX >= last
        };
        let Some(learner) = membership.learner_ids().find(ready) else {
            return Ok(());
        };
        let dead_after = Duration::from_millis(self.opts.meta_dead_voter_ms);
        let dead = voters
            .iter()
            .copied()
            .find(|&v| v != self.opts.node_id && silent(v) > dead_after);
        let mut next = voters.clone();
        match dead {
            Some(dead) => {
                next.remove(&dead);
            }
            None if voters.len() < self.opts.meta_voters_max as usize => {}
            None => return Ok(()),
        }
        next.insert(learner);
        self.meta
            .raft
            .change_membership(openraft::ChangeMembers::ReplaceAllVoters(next), true)
            .await
            .map_err(|e| membership_error(META_GROUP, e))?;
        match dead {
            Some(dead) => tracing::warn!(
                dead,
                learner,
                silent_ms = silent(dead).as_millis() as u64,
                "a meta voter was silent too long: a learner took its seat"
            ),
            None => tracing::info!(learner, "promoted a meta learner to fill the voters"),
        }
        Ok(())
    }

    /// Every group of this node: the meta group, then the shard groups by shard id.
    fn groups(&self) -> Vec<Group> {
        std::iter::once(self.meta.clone())
            .chain(self.slots().into_iter().map(|s| s.group))
            .collect()
    }

    /// The shard groups of this node, by shard id.
    fn slots(&self) -> Vec<ShardSlot> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Shard `shard`'s group on this node; a shard not started here yet (a new shard-map
    /// version this node has not applied) is unavailable for now.
    fn slot(&self, shard: ShardId) -> Result<ShardSlot, NodeError> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(shard as usize)
            .cloned()
            .ok_or_else(|| {
                NodeError::Unavailable(format!("shard {shard} does not exist on this node (yet)"))
            })
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.opts.node_id
    }

    /// The gRPC address other nodes reach this node at.
    pub fn grpc_addr(&self) -> &str {
        &self.opts.grpc_addr
    }

    /// Number of shard groups on this node (ids `0..n`): the most shards any shard-map
    /// version has.
    pub fn shard_count(&self) -> u32 {
        self.shards.read().unwrap_or_else(|p| p.into_inner()).len() as u32
    }

    /// The shard map: its versions as the meta group has applied them.
    pub fn shard_map(&self) -> ShardMap {
        self.meta
            .sm
            .with_cluster_map(|m| m.shard_map_or(self.initial_shard_count))
    }

    /// The storage engine of this node.
    pub fn engine(&self) -> Arc<dyn Engine> {
        self.engine.clone()
    }

    /// The storage digest of shard `shard` at its current applied index (replicas at the same
    /// applied index must agree).
    pub fn digest(&self, shard: ShardId) -> Result<u64, NodeError> {
        self.engine
            .digest(shard)
            .map_err(|e| NodeError::Internal(format!("shard {shard} digest: {e}")))
    }

    /// The cluster map as the meta group has applied it.
    pub fn cluster_map(&self) -> crate::meta::ClusterMap {
        self.meta.sm.cluster_map()
    }

    /// The ids of every group of this node (the meta group first).
    pub fn group_ids(&self) -> Vec<GroupId> {
        self.groups().iter().map(|g| g.id).collect()
    }

    /// Whether this node is a voter of group `group` as far as its replica knows.
    pub fn is_voter(&self, group: GroupId) -> bool {
        self.group(group).is_ok_and(|g| {
            g.raft
                .metrics()
                .borrow_watched()
                .membership_config
                .membership()
                .voter_ids()
                .any(|v| v == self.opts.node_id)
        })
    }

    fn group(&self, group: GroupId) -> Result<Group, NodeError> {
        if group == META_GROUP {
            return Ok(self.meta.clone());
        }
        crate::raft::group_shard(group)
            .filter(|&s| s < self.shard_map().groups().max(self.shard_count()))
            .map(|s| self.slot(s).map(|s| s.group))
            .unwrap_or_else(|| {
                Err(NodeError::BadRequest(format!(
                    "group {group} does not exist"
                )))
            })
    }

    /// Applies `op` to group `group` on its leader: this node, or the leader another node
    /// names (forwarded once over gRPC). Idempotent: adding a voter that is there with the same
    /// address, or removing a node that is not there, is `Unchanged`.
    pub async fn change_member(
        &self,
        group: GroupId,
        op: MemberOp,
    ) -> Result<MemberOutcome, NodeError> {
        let g = &self.group(group)?;
        let timeout_ms = self.opts.snapshot_timeout_ms;
        let call = |route: Route| {
            let op = op.clone();
            async move {
                match route {
                    Route::Local => self.change_member_local(group, op).await,
                    Route::Remote { node, addr } => {
                        remote::change_member(
                            &self.starter.peers,
                            group,
                            node,
                            addr,
                            op,
                            timeout_ms,
                        )
                        .await
                    }
                }
            }
        };
        match crate::raft::group_shard(group) {
            Some(shard) => self.on_leader(shard, call).await,
            None => {
                let route = self
                    .leader_of(g)
                    .map_err(|why| NodeError::Unavailable(format!("group {group}: {why}")))?;
                call(route).await
            }
        }
    }

    /// [`Shards::change_member`] on the leader: a learner is added and caught up (log or
    /// snapshot) before it becomes a voter, one change at a time (openraft's joint consensus).
    /// The meta group also records the node in (or removes it from) the cluster map.
    pub(crate) async fn change_member_local(
        &self,
        group: GroupId,
        op: MemberOp,
    ) -> Result<MemberOutcome, NodeError> {
        use openraft::ChangeMembers;
        let g = &self.group(group)?;
        let m = g.raft.metrics().borrow_watched().clone();
        if !self.leads(&m) {
            return Err(NodeError::Unavailable(format!(
                "node {} does not lead group {group}",
                self.opts.node_id
            )));
        }
        let membership = m.membership_config.membership().clone();
        let is_voter = |n: NodeId| membership.voter_ids().any(|v| v == n);
        let raft_err = |e| membership_error(group, e);
        // One membership change, not keeping removed voters as learners.
        let change = |c: ChangeMembers<NodeId, NodeInfo>| async move {
            g.raft
                .change_membership(c, false)
                .await
                .map(|_| ())
                .map_err(raft_err)
        };
        let outcome = match &op {
            MemberOp::Add { node, addr } => {
                if let Some(info) = membership.get_node(node)
                    && info.addr != *addr
                {
                    return Err(NodeError::BadRequest(format!(
                        "node {node} is a member of group {group} at {}, not {addr}: remove it first",
                        info.addr
                    )));
                }
                let meta_full = group == META_GROUP
                    && membership.voter_ids().count() >= self.opts.meta_voters_max as usize;
                if is_voter(*node) || (meta_full && membership.get_node(node).is_some()) {
                    MemberOutcome::Unchanged
                } else if meta_full {
                    g.raft
                        .add_learner(*node, NodeInfo { addr: addr.clone() }, true)
                        .await
                        .map_err(raft_err)?;
                    tracing::info!(group, node, %addr, "added a learner (the meta group has its voters)");
                    MemberOutcome::Added
                } else {
                    g.raft
                        .add_learner(*node, NodeInfo { addr: addr.clone() }, true)
                        .await
                        .map_err(raft_err)?;
                    change(ChangeMembers::AddVoterIds(BTreeSet::from([*node]))).await?;
                    tracing::info!(group, node, %addr, "added a voter");
                    MemberOutcome::Added
                }
            }
            MemberOp::Remove { node } => {
                if membership.get_node(node).is_none() {
                    MemberOutcome::Unchanged
                } else {
                    let just = BTreeSet::from([*node]);
                    if !is_voter(*node) {
                        change(ChangeMembers::RemoveNodes(just)).await?;
                    } else if membership.voter_ids().count() == 1 {
                        return Err(NodeError::BadRequest(format!(
                            "node {node} is the last voter of group {group}"
                        )));
                    } else {
                        change(ChangeMembers::RemoveVoters(just)).await?;
                        // The meta group keeps its voters: a learner takes the seat.
                        if group == META_GROUP
                            && let Some(learner) = membership.learner_ids().next()
                        {
                            change(ChangeMembers::AddVoterIds(BTreeSet::from([learner]))).await?;
                            tracing::info!(group, node = learner, "promoted a learner to voter");
                        }
                    }
                    tracing::info!(group, node, "removed a member");
                    MemberOutcome::Removed
                }
            }
            MemberOp::TransferLeader { node } => {
                if *node == self.opts.node_id {
                    return Ok(MemberOutcome::Unchanged);
                }
                if !is_voter(*node) {
                    return Err(NodeError::BadRequest(format!(
                        "node {node} is not a voter of group {group}"
                    )));
                }
                g.raft
                    .trigger()
                    .transfer_leader(*node)
                    .await
                    .map_err(|e| NodeError::Internal(format!("group {group}: {e}")))?;
                let wait = Duration::from_millis(self.opts.election_timeout_ms * 4);
                g.raft
                    .wait(Some(wait))
                    .metrics(|m| m.current_leader == Some(*node), "leader moved")
                    .await
                    .map_err(|e| {
                        NodeError::Unavailable(format!(
                            "group {group}: leadership did not move to node {node}: {e}"
                        ))
                    })?;
                tracing::info!(group, node, "transferred leadership");
                MemberOutcome::Transferred
            }
        };
        if let Some(shard) = crate::raft::group_shard(group)
            && let Err(e) = self.record_placement(shard).await
        {
            // The periodic check records it later; the change itself is done.
            tracing::warn!(shard, error = %e, "recording the shard's placement failed");
        }
        if group == META_GROUP {
            // Also when nothing changed above: a previous attempt may have stopped in between.
            let map = self.meta.sm.cluster_map();
            let cmd = match op {
                MemberOp::Add { node, addr } if map.nodes.get(&node) != Some(&addr) => {
                    Some(MetaCommand::SetNode {
                        node_id: node,
                        addr,
                    })
                }
                MemberOp::Remove { node } if map.nodes.contains_key(&node) => {
                    Some(MetaCommand::RemoveNode { node_id: node })
                }
                _ => None,
            };
            if let Some(cmd) = cmd {
                self.meta
                    .raft
                    .client_write(Request::Meta(cmd))
                    .await
                    .map_err(raft_err)?;
            }
        }
        Ok(outcome)
    }

    fn snapshot_dir(&self) -> PathBuf {
        self.opts.data_dir.join(SNAPSHOT_DIR)
    }

    /// The gRPC Raft transport service, to mount on the node's gRPC listener.
    pub fn grpc_service(
        &self,
    ) -> tidemark_proto::raft::raft_transport_server::RaftTransportServer<RaftTransportService>
    {
        RaftTransportService::new(self.starter.registry.clone(), self.snapshot_dir()).into_server()
    }

    /// Splits `series` by shard (the shard each sample's series belongs to in the shard-map
    /// version covering the sample), sends each part to its shard's leader (this node's batcher, or
    /// another node over gRPC) and waits until every part is committed and applied. `Ok` only
    /// when every part is.
    pub async fn write(&self, mut series: Vec<SeriesWrite>) -> Result<WriteOutcome, NodeError> {
        // Samples far ahead of this node's clock are refused (a 400 for them, the others are
        // written): one would make every current sample of its shard "too old".
        let t_max = now_ms().saturating_add(self.opts.future_window_ms.max(0));
        let mut too_new = 0;
        for sw in &mut series {
            if sw.samples.last().is_some_and(|s| s.t > t_max) {
                let before = sw.samples.len();
                sw.samples.retain(|s| s.t <= t_max);
                too_new += before - sw.samples.len();
            }
        }
        self.check_horizon(&series)?;
        let map = self.shard_map();
        self.start_groups_of(&map).await?;
        let mut parts: BTreeMap<ShardId, Vec<SeriesWrite>> = BTreeMap::new();
        for sw in series {
            sw.split_by_shard(&map, |shard, part| {
                parts.entry(shard).or_default().push(part)
            });
        }
        let mut local = BTreeMap::new();
        let mut forwarded = Vec::new();
        for (shard, part) in parts {
            match self.route(shard).await? {
                Route::Local => {
                    local.insert(shard, part);
                }
                Route::Remote { .. } => forwarded.push((shard, part)),
            }
        }
        let forwarded = join_all(
            forwarded
                .iter()
                .map(|(shard, part)| self.forward_write(*shard, part)),
        );
        let (local, forwarded) = futures::join!(self.write_local(local), forwarded);
        let mut total = local?;
        total.too_new += too_new;
        for r in forwarded {
            total.add(&r?);
        }
        Ok(total)
    }

    /// Sends a write part to shard `shard`'s leader on another node (looked up again once if
    /// that node no longer leads a shard this node holds no replica of).
    async fn forward_write(
        &self,
        shard: ShardId,
        part: &[SeriesWrite],
    ) -> Result<WriteOutcome, NodeError> {
        self.on_leader(shard, |route| async move {
            match route {
                Route::Local => {
                    self.write_local(BTreeMap::from([(shard, part.to_vec())]))
                        .await
                }
                Route::Remote { node, addr } => {
                    remote::forward_write(
                        &self.starter.peers,
                        shard,
                        node,
                        addr,
                        part,
                        self.opts.write_timeout_ms,
                    )
                    .await
                }
            }
        })
        .await
    }

    /// Deletes what `req` selects on every shard (each shard's leader resolves the series and
    /// proposes one `Command::Delete`); returns the number of series named. `Ok` only once
    /// every shard has committed and applied its delete.
    pub async fn delete_series(&self, req: DeleteRequest) -> Result<u64, NodeError> {
        req.selectors()?;
        let results = join_all((0..self.shard_count()).map(|shard| {
            let req = &req;
            self.on_leader(shard, move |route| async move {
                match route {
                    Route::Local => self.delete_local(shard, req.clone()).await,
                    Route::Remote { node, addr } => {
                        remote::forward_delete(
                            &self.starter.peers,
                            shard,
                            node,
                            addr,
                            req.clone(),
                            self.opts.write_timeout_ms,
                        )
                        .await
                    }
                }
            })
        }))
        .await;
        let mut total = 0;
        for r in results {
            total += r?;
        }
        Ok(total)
    }

    /// Queues a delete on this node's batcher of `shard` (which must lead it) and waits.
    async fn delete_local(&self, shard: ShardId, request: DeleteRequest) -> Result<u64, NodeError> {
        let queue = self.slot(shard)?.queue;
        let (tx, rx) = oneshot::channel();
        let job = Job::Delete(DeleteJob { request, reply: tx });
        queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => NodeError::Overloaded {
                shard,
                message: format!(
                    "write queue full (inflight_writes_max={})",
                    self.opts.inflight_writes_max
                ),
            },
            mpsc::error::TrySendError::Closed(_) => {
                NodeError::Internal(format!("shard {shard} is shutting down"))
            }
        })?;
        let timeout = Duration::from_millis(self.opts.write_timeout_ms);
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(NodeError::Timeout(format!(
                "shard {shard}: delete not applied within write_timeout_ms={}",
                self.opts.write_timeout_ms
            ))),
            Ok(Err(_)) => Err(NodeError::Internal(format!(
                "shard {shard}: batcher stopped"
            ))),
            Ok(Ok(r)) => r,
        }
    }

    /// Whether this node holds a replica of shard `shard` that serves reads and routes by its
    /// own view of the leader: it is a voter of the group as its replica knows the membership,
    /// and the cluster map records it as one. The map settles two cases the membership alone
    /// gets wrong: a learner still catching up (not recorded until it is a voter), and a
    /// removed voter that never received its removal (its replica would wait forever for
    /// entries no leader sends it any more).
    pub fn holds(&self, shard: ShardId) -> bool {
        self.is_voter(crate::raft::shard_group(shard))
            && self
                .meta
                .sm
                .with_cluster_map(|m| m.is_replica(shard, self.opts.node_id))
    }

    /// Where shard `shard`'s leader is: this node, another node (with its address), or nowhere
    /// known (`NoLeader`). A shard this node holds no replica of is looked up in the leader
    /// hints, else asked of the replicas the cluster map records.
    async fn route(&self, shard: ShardId) -> Result<Route, NodeError> {
        let g = self.slot(shard)?.group;
        if self.holds(shard) {
            return self
                .leader_of(&g)
                .map_err(|message| NodeError::NoLeader { shard, message });
        }
        let map = self.cluster_map();
        let hint = self.hints().get(&shard).copied();
        if let Some(node) = hint
            && let Some(addr) = map.nodes.get(&node)
        {
            return Ok(Route::Remote {
                node,
                addr: addr.clone(),
            });
        }
        // Ask every recorded replica at once (briefly: a replica cut off must not hold the
        // request up) and follow the leader of the highest term any of them names.
        let answers = self.probe_replicas(&map, shard).await;
        let mut why = String::from("no replica recorded");
        let mut best: Option<(u64, NodeId)> = None;
        for (node, answer) in answers {
            match answer {
                Ok(Some(GroupStatus {
                    leader: Some(leader),
                    term,
                    ..
                })) if map.nodes.contains_key(&leader) => {
                    if best.is_none_or(|(t, _)| term > t) {
                        best = Some((term, leader));
                    }
                }
                Ok(Some(GroupStatus {
                    leader: Some(leader),
                    ..
                })) => why = format!("leader {leader} is not in the cluster map"),
                Ok(_) => why = format!("node {node} knows no leader"),
                Err(e) => why = e.to_string(),
            }
        }
        if let Some((_, leader)) = best {
            self.hints().insert(shard, leader);
            return Ok(Route::Remote {
                node: leader,
                addr: map.nodes[&leader].clone(),
            });
        }
        Err(NodeError::NoLeader {
            shard,
            message: format!("no replica of the shard named its leader ({why})"),
        })
    }

    /// Every replica of shard `shard` that `map` records, asked at once for its view of the
    /// group (briefly: a replica cut off must not hold the caller up).
    async fn probe_replicas(
        &self,
        map: &crate::meta::ClusterMap,
        shard: ShardId,
    ) -> Vec<(NodeId, Result<Option<GroupStatus>, NodeError>)> {
        join_all(map.replicas_of(shard).into_iter().filter_map(|node| {
            let addr = map.nodes.get(&node)?.clone();
            Some(async move {
                let st =
                    remote::group_status(&self.starter.peers, shard, node, addr, PROBE_TIMEOUT_MS)
                        .await;
                (node, st)
            })
        }))
        .await
    }

    /// Keeps a background task of this node, to be ended by [`Self::stop`].
    fn keep_task(&self, task: tokio::task::JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    fn hints(&self) -> std::sync::MutexGuard<'_, BTreeMap<ShardId, NodeId>> {
        self.leader_hints.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` against shard `shard`'s leader. When this node holds no replica of the shard
    /// and the node it took for the leader says it is not (or cannot be reached), the leader is
    /// looked up again and `call` retried once.
    async fn on_leader<T, F, Fut>(&self, shard: ShardId, call: F) -> Result<T, NodeError>
    where
        F: Fn(Route) -> Fut,
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        let first = call(self.route(shard).await?).await;
        match first {
            Err(NodeError::NoLeader { .. } | NodeError::Unavailable(_)) if !self.holds(shard) => {
                self.hints().remove(&shard);
                call(self.route(shard).await?).await
            }
            other => other,
        }
    }

    /// Where group `g`'s leader is as this node knows it; `Err` says why there is none to ask.
    fn leader_of(&self, g: &Group) -> Result<Route, String> {
        let m = g.raft.metrics().borrow_watched().clone();
        match m.current_leader {
            None => Err("election in progress".into()),
            Some(node) if node == self.opts.node_id => Ok(Route::Local),
            Some(node) => match m.membership_config.get_node(&node) {
                Some(info) => Ok(Route::Remote {
                    node,
                    addr: info.addr.clone(),
                }),
                None => Err(format!("leader {node} is not in the membership")),
            },
        }
    }

    /// Enqueues each part on this node's batcher of its shard and waits for every one (the
    /// shards must be led by this node; a part whose shard lost its leader fails `NoLeader`).
    async fn write_local(
        &self,
        parts: BTreeMap<ShardId, Vec<SeriesWrite>>,
    ) -> Result<WriteOutcome, NodeError> {
        // Reserve a queue slot on every shard first, so an overloaded shard refuses the whole
        // write before any part of it is proposed.
        let mut permits = Vec::with_capacity(parts.len());
        for &shard in parts.keys() {
            let queue = self.slot(shard)?.queue;
            let permit = queue.try_reserve_owned().map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => NodeError::Overloaded {
                    shard,
                    message: format!(
                        "write queue full (inflight_writes_max={})",
                        self.opts.inflight_writes_max
                    ),
                },
                mpsc::error::TrySendError::Closed(_) => {
                    NodeError::Internal(format!("shard {shard} is shutting down"))
                }
            })?;
            permits.push(permit);
        }
        let mut waiters = Vec::with_capacity(parts.len());
        for (permit, (shard, part)) in permits.into_iter().zip(parts) {
            let (tx, rx) = oneshot::channel();
            let samples = part.iter().map(|s| s.samples.len()).sum();
            permit.send(Job::Write(WriteJob {
                series: part,
                samples,
                reply: tx,
            }));
            waiters.push((shard, rx));
        }
        let timeout = Duration::from_millis(self.opts.write_timeout_ms);
        let results = join_all(waiters.into_iter().map(|(shard, rx)| async move {
            match tokio::time::timeout(timeout, rx).await {
                Err(_) => Err(NodeError::Timeout(format!(
                    "shard {shard}: write not applied within write_timeout_ms={}",
                    self.opts.write_timeout_ms
                ))),
                Ok(Err(_)) => Err(NodeError::Internal(format!(
                    "shard {shard}: batcher stopped"
                ))),
                Ok(Ok(r)) => r,
            }
        }))
        .await;
        let mut total = WriteOutcome::default();
        for r in results {
            total.add(&r?);
        }
        Ok(total)
    }

    /// A querier over every shard for one query. This node's replicas are read from its engine,
    /// every other shard from a replica on another node. `linearizable`: the query sees every
    /// write acknowledged before this call (read-index on each shard's leader; this node's
    /// replicas wait until they have applied it, a remote shard is read from its leader at its
    /// read index); otherwise each replica answers at whatever it has applied.
    pub async fn reader(
        &self,
        linearizable: bool,
        samples_max: u64,
    ) -> Result<Arc<dyn Querier>, NodeError> {
        let map = self.shard_map();
        self.start_groups_of(&map).await?;
        if linearizable {
            self.check_map_recent()?;
        }
        let timeout = Duration::from_millis(self.opts.read_timeout_ms);
        let plans = join_all((0..map.groups()).map(|shard| async move {
            let held = self.holds(shard);
            let plan = async {
                match (held, linearizable) {
                    (true, true) => self.shard_barrier(shard).await.map(|()| None),
                    (true, false) => Ok(None),
                    (false, true) => self.remote_read_point(shard).await.map(Some),
                    (false, false) => self.any_replica(shard).await.map(Some),
                }
            };
            match tokio::time::timeout(timeout, plan).await {
                Err(_) => Err(NodeError::Timeout(format!(
                    "shard {shard}: read barrier timed out"
                ))),
                Ok(r) => r.map(|remote| (shard, remote)),
            }
        }))
        .await;
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for plan in plans {
            match plan? {
                (shard, None) => local.push(shard),
                (_, Some(r)) => remote.push(r),
            }
        }
        let shards = reads::ClusterQuerier::new(
            EngineQuerier::new(self.engine.clone(), local),
            remote,
            self.starter.peers.clone(),
            self.opts.read_timeout_ms,
            samples_max,
        );
        Ok(Arc::new(SplitSeriesQuerier::new(
            shards,
            map.boundaries(),
            usize::try_from(samples_max).unwrap_or(usize::MAX),
        )))
    }

    /// Where a linearizable read of a shard this node holds no replica of goes: its leader, at
    /// the read index the leader confirmed (looked up again once if the leader moved).
    async fn remote_read_point(&self, shard: ShardId) -> Result<reads::RemoteShard, NodeError> {
        self.on_leader(shard, |route| async move {
            match route {
                Route::Local => Err(NodeError::Internal(format!(
                    "shard {shard}: routed here without a replica"
                ))),
                Route::Remote { node, addr } => {
                    let min_index = remote::read_index(
                        &self.starter.peers,
                        remote::ReadIndexOf::Shard,
                        shard,
                        node,
                        addr.clone(),
                        self.opts.read_timeout_ms,
                    )
                    .await?;
                    Ok(reads::RemoteShard {
                        shard,
                        node,
                        addr,
                        min_index,
                    })
                }
            }
        })
        .await
    }

    /// Where a follower read of a shard this node holds no replica of goes: the leader when
    /// known, else the first replica the cluster map records.
    async fn any_replica(&self, shard: ShardId) -> Result<reads::RemoteShard, NodeError> {
        let map = self.cluster_map();
        let node = self
            .hints()
            .get(&shard)
            .copied()
            .or_else(|| map.replicas_of(shard).first().copied());
        match node.and_then(|n| map.nodes.get(&n).map(|a| (n, a.clone()))) {
            Some((node, addr)) => Ok(reads::RemoteShard {
                shard,
                node,
                addr,
                min_index: 0,
            }),
            None => Err(NodeError::Unavailable(format!(
                "shard {shard}: no replica recorded in the cluster map"
            ))),
        }
    }

    /// Answers a read of shard `shard` from this node's replica once it has applied
    /// `req.min_index` (`ShardService/Read`).
    pub(crate) async fn serve_read(
        &self,
        shard: ShardId,
        req: reads::ReadRequest,
    ) -> Result<reads::ReadReply, NodeError> {
        self.ready_to_read(shard, &req).await?;
        let querier = EngineQuerier::new(self.engine.clone(), vec![shard]);
        tokio::task::spawn_blocking(move || reads::run_local(&querier, &req.op, req.samples_max))
            .await
            .map_err(|e| NodeError::Internal(format!("shard {shard}: read task failed: {e}")))?
    }

    /// Streams a select of shard `shard` from this node's replica once it has applied
    /// `req.min_index` (`ShardService/ReadStream`): batches go to `tx` until the select ends,
    /// fails (its error is the last message) or the reader goes away.
    pub(crate) async fn serve_read_stream(
        &self,
        shard: ShardId,
        req: reads::ReadRequest,
        tx: mpsc::Sender<Result<tidemark_proto::node::ShardReply, tonic::Status>>,
    ) {
        if let Err(e) = self.ready_to_read(shard, &req).await {
            let _ = tx
                .send(remote::encode_result::<reads::ReadReply>(Err(e)))
                .await;
            return;
        }
        let querier = EngineQuerier::new(self.engine.clone(), vec![shard]);
        let done = tokio::task::spawn_blocking(move || {
            reads::stream_select(&querier, &req.op, req.samples_max, |batch| {
                tx.blocking_send(remote::encode_result(batch)).is_ok()
            })
        })
        .await;
        if let Err(e) = done {
            tracing::warn!(shard, error = %e, "streamed read task failed");
        }
    }

    /// Checks that this node holds shard `shard` and waits until its replica has applied
    /// `req.min_index`.
    async fn ready_to_read(
        &self,
        shard: ShardId,
        req: &reads::ReadRequest,
    ) -> Result<(), NodeError> {
        if !self.holds(shard) {
            return Err(NodeError::Unavailable(format!(
                "node {} holds no replica of shard {shard}",
                self.opts.node_id
            )));
        }
        if req.min_index > 0 {
            self.wait_applied(shard, req.min_index, req.timeout_ms)
                .await?;
        }
        Ok(())
    }

    /// Waits (up to `timeout_ms`) until this node's replica of shard `shard` has applied log
    /// index `index`.
    async fn wait_applied(
        &self,
        shard: ShardId,
        index: u64,
        timeout_ms: u64,
    ) -> Result<(), NodeError> {
        self.slot(shard)?
            .group
            .raft
            .wait(Some(Duration::from_millis(timeout_ms)))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map(|_| ())
            .map_err(|e| {
                NodeError::Timeout(format!(
                    "shard {shard}: replica did not apply read index {index}: {e}"
                ))
            })
    }

    /// The state of this node's replica of shard `shard`, `None` when it holds none.
    pub(crate) fn local_group_status(&self, shard: ShardId) -> Option<GroupStatus> {
        if !self.holds(shard) {
            return None;
        }
        self.slot(shard).ok().map(|s| self.group_status(&s.group))
    }

    /// The state of every group: this node's replicas as it knows them, every other shard as
    /// its leader (or, failing that, another replica) reports it. A shard no replica answers
    /// for is listed with its recorded voters and no leader.
    pub async fn cluster_status(&self) -> Vec<GroupStatus> {
        let map = self.cluster_map();
        let remote = join_all(
            (0..self.shard_count())
                .filter(|s| !self.holds(*s))
                .map(|shard| {
                    let map = &map;
                    async move {
                        // Every recorded replica at once, briefly; the most advanced answer
                        // (highest term, then applied index) is the group's state.
                        let mut answers: Vec<GroupStatus> = self
                            .probe_replicas(map, shard)
                            .await
                            .into_iter()
                            .filter_map(|(_, a)| a.ok().flatten())
                            .collect();
                        answers.sort_by_key(|st| (st.term, st.applied_index));
                        if let Some(st) = answers.pop() {
                            return st;
                        }
                        GroupStatus {
                            group_id: shard_group(shard),
                            shard: Some(shard),
                            leader: None,
                            term: 0,
                            last_log_index: None,
                            applied_index: None,
                            flushed_index: None,
                            purged_index: None,
                            voters: map.replicas_of(shard),
                            learners: Vec::new(),
                        }
                    }
                }),
        )
        .await;
        let mut all: Vec<GroupStatus> = self
            .groups()
            .iter()
            .filter(|g| crate::raft::group_shard(g.id).is_none_or(|s| self.holds(s)))
            .map(|g| self.group_status(g))
            .chain(remote)
            .collect();
        all.sort_by_key(|g| g.group_id);
        all
    }

    /// Proposes `cmd` to the meta group (on its leader: this node, or over gRPC) and waits
    /// until it is committed.
    pub async fn propose_meta(&self, cmd: MetaCommand) -> Result<(), NodeError> {
        match self
            .leader_of(&self.meta)
            .map_err(|why| NodeError::Unavailable(format!("meta group: {why}")))?
        {
            Route::Local => self.propose_meta_local(cmd).await,
            Route::Remote { node, addr } => {
                remote::propose_meta(
                    &self.starter.peers,
                    node,
                    addr,
                    &cmd,
                    self.opts.write_timeout_ms,
                )
                .await
            }
        }
    }

    /// Proposes `cmd` to the meta group, which this node must lead.
    pub(crate) async fn propose_meta_local(&self, cmd: MetaCommand) -> Result<(), NodeError> {
        self.meta
            .raft
            .client_write(Request::Meta(cmd))
            .await
            .map(|_| ())
            .map_err(|e| membership_error(META_GROUP, e))
    }

    /// Records shard `shard`'s voters in the cluster map when the map says otherwise (run by
    /// the shard's leader after every membership change and periodically, so that a record
    /// lost to a crash is made good).
    async fn record_placement(&self, shard: ShardId) -> Result<(), NodeError> {
        let m = self
            .slot(shard)?
            .group
            .raft
            .metrics()
            .borrow_watched()
            .clone();
        if !self.leads(&m) {
            return Ok(());
        }
        let mut voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        voters.sort_unstable();
        if voters.is_empty() {
            return Ok(());
        }
        if self.cluster_map().replicas.get(&shard) == Some(&voters) {
            return Ok(());
        }
        self.propose_meta(MetaCommand::SetReplicas {
            shard,
            nodes: voters,
        })
        .await
    }

    /// Waits until every shard has applied everything committed before this call: the read
    /// barrier of [`Shards::reader`] without its querier.
    pub async fn read_barrier(&self) -> Result<(), NodeError> {
        self.reader(true, u64::MAX).await.map(|_| ())
    }

    async fn shard_barrier(&self, shard: ShardId) -> Result<(), NodeError> {
        let index = match self.route(shard).await? {
            Route::Local => return self.local_read_index(shard).await.map(|_| ()),
            Route::Remote { node, addr } => {
                remote::read_index(
                    &self.starter.peers,
                    remote::ReadIndexOf::Shard,
                    shard,
                    node,
                    addr,
                    self.opts.read_timeout_ms,
                )
                .await?
            }
        };
        self.wait_applied(shard, index, self.opts.read_timeout_ms)
            .await
    }

    /// Runs the read-index procedure on this node's group of shard `shard` (it must lead it),
    /// waits until it has applied the index, and returns the index.
    async fn local_read_index(&self, shard: ShardId) -> Result<u64, NodeError> {
        let g = self.slot(shard)?.group;
        match g.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(read) => Ok(read.index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                Err(NodeError::NoLeader {
                    shard,
                    message: match f.leader_id {
                        Some(id) => format!("node {id} leads the shard"),
                        None => "election in progress".into(),
                    },
                })
            }
            Err(e) => Err(NodeError::NoLeader {
                shard,
                message: e.to_string(),
            }),
        }
    }

    /// The node-to-node shard service (write forwarding, read index), to mount on the node's
    /// gRPC listener next to the Raft transport.
    pub fn shard_service(
        self: &Arc<Self>,
    ) -> tidemark_proto::node::shard_service_server::ShardServiceServer<remote::ShardServer> {
        remote::ShardServer::new(Arc::downgrade(self)).into_server()
    }

    /// A querier over every shard of this node's engine (whether it holds a replica or not),
    /// with no sample limit.
    pub fn querier(&self) -> Arc<dyn Querier> {
        Arc::new(SplitSeriesQuerier::new(
            EngineQuerier::new(self.engine.clone(), (0..self.shard_count()).collect()),
            self.shard_map().boundaries(),
            usize::MAX,
        ))
    }

    /// Persists every shard's head (with its applied index), then lets openraft purge the log
    /// below it (keeping `log_keep_entries`). Returns when every flush is done.
    pub async fn flush(&self) -> Result<(), NodeError> {
        let _guard = self.flush_lock.lock().await;
        for g in self.groups() {
            self.flush_group(&g).await?;
        }
        Ok(())
    }

    /// Flushes every shard, then compacts the raft log (so that what the flush let openraft purge
    /// leaves the disk) and the data store (the admin flush: afterwards, disk usage reflects
    /// the data).
    pub async fn flush_and_compact(&self) -> Result<(), NodeError> {
        self.flush().await?;
        // openraft purges after the snapshot is taken, asynchronously: wait for it (bounded;
        // compacting early only leaves more on disk, it loses nothing).
        let keep = self.opts.log_keep_entries;
        let timeout = Duration::from_millis(self.opts.read_timeout_ms);
        for g in self.groups() {
            let Some(snapshot) = g.raft.metrics().borrow_watched().snapshot else {
                continue;
            };
            let want = snapshot.index().saturating_sub(keep);
            if want == 0 {
                continue;
            }
            let purged = g
                .raft
                .wait(Some(timeout))
                .metrics(
                    move |m| m.purged.is_some_and(|p| p.index() >= want),
                    "purge",
                )
                .await;
            if let Err(e) = purged {
                tracing::warn!(group = g.id, error = %e, "log not purged before compaction");
            }
        }
        let log_db = self.starter.log_db.clone();
        tokio::task::spawn_blocking(move || log_db.compact_blocking())
            .await
            .map_err(|e| NodeError::Internal(format!("raft log compaction: {e}")))??;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.compact())
            .await
            .map_err(|e| NodeError::Internal(format!("data compaction: {e}")))?
            .map_err(|e| NodeError::Internal(format!("data compaction: {e}")))
    }

    async fn flush_group(&self, g: &Group) -> Result<(), NodeError> {
        let Some(target) = g.sm.last_applied() else {
            return Ok(());
        };
        let current = g.raft.metrics().borrow_watched().snapshot;
        if current.is_some_and(|s| s.index() >= target.index()) {
            return Ok(());
        }
        g.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| NodeError::Internal(format!("group {}: {e}", g.id)))?;
        let timeout = Duration::from_millis(self.opts.read_timeout_ms);
        g.raft
            .wait(Some(timeout))
            .metrics(
                move |m| m.snapshot.is_some_and(|s| s.index() >= target.index()),
                "flush",
            )
            .await
            .map_err(|e| NodeError::Timeout(format!("group {}: flush: {e}", g.id)))?;
        Ok(())
    }

    /// The state of every group on this node (those it holds no replica of, too: they show
    /// no leader and no voters).
    pub fn status(&self) -> Vec<GroupStatus> {
        self.groups().iter().map(|g| self.group_status(g)).collect()
    }

    fn group_status(&self, g: &Group) -> GroupStatus {
        let m = g.raft.metrics().borrow_watched().clone();
        GroupStatus {
            group_id: g.id,
            shard: crate::raft::group_shard(g.id),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index()),
            flushed_index: g.sm.flushed_index().ok().flatten(),
            purged_index: m.purged.map(|l| l.index()),
            voters: m.membership_config.membership().voter_ids().collect(),
            learners: m.membership_config.membership().learner_ids().collect(),
        }
    }

    /// Flushes, then stops every group and task. Writes after this fail.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        let flushed = self.flush().await;
        self.stop().await;
        flushed
    }

    /// Stops every group and task without flushing: what a crash leaves behind (the next open
    /// replays the log). Used by tests; `shutdown` is the clean way.
    pub async fn stop(&self) {
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        for g in self.groups() {
            self.starter.registry.remove(g.id);
            if let Err(e) = g.raft.shutdown().await {
                tracing::warn!(group = g.id, error = %e, "raft shutdown");
            }
        }
        // The raft tasks release their log stores after they stop; wait (bounded) so that the
        // log database can be reopened by this process once `Shards` is dropped. Two handles
        // remain: this one and the meta state machine's.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(STOP_WAIT_MS);
        while self.starter.log_db.handle_count() > 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts the shard groups the shard map has and this node does not have yet, and
    /// initialises the group of each shard a version created with this node among its first
    /// voters, while the map still records exactly those voters (a group whose membership has
    /// moved on is running without this node, whose leader adds it if it should).
    async fn adopt_shard_map(&self) -> Result<(), NodeError> {
        let (groups, created, nodes, replicas) = self.meta.sm.with_cluster_map(|m| {
            (
                m.shard_map.groups(),
                m.created.clone(),
                m.nodes.clone(),
                m.replicas.clone(),
            )
        });
        if groups > self.shard_count() {
            let _guard = self.grow_lock.lock().await;
            for shard in self.shard_count()..groups {
                let (slot, task) =
                    start_shard(&self.starter, &self.opts, &self.engine, shard).await?;
                self.shards
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(slot);
                self.keep_task(task);
                tracing::info!(
                    shard,
                    "started the group of a shard a new shard-map version added"
                );
            }
        }
        for (shard, voters) in created {
            if !voters.contains(&self.opts.node_id) || replicas.get(&shard) != Some(&voters) {
                continue;
            }
            let g = self.slot(shard)?.group;
            let initialized = g
                .raft
                .is_initialized()
                .await
                .map_err(|e| NodeError::Internal(format!("shard {shard}: {e}")))?;
            if initialized {
                continue;
            }
            let Some(members) = voters
                .iter()
                .map(|id| {
                    nodes
                        .get(id)
                        .map(|addr| (*id, NodeInfo { addr: addr.clone() }))
                })
                .collect::<Option<BTreeMap<NodeId, NodeInfo>>>()
            else {
                tracing::warn!(
                    shard,
                    ?voters,
                    "a first voter of a new shard is not in the cluster map"
                );
                continue;
            };
            // A leader elected meanwhile may have reached this replica first: then there is
            // nothing to initialise, and openraft says so.
            match g.raft.initialize(members).await {
                Ok(()) => tracing::info!(shard, ?voters, "initialised the group of a new shard"),
                Err(e) => tracing::debug!(shard, error = %e, "new shard's group not initialised"),
            }
        }
        Ok(())
    }

    /// Whether this node's replica, with metrics `m`, leads its group. `current_leader` alone
    /// is not enough: a leader that removed itself (and a replica emptied after that) keeps a
    /// vote naming itself, but leads nothing.
    fn leads(&self, m: &openraft::RaftMetrics<crate::raft::TypeConfig>) -> bool {
        m.state == openraft::ServerState::Leader && m.current_leader == Some(self.opts.node_id)
    }

    /// Whether this node's replica of `shard` looks like one to empty: it has state (a log or
    /// applied entries), it is not in the Leader state, and the cluster map records the
    /// shard's voters without this node. Only a hint: [`Shards::retire_replica`] asks the
    /// leader. A replica that never saw a term above 0 is left alone: its emptied group would
    /// count as never initialised, and a fixed cluster's bootstrap would initialise it again.
    fn may_retire(&self, shard: ShardId, g: &Group) -> bool {
        let me = self.opts.node_id;
        let m = g.raft.metrics().borrow_watched().clone();
        let has_state = m.last_log_index.is_some() || m.last_applied.is_some();
        has_state
            && m.current_term > 0
            && m.state != openraft::ServerState::Leader
            && self
                .meta
                .sm
                .with_cluster_map(|map| map.replicas.get(&shard).is_some_and(|v| !v.contains(&me)))
    }

    /// On shard `shard`'s leader: the members (voters and learners) of the group as committed
    /// at a read index taken now, together with any the leader's own, possibly uncommitted,
    /// membership adds.
    pub(crate) async fn local_committed_members(
        &self,
        shard: ShardId,
    ) -> Result<Vec<NodeId>, NodeError> {
        self.local_read_index(shard).await?;
        let g = self.slot(shard)?.group;
        let mut members = g.sm.members();
        let effective = g.raft.metrics().borrow_watched().membership_config.clone();
        members.extend(effective.membership().nodes().map(|(id, _)| *id));
        members.sort_unstable();
        members.dedup();
        Ok(members)
    }

    /// Whether shard `shard`'s leader says its group's committed membership lacks this node.
    async fn leader_excludes_me(&self, shard: ShardId) -> Result<bool, NodeError> {
        let members = self
            .on_leader(shard, |route| async move {
                match route {
                    Route::Local => self.local_committed_members(shard).await,
                    Route::Remote { node, addr } => {
                        remote::committed_members(
                            &self.starter.peers,
                            shard,
                            node,
                            addr,
                            self.opts.read_timeout_ms,
                        )
                        .await
                    }
                }
            })
            .await?;
        Ok(!members.contains(&self.opts.node_id))
    }

    /// Empties this node's replica of shard `shard` once the group has removed this node, so
    /// that `rebalance`, `shard move` and `node drain` free the disk and memory of the nodes
    /// they move replicas away from. Returns whether it did.
    ///
    /// Wiping a replica the group still counts on could lose committed entries or let it vote
    /// twice in a term, so: the group's leader must say the committed membership lacks this
    /// node; then this node stops its replica (from then on it neither receives entries nor
    /// votes) and asks again, so that the answer covers everything the replica ever took part
    /// in. Only then are the shard's data and log deleted, under a node record that a restart
    /// finishes from. The vote is kept, and the group restarts with no membership: it votes
    /// again only once a leader adds this node back and sends it the group's state, and then
    /// only for candidates whose log reaches the one it deleted (`raft::network`,
    /// `check_may_vote`).
    pub(crate) async fn retire_replica(&self, shard: ShardId) -> Result<bool, NodeError> {
        {
            let g = self.slot(shard)?.group;
            if !self.may_retire(shard, &g) || !self.leader_excludes_me(shard).await? {
                return Ok(false);
            }
        }
        let _grow = self.grow_lock.lock().await;
        let _flush = self.flush_lock.lock().await;
        let g = self.slot(shard)?.group;
        if !self.may_retire(shard, &g) {
            return Ok(false);
        }
        if self
            .starter
            .log_db
            .get_node_record(RETIRING_RECORD)?
            .is_some()
        {
            return Err(NodeError::Internal(format!(
                "shard {shard}: the emptying of another replica did not finish; restarting \
                 the node finishes it"
            )));
        }
        self.starter.registry.remove(g.id);
        if let Err(e) = g.raft.shutdown().await {
            tracing::warn!(shard, error = %e, "stopping a replica to empty it");
        }
        g.sm.close();
        let emptied = match self.leader_excludes_me(shard).await {
            Ok(true) => {
                self.starter
                    .log_db
                    .put_node_record_sync(RETIRING_RECORD, &shard.to_be_bytes())?;
                // On an error the group stays stopped: the record makes the next start finish.
                empty_replica(&self.engine, &self.starter.log_db, shard).await?;
                Ok(true)
            }
            other => other,
        };
        // Restarted empty, or as it was (the log replays what the flush did not cover).
        let (slot, task) = start_shard(&self.starter, &self.opts, &self.engine, shard).await?;
        self.shards.write().unwrap_or_else(|p| p.into_inner())[shard as usize] = slot;
        self.keep_task(task);
        if emptied.as_ref().is_ok_and(|e| *e) {
            tracing::info!(
                shard,
                "emptied the replica of a shard this node no longer holds"
            );
        }
        emptied
    }

    /// Starts the groups of shards in `map` this node has not started yet (the background
    /// adoption may not have run yet), so that routing and reads cover every shard.
    async fn start_groups_of(&self, map: &ShardMap) -> Result<(), NodeError> {
        if map.groups() > self.shard_count() {
            self.adopt_shard_map().await?;
        }
        Ok(())
    }

    /// Adds a shard-map version of `count` shards (`tidemarkctl shards set`), starting at the
    /// first multiple of `shard_version_align_ms` at least `shard_version_lead_ms` (plus
    /// `write_timeout_ms`) from now, and after the last version's start. Data already written stays where it is. Shards the version adds get
    /// `replication_factor` voters on the nodes holding the fewest replicas. `Unchanged` when
    /// the newest version already has `count` shards.
    pub async fn set_shard_count(&self, count: u32) -> Result<ShardVersionOutcome, NodeError> {
        if count == 0 || count > SHARD_COUNT_MAX {
            return Err(NodeError::BadRequest(format!(
                "the shard count must be between 1 and {SHARD_COUNT_MAX}, got {count}"
            )));
        }
        let map = self.cluster_map();
        if map.cluster_id.is_none() {
            return Err(NodeError::Unavailable(
                "the cluster is not initialised yet; retry".into(),
            ));
        }
        let shard_map = map.shard_map_or(self.initial_shard_count);
        let last = *shard_map
            .versions()
            .last()
            .ok_or_else(|| NodeError::Internal("the shard map has no version".into()))?;
        if last.shard_count == count {
            return Ok(ShardVersionOutcome {
                changed: false,
                version: last,
                placement: BTreeMap::new(),
            });
        }
        // The lead, plus the time the proposal may take to commit: whoever confirmed its map
        // before the commit routes samples up to its confirmation plus the lead.
        let width = self.opts.shard_version_align_ms.max(1);
        let earliest = now_ms()
            .saturating_add(self.opts.shard_version_lead_ms.max(0))
            .saturating_add(self.opts.write_timeout_ms as i64)
            .max(last.start_ms.saturating_add(1));
        let start_ms = earliest
            .div_euclid(width)
            .saturating_add(i64::from(earliest.rem_euclid(width) != 0))
            .saturating_mul(width);
        let placement = place_new_shards(&map, shard_map.groups(), count);
        self.propose_meta(MetaCommand::AddShardVersion {
            start_ms,
            shard_count: count,
            placement: placement.clone(),
        })
        .await?;
        // The meta leader applied it; wait until this node's replica has too.
        let deadline = Instant::now() + Duration::from_millis(self.opts.write_timeout_ms);
        loop {
            let now = self.shard_map();
            if let Some(v) = now.versions().iter().find(|v| v.start_ms == start_ms) {
                if v.shard_count != count {
                    return Err(NodeError::Unavailable(format!(
                        "another shard-map change ({} shards from {start_ms}) won; retry",
                        v.shard_count
                    )));
                }
                self.adopt_shard_map().await?;
                return Ok(ShardVersionOutcome {
                    changed: true,
                    version: *v,
                    placement,
                });
            }
            if now.versions().last().is_some_and(|v| v.start_ms > start_ms) {
                return Err(NodeError::Unavailable(
                    "another shard-map change was committed first; retry".into(),
                ));
            }
            if Instant::now() > deadline {
                return Err(NodeError::Timeout(
                    "the new shard-map version was committed but this node has not applied it yet"
                        .into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs the read-index procedure on the meta group, which this node must lead.
    pub(crate) async fn local_meta_read_index(&self) -> Result<u64, NodeError> {
        self.meta
            .raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map(|read| read.index())
            .map_err(|e| NodeError::Unavailable(format!("meta group read index: {e}")))
    }

    /// Confirms that this node's meta replica holds every shard-map version committed before
    /// this call: asks the meta leader for a read index, waits until the replica has applied
    /// it, then records the time the call began.
    async fn confirm_shard_map(&self) -> Result<(), NodeError> {
        let began = now_ms();
        let index = match self
            .leader_of(&self.meta)
            .map_err(|why| NodeError::Unavailable(format!("meta group: {why}")))?
        {
            Route::Local => self.local_meta_read_index().await?,
            Route::Remote { node, addr } => {
                remote::read_index(
                    &self.starter.peers,
                    remote::ReadIndexOf::Meta,
                    0,
                    node,
                    addr,
                    self.opts.read_timeout_ms,
                )
                .await?
            }
        };
        self.meta
            .raft
            .wait(Some(Duration::from_millis(self.opts.read_timeout_ms)))
            .applied_index_at_least(Some(index), "meta read index applied")
            .await
            .map_err(|e| NodeError::Timeout(format!("meta replica behind: {e}")))?;
        self.map_confirmed_ms
            .fetch_max(began, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Refuses (retryably) samples this node cannot route with certainty: a shard-map version
    /// starts at least `shard_version_lead_ms` after it is proposed, so every version covering
    /// a time before `confirmed + shard_version_lead_ms` was committed before `confirmed`, the
    /// last time this node confirmed its map with the meta leader. A node cut off from the
    /// meta group for longer than the lead refuses current samples instead of misrouting them.
    pub(crate) fn check_horizon(&self, series: &[SeriesWrite]) -> Result<(), NodeError> {
        let confirmed = self
            .map_confirmed_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let horizon = confirmed.saturating_add(self.opts.shard_version_lead_ms.max(0));
        let newest = series
            .iter()
            .filter_map(|s| s.samples.last())
            .map(|s| s.t)
            .max();
        match newest {
            Some(t) if t >= horizon => Err(NodeError::Unavailable(format!(
                "node {} cannot route a sample at {t} ms yet: its shard map is confirmed up to \
                 {horizon} ms (last confirmed with the meta leader at {confirmed} ms, plus \
                 shard_version_lead_ms); retry",
                self.opts.node_id
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses (retryably) a linearizable read when this node's shard map may miss a version
    /// that an acknowledged write already used. A sample at or after a version's start is
    /// written no sooner than `shard_version_lead_ms - future_window_ms` after the version
    /// was committed (it starts that far ahead, and samples further ahead than the window are
    /// refused), so a map confirmed within that margin before the read knows every version a
    /// write before the read could have used.
    fn check_map_recent(&self) -> Result<(), NodeError> {
        let confirmed = self
            .map_confirmed_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let margin = self.opts.shard_version_lead_ms - self.opts.future_window_ms;
        let age = now_ms().saturating_sub(confirmed);
        if age > margin {
            return Err(NodeError::Unavailable(format!(
                "node {}: shard map last confirmed with the meta leader {age} ms ago (more than \
                 shard_version_lead_ms - future_window_ms = {margin} ms): a linearizable read \
                 could miss shards; retry, or read with consistency=follower",
                self.opts.node_id
            )));
        }
        Ok(())
    }

    /// The Raft handle of shard `shard` (for tests and the cluster layer).
    pub fn raft_of_shard(&self, shard: ShardId) -> Option<RaftGroup> {
        self.slot(shard).ok().map(|s| s.group.raft)
    }
}

/// Most shards a shard-map version may have (each is a Raft group on every node).
const SHARD_COUNT_MAX: u32 = 1024;

/// What [`Shards::set_shard_count`] did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardVersionOutcome {
    /// Whether a version was added (`false`: the newest one already had the shard count).
    pub changed: bool,
    /// The version (the newest one when nothing changed).
    pub version: crate::meta::ShardMapVersion,
    /// The voters of each shard the version created.
    pub placement: BTreeMap<ShardId, Vec<NodeId>>,
}

/// The voters of shards `from..to` (none when `to <= from`): `replication_factor` each, on the
/// nodes holding the fewest replicas so far (ties to the lowest id).
fn place_new_shards(
    map: &crate::meta::ClusterMap,
    from: u32,
    to: u32,
) -> BTreeMap<ShardId, Vec<NodeId>> {
    let mut load: BTreeMap<NodeId, usize> = map.nodes.keys().map(|&n| (n, 0)).collect();
    for shard in 0..from {
        for n in map.replicas_of(shard) {
            if let Some(l) = load.get_mut(&n) {
                *l += 1;
            }
        }
    }
    let rf = (map.replication_factor.max(1) as usize).min(load.len());
    (from..to)
        .map(|shard| {
            let mut by_load: Vec<(usize, NodeId)> = load.iter().map(|(&n, &l)| (l, n)).collect();
            by_load.sort_unstable();
            let mut nodes: Vec<NodeId> = by_load.iter().take(rf).map(|&(_, n)| n).collect();
            nodes.sort_unstable();
            for n in &nodes {
                *load.entry(*n).or_default() += 1;
            }
            (shard, nodes)
        })
        .collect()
}

/// The members a cluster bootstrapped by this node starts with: the `initial_cluster` list, or
/// this node alone.
fn bootstrap_members(opts: &ShardsOptions) -> BTreeMap<NodeId, String> {
    opts.initial_cluster
        .clone()
        .unwrap_or_else(|| BTreeMap::from([(opts.node_id, opts.grpc_addr.clone())]))
}

/// The meta group's voters of a cluster bootstrapped by `members`: the first
/// Entries a meta learner may lag behind the leader's log and still take a voter's seat.
const META_LEARNER_LAG_MAX: u64 = 64;

/// `meta_voters_max` in id order (the others follow it as learners).
fn meta_voters(members: &BTreeMap<NodeId, String>, meta_voters_max: u32) -> Vec<NodeId> {
    members
        .keys()
        .copied()
        .take(meta_voters_max.max(1) as usize)
        .collect()
}

/// Voters per shard of a cluster bootstrapped by this node: `replication_factor` capped at the
/// members of a fixed cluster; 1 for a one-node cluster.
fn bootstrap_replication_factor(opts: &ShardsOptions) -> u32 {
    match &opts.initial_cluster {
        Some(m) => opts.replication_factor.clamp(1, m.len().max(1) as u32),
        None => 1,
    }
}

/// Waits (in the background) for the groups of a multi-node cluster to elect leaders, then has
/// the meta leader record the cluster; retried until the meta group holds the cluster id.
async fn init_meta_in_background(shards: Weak<Shards>, cluster: ClusterFile) {
    const RETRY_MS: u64 = 500;
    loop {
        let Some(s) = shards.upgrade() else { return };
        if s.meta.sm.cluster_map().cluster_id.is_some() {
            return;
        }
        let leader = s
            .meta
            .raft
            .wait(Some(Duration::from_millis(RETRY_MS)))
            .metrics(|m| m.current_leader.is_some(), "meta leader elected")
            .await;
        if leader.is_ok()
            && let Err(e) = s.ensure_meta_init(&cluster).await
        {
            tracing::warn!(error = %e, "recording the cluster in the meta group failed; retrying");
        }
        drop(s);
        tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
    }
}

/// Every few seconds: starts the groups of new shards ([`Shards::adopt_shard_map`]); each
/// shard leader on this node re-records its shard's voters in the cluster map if the map says
/// otherwise ([`Shards::record_placement`]); replicas the groups have removed this node from
/// are emptied ([`Shards::retire_replica`]).
async fn check_placement(shards: Weak<Shards>) {
    const PERIOD_MS: u64 = 2_000;
    let mut tick = tokio::time::interval(Duration::from_millis(PERIOD_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(s) = shards.upgrade() else { return };
        if s.cluster_map().cluster_id.is_none() {
            continue;
        }
        if let Err(e) = s.adopt_shard_map().await {
            tracing::warn!(error = %e, "adopting the shard map failed; retrying later");
        }
        for shard in 0..s.shard_count() {
            if let Err(e) = s.record_placement(shard).await {
                tracing::debug!(shard, error = %e, "recording placement failed; retrying later");
            }
            match s.retire_replica(shard).await {
                Err(e @ NodeError::Internal(_)) => {
                    tracing::warn!(shard, error = %e, "emptying a removed replica failed")
                }
                Err(e) => {
                    tracing::debug!(shard, error = %e, "emptying a removed replica: retrying later")
                }
                Ok(_) => {}
            }
        }
    }
}

/// Every second, confirms this node's shard map with the meta leader
/// ([`Shards::confirm_shard_map`]).
async fn keep_shard_map_confirmed(shards: Weak<Shards>) {
    let mut tick = tokio::time::interval(Duration::from_millis(MAP_CONFIRM_PERIOD_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(s) = shards.upgrade() else { return };
        if let Err(e) = s.confirm_shard_map().await {
            tracing::debug!(error = %e, "confirming the shard map failed; retrying");
        }
    }
}

/// How often a node confirms its shard map with the meta leader, in milliseconds.
const MAP_CONFIRM_PERIOD_MS: u64 = 1_000;

/// Adopts each shard-map change as soon as this node's meta replica applies it
/// ([`Shards::adopt_shard_map`]; the periodic placement check retries what fails).
async fn follow_shard_map(shards: Weak<Shards>) {
    let mut metrics = match shards.upgrade() {
        Some(s) => s.meta.raft.metrics(),
        None => return,
    };
    let mut seen: Option<u64> = None;
    loop {
        if metrics.changed().await.is_err() {
            return;
        }
        let applied = metrics.borrow_watched().last_applied.map(|l| l.index());
        if applied == seen {
            continue;
        }
        seen = applied;
        let Some(s) = shards.upgrade() else { return };
        let pending = s
            .meta
            .sm
            .with_cluster_map(|m| m.shard_map.groups() > s.shard_count() || !m.created.is_empty());
        if pending && let Err(e) = s.adopt_shard_map().await {
            tracing::warn!(error = %e, "adopting the shard map failed; retrying later");
        }
    }
}

/// On the meta leader, every quarter of `meta_dead_voter_ms` (0.5 to 5 s): keeps the meta
/// group's voters alive and at `meta_voters_max` ([`Shards::keep_meta_voters_once`]), so that
/// nodes that die without being removed do not wear its quorum down.
async fn keep_meta_voters(shards: Weak<Shards>) {
    let period_ms = match shards.upgrade() {
        Some(s) => (s.opts.meta_dead_voter_ms / 4).clamp(500, 5_000),
        None => return,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(period_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The term this node has led the meta group in, and since when: a voter that has not
    // answered since is counted silent from then.
    let mut leading: Option<(u64, Instant)> = None;
    loop {
        tick.tick().await;
        let Some(s) = shards.upgrade() else { return };
        if let Err(e) = s.keep_meta_voters_once(&mut leading).await {
            tracing::debug!(error = %e, "keeping the meta voters failed; retrying later");
        }
    }
}

async fn periodic_flush(shards: Weak<Shards>, interval_ms: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(s) = shards.upgrade() else { return };
        if let Err(e) = s.flush().await {
            tracing::warn!(error = %e, "periodic flush failed");
        }
    }
}
