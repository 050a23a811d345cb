//! Retention and the other jobs that give space back: the cluster's policy (replicated in the meta group, seeded from a node's
//! `retention:` block), and the jobs that apply it. Every shard leader runs its shard's job
//! every `retention_interval_ms` (and on `POST /api/v1/admin/retention/run`): the batcher
//! resolves the policy against the applied state between write batches (`plan.rs`) and
//! proposes `ExpirePartition` commands, which every replica applies at the same log index.
//!
//! - `plan.rs`: which commands are due (pure).

mod plan;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::future::join_all;
use openraft::async_runtime::WatchReceiver;
use serde::{Deserialize, Serialize};
use tidemark_api::retention::{
    PolicySource, RetentionPolicy, RetentionRun, RetentionStatus, TierUsage,
};
use tidemark_storage::{Command, ShardId, Tier, WriteBatch};
use tokio::sync::oneshot;

pub(crate) use plan::{RETENTION_COMMANDS_PER_RUN_MAX, ResolvedPolicy, ShardView, plan};

use crate::batcher::{Job, ProposeJob, RetentionJob};
use crate::clock::Clock;
use crate::cluster_version::ClusterVersion;
use crate::error::NodeError;
use crate::groups::GroupHost;
use crate::meta::MetaCommand;
use crate::peer::{Call, Peers, Route};
use crate::placement::Placement;
use crate::router::Router;

/// A job a shard's leader runs on request (`RunMaintenance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Maintenance {
    /// The retention jobs due now.
    Retention,
    /// Re-encode the sealed partitions holding deleted samples without them
    /// (`Command::CleanTombstones`, `/api/v1/admin/tsdb/clean_tombstones`).
    CleanTombstones,
}

/// Turns of one shard's run at most (each proposes up to `RETENTION_COMMANDS_PER_RUN_MAX`
/// commands): a bound should a plan ever fail to shrink.
const RETENTION_TURNS_MAX: usize = 1_000;

/// How often the loop refreshes the backfill horizon (and retries seeding the policy).
const BACKFILL_REFRESH: Duration = Duration::from_secs(1);

/// What one shard's run proposed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceRun {
    /// Partitions dropped whole.
    pub partitions_expired: u64,
    /// Series dropped from partitions that keep others.
    pub series_expired: u64,
    /// Days rolled up into a tier (each tier counts).
    pub days_rolled_up: u64,
}

/// The retention policy and jobs of this node.
pub struct Retention {
    host: Arc<GroupHost>,
    router: Arc<Router>,
    placement: Arc<Placement>,
    peers: Peers,
    clock: Arc<dyn Clock>,
    version: ClusterVersion,
    /// When this node's leaders last finished a run (ms; `i64::MIN`: never).
    last_run_ms: AtomicI64,
    /// The policy text last resolved, with its resolution.
    resolved: Mutex<Option<(Option<String>, Arc<ResolvedPolicy>)>>,
}

impl Retention {
    pub(crate) fn new(
        host: Arc<GroupHost>,
        router: Arc<Router>,
        placement: Arc<Placement>,
        peers: Peers,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Retention {
            version: ClusterVersion::new(host.node_id(), peers.clone()),
            host,
            router,
            placement,
            peers,
            clock,
            last_run_ms: AtomicI64::new(i64::MIN),
            resolved: Mutex::new(None),
        }
    }

    /// The policy in force and where it comes from.
    pub fn policy(&self) -> Result<(PolicySource, RetentionPolicy), NodeError> {
        match self.host.cluster_map().retention {
            None => Ok((PolicySource::Default, RetentionPolicy::default())),
            Some(text) => serde_json::from_str(&text)
                .map(|p| (PolicySource::Cluster, p))
                .map_err(|e| NodeError::Internal(format!("stored retention policy: {e}"))),
        }
    }

    /// The policy in force, resolved (cached while the stored text does not change).
    fn resolved(&self) -> Result<Arc<ResolvedPolicy>, NodeError> {
        let text = self.host.cluster_map().retention;
        let mut cache = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, r)) = cache.as_ref()
            && *t == text
        {
            return Ok(r.clone());
        }
        let (_, policy) = self.policy()?;
        let r = Arc::new(ResolvedPolicy::resolve(&policy).map_err(NodeError::Internal)?);
        *cache = Some((text, r.clone()));
        Ok(r)
    }

    /// Checks `policy` and commits it as the cluster's (`None`: back to the defaults), once
    /// every node applies the command. `if_unset` makes it a seed: applied only where no policy
    /// was ever set.
    pub async fn set_policy(
        &self,
        policy: Option<RetentionPolicy>,
        if_unset: bool,
    ) -> Result<(), NodeError> {
        let text = match &policy {
            Some(p) => {
                ResolvedPolicy::resolve(p).map_err(NodeError::BadRequest)?;
                Some(serde_json::to_string(p).map_err(|e| NodeError::Internal(e.to_string()))?)
            }
            None => None,
        };
        let cmd = MetaCommand::SetRetention {
            policy: text,
            if_unset,
        };
        let nodes: Vec<_> = self.host.cluster_map().nodes.into_iter().collect();
        self.version
            .require(&nodes, cmd.required_level(), "a retention policy")
            .await?;
        self.placement.propose_meta(cmd).await
    }

    /// Runs `job` on every shard's leader and sums what they proposed.
    pub async fn run_all(&self, job: Maintenance) -> Result<RetentionRun, NodeError> {
        let timeout_ms = self.run_timeout_ms();
        let runs = join_all((0..self.host.shard_count()).map(|shard| {
            self.router.on_leader(shard, move |route| async move {
                match route {
                    Route::Local => self.run_local(shard, job).await,
                    Route::Remote(peer) => {
                        let call = Call::RunMaintenance { shard, job };
                        self.peers
                            .call(&peer, call, timeout_ms)
                            .await?
                            .maintenance()
                    }
                }
            })
        }))
        .await;
        let mut total = RetentionRun::default();
        for (shard, run) in runs.into_iter().enumerate() {
            match run {
                Ok(r) => {
                    total.shards += 1;
                    total.partitions_expired += r.partitions_expired;
                    total.series_expired += r.series_expired;
                    total.days_rolled_up += r.days_rolled_up;
                }
                Err(e) => total.skipped.push(format!("shard {shard}: {e}")),
            }
        }
        Ok(total)
    }

    /// Runs `job` for shard `shard` on this node, which must lead it, once every replica
    /// applies its commands. Retention runs until nothing is due: the batcher plans and
    /// proposes at most `RETENTION_COMMANDS_PER_RUN_MAX` commands per turn, writes queued
    /// meanwhile going between turns. Answered once everything proposed is applied.
    pub async fn run_local(
        &self,
        shard: ShardId,
        job: Maintenance,
    ) -> Result<MaintenanceRun, NodeError> {
        let members = self.host.committed_members(shard).await?;
        let map = self.host.cluster_map();
        let nodes: Vec<_> = members
            .iter()
            .map(|id| (*id, map.nodes.get(id).cloned().unwrap_or_default()))
            .collect();
        // The level of the commands retention proposes (ExpirePartition, RollUp, ...).
        let level = Command::CleanTombstones.required_level();
        self.version
            .require(&nodes, level, &format!("shard {shard}'s {job:?}"))
            .await?;
        if job == Maintenance::CleanTombstones {
            let (tx, rx) = oneshot::channel();
            self.queue(
                shard,
                Job::Propose(ProposeJob {
                    cmd: Command::CleanTombstones,
                    reply: tx,
                }),
            )?;
            self.wait(shard, rx).await?;
            return Ok(MaintenanceRun::default());
        }
        // The policy as committed before this run was asked for: one just set through
        // another node may not have reached this node's meta replica yet.
        self.router.meta_barrier().await?;
        let policy = self.resolved()?;
        let over_budget = policy
            .disk_budget_bytes
            .is_some_and(|budget| self.data_bytes() > budget);
        let mut total = MaintenanceRun::default();
        // What one turn proposes can make more due (raw data waits for its rollups): turns go
        // on until one proposes nothing. Every command removes itself from the plan (a rolled
        // day is not rolled again, an expired partition is gone), so this ends.
        for _ in 0..RETENTION_TURNS_MAX {
            let turn = self.run_turn(shard, policy.clone(), over_budget).await?;
            total.partitions_expired += turn.partitions_expired;
            total.series_expired += turn.series_expired;
            total.days_rolled_up += turn.days_rolled_up;
            if turn.partitions_expired + turn.series_expired + turn.days_rolled_up == 0 {
                // Rollups wait to be computed (a backlog is rolled up a few days per flush):
                // the flush computes them, then the next turn goes on.
                let pending = self.host.engine().pending_rollups(shard);
                if pending == 0 {
                    break;
                }
                self.host.flush().await?;
                if self.host.engine().pending_rollups(shard) >= pending {
                    break;
                }
            }
        }
        self.last_run_ms
            .store(self.clock.now_ms(), Ordering::Relaxed);
        Ok(total)
    }

    /// One turn of shard `shard`'s batcher: plans and proposes a bounded number of commands.
    async fn run_turn(
        &self,
        shard: ShardId,
        policy: Arc<ResolvedPolicy>,
        over_budget: bool,
    ) -> Result<MaintenanceRun, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.queue(
            shard,
            Job::Retention(RetentionJob {
                policy,
                now_ms: self.clock.now_ms(),
                over_budget,
                reply: tx,
            }),
        )?;
        self.wait(shard, rx).await
    }

    fn queue(&self, shard: ShardId, job: Job) -> Result<(), NodeError> {
        self.host
            .slot(shard)?
            .queue
            .try_send(job)
            .map_err(|_| NodeError::Overloaded {
                shard,
                message: "write queue full: maintenance waits for the next run".into(),
            })
    }

    /// Waits for the batcher's answer to a job, up to [`Retention::run_timeout_ms`].
    async fn wait<T>(
        &self,
        shard: ShardId,
        rx: oneshot::Receiver<Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        let timeout = Duration::from_millis(self.run_timeout_ms());
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(NodeError::Timeout(format!(
                "shard {shard}: maintenance not applied within {} ms",
                timeout.as_millis()
            ))),
            Ok(Err(_)) => Err(NodeError::ShuttingDown { shard }),
            Ok(Ok(r)) => r,
        }
    }

    /// How long one turn may take: every command it may propose, each bounded by
    /// `write_timeout_ms`.
    fn run_timeout_ms(&self) -> u64 {
        let per = self.host.config().write_timeout_ms;
        per.saturating_mul(RETENTION_COMMANDS_PER_RUN_MAX as u64 + 1)
    }

    /// Bytes of chunks this node's engine holds, over every shard.
    fn data_bytes(&self) -> u64 {
        let engine = self.host.engine();
        (0..self.host.shard_count())
            .filter_map(|s| engine.partitions(s).ok())
            .flatten()
            .map(|p| p.bytes)
            .sum()
    }

    /// Starts the loop that runs the jobs of the shards this node leads, every
    /// `retention_interval_ms` (0: never; `POST /api/v1/admin/retention/run` still runs
    /// them), after seeding the policy from the node's `retention:` block. The loop ticks
    /// every second to keep the backfill horizon in step with the policy, wherever it was
    /// changed (a policy set on another node, or seeded by this one, applies within a tick).
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::downgrade(self);
        let interval = Duration::from_millis(self.host.config().retention_interval_ms);
        tokio::spawn(async move {
            let mut seeded = false;
            let mut last_run = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(BACKFILL_REFRESH).await;
                let Some(this) = this.upgrade() else {
                    return;
                };
                if !seeded {
                    seeded = this.seed().await;
                }
                this.refresh_backfill().await;
                if seeded && !interval.is_zero() && last_run.elapsed() >= interval {
                    this.run_led().await;
                    last_run = tokio::time::Instant::now();
                }
            }
        })
    }

    /// Keeps how old a sample this node's shard leaders accept (`GroupHost::backfill_ms`) at
    /// the policy's longest retention once every node applies `Command::Backfill` (a node of
    /// an older version would drop what others apply); 0 (the out-of-order window only) until
    /// then.
    pub async fn refresh_backfill(&self) {
        // Before the cluster's record is applied the node list is empty and the gate holds
        // vacuously. That happens only on a fresh one-node bootstrap (a restarted node reads
        // its record at once; a joining node leads no shard before its map is applied), where
        // this node is the only one to apply: refusing then would answer 400, which agents do
        // not retry, to backfill sent in the cluster's first second.
        let nodes: Vec<_> = self.host.cluster_map().nodes.into_iter().collect();
        let level = Command::Backfill(WriteBatch::default()).required_level();
        let ms = match self.version.require(&nodes, level, "backfill").await {
            Ok(()) => self.resolved().map_or(0, |r| r.longest_kept()),
            Err(_) => 0,
        };
        self.host.backfill_ms().store(ms, Ordering::Relaxed);
    }

    /// Proposes the node's `retention:` block as the cluster's policy where none was ever
    /// set, and reports a difference with the policy in force. `true` once done (or nothing to
    /// do).
    async fn seed(&self) -> bool {
        let Some(seed) = self.host.config().retention.clone() else {
            return true;
        };
        if self.host.cluster_map().cluster_id.is_none() {
            return false;
        }
        if self.host.cluster_map().retention.is_none()
            && let Err(e) = self.set_policy(Some(seed), true).await
        {
            tracing::warn!(error = %e, "retention policy not seeded from the configuration yet");
            return false;
        }
        if let Some(diff) = self.config_difference() {
            tracing::warn!(difference = %diff, "the retention: block of this node's configuration is not the cluster's policy; the cluster's applies");
        }
        true
    }

    /// How this node's `retention:` block differs from the cluster's policy, if it does.
    pub fn config_difference(&self) -> Option<String> {
        let seed = self.host.config().retention.as_ref()?;
        let (source, policy) = self.policy().ok()?;
        (source == PolicySource::Default || *seed != policy).then(|| {
            format!(
                "this node's configuration says {}; the cluster's policy is {} ({})",
                serde_json::to_string(seed).unwrap_or_default(),
                serde_json::to_string(&policy).unwrap_or_default(),
                match source {
                    PolicySource::Default => "the defaults",
                    PolicySource::Cluster => "set through the API or tidemarkctl",
                }
            )
        })
    }

    /// Runs the jobs of every shard this node leads now.
    async fn run_led(&self) {
        for slot in self.host.slots() {
            let shard = match crate::raft::group_shard(slot.group.id) {
                Some(s) => s,
                None => continue,
            };
            if !self.host.leads(&slot.group.raft.metrics().borrow_watched()) {
                continue;
            }
            match self.run_local(shard, Maintenance::Retention).await {
                Ok(r) if r == MaintenanceRun::default() => {}
                Ok(r) => tracing::info!(
                    shard,
                    partitions_expired = r.partitions_expired,
                    series_expired = r.series_expired,
                    days_rolled_up = r.days_rolled_up,
                    "retention run"
                ),
                Err(e) => tracing::warn!(shard, error = %e, "retention run skipped"),
            }
        }
    }

    /// The policy, where it comes from, and this node's data per tier.
    pub fn status(&self) -> Result<RetentionStatus, NodeError> {
        let (source, policy) = self.policy()?;
        let engine = self.host.engine();
        let mut tiers: Vec<TierUsage> = Tier::ALL
            .iter()
            .map(|t| TierUsage {
                tier: t.name().into(),
                ..Default::default()
            })
            .collect();
        for shard in (0..self.host.shard_count()).filter(|s| self.router.holds(*s)) {
            let parts = engine
                .partitions(shard)
                .map_err(NodeError::storage(shard))?;
            for p in parts {
                let Some(u) = tiers.iter_mut().find(|u| u.tier == p.tier.name()) else {
                    continue;
                };
                u.partitions += 1;
                u.series += p.series;
                u.bytes += p.bytes;
                u.oldest_ms = Some(u.oldest_ms.map_or(p.start_ms, |o| o.min(p.start_ms)));
                u.newest_ms = Some(u.newest_ms.map_or(p.end_ms, |n| n.max(p.end_ms)));
            }
        }
        let last = self.last_run_ms.load(Ordering::Relaxed);
        Ok(RetentionStatus {
            source,
            default: policy.default_keep(),
            policy,
            config_difference: self.config_difference(),
            tiers,
            last_run_ms: (last != i64::MIN).then_some(last),
            backfill_ms: Some(self.host.backfill_ms().load(Ordering::Relaxed)).filter(|ms| *ms > 0),
            disk_free_bytes: Some(self.host.disk().free_bytes()),
            disk_reserve_bytes: Some(self.host.disk().reserve_bytes()),
        })
    }
}
