//! The node's background loops. Each holds the controller weakly (a dropped node ends them)
//! and is aborted by `GroupHost::stop`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use super::Placement;
use super::meta_voters::Leading;
use crate::error::ErrorKind;
use crate::meta::ClusterFile;

/// How often a node confirms its shard map with the meta leader, in milliseconds.
const MAP_CONFIRM_PERIOD_MS: u64 = 1_000;

/// How often the placement is checked ([`check_placement`]), in milliseconds.
const PLACEMENT_CHECK_PERIOD_MS: u64 = 2_000;

/// How often the meta record of a new multi-node cluster is retried, in milliseconds.
const META_INIT_RETRY_MS: u64 = 500;

impl Placement {
    /// Starts the background loops: the shard-map confirmation, the placement check, the
    /// adoption of shard-map changes, the meta voters' upkeep (unless `meta_dead_voter_ms` is
    /// 0), the periodic flush (unless `flush_interval_ms` is 0) and, for a new cluster whose
    /// meta record is not written yet (`init`), its recording.
    pub fn start_loops(self: &Arc<Self>, init: Option<ClusterFile>) {
        let weak = Arc::downgrade(self);
        let host = &self.host;
        if let Some(cluster) = init {
            host.keep_task(tokio::spawn(init_meta_in_background(weak.clone(), cluster)));
        }
        host.keep_task(tokio::spawn(keep_shard_map_confirmed(weak.clone())));
        host.keep_task(tokio::spawn(check_placement(weak.clone())));
        host.keep_task(tokio::spawn(follow_shard_map(weak.clone())));
        if host.config().meta_dead_voter_ms > 0 {
            host.keep_task(tokio::spawn(keep_meta_voters(weak.clone())));
        }
        if host.config().flush_interval_ms > 0 {
            host.keep_task(tokio::spawn(periodic_flush(weak)));
        }
    }
}

/// A periodic tick that does not catch up on missed ticks.
fn ticker(period_ms: u64) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_millis(period_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Waits for the groups of a multi-node cluster to elect leaders, then has the meta leader
/// record the cluster; retried until the meta group holds the cluster id.
async fn init_meta_in_background(placement: Weak<Placement>, cluster: ClusterFile) {
    loop {
        let Some(p) = placement.upgrade() else { return };
        let meta = p.host.meta();
        if meta.sm.cluster_map().cluster_id.is_some() {
            return;
        }
        let leader = meta
            .raft
            .wait(Some(Duration::from_millis(META_INIT_RETRY_MS)))
            .metrics(|m| m.current_leader.is_some(), "meta leader elected")
            .await;
        if leader.is_ok()
            && let Err(e) = p.ensure_meta_init(&cluster).await
        {
            tracing::warn!(error = %e, "recording the cluster in the meta group failed; retrying");
        }
        drop(p);
        tokio::time::sleep(Duration::from_millis(META_INIT_RETRY_MS)).await;
    }
}

/// Every few seconds: starts the groups of new shards ([`Placement::adopt_shard_map`]); each
/// shard leader on this node re-records its shard's voters in the cluster map if the map says
/// otherwise ([`Placement::record_placement`]); replicas the groups have removed this node from
/// are emptied ([`Placement::retire_replica`]).
async fn check_placement(placement: Weak<Placement>) {
    let mut tick = ticker(PLACEMENT_CHECK_PERIOD_MS);
    loop {
        tick.tick().await;
        let Some(p) = placement.upgrade() else { return };
        if p.host.cluster_map().cluster_id.is_none() {
            continue;
        }
        if let Err(e) = p.adopt_shard_map().await {
            tracing::warn!(error = %e, "adopting the shard map failed; retrying later");
        }
        for shard in 0..p.host.shard_count() {
            if let Err(e) = p.record_placement(shard).await {
                tracing::debug!(shard, error = %e, "recording placement failed; retrying later");
            }
            match p.retire_replica(shard).await {
                Err(e) if e.kind() == ErrorKind::Internal => {
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
/// (`Router::confirm_shard_map`).
async fn keep_shard_map_confirmed(placement: Weak<Placement>) {
    let mut tick = ticker(MAP_CONFIRM_PERIOD_MS);
    loop {
        tick.tick().await;
        let Some(p) = placement.upgrade() else { return };
        if let Err(e) = p.router.confirm_shard_map().await {
            tracing::debug!(error = %e, "confirming the shard map failed; retrying");
        }
    }
}

/// Adopts each shard-map change as soon as this node's meta replica applies it
/// ([`Placement::adopt_shard_map`]; the periodic placement check retries what fails).
async fn follow_shard_map(placement: Weak<Placement>) {
    let mut metrics = match placement.upgrade() {
        Some(p) => p.host.meta().raft.metrics(),
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
        let Some(p) = placement.upgrade() else { return };
        let groups = p.host.shard_count();
        let pending = p
            .host
            .meta()
            .sm
            .with_cluster_map(|m| m.shard_map.groups() > groups || !m.created.is_empty());
        if pending && let Err(e) = p.adopt_shard_map().await {
            tracing::warn!(error = %e, "adopting the shard map failed; retrying later");
        }
    }
}

/// On the meta leader, every quarter of `meta_dead_voter_ms` (0.5 to 5 s): keeps the meta
/// group's voters alive and at `meta_voters_max` ([`Placement::keep_meta_voters_once`]).
async fn keep_meta_voters(placement: Weak<Placement>) {
    let period_ms = match placement.upgrade() {
        Some(p) => (p.host.config().meta_dead_voter_ms / 4).clamp(500, 5_000),
        None => return,
    };
    let mut tick = ticker(period_ms);
    let mut leading: Leading = None;
    loop {
        tick.tick().await;
        let Some(p) = placement.upgrade() else { return };
        if let Err(e) = p.keep_meta_voters_once(&mut leading).await {
            tracing::debug!(error = %e, "keeping the meta voters failed; retrying later");
        }
    }
}

/// Flushes every group each `flush_interval_ms`.
async fn periodic_flush(placement: Weak<Placement>) {
    let interval_ms = match placement.upgrade() {
        Some(p) => p.host.config().flush_interval_ms,
        None => return,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(p) = placement.upgrade() else { return };
        if let Err(e) = p.host.flush().await {
            tracing::warn!(error = %e, "periodic flush failed");
        }
    }
}
