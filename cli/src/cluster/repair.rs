//! `shard repair SHARD`: rebuilds the replica of SHARD on the node at `--endpoint` from the
//! group's other replicas, for a replica whose reads found its data corrupt
//! (`corruptionCount`, `tidemark_storage_corruptions_total`) or that is suspect otherwise.
//!
//! The steps: the leadership moves to another voter if the node has it; the node is removed
//! from the group; the node empties its replica, data and log (`Placement::retire_replica`,
//! which it does by itself once the group's leader confirms the removal; this command waits
//! for it); the node is added back, catching up from a snapshot of a healthy replica and the
//! log. While it runs the group has one voter fewer: it needs a leader and two other voters
//! (`--force`: one). Run it again after a failure: a node already removed is added back once
//! its replica is empty.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;
use tidemark_api::{ClusterStatus, LocalShard};

use super::membership::{StepDone, execute_numbered};
use super::plan::{Layout, Step};
use super::{Ctx, STATUS_PATH};

/// Where a node says what its storage holds of every shard.
const LOCAL_SHARDS_PATH: &str = "/api/v1/admin/shards/local";

/// How often the emptying of the replica is looked at.
const EMPTY_POLL_MS: u64 = 500;

/// The least time the emptying is waited for (it follows the cluster map, which the shard's
/// leader updates every few seconds).
const EMPTY_WAIT_MIN: Duration = Duration::from_secs(120);

/// What `shard repair --output json` prints.
#[derive(Debug, Serialize)]
struct RepairReport {
    shard: u64,
    node: u64,
    /// The member changes, in order.
    steps: Vec<StepDone>,
}

/// This node's storage of `shard`.
fn local(ctx: &Ctx, shard: u64) -> anyhow::Result<Option<LocalShard>> {
    let all: Vec<LocalShard> = ctx
        .get::<Vec<LocalShard>>(LOCAL_SHARDS_PATH)?
        .into_result()
        .map_err(anyhow::Error::msg)?;
    Ok(all.into_iter().find(|l| u64::from(l.shard) == shard))
}

/// Whether the node has emptied its replica of the shard: nothing applied, and its log of the
/// group empty (a replica that never applied a write shows nothing applied before it is
/// emptied, but still has its log).
fn emptied(l: &Option<LocalShard>) -> bool {
    l.as_ref()
        .is_none_or(|l| !l.held && l.applied_index == 0 && l.log_last_index.is_none())
}

/// `shard repair SHARD [--force]`: `force` lets it run with one other voter.
pub fn shard_repair(ctx: &Ctx, shard: u64, force: bool) -> anyhow::Result<()> {
    let status: ClusterStatus = ctx
        .get::<ClusterStatus>(STATUS_PATH)?
        .into_result()
        .map_err(anyhow::Error::msg)?;
    let me = status.node_id;
    let layout = Layout::from(status);
    let Some(view) = layout.shards.iter().find(|v| v.shard == shard) else {
        bail!("shard {shard} does not exist");
    };
    let mut before = Vec::new();
    if view.voters.contains(&me) {
        let others: Vec<u64> = view.voters.iter().copied().filter(|&v| v != me).collect();
        let Some(&heir) = others.first() else {
            bail!(
                "shard {shard} has no replica but node {me}'s to rebuild it from: add one \
                 first (`tidemarkctl cluster set-replication`, `rebalance`)"
            );
        };
        if view.leader.is_none() {
            bail!("shard {shard} has no leader now: repair it once it has one");
        }
        if others.len() < 2 && !force {
            bail!(
                "shard {shard} has one voter besides node {me}: while it is rebuilt, that one \
                 copy alone holds the shard and any fault of its node stops it; add a replica \
                 first, or pass --force"
            );
        }
        if view.leader == Some(me) {
            before.push(Step::Lead { shard, node: heir });
        }
        before.push(Step::Remove { shard, node: me });
    } else if view.voters.len() >= layout.rf {
        bail!(
            "node {me} (at {}) holds no replica of shard {shard}: point --endpoint at the node \
             whose replica to rebuild",
            ctx.base
        );
    } else if ctx.table() {
        // An earlier run removed it: it is added back once emptied.
        eprintln!("shard {shard}: node {me} was removed by an earlier run; resuming");
    }
    let total = before.len() + 2;
    let mut steps = execute_numbered(ctx, &layout, &before, 0, total)?;

    // The node empties its replica by itself once the leader confirms it is out.
    let started = Instant::now();
    let wait = ctx.retry_for.max(EMPTY_WAIT_MIN);
    if ctx.table() {
        eprint!(
            "[{}/{total}] shard {shard}: node {me} empties its replica ... ",
            before.len() + 1
        );
    }
    loop {
        // A poll that fails (the node busy, a dropped connection) is tried again.
        let last = match local(ctx, shard) {
            Ok(l) if emptied(&l) => break,
            Ok(_) => None,
            Err(e) => Some(e),
        };
        if started.elapsed() > wait {
            let why = last.map_or(String::new(), |e| format!(" ({e:#})"));
            bail!(
                "node {me} has not emptied its replica of shard {shard} within {wait:?}{why}; \
                 its log says why; run the command again to resume"
            );
        }
        std::thread::sleep(Duration::from_millis(EMPTY_POLL_MS));
    }
    if ctx.table() {
        eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    }

    let add = [Step::Add { shard, node: me }];
    steps.extend(execute_numbered(ctx, &layout, &add, total - 1, total)?);
    if ctx.table() {
        println!("shard {shard}: node {me}'s replica rebuilt from the other replicas");
        return Ok(());
    }
    ctx.print_json(&RepairReport {
        shard,
        node: me,
        steps,
    })
}
