//! The commands that bring the cluster to its replication factor and spread replicas and
//! leaderships evenly: `rebalance` and `cluster set-replication`.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tidemark_api::{MemberChangeOp, MemberOutcome, ReplicationChange};

use super::Ctx;
use super::membership::{StepDone, change_member, execute, member_change};
use super::plan::{LeaderMove, NodeLeaders, plan_leaders, plan_replicas};

/// Where the replication factor is set ([`ReplicationChange`]).
const REPLICATION_PATH: &str = "/api/v1/admin/cluster/replication";

/// A leadership handed over by `rebalance`, and what the change did.
#[derive(Debug, Serialize)]
struct LeaderMoveDone {
    #[serde(flatten)]
    planned: LeaderMove,
    outcome: MemberOutcome,
}

/// What `rebalance --output json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RebalanceReport {
    /// The replica changes, in order.
    replica_steps: Vec<StepDone>,
    /// The leadership moves that followed.
    moves: Vec<LeaderMoveDone>,
    leaders_per_node: Vec<NodeLeaders>,
}

/// What `cluster set-replication --output json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplicationReport {
    replication_factor: u32,
    /// The replica changes towards it, in order.
    steps: Vec<StepDone>,
}

/// `cluster set-replication N`: records the target, then adds or removes replicas towards it
/// (and evens them out), showing each step.
pub fn set_replication(ctx: &Ctx, n: u32) -> anyhow::Result<()> {
    if n == 0 {
        bail!("the replication factor must be at least 1");
    }
    // Asked once: a 503 is an error here, as it always was for this command.
    let set: ReplicationChange = ctx.post(
        REPLICATION_PATH,
        &ReplicationChange {
            replication_factor: n,
        },
        Duration::ZERO,
    )?;
    let layout = ctx.layout()?;
    if (n as usize) > layout.nodes.len() && ctx.table() {
        eprintln!(
            "{} nodes for {n} replicas per shard: shards get more replicas as nodes join",
            layout.nodes.len()
        );
    }
    let steps = plan_replicas(&layout);
    let moves = execute(ctx, &layout, &steps)?;
    if ctx.table() {
        println!("replication factor {n}: {} replica changes", moves.len());
    }
    ctx.print_json(&ReplicationReport {
        replication_factor: set.replication_factor,
        steps: moves,
    })
}

/// `rebalance`: first brings every shard to the replication factor and evens out replicas
/// per node (add on the emptiest node, hand over the leadership if needed, remove from the
/// fullest), then moves shard leaderships from the node leading the most shards to the node
/// leading the fewest (among each shard's voters) until the counts differ by at most one.
pub fn rebalance(ctx: &Ctx) -> anyhow::Result<()> {
    let layout = ctx.layout()?;
    let replica_steps = execute(ctx, &layout, &plan_replicas(&layout))?;
    let (planned, leaders_per_node) = plan_leaders(&ctx.layout()?.shards);
    let mut moves = Vec::new();
    for (i, m) in planned.into_iter().enumerate() {
        if ctx.table() {
            eprint!(
                "[{}] shard {}: leader node {} -> node {} ... ",
                i + 1,
                m.shard,
                m.from,
                m.to
            );
        }
        let change = member_change(m.shard + 1, MemberChangeOp::TransferLeader, m.to);
        let outcome = change_member(ctx, &change)
            .with_context(|| format!("shard {}: moving its leader to node {}", m.shard, m.to))?
            .outcome;
        if ctx.table() {
            eprintln!("{}", outcome.as_str());
        }
        moves.push(LeaderMoveDone {
            planned: m,
            outcome,
        });
    }
    if ctx.table() {
        println!(
            "{} replica changes, {} leadership moves; leaders per node:",
            replica_steps.len(),
            moves.len()
        );
        for p in &leaders_per_node {
            println!("  node {}: {}", p.node, p.leaders);
        }
        return Ok(());
    }
    ctx.print_json(&RebalanceReport {
        replica_steps,
        moves,
        leaders_per_node,
    })
}
