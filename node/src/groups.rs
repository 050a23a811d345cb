//! The group host: the Raft groups this node runs (the meta group, one group per shard, and
//! the ruler group the alerting issues add), each with its state machine, and for a shard the
//! batcher that proposes its writes. It starts and stops groups, answers what a local replica
//! knows (leadership, read indexes, status) and flushes them. It knows nothing of routing or
//! of other nodes beyond what the Raft transport needs; the router and the placement controller
//! build on it.
//!
//! How a data directory becomes running groups (cluster record, bootstrap of a new cluster,
//! initialisation of a fixed one) is in `groups/bootstrap.rs`; flushes in `groups/flush.rs`.

mod bootstrap;
mod flush;
mod kind;

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::error::{LinearizableReadError, RaftError};
use openraft::{ReadPolicy, SnapshotPolicy};
use tidemark_storage::{Engine, ShardId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use bootstrap::JoinTarget;
pub(crate) use bootstrap::{bootstrap_members, bootstrap_replication_factor, meta_voters};
pub use kind::GroupKind;

use crate::batcher::{Batcher, BatcherConfig, Job};
use crate::config::Config;
use crate::disk_guard::DiskGuard;
use crate::error::NodeError;
use crate::meta::{ClusterMap, MetaCommand, ShardMap};
use crate::raft::log_store::LogDb;
use crate::raft::network::{NetworkFactory, PeerChannels};
use crate::raft::shard_timings::ShardTimings;
use crate::raft::state_machine::{GroupStateMachine, SmShared};
use crate::raft::transport_service::{GroupRegistry, RaftTransportService};
use crate::raft::{
    GroupId, META_GROUP, NodeId, RULER_GROUP, RaftGroup, Request, TypeConfig, shard_group,
};
use crate::request::GroupStatus;

/// How long `stop` waits for the raft tasks to release the log database, in milliseconds.
const STOP_WAIT_MS: u64 = 5_000;

/// Directory under the data directory where shard snapshots being received are written.
pub(crate) const SNAPSHOT_DIR: &str = "snapshots";

/// Name of the node record naming (big-endian `u32`) the shard whose replica this node is
/// emptying ([`GroupHost::empty_replica`]): a restart finishes the job before it starts the
/// shard's group.
pub(crate) const RETIRING_RECORD: &str = "retiring";

/// One group on this node (cheap to clone: its parts are shared).
#[derive(Clone)]
pub(crate) struct Group {
    pub id: GroupId,
    pub raft: RaftGroup,
    pub sm: Arc<SmShared>,
}

/// One shard group on this node and the queue of its batcher.
#[derive(Clone)]
pub(crate) struct ShardSlot {
    pub group: Group,
    pub queue: mpsc::Sender<Job>,
}

/// What starting a group on this node needs.
#[derive(Clone)]
struct GroupStarter {
    node_id: NodeId,
    raft_config: Arc<openraft::Config>,
    peers: PeerChannels,
    log_db: LogDb,
    registry: GroupRegistry,
    /// How old a sample a shard leader accepts (`BatcherConfig::backfill_ms`), shared by
    /// every shard's batcher and kept by `Retention`.
    backfill_ms: Arc<AtomicI64>,
    /// The data directory's free space against `free_space_reserve_bytes`.
    disk: Arc<DiskGuard>,
    /// `limits.series_max` and `limits.series_per_metric_max`, shared by every batcher.
    series_limits: Arc<crate::series_limits::SeriesLimits>,
    /// Flush and seal durations of every shard's state machine.
    shard_timings: ShardTimings,
}

impl GroupStarter {
    /// Starts group `id` over `sm` and registers it with the Raft transport.
    async fn start(&self, id: GroupId, sm: GroupStateMachine) -> Result<Group, NodeError> {
        let shared = sm.shared();
        let raft = RaftGroup::new(
            self.node_id,
            self.raft_config.clone(),
            NetworkFactory::new(id, self.peers.clone()),
            self.log_db.store(id),
            sm,
        )
        .await
        .map_err(|e| NodeError::Raft {
            group: id,
            message: format!("start: {e}"),
        })?;
        let floor = self
            .log_db
            .store(id)
            .vote_floor()
            .map_err(|e| NodeError::LogStore(format!("group {id} vote floor: {e}")))?;
        self.registry.set_vote_floor(id, floor);
        self.registry.insert(id, raft.clone());
        Ok(Group {
            id,
            raft,
            sm: shared,
        })
    }
}

/// The openraft configuration every group of this node runs with.
fn raft_config(config: &Config) -> Result<Arc<openraft::Config>, NodeError> {
    let r = &config.raft;
    let raft = openraft::Config {
        cluster_name: "tidemark".into(),
        election_timeout_min: r.election_timeout_ms,
        election_timeout_max: r.election_timeout_ms * 2,
        heartbeat_interval: r.heartbeat_interval_ms,
        // Snapshots are flushes, which this layer triggers itself.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: r.log_keep_entries,
        install_snapshot_timeout: r.snapshot_timeout_ms,
        purge_batch_size: 1,
        ..Default::default()
    };
    Ok(Arc::new(raft.validate().map_err(|e| {
        NodeError::Startup(format!("raft config: {e}"))
    })?))
}

/// The groups of this node.
pub(crate) struct GroupHost {
    config: Arc<Config>,
    /// `S` of the cluster when this node first knew it (the shard map until the meta group
    /// has one).
    initial_shard_count: u32,
    engine: Arc<dyn Engine>,
    starter: GroupStarter,
    meta: Group,
    /// The ruler group (started on every node; initialised by the node the meta group names
    /// its creator, its members kept by its leader: `ruler/membership.rs`).
    ruler: Group,
    /// Shard groups by shard id. Grows when a shard-map version adds shards, never shrinks.
    shards: RwLock<Vec<ShardSlot>>,
    /// Serialises the creation and replacement of shard groups.
    pub grow_lock: tokio::sync::Mutex<()>,
    /// Serialises flushes (the periodic one and explicit ones) with each other and with the
    /// emptying of a replica.
    pub flush_lock: tokio::sync::Mutex<()>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl GroupHost {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.config.node_id
    }

    /// The node's configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The storage engine of this node.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The Raft log database (node records, every group's log).
    pub fn log_db(&self) -> &LogDb {
        &self.starter.log_db
    }

    /// How long this node's shard flushes and seal applies take.
    pub fn shard_timings(&self) -> &ShardTimings {
        &self.starter.shard_timings
    }

    /// The channels to other nodes, shared by the Raft transport and the node service.
    pub fn peers(&self) -> &PeerChannels {
        &self.starter.peers
    }

    /// The meta group.
    pub fn meta(&self) -> &Group {
        &self.meta
    }

    /// The ruler group.
    pub fn ruler(&self) -> &Group {
        &self.ruler
    }

    /// How old a sample a shard leader accepts, in milliseconds (0: only the out-of-order
    /// window); see `BatcherConfig::backfill_ms`.
    pub fn backfill_ms(&self) -> &Arc<AtomicI64> {
        &self.starter.backfill_ms
    }

    /// The data directory's free space against its reserve.
    pub fn disk(&self) -> &Arc<DiskGuard> {
        &self.starter.disk
    }

    /// The cluster map as the meta group has applied it.
    pub fn cluster_map(&self) -> ClusterMap {
        self.meta.sm.cluster_map()
    }

    /// The shard map: its versions as the meta group has applied them.
    pub fn shard_map(&self) -> ShardMap {
        self.meta
            .sm
            .with_cluster_map(|m| m.shard_map_or(self.initial_shard_count))
    }

    /// Every group of this node: the meta group, the shard groups by shard id, then the ruler
    /// group (whose id is above every shard's).
    pub fn groups(&self) -> Vec<Group> {
        std::iter::once(self.meta.clone())
            .chain(self.slots().into_iter().map(|s| s.group))
            .chain(std::iter::once(self.ruler.clone()))
            .collect()
    }

    /// The shard groups of this node, by shard id.
    pub fn slots(&self) -> Vec<ShardSlot> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Shard `shard`'s group on this node; a shard not started here yet (a new shard-map
    /// version this node has not applied) is unavailable for now.
    pub fn slot(&self, shard: ShardId) -> Result<ShardSlot, NodeError> {
        self.shards
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(shard as usize)
            .cloned()
            .ok_or(NodeError::ShardNotStarted { shard })
    }

    /// Number of shard groups on this node (ids `0..n`): the most shards any shard-map
    /// version has.
    pub fn shard_count(&self) -> u32 {
        self.shards.read().unwrap_or_else(|p| p.into_inner()).len() as u32
    }

    /// Group `group` on this node.
    pub fn group(&self, group: GroupId) -> Result<Group, NodeError> {
        match GroupKind::of(group) {
            GroupKind::Meta => Ok(self.meta.clone()),
            GroupKind::Ruler => Ok(self.ruler.clone()),
            GroupKind::Shard(s) if s < self.shard_map().groups().max(self.shard_count()) => {
                self.slot(s).map(|s| s.group)
            }
            GroupKind::Shard(_) => Err(NodeError::BadRequest(format!(
                "group {group} does not exist"
            ))),
        }
    }

    /// Starts the group of shard `shard` on this node (uninitialised unless its log says
    /// otherwise) and the batcher that proposes its writes.
    async fn start_shard(&self, shard: ShardId) -> Result<(ShardSlot, JoinHandle<()>), NodeError> {
        start_shard(&self.starter, &self.config, &self.engine, shard).await
    }

    /// Starts the groups of shards `shard_count()..count` (a new shard-map version added them).
    /// The caller holds [`GroupHost::grow_lock`].
    pub async fn grow_to(&self, count: u32) -> Result<(), NodeError> {
        for shard in self.shard_count()..count {
            let (slot, task) = self.start_shard(shard).await?;
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
        Ok(())
    }

    /// Starts shard `shard`'s group again (after [`GroupHost::stop_shard`]), empty or from what
    /// its log and last flush hold. The caller holds [`GroupHost::grow_lock`].
    pub async fn restart_shard(&self, shard: ShardId) -> Result<(), NodeError> {
        let (slot, task) = self.start_shard(shard).await?;
        self.shards.write().unwrap_or_else(|p| p.into_inner())[shard as usize] = slot;
        self.keep_task(task);
        Ok(())
    }

    /// Stops shard `shard`'s group: unregistered from the transport (it neither receives
    /// entries nor votes any more), Raft shut down, its state machine closed so that an apply
    /// still finishing changes nothing.
    pub async fn stop_shard(&self, shard: ShardId) -> Result<(), NodeError> {
        let g = self.slot(shard)?.group;
        self.starter.registry.remove(g.id);
        if let Err(e) = g.raft.shutdown().await {
            tracing::warn!(shard, error = %e, "stopping a replica");
        }
        g.sm.close();
        Ok(())
    }

    /// Deletes this node's replica of `shard`: its data, then its log (keeping the vote), then
    /// the [`RETIRING_RECORD`] the caller wrote after stopping the shard's group. Every step
    /// can run again after a crash.
    pub async fn empty_replica(&self, shard: ShardId) -> Result<(), NodeError> {
        empty_replica(&self.engine, &self.starter.log_db, shard).await
    }

    /// Keeps a background task of this node, to be ended by [`GroupHost::stop`].
    pub fn keep_task(&self, task: JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Whether this node's replica, with metrics `m`, leads its group. `current_leader` alone
    /// is not enough: a leader that removed itself (and a replica emptied after that) keeps a
    /// vote naming itself, but leads nothing.
    pub fn leads(&self, m: &openraft::RaftMetrics<TypeConfig>) -> bool {
        m.state == openraft::ServerState::Leader && m.current_leader == Some(self.node_id())
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
                .any(|v| v == self.node_id())
        })
    }

    /// Runs the read-index procedure on this node's group of shard `shard` (it must lead it)
    /// and returns the index.
    pub async fn shard_read_index(&self, shard: ShardId) -> Result<u64, NodeError> {
        let g = self.slot(shard)?.group;
        match g.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(read) => Ok(read.index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                Err(NodeError::NotLeader {
                    group: g.id,
                    node: self.node_id(),
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(NodeError::NoLeader {
                shard,
                message: e.to_string(),
            }),
        }
    }

    /// Runs the read-index procedure on the meta group, which this node must lead.
    pub async fn meta_read_index(&self) -> Result<u64, NodeError> {
        self.meta
            .raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map(|read| read.index())
            .map_err(|e| NodeError::Unavailable(format!("meta group read index: {e}")))
    }

    /// Waits (up to `timeout_ms`) until this node's replica of shard `shard` has applied log
    /// index `index`.
    pub async fn wait_applied(
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

    /// On shard `shard`'s leader: the members (voters and learners) of the group as committed
    /// at a read index taken now, together with any the leader's own, possibly uncommitted,
    /// membership adds.
    pub async fn committed_members(&self, shard: ShardId) -> Result<Vec<NodeId>, NodeError> {
        self.shard_read_index(shard).await?;
        let g = self.slot(shard)?.group;
        let mut members = g.sm.members();
        let effective = g.raft.metrics().borrow_watched().membership_config.clone();
        members.extend(effective.membership().nodes().map(|(id, _)| *id));
        members.sort_unstable();
        members.dedup();
        Ok(members)
    }

    /// Proposes `cmd` to the meta group, which this node must lead, and waits until it is
    /// committed and applied here.
    pub async fn propose_meta(&self, cmd: MetaCommand) -> Result<(), NodeError> {
        self.meta
            .raft
            .client_write(Request::Meta(cmd))
            .await
            .map(|_| ())
            .map_err(|e| membership_error(META_GROUP, e))
    }

    /// Proposes `cmd` to the ruler group, which this node must lead, and waits until it is
    /// committed and applied here.
    pub async fn propose_ruler(
        &self,
        cmd: crate::ruler::record::RulerCommand,
    ) -> Result<(), NodeError> {
        self.ruler
            .raft
            .client_write(Request::Ruler(cmd))
            .await
            .map(|_| ())
            .map_err(|e| membership_error(RULER_GROUP, e))
    }

    /// The state of group `g` on this node.
    pub fn group_status(&self, g: &Group) -> GroupStatus {
        let m = g.raft.metrics().borrow_watched().clone();
        GroupStatus {
            group_id: g.id,
            shard: GroupKind::of(g.id).shard(),
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

    /// The state of every group on this node (those it holds no replica of, too: they show
    /// no leader and no voters).
    pub fn status(&self) -> Vec<GroupStatus> {
        self.groups().iter().map(|g| self.group_status(g)).collect()
    }

    /// The storage digest of shard `shard` at its current applied index (replicas at the same
    /// applied index must agree).
    pub fn digest(&self, shard: ShardId) -> Result<u64, NodeError> {
        self.engine.digest(shard).map_err(NodeError::storage(shard))
    }

    /// The Raft handle of shard `shard`.
    pub fn raft_of_shard(&self, shard: ShardId) -> Option<RaftGroup> {
        self.slot(shard).ok().map(|s| s.group.raft)
    }

    /// The gRPC Raft transport service, to mount on the node's gRPC listener.
    pub fn transport_service(
        &self,
    ) -> tidemark_proto::raft::raft_transport_server::RaftTransportServer<RaftTransportService>
    {
        RaftTransportService::new(
            self.starter.registry.clone(),
            self.config.data_dir.join(SNAPSHOT_DIR),
        )
        .with_counters(self.starter.peers.counters().clone())
        .with_limits(crate::raft::transport_service::TransportLimits {
            message_bytes_max: self.config.grpc_message_bytes_max,
            snapshot_bytes_max: self.config.raft.snapshot_bytes_max,
            snapshot_memory_bytes_max: self.config.raft.snapshot_memory_bytes_max,
        })
        .into_server()
    }

    /// Stops every group and task without flushing: what a crash leaves behind (the next open
    /// replays the log).
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
        // log database can be reopened by this process once the host is dropped. Three handles
        // remain: this one and the meta and ruler state machines'.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(STOP_WAIT_MS);
        while self.starter.log_db.handle_count() > 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Starts shard `shard`'s group and its batcher.
async fn start_shard(
    starter: &GroupStarter,
    config: &Config,
    engine: &Arc<dyn Engine>,
    shard: ShardId,
) -> Result<(ShardSlot, JoinHandle<()>), NodeError> {
    let sm = GroupStateMachine::shard(shard, engine.clone(), starter.shard_timings.clone())
        .map_err(|e| NodeError::Raft {
            group: shard_group(shard),
            message: format!("state machine: {e}"),
        })?;
    let group = starter.start(shard_group(shard), sm).await?;
    let (queue, rx) = mpsc::channel(config.inflight_writes_max.max(1));
    let batcher = Batcher {
        shard,
        raft: group.raft.clone(),
        engine: engine.clone(),
        rx,
        config: BatcherConfig {
            write_batch_samples_max: config.write_batch_samples_max,
            ooo_window_ms: config.ooo_window_ms,
            write_timeout_ms: config.write_timeout_ms,
            backfill_ms: starter.backfill_ms.clone(),
            disk: starter.disk.clone(),
            series_limits: starter.series_limits.clone(),
        },
        metric_counts: Default::default(),
    };
    Ok((ShardSlot { group, queue }, tokio::spawn(batcher.run())))
}

/// See [`GroupHost::empty_replica`].
async fn empty_replica(
    engine: &Arc<dyn Engine>,
    log_db: &LogDb,
    shard: ShardId,
) -> Result<(), NodeError> {
    let e = engine.clone();
    tokio::task::spawn_blocking(move || e.drop_shard(shard))
        .await
        .map_err(|e| NodeError::Internal(format!("shard {shard}: drop task: {e}")))?
        .map_err(NodeError::storage(shard))?;
    log_db
        .store(shard_group(shard))
        .clear_keeping_vote()
        .await
        .map_err(|e| NodeError::LogStore(format!("shard {shard}: clear its log: {e}")))?;
    log_db.delete_node_record_sync(RETIRING_RECORD)
}

/// Classifies a failed membership change or meta proposal: retryable (503) when leadership
/// moved or another change is in progress, a bad request when the change itself is refused.
pub(crate) fn membership_error(
    group: GroupId,
    e: RaftError<TypeConfig, openraft::error::ClientWriteError<TypeConfig>>,
) -> NodeError {
    use openraft::error::{ChangeMembershipError, ClientWriteError};
    match e {
        RaftError::APIError(
            e @ (ClientWriteError::ForwardToLeader(_)
            | ClientWriteError::LogEntryDiscarded(_)
            | ClientWriteError::ChangeMembershipError(ChangeMembershipError::InProgress(_))),
        ) => NodeError::Unavailable(format!("group {group}: {e}; retry")),
        RaftError::APIError(e) => NodeError::BadRequest(format!("group {group}: {e}")),
        RaftError::Fatal(f) => NodeError::Raft {
            group,
            message: format!("raft stopped: {f}"),
        },
    }
}
