//! The router: where a shard's leader is, and whether this node's shard map can be trusted
//! right now. It owns the leader hints for shards this node holds no replica of and the time
//! this node last confirmed its shard map with the meta leader (`router/horizon.rs`), and runs
//! a call against a shard's leader wherever it is ([`Router::on_leader`]).
//!
//! A shard this node holds is routed by its own replica's view of the leader. One it does not
//! hold is routed by a hint (the leader last learned), else by asking every replica the
//! cluster map records and following the leader of the highest term any of them names.

mod horizon;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use openraft::async_runtime::WatchReceiver;
use tidemark_storage::ShardId;

pub use horizon::MapConfirmation;

use crate::clock::Clock;
use crate::error::NodeError;
use crate::groups::{Group, GroupHost};
use crate::meta::ClusterMap;
use crate::peer::{Call, Peer, Peers, Route};
use crate::raft::{NodeId, shard_group};
use crate::request::GroupStatus;

/// How long a node waits for another's view of a shard group (routing, status), in
/// milliseconds: a replica cut off must not hold a request up.
pub const PROBE_TIMEOUT_MS: u64 = 1_000;

/// Routes calls to group leaders.
pub(crate) struct Router {
    host: Arc<GroupHost>,
    peers: Peers,
    clock: Arc<dyn Clock>,
    /// When this node's shard map was last confirmed with the meta leader.
    confirmation: MapConfirmation,
    /// The leaders of shards this node holds no replica of, as last learned from a replica.
    hints: Mutex<BTreeMap<ShardId, NodeId>>,
}

impl Router {
    pub fn new(host: Arc<GroupHost>, peers: Peers, clock: Arc<dyn Clock>) -> Self {
        Router {
            host,
            peers,
            clock,
            confirmation: MapConfirmation::default(),
            hints: Mutex::new(BTreeMap::new()),
        }
    }

    /// The clock this node reads the time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether this node holds a replica of shard `shard` that serves reads and routes by its
    /// own view of the leader: it is a voter of the group as its replica knows the membership,
    /// and the cluster map records it as one. The map settles two cases the membership alone
    /// gets wrong: a learner still catching up (not recorded until it is a voter), and a
    /// removed voter that never received its removal (its replica would wait forever for
    /// entries no leader sends it any more).
    pub fn holds(&self, shard: ShardId) -> bool {
        let node = self.host.node_id();
        self.host.is_voter(shard_group(shard))
            && self
                .host
                .meta()
                .sm
                .with_cluster_map(|m| m.is_replica(shard, node))
    }

    /// Where group `g`'s leader is as this node knows it; `Err` says why there is none to ask.
    pub fn leader_of(&self, g: &Group) -> Result<Route, String> {
        let m = g.raft.metrics().borrow_watched().clone();
        match m.current_leader {
            None => Err("election in progress".into()),
            Some(node) if node == self.host.node_id() => Ok(Route::Local),
            Some(node) => match m.membership_config.get_node(&node) {
                Some(info) => Ok(Route::Remote(Peer {
                    node,
                    addr: info.addr.clone(),
                })),
                None => Err(format!("leader {node} is not in the membership")),
            },
        }
    }

    /// Where the meta group's leader is (unavailable while it has none).
    pub fn meta_route(&self) -> Result<Route, NodeError> {
        self.leader_of(self.host.meta())
            .map_err(|why| NodeError::Unavailable(format!("meta group: {why}")))
    }

    /// Where the ruler group's leader is (unavailable while it has none).
    pub fn ruler_route(&self) -> Result<Route, NodeError> {
        self.leader_of(self.host.ruler())
            .map_err(|why| NodeError::Unavailable(format!("ruler group: {why}")))
    }

    /// Where shard `shard`'s leader is: this node, another node, or nowhere known
    /// (`NoLeader`).
    pub async fn route(&self, shard: ShardId) -> Result<Route, NodeError> {
        let g = self.host.slot(shard)?.group;
        if self.holds(shard) {
            return self
                .leader_of(&g)
                .map_err(|message| NodeError::NoLeader { shard, message });
        }
        let map = self.host.cluster_map();
        let hint = self.hints().get(&shard).copied();
        if let Some(node) = hint
            && let Some(addr) = map.nodes.get(&node)
        {
            return Ok(Route::Remote(Peer {
                node,
                addr: addr.clone(),
            }));
        }
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
            return Ok(Route::Remote(Peer {
                node: leader,
                addr: map.nodes[&leader].clone(),
            }));
        }
        Err(NodeError::NoLeader {
            shard,
            message: format!("no replica of the shard named its leader ({why})"),
        })
    }

    /// Every replica of shard `shard` that `map` records, asked at once for its view of the
    /// group (briefly: a replica cut off must not hold the caller up).
    pub async fn probe_replicas(
        &self,
        map: &ClusterMap,
        shard: ShardId,
    ) -> Vec<(NodeId, Result<Option<GroupStatus>, NodeError>)> {
        join_all(map.replicas_of(shard).into_iter().filter_map(|node| {
            let peer = Peer {
                node,
                addr: map.nodes.get(&node)?.clone(),
            };
            Some(async move {
                let st = self
                    .peers
                    .call(&peer, Call::GroupStatus { shard }, PROBE_TIMEOUT_MS)
                    .await
                    .and_then(|a| a.status());
                (node, st)
            })
        }))
        .await
    }

    /// The leader hint for shard `shard`, if any (a follower read goes there).
    pub fn hint(&self, shard: ShardId) -> Option<NodeId> {
        self.hints().get(&shard).copied()
    }

    fn hints(&self) -> std::sync::MutexGuard<'_, BTreeMap<ShardId, NodeId>> {
        self.hints.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` against shard `shard`'s leader. When this node holds no replica of the
    /// shard and the node it took for the leader says it is not (or cannot be reached), the
    /// leader is looked up again and `call` retried once.
    pub async fn on_leader<T, F, Fut>(&self, shard: ShardId, call: F) -> Result<T, NodeError>
    where
        F: Fn(Route) -> Fut,
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        let first = call(self.route(shard).await?).await;
        match first {
            Err(e) if e.leader_moved() && !self.holds(shard) => {
                self.hints().remove(&shard);
                call(self.route(shard).await?).await
            }
            other => other,
        }
    }

    /// Runs `call` on the meta group's leader: `local` here, else the call on that node.
    pub async fn on_meta_leader<T, Fut>(
        &self,
        call: Call,
        local: impl FnOnce() -> Fut,
        answer: impl FnOnce(crate::peer::Answer) -> Result<T, NodeError>,
        timeout_ms: u64,
    ) -> Result<T, NodeError>
    where
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        self.run_at(self.meta_route()?, call, local, answer, timeout_ms)
            .await
    }

    /// Runs `call` on the ruler group's leader: `local` here, else the call on that node.
    pub async fn on_ruler_leader<T, Fut>(
        &self,
        call: Call,
        local: impl FnOnce() -> Fut,
        answer: impl FnOnce(crate::peer::Answer) -> Result<T, NodeError>,
        timeout_ms: u64,
    ) -> Result<T, NodeError>
    where
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        self.run_at(self.ruler_route()?, call, local, answer, timeout_ms)
            .await
    }

    /// Runs `local` when `route` is this node, else `call` on the node it names.
    async fn run_at<T, Fut>(
        &self,
        route: Route,
        call: Call,
        local: impl FnOnce() -> Fut,
        answer: impl FnOnce(crate::peer::Answer) -> Result<T, NodeError>,
        timeout_ms: u64,
    ) -> Result<T, NodeError>
    where
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        match route {
            Route::Local => local().await,
            Route::Remote(peer) => answer(self.peers.call(&peer, call, timeout_ms).await?),
        }
    }

    /// Confirms that this node's meta replica holds every shard-map version committed before
    /// this call: asks the meta leader for a read index, waits until the replica has applied
    /// it, then records the time the call began.
    pub async fn confirm_shard_map(&self) -> Result<(), NodeError> {
        let began = self.clock.now_ms();
        self.meta_barrier().await?;
        self.confirmation.confirmed(began);
        Ok(())
    }

    /// Waits until this node's meta replica has applied everything the meta leader committed
    /// before this call (a shard map version, a retention policy).
    pub async fn meta_barrier(&self) -> Result<(), NodeError> {
        let timeout_ms = self.host.config().read_timeout_ms;
        let index = self
            .on_meta_leader(
                Call::MetaReadIndex,
                || self.host.meta_read_index(),
                |a| a.index(),
                timeout_ms,
            )
            .await?;
        self.host
            .meta()
            .raft
            .wait(Some(Duration::from_millis(timeout_ms)))
            .applied_index_at_least(Some(index), "meta read index applied")
            .await
            .map_err(|e| NodeError::Timeout(format!("meta replica behind: {e}")))?;
        Ok(())
    }

    /// Refuses (retryably) samples this node cannot route with certainty
    /// ([`MapConfirmation::check_route`]).
    pub fn check_horizon<P: crate::writes::WritePart>(
        &self,
        series: &[P],
    ) -> Result<(), NodeError> {
        let newest = series.iter().filter_map(|s| s.last_t()).max();
        let c = self.host.config();
        match newest {
            Some(t) => self
                .confirmation
                .check_route(t, c.shard_version_lead_ms, c.node_id),
            None => Ok(()),
        }
    }

    /// Refuses (retryably) a linearizable read when this node's shard map may miss a version
    /// that an acknowledged write already used ([`MapConfirmation::check_recent`]).
    pub fn check_map_recent(&self) -> Result<(), NodeError> {
        let c = self.host.config();
        self.confirmation.check_recent(
            self.clock.now_ms(),
            c.shard_version_lead_ms,
            c.future_window_ms,
            c.node_id,
        )
    }
}
