//! The node: the thin facade the HTTP and gRPC layers talk to. It opens the owners (the group
//! host, the router, the placement controller, the write and read paths) and hands each
//! request to the one that owns it; it holds no state of its own beyond the cluster id.
//!
//! - `groups.rs`: the Raft groups this node runs (`GroupHost`).
//! - `router.rs`: where a shard's leader is; the shard map's confirmation and horizon.
//! - `placement.rs`: member changes, shard-map versions, emptying replicas; the background
//!   loops.
//! - `writes.rs`, `reads.rs`: the write and read paths through the shards.
//! - `peer.rs`: the calls between nodes; `node/execute.rs` runs the ones that land here.

mod execute;
mod service;
#[cfg(test)]
mod tests;
mod tokens;

use std::sync::Arc;

use futures::future::join_all;
use tidemark_query::{EngineQuerier, Querier, SplitSeriesQuerier};
use tidemark_storage::{Engine, ShardId};

pub use service::NodeService;

use crate::clock::{self, Clock};
use crate::config::Config;
use crate::error::NodeError;
use crate::groups::{GroupHost, JoinTarget};
use crate::meta::{ClusterMap, MetaCommand, MetadataMap, ShardMap};
use crate::peer::Peers;
use crate::remote_write::MetricMetadata;
use tidemark_api::ShardVersionOutcome;

use crate::cluster_auth::{ClusterAuth, JoinToken};
use crate::notifier::BuiltinNotifier;
use crate::placement::Placement;
use crate::raft::{GroupId, NodeId, RaftGroup, shard_group};
use crate::reads::Reads;
use crate::request::{
    DeleteRequest, GroupStatus, HistogramWrite, MemberOp, MemberOutcome, MetadataOutcome,
    SeriesWrite, WriteOutcome,
};
use crate::retention::Retention;
use crate::router::Router;
use crate::ruler::Ruler;
use crate::writes::Writes;

/// Most metadata entries one `SetMetadata` command carries (a request with more is committed
/// in several).
pub const METADATA_ENTRIES_PER_COMMAND: usize = 1_000;

/// The file in the data directory holding the cluster's join token, readable by its owner
/// only: what an operator with access to a member's disk reads to join another node.
pub const JOIN_TOKEN_FILE: &str = "join-token";

/// Writes the join token file (replaced whole, mode 0600); a failure is logged, the token is
/// still served to admins over HTTP.
fn write_join_token_file(data_dir: &std::path::Path, token: &JoinToken) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(JOIN_TOKEN_FILE);
    let tmp = data_dir.join(format!("{JOIN_TOKEN_FILE}.tmp"));
    // A leftover temporary file would keep its permissions: start from none.
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| writeln!(f, "{token}"))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the join token file");
    }
}

/// This node: its groups and every operation on them.
pub struct Node {
    cluster_id: String,
    /// The cluster's join token (`None`: a cluster made before secrets).
    join_token: Option<JoinToken>,
    host: Arc<GroupHost>,
    router: Arc<Router>,
    placement: Arc<Placement>,
    writes: Writes,
    reads: Reads,
    ruler: Arc<Ruler>,
    notifier: Arc<BuiltinNotifier>,
    retention: Arc<Retention>,
}

impl Node {
    /// Opens this node on `config.data_dir` (creating a one-node cluster in an empty one, or
    /// adopting the cluster `join` names) and starts its background loops.
    pub async fn open(
        config: Arc<Config>,
        join: Option<JoinTarget>,
        engine: Arc<dyn Engine>,
    ) -> Result<Arc<Node>, NodeError> {
        Self::open_with_clock(config, join, engine, clock::system()).await
    }

    /// [`Node::open`] reading the time from `clock`.
    pub async fn open_with_clock(
        config: Arc<Config>,
        join: Option<JoinTarget>,
        engine: Arc<dyn Engine>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Node>, NodeError> {
        let opened = GroupHost::open(config.clone(), join, engine).await?;
        let host = Arc::new(opened.host);
        let peers = Peers::new(host.peers().clone());
        // Which stored formats every node reads (until known, the store writes the older).
        host.keep_task(crate::stored_formats::start(host.clone(), peers.clone()));
        let router = Arc::new(Router::new(host.clone(), peers.clone(), clock.clone()));
        let placement = Arc::new(Placement::new(host.clone(), router.clone(), peers.clone()));
        let ruler = Arc::new(Ruler::new(host.clone(), router.clone(), clock.clone())?);
        let notifier = Arc::new(BuiltinNotifier::new(ruler.clone())?);
        let retention = Arc::new(Retention::new(
            host.clone(),
            router.clone(),
            placement.clone(),
            peers.clone(),
            clock.clone(),
        ));
        // Backfill is accepted from the start where every node can apply it.
        retention.refresh_backfill().await;
        let join_token = opened.secret.clone().map(|secret| JoinToken {
            cluster_id: opened.cluster.cluster_id.clone(),
            secret,
        });
        if let Some(t) = &join_token {
            write_join_token_file(&config.data_dir, t);
        }
        let node = Arc::new(Node {
            cluster_id: opened.cluster.cluster_id.clone(),
            join_token,
            writes: Writes::new(host.clone(), router.clone(), peers.clone()),
            reads: Reads::new(host.clone(), router.clone(), peers),
            host,
            router,
            placement,
            ruler,
            notifier,
            retention,
        });
        let multi_node = config
            .initial_members()
            .ok()
            .flatten()
            .is_some_and(|m| m.len() > 1)
            || opened.joined
            || node.host.meta().raft.voter_ids().count() > 1;
        if multi_node {
            // The peers may not be up yet, and this node's gRPC server starts after `open`:
            // elections and the meta record happen in the background.
            node.placement.start_loops(Some(opened.cluster));
        } else {
            node.host.wait_for_leaders().await;
            node.placement.ensure_meta_init(&opened.cluster).await?;
            if let Err(e) = node.router.confirm_shard_map().await {
                tracing::warn!(error = %e, "shard map not confirmed yet");
            }
            node.placement.start_loops(None);
        }
        node.ruler.start(Arc::downgrade(&node));
        node.host.keep_task(node.notifier.start());
        node.host.keep_task(node.retention.start());
        node.host.keep_task(node.host.disk().start());
        node.host
            .keep_task(tokio::spawn(crate::peer_clock::probe(Arc::downgrade(
                &node,
            ))));
        Ok(node)
    }

    /// The ruler of this node.
    pub fn ruler(&self) -> &Arc<Ruler> {
        &self.ruler
    }

    /// The built-in notifier of this node.
    pub fn notifier(&self) -> &Arc<BuiltinNotifier> {
        &self.notifier
    }

    /// The retention policy and jobs of this node.
    pub fn retention(&self) -> &Arc<Retention> {
        &self.retention
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Keeps `task` running as long as the node, stopped with it.
    pub fn keep_task(&self, task: tokio::task::JoinHandle<()>) {
        self.host.keep_task(task);
    }

    /// The data directory's free space against its reserve.
    pub fn disk(&self) -> &Arc<crate::disk_guard::DiskGuard> {
        self.host.disk()
    }

    /// The state `/metrics` reads at each scrape: this node's groups (those it is a member
    /// of), the shards it holds, its disk.
    pub fn state_gauges(&self) -> crate::metrics::StateGauges {
        let me = self.node_id();
        let groups = self
            .host
            .status()
            .into_iter()
            .filter(|g| g.voters.contains(&me) || g.learners.contains(&me))
            .map(|g| crate::metrics::GroupGauges {
                group: g.group_id,
                shard: g.shard,
                term: g.term,
                leader: g.leader,
                last_log_index: g.last_log_index,
                applied_index: g.applied_index,
            })
            .collect();
        let engine = self.host.engine();
        let shards = (0..self.shard_count())
            .filter(|s| self.holds(*s))
            .map(|s| (s, engine.stats(s)))
            .collect();
        crate::metrics::StateGauges {
            raft_log_memory: Some(self.host.log_db().memory()),
            node_id: me,
            groups,
            shards,
            disk: Some((self.disk().free_bytes(), self.disk().reserve_bytes())),
            store: Some(engine.store_stats()),
            clock_offsets: self.host.peers().clocks().offsets(),
            snapshots: {
                let c = self.host.peers().counters();
                let load =
                    |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
                [
                    load(&c.snapshots_sent),
                    load(&c.snapshots_send_failed),
                    load(&c.snapshots_received),
                    load(&c.snapshots_receive_failed),
                ]
            },
        }
    }

    /// The token a node joins this cluster with (`None`: a cluster made before secrets).
    pub fn join_token(&self) -> Option<&JoinToken> {
        self.join_token.as_ref()
    }

    /// What every call between this cluster's nodes carries and is checked for.
    pub fn cluster_auth(&self) -> &ClusterAuth {
        self.host.peers().auth()
    }

    /// Returns once a write of this node's Raft log has failed, with what failed; the log is
    /// not written again by this process (`raft/log_store.rs`).
    pub async fn log_failed(&self) -> String {
        self.host.log_db().failed().await
    }

    /// Calls to other nodes, over this node's shared channels.
    pub(crate) fn peers(&self) -> crate::peer::Peers {
        crate::peer::Peers::new(self.host.peers().clone())
    }

    /// How long this node's shard flushes and seal applies take.
    pub fn shard_timings(&self) -> crate::raft::shard_timings::ShardTimings {
        self.host.shard_timings().clone()
    }

    /// The latency of this node's Raft log's synced writes.
    pub fn raft_log_sync_seconds(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.host.log_db().sync_seconds()
    }

    /// This node's mutual TLS for gRPC (`grpc_tls`), if on.
    pub fn grpc_tls(&self) -> Option<&Arc<crate::grpc_tls::GrpcTls>> {
        self.host.peers().tls()
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.host.node_id()
    }

    /// The gRPC address other nodes reach this node at.
    pub fn grpc_addr(&self) -> &str {
        self.host.config().grpc_advertised()
    }

    /// Number of shard groups on this node (ids `0..n`): the most shards any shard-map
    /// version has.
    pub fn shard_count(&self) -> u32 {
        self.host.shard_count()
    }

    /// The shard map: its versions as the meta group has applied them.
    pub fn shard_map(&self) -> ShardMap {
        self.host.shard_map()
    }

    /// The cluster map as the meta group has applied it.
    pub fn cluster_map(&self) -> ClusterMap {
        self.host.cluster_map()
    }

    /// The storage engine of this node.
    pub fn engine(&self) -> Arc<dyn Engine> {
        self.host.engine().clone()
    }

    /// The storage digest of shard `shard` at its current applied index.
    pub fn digest(&self, shard: ShardId) -> Result<u64, NodeError> {
        self.host.digest(shard)
    }

    /// Whether this node holds a replica of shard `shard` that serves reads
    /// (`Router::holds`).
    pub fn holds(&self, shard: ShardId) -> bool {
        self.router.holds(shard)
    }

    /// Whether this node is a voter of group `group` as far as its replica knows.
    pub fn is_voter(&self, group: GroupId) -> bool {
        self.host.is_voter(group)
    }

    /// The Raft handle of shard `shard` (tests).
    pub fn raft_of_shard(&self, shard: ShardId) -> Option<RaftGroup> {
        self.host.raft_of_shard(shard)
    }

    /// The state of every group on this node (those it holds no replica of, too: they show
    /// no leader and no voters).
    pub fn status(&self) -> Vec<GroupStatus> {
        self.host.status()
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
                            .router
                            .probe_replicas(map, shard)
                            .await
                            .into_iter()
                            .filter_map(|(_, a)| a.ok().flatten())
                            .collect();
                        answers.sort_by_key(|st| (st.term, st.applied_index));
                        answers.pop().unwrap_or_else(|| GroupStatus {
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
                        })
                    }
                }),
        )
        .await;
        let mut all: Vec<GroupStatus> = self
            .host
            .groups()
            .iter()
            .filter(|g| crate::raft::group_shard(g.id).is_none_or(|s| self.holds(s)))
            .map(|g| self.host.group_status(g))
            .chain(remote)
            .collect();
        all.sort_by_key(|g| g.group_id);
        all
    }

    /// Writes `series`: samples further ahead of the clock than `future_window_ms` are
    /// refused (counted as `too_new`), the rest go to their shards' leaders. `Ok` only when
    /// every part is committed and applied.
    pub async fn write(&self, mut series: Vec<SeriesWrite>) -> Result<WriteOutcome, NodeError> {
        let too_new = self.writes.admit(&mut series)?;
        let map = self.shard_map();
        self.placement.start_groups_of(&map).await?;
        let mut outcome = self.writes.write(&map, series).await?;
        outcome.too_new += too_new;
        Ok(outcome)
    }

    /// Writes native histograms as [`Node::write`] writes floats (`samples_written` counts
    /// histograms), once every node of the cluster applies them (refused retryably before).
    pub async fn write_histograms(
        &self,
        mut series: Vec<HistogramWrite>,
    ) -> Result<WriteOutcome, NodeError> {
        self.writes.require_histograms().await?;
        let too_new = self.writes.admit(&mut series)?;
        let map = self.shard_map();
        self.placement.start_groups_of(&map).await?;
        let mut outcome = self.writes.write(&map, series).await?;
        outcome.too_new += too_new;
        Ok(outcome)
    }

    /// Keeps the metric metadata of a remote-write request that the meta group does not hold
    /// yet (`writes/metadata.rs`: once every node applies it, each entry proposed by one
    /// request of this node at a time), in commands of at most
    /// [`METADATA_ENTRIES_PER_COMMAND`] entries, at most `names_max` metric names in all.
    /// Never fails: what is not kept is counted in the outcome (metadata never holds samples
    /// back, and agents send it again).
    pub async fn record_metadata(
        &self,
        received: &[(String, MetricMetadata)],
        names_max: usize,
    ) -> Result<MetadataOutcome, NodeError> {
        let (batch, mut outcome) = self.writes.metadata_to_propose(received, names_max).await;
        let mut left = batch.entries.len();
        for entries in batch.entries.chunks(METADATA_ENTRIES_PER_COMMAND) {
            let cmd = MetaCommand::SetMetadata {
                entries: entries.to_vec(),
                names_max: names_max as u64,
            };
            if let Err(e) = self.propose_meta(cmd).await {
                tracing::debug!(error = %e, entries = left, "metric metadata not committed");
                outcome.unavailable += left;
                break;
            }
            outcome.stored += entries.len();
            left -= entries.len();
        }
        Ok(outcome)
    }

    /// `f` of the metric metadata this node's meta replica applied.
    pub fn with_metadata<R>(&self, f: impl FnOnce(&MetadataMap) -> R) -> R {
        self.host.meta().sm.with_metadata(f)
    }

    /// Deletes what `req` selects on every shard; returns the number of series named, once
    /// every shard has applied its delete.
    pub async fn delete_series(&self, req: DeleteRequest) -> Result<u64, NodeError> {
        self.writes.delete_series(req).await
    }

    /// A querier over every shard for one query (`Reads::reader`).
    pub async fn reader(
        &self,
        linearizable: bool,
        samples_max: u64,
    ) -> Result<Arc<dyn Querier>, NodeError> {
        let map = self.shard_map();
        self.placement.start_groups_of(&map).await?;
        self.reads.reader(&map, linearizable, samples_max).await
    }

    /// Waits until every shard has applied everything committed before this call: the read
    /// barrier of [`Node::reader`] without its querier.
    pub async fn read_barrier(&self) -> Result<(), NodeError> {
        self.reader(true, u64::MAX).await.map(|_| ())
    }

    /// A querier over every shard of this node's engine (whether it holds a replica or not),
    /// with no sample limit.
    pub fn querier(&self) -> Arc<dyn Querier> {
        Arc::new(SplitSeriesQuerier::new(
            EngineQuerier::new(self.engine(), (0..self.shard_count()).collect()),
            self.shard_map().boundaries(),
            usize::MAX,
        ))
    }

    /// Applies `op` to group `group` on its leader (`Placement::change_member`).
    pub async fn change_member(
        &self,
        group: GroupId,
        op: MemberOp,
    ) -> Result<MemberOutcome, NodeError> {
        self.placement.change_member(group, op).await
    }

    /// Proposes `cmd` to the meta group on its leader and waits until it is committed.
    pub async fn propose_meta(&self, cmd: MetaCommand) -> Result<(), NodeError> {
        self.placement.propose_meta(cmd).await
    }

    /// Adds a shard-map version of `count` shards (`Placement::set_shard_count`).
    pub async fn set_shard_count(&self, count: u32) -> Result<ShardVersionOutcome, NodeError> {
        self.placement.set_shard_count(count).await
    }

    /// Flushes every group. Returns when every flush is done.
    pub async fn flush(&self) -> Result<(), NodeError> {
        self.host.flush().await
    }

    /// Flushes every group, then compacts the raft log and the data store.
    pub async fn flush_and_compact(&self) -> Result<(), NodeError> {
        self.host.flush_and_compact().await
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
        self.host.stop().await
    }

    /// The gRPC Raft transport service, to mount on the node's gRPC listener.
    pub fn transport_service(
        &self,
    ) -> tidemark_proto::raft::raft_transport_server::RaftTransportServer<
        crate::raft::transport_service::RaftTransportService,
    > {
        self.host.transport_service()
    }

    /// The node-to-node shard service, to mount on the node's gRPC listener next to the Raft
    /// transport.
    pub fn shard_service(
        self: &Arc<Self>,
    ) -> tidemark_proto::node::shard_service_server::ShardServiceServer<NodeService> {
        NodeService::new(Arc::downgrade(self))
            .into_server(self.host.config().grpc_message_bytes_max)
    }
}
