//! The write path from a validated request to committed entries: samples too far ahead of the
//! clock are refused, the rest split by shard (the shard each sample's series belongs to in
//! the shard-map version covering it), each part queued on this node's batcher of the shard
//! when this node leads it, else sent to the shard's leader (`Call::Write`, or
//! `Call::WriteHistograms` for native histograms: `writes/part.rs`), and the answer
//! given once every part is committed and applied. Deletes take the same way, one per shard.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tidemark_storage::{Command, ShardId, WriteBatch};
use tokio::sync::{mpsc, oneshot};

mod metadata;
mod part;

pub(crate) use part::WritePart;

use crate::batcher::{DeleteJob, Job};
use crate::cluster_version::ClusterVersion;
use crate::error::NodeError;
use crate::groups::GroupHost;
use crate::meta::ShardMap;
use crate::peer::{Call, Peers, Route};
use crate::raft::NodeId;
use crate::request::{DeleteRequest, WriteOutcome};
use crate::router::Router;

/// Writes and deletes through the shards' leaders.
pub(crate) struct Writes {
    host: Arc<GroupHost>,
    router: Arc<Router>,
    peers: Peers,
    /// Asks nodes whether they apply native histograms (`Command` level 9) and metric
    /// metadata (`MetaCommand` level 10).
    version: ClusterVersion,
    /// Metric metadata being proposed (`writes/metadata.rs`).
    metadata: metadata::MetadataProposals,
}

impl Writes {
    pub fn new(host: Arc<GroupHost>, router: Arc<Router>, peers: Peers) -> Self {
        Writes {
            version: ClusterVersion::new(host.node_id(), peers.clone()),
            metadata: Default::default(),
            host,
            router,
            peers,
        }
    }

    /// Refuses (retryably, 503) native histograms while a node of the cluster answers that it
    /// does not apply the log entries that carry them (during a rolling upgrade, it would fail
    /// on them); a node that cannot be asked does not stop them
    /// ([`ClusterVersion::require_reachable`]).
    pub async fn require_histograms(&self) -> Result<(), NodeError> {
        let level = Command::Write(WriteBatch {
            histograms: vec![(tidemark_storage::SeriesRef::Id(0), Vec::new())],
            ..WriteBatch::default()
        })
        .required_level();
        self.version
            .require_reachable(&self.cluster_nodes(), level, "writing native histograms")
            .await
    }

    /// Every node of the cluster map (id, gRPC address), as the level checks ask them.
    fn cluster_nodes(&self) -> Vec<(NodeId, String)> {
        self.host
            .meta()
            .sm
            .with_cluster_map(|m| m.nodes.iter().map(|(id, a)| (*id, a.clone())).collect())
    }

    /// Removes the samples further ahead of the clock than `future_window_ms` (one would make
    /// every current sample of its shard "too old"), returning how many, and refuses the
    /// write (retryably) if this node cannot route its newest sample yet.
    pub fn admit<P: WritePart>(&self, series: &mut [P]) -> Result<usize, NodeError> {
        let window = self.host.config().future_window_ms.max(0);
        let t_max = self.router.clock().now_ms().saturating_add(window);
        let too_new = series.iter_mut().map(|sw| sw.drop_after(t_max)).sum();
        self.router.check_horizon(series)?;
        Ok(too_new)
    }

    /// Splits `series` by shard in `map`, sends each part to its shard's leader and waits
    /// until every part is committed and applied. `Ok` only when every part is.
    pub async fn write<P: WritePart>(
        &self,
        map: &ShardMap,
        series: Vec<P>,
    ) -> Result<WriteOutcome, NodeError> {
        let mut parts: BTreeMap<ShardId, Vec<P>> = BTreeMap::new();
        for sw in series {
            map.split_write(sw, |shard, part| parts.entry(shard).or_default().push(part));
        }
        let mut local = BTreeMap::new();
        let mut forwarded = Vec::new();
        for (shard, part) in parts {
            match self.router.route(shard).await? {
                Route::Local => {
                    local.insert(shard, part);
                }
                Route::Remote(_) => forwarded.push((shard, part)),
            }
        }
        let forwarded = join_all(
            forwarded
                .iter()
                .map(|(shard, part)| self.forward(*shard, part)),
        );
        let (local, forwarded) = futures::join!(self.write_local(local), forwarded);
        let mut total = local?;
        for r in forwarded {
            total.add(&r?);
        }
        Ok(total)
    }

    /// Sends a write part to shard `shard`'s leader on another node (looked up again once if
    /// that node no longer leads a shard this node holds no replica of).
    async fn forward<P: WritePart>(
        &self,
        shard: ShardId,
        part: &[P],
    ) -> Result<WriteOutcome, NodeError> {
        let timeout_ms = self.host.config().write_timeout_ms;
        self.router
            .on_leader(shard, |route| async move {
                match route {
                    Route::Local => {
                        self.write_local(BTreeMap::from([(shard, part.to_vec())]))
                            .await
                    }
                    Route::Remote(peer) => {
                        let call = P::call(shard, part.to_vec());
                        self.peers.call(&peer, call, timeout_ms).await?.written()
                    }
                }
            })
            .await
    }

    /// A part another node routed here. The sender routed by its shard map; this leader
    /// checks with its own, so that a node that has not applied a new shard-map version yet
    /// (or this one, if it is the late one) cannot put samples in a shard the map does not
    /// give them (refused retryably).
    pub async fn accept<P: WritePart>(
        &self,
        shard: ShardId,
        part: Vec<P>,
    ) -> Result<WriteOutcome, NodeError> {
        self.router.check_horizon(&part)?;
        let map = self.host.shard_map();
        if !part.iter().all(|s| map.all_in(s, shard)) {
            return Err(NodeError::Unavailable(format!(
                "forwarded write for shard {shard} holds samples the shard map puts in other \
                 shards (the shard map changed); retry"
            )));
        }
        self.write_local(BTreeMap::from([(shard, part)])).await
    }

    /// Enqueues each part on this node's batcher of its shard and waits for every one (the
    /// shards must be led by this node; a part whose shard lost its leader fails `NoLeader`).
    pub async fn write_local<P: WritePart>(
        &self,
        parts: BTreeMap<ShardId, Vec<P>>,
    ) -> Result<WriteOutcome, NodeError> {
        // Reserve a queue slot on every shard first, so an overloaded shard refuses the whole
        // write before any part of it is proposed.
        let mut permits = Vec::with_capacity(parts.len());
        for &shard in parts.keys() {
            let queue = self.host.slot(shard)?.queue;
            let permit = queue
                .try_reserve_owned()
                .map_err(|e| self.queue_error(shard, e))?;
            permits.push(permit);
        }
        let mut waiters = Vec::with_capacity(parts.len());
        for (permit, (shard, part)) in permits.into_iter().zip(parts) {
            let (tx, rx) = oneshot::channel();
            let samples = part.iter().map(|s| s.len()).sum();
            permit.send(P::job(part, samples, tx));
            waiters.push((shard, rx));
        }
        let results = join_all(
            waiters
                .into_iter()
                .map(|(shard, rx)| self.wait(shard, "write", rx)),
        )
        .await;
        let mut total = WriteOutcome::default();
        for r in results {
            total.add(&r?);
        }
        Ok(total)
    }

    /// Deletes what `req` selects on every shard (each shard's leader resolves the series and
    /// proposes one `Command::Delete`); returns the number of series named. `Ok` only once
    /// every shard has committed and applied its delete.
    pub async fn delete_series(&self, req: DeleteRequest) -> Result<u64, NodeError> {
        req.selectors()?;
        let timeout_ms = self.host.config().write_timeout_ms;
        let results = join_all((0..self.host.shard_count()).map(|shard| {
            let req = &req;
            self.router.on_leader(shard, move |route| async move {
                match route {
                    Route::Local => self.delete_local(shard, req.clone()).await,
                    Route::Remote(peer) => {
                        let call = Call::Delete {
                            shard,
                            request: req.clone(),
                        };
                        self.peers.call(&peer, call, timeout_ms).await?.deleted()
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
    pub async fn delete_local(
        &self,
        shard: ShardId,
        request: DeleteRequest,
    ) -> Result<u64, NodeError> {
        let queue = self.host.slot(shard)?.queue;
        let (tx, rx) = oneshot::channel();
        let job = Job::Delete(DeleteJob { request, reply: tx });
        queue
            .try_send(job)
            .map_err(|e| self.queue_error(shard, e))?;
        self.wait(shard, "delete", rx).await
    }

    /// Why a job could not be queued on shard `shard`'s batcher.
    fn queue_error<T>(&self, shard: ShardId, e: mpsc::error::TrySendError<T>) -> NodeError {
        match e {
            mpsc::error::TrySendError::Full(_) => NodeError::Overloaded {
                shard,
                message: format!(
                    "write queue full (inflight_writes_max={})",
                    self.host.config().inflight_writes_max
                ),
            },
            mpsc::error::TrySendError::Closed(_) => NodeError::ShuttingDown { shard },
        }
    }

    /// Waits (up to `write_timeout_ms`) for a batcher's answer to a job.
    async fn wait<T>(
        &self,
        shard: ShardId,
        what: &str,
        rx: oneshot::Receiver<Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        let timeout_ms = self.host.config().write_timeout_ms;
        match tokio::time::timeout(Duration::from_millis(timeout_ms), rx).await {
            Err(_) => Err(NodeError::Timeout(format!(
                "shard {shard}: {what} not applied within write_timeout_ms={timeout_ms}"
            ))),
            Ok(Err(_)) => Err(NodeError::ShuttingDown { shard }),
            Ok(Ok(r)) => r,
        }
    }
}
