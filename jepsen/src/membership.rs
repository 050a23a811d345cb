//! The `membership` workload: while the clients write and the nemesis strikes, brand-new nodes
//! join the cluster (`tidemark --join`), replicas and leaders are rebalanced onto them
//! (`tidemarkctl rebalance`), and the node that joined before is drained (`tidemarkctl node
//! drain`: its replicas move to the other nodes first) and stopped. The last node to join stays a member, so the final reads and the replica
//! comparison include a node that caught up while the cluster was under fault. Some cycles
//! also add a shard-map version (`tidemarkctl shards set S`, S from 3 to 8): the nodes run
//! with versions a few seconds ahead, so the clients' writes cross version boundaries and
//! reads merge series split between shards.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::cluster::{Cluster, READY_TIMEOUT_MS, is_ready, run_ctl};

/// Time between two membership cycles (min, max), in ms.
pub const CYCLE_GAP_MS: (u64, u64) = (4_000, 9_000);
/// Chance that a cycle also adds a shard-map version.
pub const RESHARD_PROBABILITY: f64 = 0.4;
/// No new cycle starts closer than this to the end of the run (a join must finish).
pub const END_MARGIN_MS: u64 = 10_000;

/// One step of the membership workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberStep {
    /// Start, ms since the run started.
    pub at_ms: u64,
    /// End, ms since the run started.
    pub done_ms: u64,
    /// `join`, `rebalance`, `reshard` or `remove`.
    pub action: String,
    /// The node it concerned (0 for `rebalance`; the shard count for `reshard`).
    pub node: u32,
    /// Whether it succeeded.
    pub ok: bool,
    /// What went wrong, or what `tidemarkctl` said.
    pub detail: String,
}

/// The workload's counts for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MembershipSummary {
    pub joins_ok: usize,
    pub joins_failed: usize,
    pub rebalances_ok: usize,
    pub rebalances_failed: usize,
    pub reshards_ok: usize,
    pub reshards_failed: usize,
    pub removals_ok: usize,
    pub removals_failed: usize,
    /// Nodes that joined and are members at the end.
    pub joined_members: Vec<u32>,
}

impl MembershipSummary {
    /// Counts `steps`; `members` are the live node ids at the end, `original` the first ones.
    pub fn of(steps: &[MemberStep], members: &[u32], original: u32) -> Self {
        let mut s = MembershipSummary {
            joined_members: members
                .iter()
                .copied()
                .filter(|&id| id > original)
                .collect(),
            ..Self::default()
        };
        for step in steps {
            let (ok, failed) = match step.action.as_str() {
                "join" => (&mut s.joins_ok, &mut s.joins_failed),
                "rebalance" => (&mut s.rebalances_ok, &mut s.rebalances_failed),
                "reshard" => (&mut s.reshards_ok, &mut s.reshards_failed),
                _ => (&mut s.removals_ok, &mut s.removals_failed),
            };
            *(if step.ok { ok } else { failed }) += 1;
        }
        s
    }
}

/// Runs membership cycles until `until`; returns every step.
pub async fn run_membership(
    cluster: &Mutex<Cluster>,
    seed: u64,
    http: reqwest::Client,
    started: Instant,
    until: Instant,
    original: u32,
) -> Vec<MemberStep> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d65_6d62);
    let mut steps = Vec::new();
    let ms = |t: Instant| t.duration_since(started).as_millis() as u64;
    // The node that joined last and is still a member.
    let mut previous: Option<u32> = None;
    loop {
        let gap = rng.random_range(CYCLE_GAP_MS.0..=CYCLE_GAP_MS.1);
        tokio::time::sleep(Duration::from_millis(gap)).await;
        if Instant::now() + Duration::from_millis(END_MARGIN_MS) > until {
            break;
        }
        let through_id = rng.random_range(1..=original);
        // Join a brand-new node.
        let t0 = Instant::now();
        let (joined, url) = {
            let mut c = cluster.lock().await;
            let through = c.nodes[through_id as usize - 1].url();
            (c.add_joining_node(through.clone()), through)
        };
        let id = match joined {
            Ok(id) => id,
            Err(e) => {
                steps.push(step(
                    ms(t0),
                    ms(Instant::now()),
                    "join",
                    0,
                    Err(e.to_string()),
                ));
                continue;
            }
        };
        let ready = wait_ready(cluster, &http, id).await;
        let joined_ok = ready.is_ok();
        steps.push(step(ms(t0), ms(Instant::now()), "join", id, ready));
        if !joined_ok {
            // Undo what may have been half done, so it does not hold a quorum back.
            let t = Instant::now();
            let plan = cluster.lock().await.membership_plan(id);
            let removed = plan.run(false).await.map_err(|e| e.to_string());
            cluster.lock().await.retire(id);
            steps.push(step(ms(t), ms(Instant::now()), "remove", id, removed));
            continue;
        }
        // Spread the leaders, the new node included.
        let t = Instant::now();
        let (ctl, token) = {
            let c = cluster.lock().await;
            (c.ctl_binary(), c.join_token())
        };
        let token = token.as_deref();
        let rebalanced = run_ctl(&ctl, &url, &["rebalance"], token).await.map(|_| ());
        steps.push(step(ms(t), ms(Instant::now()), "rebalance", 0, rebalanced));
        // Now and then a new shard-map version, starting a few seconds from now.
        if rng.random_bool(RESHARD_PROBABILITY) {
            let count = rng.random_range(3..=8u32);
            let t = Instant::now();
            let set = run_ctl(&ctl, &url, &["shards", "set", &count.to_string()], token)
                .await
                .map(|_| ());
            steps.push(step(ms(t), ms(Instant::now()), "reshard", count, set));
        }
        // Drain the node that joined before (its replicas move to the others), then stop it
        // for good.
        if let Some(prev) = previous.replace(id) {
            let t = Instant::now();
            let plan = cluster.lock().await.membership_plan(prev);
            let removed = plan.drain().await.map_err(|e| e.to_string());
            let ok = removed.is_ok();
            steps.push(step(ms(t), ms(Instant::now()), "remove", prev, removed));
            if ok {
                cluster.lock().await.retire(prev);
            } else {
                // Still a member as far as we know: it stays up and is checked at the end.
                previous = Some(prev);
            }
        }
    }
    steps
}

fn step(at_ms: u64, done_ms: u64, action: &str, node: u32, r: Result<(), String>) -> MemberStep {
    let what = match action {
        "reshard" => format!("shards set {node}"),
        _ => format!("{action} node {node}"),
    };
    println!(
        "[{at_ms:>6} ms] membership: {what}: {}",
        match &r {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("failed: {}", e.lines().next().unwrap_or("")),
        }
    );
    MemberStep {
        at_ms,
        done_ms,
        action: action.to_string(),
        node,
        ok: r.is_ok(),
        detail: r.err().unwrap_or_default(),
    }
}

/// Waits until node `id` answers `/-/ready` (it joined every group and caught up).
async fn wait_ready(
    cluster: &Mutex<Cluster>,
    http: &reqwest::Client,
    id: u32,
) -> Result<(), String> {
    let url = format!(
        "{}/-/ready",
        cluster.lock().await.nodes[id as usize - 1].url()
    );
    let deadline = Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
    loop {
        if is_ready(http, &url).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "node {id}: no 200 from /-/ready within {READY_TIMEOUT_MS} ms"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
