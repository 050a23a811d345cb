//! Reads of shards this node holds no replica of: a query's querier reads its own replicas from
//! the local engine and every other shard from a replica on another node
//! (`tidemark.node.v1.ShardService/Read`), at an applied index that makes the read
//! linearizable when asked to be.
//!
//! The engine's querier interface is synchronous (evaluation runs on the blocking pool), so a
//! remote read blocks its evaluation thread on the runtime. A select opens one stream per
//! remote shard at once (`ShardService/ReadStream`) and pulls their batches as the engine
//! consumes series, so the engine's sample limit stops the reading; the other reads fetch every
//! shard's answer concurrently (`ShardService/Read`). An aggregation the shards can compute
//! (`tidemark_query::partial`) is pushed down: each remote replica folds its shard's series
//! and answers with the groups' accumulators alone; so is a range function over a selector
//! (`rate(x[5m])` on its own), whose replicas answer with their shard's result series.

mod cluster_querier;
mod protocol;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tidemark_query::{EngineQuerier, Querier, SplitSeriesQuerier};
use tidemark_storage::ShardId;
use tokio::sync::mpsc;

pub use cluster_querier::{ClusterQuerier, RemoteShard};
pub use protocol::{ReadReply, ReadRequest, run_local, stream_select};

use crate::cluster_version::ClusterVersion;
use crate::error::NodeError;
use crate::groups::GroupHost;
use crate::meta::ShardMap;
use crate::peer::{self, Call, Peer, Peers, Route};
use crate::router::Router;

/// The command level from which nodes hold rollup tiers (`Command::RollUp` is level 2).
const ROLLUP_LEVEL: u32 = 2;

/// The command level from which nodes read series up to a limit (`ReadOp::SeriesLimited`).
const SERIES_LIMIT_LEVEL: u32 = 5;

/// The command level from which nodes compute a range function's series for their shard (a
/// `ReadOp::Aggregate` whose expression is no aggregation).
const SERIES_PARTS_LEVEL: u32 = 6;

/// The command level from which nodes tell their shards' history marks
/// (`ReadOp::HistoryMarks`), which the results cache reads.
const HISTORY_MARKS_LEVEL: u32 = 7;

/// Queriers over the cluster, and the answers this node's replicas give other nodes.
pub(crate) struct Reads {
    host: Arc<GroupHost>,
    router: Arc<Router>,
    peers: Peers,
    /// Which nodes read rollup tiers.
    version: ClusterVersion,
}

impl Reads {
    pub fn new(host: Arc<GroupHost>, router: Arc<Router>, peers: Peers) -> Self {
        Reads {
            version: ClusterVersion::new(host.node_id(), peers.clone()),
            host,
            router,
            peers,
        }
    }

    /// A querier over every shard of `map` for one query. This node's replicas are read from
    /// its engine, every other shard from a replica on another node. `linearizable`: the query
    /// sees every write acknowledged before this call (read-index on each shard's leader; this
    /// node's replicas wait until they have applied it, a remote shard is read from its leader
    /// at its read index); otherwise each replica answers at whatever it has applied.
    pub async fn reader(
        &self,
        map: &ShardMap,
        linearizable: bool,
        samples_max: u64,
    ) -> Result<Arc<dyn Querier>, NodeError> {
        if linearizable {
            self.router.check_map_recent()?;
        }
        let timeout_ms = self.host.config().read_timeout_ms;
        let plans = join_all((0..map.groups()).map(|shard| async move {
            let held = self.router.holds(shard);
            let plan = async {
                match (held, linearizable) {
                    (true, true) => self.shard_barrier(shard).await.map(|()| None),
                    (true, false) => Ok(None),
                    (false, true) => self.remote_read_point(shard).await.map(Some),
                    (false, false) => self.any_replica(shard).map(Some),
                }
            };
            match tokio::time::timeout(Duration::from_millis(timeout_ms), plan).await {
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
        // A node that cannot say its level is asked for no rollups: the read of its shard
        // itself reports it unreachable if it is.
        let levels = join_all(
            remote
                .iter()
                .map(|r| self.version.level_of(r.peer.node, &r.peer.addr)),
        )
        .await;
        for (r, level) in remote.iter_mut().zip(levels) {
            r.tiers = level.as_ref().is_ok_and(|l| *l >= ROLLUP_LEVEL);
            r.series_limit = level.as_ref().is_ok_and(|l| *l >= SERIES_LIMIT_LEVEL);
            r.series_parts = level.as_ref().is_ok_and(|l| *l >= SERIES_PARTS_LEVEL);
            r.history_marks = level.is_ok_and(|l| l >= HISTORY_MARKS_LEVEL);
        }
        let shards = ClusterQuerier::new(
            EngineQuerier::new(self.host.engine().clone(), local),
            remote,
            self.peers.clone(),
            timeout_ms,
            samples_max,
        );
        Ok(Arc::new(SplitSeriesQuerier::new(
            shards,
            map.boundaries(),
            usize::try_from(samples_max).unwrap_or(usize::MAX),
        )))
    }

    /// Waits until this node's replica of shard `shard` has applied everything its leader
    /// committed before this call.
    async fn shard_barrier(&self, shard: ShardId) -> Result<(), NodeError> {
        let timeout_ms = self.host.config().read_timeout_ms;
        let index = match self.router.route(shard).await? {
            Route::Local => return self.host.shard_read_index(shard).await.map(|_| ()),
            Route::Remote(peer) => self
                .peers
                .call(&peer, Call::ReadIndex { shard }, timeout_ms)
                .await?
                .index()?,
        };
        self.host.wait_applied(shard, index, timeout_ms).await
    }

    /// Where a linearizable read of a shard this node holds no replica of goes: its leader, at
    /// the read index the leader confirmed (looked up again once if the leader moved).
    async fn remote_read_point(&self, shard: ShardId) -> Result<RemoteShard, NodeError> {
        let timeout_ms = self.host.config().read_timeout_ms;
        self.router
            .on_leader(shard, |route| async move {
                match route {
                    Route::Local => Err(NodeError::Internal(format!(
                        "shard {shard}: routed here without a replica"
                    ))),
                    Route::Remote(peer) => {
                        let min_index = self
                            .peers
                            .call(&peer, Call::ReadIndex { shard }, timeout_ms)
                            .await?
                            .index()?;
                        Ok(RemoteShard {
                            shard,
                            peer,
                            min_index,
                            tiers: false,
                            series_limit: false,
                            series_parts: false,
                            history_marks: false,
                        })
                    }
                }
            })
            .await
    }

    /// Where a follower read of a shard this node holds no replica of goes: the leader when
    /// known, else the first replica the cluster map records.
    fn any_replica(&self, shard: ShardId) -> Result<RemoteShard, NodeError> {
        let map = self.host.cluster_map();
        let node = self
            .router
            .hint(shard)
            .or_else(|| map.replicas_of(shard).first().copied());
        match node.and_then(|n| map.nodes.get(&n).map(|a| (n, a.clone()))) {
            Some((node, addr)) => Ok(RemoteShard {
                shard,
                peer: Peer { node, addr },
                min_index: 0,
                tiers: false,
                series_limit: false,
                series_parts: false,
                history_marks: false,
            }),
            None => Err(NodeError::Unavailable(format!(
                "shard {shard}: no replica recorded in the cluster map"
            ))),
        }
    }

    /// Answers a read of shard `shard` from this node's replica once it has applied
    /// `req.min_index` (`ShardService/Read`).
    pub async fn serve(&self, shard: ShardId, req: ReadRequest) -> Result<ReadReply, NodeError> {
        self.ready_to_read(shard, &req).await?;
        let querier = EngineQuerier::new(self.host.engine().clone(), vec![shard]);
        tokio::task::spawn_blocking(move || run_local(&querier, &req.op, req.samples_max))
            .await
            .map_err(|e| NodeError::Internal(format!("shard {shard}: read task failed: {e}")))?
    }

    /// Streams a select of shard `shard` from this node's replica once it has applied
    /// `req.min_index` (`ShardService/ReadStream`): batches go to `tx` until the select ends,
    /// fails (its error is the last message) or the reader goes away.
    pub async fn serve_stream(
        &self,
        shard: ShardId,
        req: ReadRequest,
        tx: mpsc::Sender<Result<tidemark_proto::node::ShardReply, tonic::Status>>,
    ) {
        if let Err(e) = self.ready_to_read(shard, &req).await {
            let _ = tx.send(peer::encode_result::<ReadReply>(Err(e))).await;
            return;
        }
        let querier = EngineQuerier::new(self.host.engine().clone(), vec![shard]);
        let done = tokio::task::spawn_blocking(move || {
            stream_select(&querier, &req.op, req.samples_max, |batch| {
                tx.blocking_send(peer::encode_result(batch)).is_ok()
            })
        })
        .await;
        if let Err(e) = done {
            tracing::warn!(shard, error = %e, "streamed read task failed");
        }
    }

    /// Checks that this node holds shard `shard` and waits until its replica has applied
    /// `req.min_index`.
    async fn ready_to_read(&self, shard: ShardId, req: &ReadRequest) -> Result<(), NodeError> {
        if !self.router.holds(shard) {
            return Err(NodeError::Unavailable(format!(
                "node {} holds no replica of shard {shard}",
                self.host.node_id()
            )));
        }
        if req.min_index > 0 {
            self.host
                .wait_applied(shard, req.min_index, req.timeout_ms)
                .await?;
        }
        Ok(())
    }
}
