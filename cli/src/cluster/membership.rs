//! Member changes, one group at a time through `POST /api/v1/admin/cluster/members`: the
//! `node add|remove|drain` commands, and the runner of placement plans ([`execute`]) that the
//! other placement commands share.

use anyhow::{Context, bail};
use serde::Serialize;
use tidemark_api::{MemberChange, MemberChangeAnswer, MemberChangeOp, MemberOutcome};

use super::Ctx;
use super::plan::{Layout, Step, plan_drain};

/// Where member changes go ([`MemberChange`]).
const MEMBERS_PATH: &str = "/api/v1/admin/cluster/members";

/// A member change done and what it did: a row of the placement commands' JSON output.
#[derive(Debug, Serialize)]
pub struct StepDone {
    /// The change, as it was sent (its fields inline in the JSON).
    #[serde(flatten)]
    pub change: MemberChange,
    /// What the node said it did.
    pub outcome: MemberOutcome,
}

/// What `node drain --output json` prints.
#[derive(Debug, Serialize)]
struct DrainReport {
    /// The placement steps that moved the node's replicas (and leaderships) away.
    moves: Vec<StepDone>,
    /// The node's removal from every group.
    removed: Vec<MemberChangeAnswer>,
}

/// A member change that needs no address (`remove`, `transfer-leader`).
pub fn member_change(group: u64, op: MemberChangeOp, node_id: u64) -> MemberChange {
    MemberChange {
        group,
        op,
        node_id,
        addr: None,
    }
}

/// One member change, retried while the node answers 503; the node's answer.
pub fn change_member(ctx: &Ctx, change: &MemberChange) -> anyhow::Result<MemberChangeAnswer> {
    ctx.post(MEMBERS_PATH, change, ctx.retry_for)
}

/// The group ids of the cluster, the meta group (0) first.
fn group_ids(ctx: &Ctx) -> anyhow::Result<Vec<u64>> {
    let mut ids: Vec<u64> = ctx
        .cluster_status()?
        .groups
        .iter()
        .map(|g| g.group_id)
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Runs `op` for node `id` (at `addr`, for `add`) on every group in `order`, printing
/// progress; returns each group's answer.
fn run_groups(
    ctx: &Ctx,
    order: Vec<u64>,
    op: MemberChangeOp,
    id: u64,
    addr: Option<&str>,
) -> anyhow::Result<Vec<MemberChangeAnswer>> {
    let total = order.len();
    let op_name = op.as_str();
    let mut results = Vec::new();
    for (i, group) in order.into_iter().enumerate() {
        let change = MemberChange {
            addr: addr.map(str::to_string),
            ..member_change(group, op, id)
        };
        let name = if group == 0 {
            "meta group".to_string()
        } else {
            format!("shard {}", group - 1)
        };
        if ctx.table() {
            eprint!("[{}/{total}] {name}: {op_name} node {id} ... ", i + 1);
        }
        match change_member(ctx, &change) {
            Ok(answer) => {
                if ctx.table() {
                    eprintln!("{}", answer.outcome.as_str());
                }
                results.push(answer);
            }
            Err(e) => {
                if ctx.table() {
                    eprintln!("failed");
                }
                return Err(e.context(format!(
                    "{name}: {op_name} node {id} failed after {i} of {total} groups; run the command again to resume"
                )));
            }
        }
    }
    if ctx.table() {
        println!("node {id}: {op_name} done on {total} groups");
    }
    Ok(results)
}

/// Runs `steps` in order, one member change at a time, printing progress; what each did.
pub fn execute(ctx: &Ctx, layout: &Layout, steps: &[Step]) -> anyhow::Result<Vec<StepDone>> {
    execute_numbered(ctx, layout, steps, 0, steps.len())
}

/// [`execute`], the steps numbered from `before + 1` of `total` in the progress lines (for a
/// command with steps of its own between them).
pub fn execute_numbered(
    ctx: &Ctx,
    layout: &Layout,
    steps: &[Step],
    before: usize,
    total: usize,
) -> anyhow::Result<Vec<StepDone>> {
    let mut done = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        let i = before + k;
        let (what, change) = match *step {
            Step::Add { shard, node } => {
                let addr = layout
                    .nodes
                    .get(&node)
                    .with_context(|| format!("node {node} is not in the cluster map"))?;
                (
                    format!("shard {shard}: add node {node}"),
                    MemberChange {
                        addr: Some(addr.clone()),
                        ..member_change(shard + 1, MemberChangeOp::Add, node)
                    },
                )
            }
            Step::Lead { shard, node } => (
                format!("shard {shard}: leader -> node {node}"),
                member_change(shard + 1, MemberChangeOp::TransferLeader, node),
            ),
            Step::Remove { shard, node } => (
                format!("shard {shard}: remove node {node}"),
                member_change(shard + 1, MemberChangeOp::Remove, node),
            ),
        };
        if ctx.table() {
            eprint!("[{}/{total}] {what} ... ", i + 1);
        }
        let outcome = change_member(ctx, &change)
            .with_context(|| {
                format!("{what} failed after {i} of {total} steps; run the command again to resume")
            })?
            .outcome;
        if ctx.table() {
            eprintln!("{}", outcome.as_str());
        }
        done.push(StepDone { change, outcome });
    }
    Ok(done)
}

/// `node add ID ADDR`: the meta group first, then every shard with fewer voters than the
/// replication factor. Further replicas move to the node with `rebalance`.
pub fn node_add(ctx: &Ctx, id: u64, addr: &str) -> anyhow::Result<()> {
    let mut results = run_groups(ctx, vec![0], MemberChangeOp::Add, id, Some(addr))?;
    let layout = ctx.layout()?;
    let under: Vec<u64> = layout
        .shards
        .iter()
        .filter(|s| !s.voters.contains(&id) && s.voters.len() < layout.rf)
        .map(|s| s.shard + 1)
        .collect();
    if !under.is_empty() {
        results.extend(run_groups(ctx, under, MemberChangeOp::Add, id, Some(addr))?);
    }
    if ctx.table() {
        println!("run `tidemarkctl rebalance` to move replicas and leaders to node {id}");
    }
    ctx.print_json(&results)
}

/// Removes node `id` from every group (shards first, the meta group last).
fn remove_everywhere(ctx: &Ctx, id: u64) -> anyhow::Result<Vec<MemberChangeAnswer>> {
    let mut order = group_ids(ctx)?;
    order.rotate_left(1);
    run_groups(ctx, order, MemberChangeOp::Remove, id, None)
}

/// `node remove ID`: every shard first, the meta group last. Its replicas are not replaced
/// (`node drain` moves them first).
pub fn node_remove(ctx: &Ctx, id: u64) -> anyhow::Result<()> {
    let results = remove_everywhere(ctx, id)?;
    ctx.print_json(&results)
}

/// `node drain ID`: moves every replica the node holds to the node holding the fewest
/// replicas that does not hold that shard (add there, move the leadership if the drained node
/// leads, remove it), moves the meta group's leadership off it, then removes it from every
/// group. A shard no other node can take loses the replica (its leadership moves first).
/// Idempotent: run it again after a failure to resume.
pub fn node_drain(ctx: &Ctx, id: u64) -> anyhow::Result<()> {
    let layout = ctx.layout()?;
    let steps = plan_drain(&layout, id);
    let moves = execute(ctx, &layout, &steps)?;
    let layout = ctx.layout()?;
    if layout.meta_leader == Some(id) {
        let Some(&to) = layout.nodes.keys().find(|&&n| n != id) else {
            bail!("node {id} is the only node of the cluster");
        };
        change_member(ctx, &member_change(0, MemberChangeOp::TransferLeader, to))
            .with_context(|| format!("meta group: moving its leader to {to}"))?;
    }
    if ctx.table() {
        eprintln!(
            "node {id}: {} placement steps done; removing it from every group",
            moves.len()
        );
    }
    let removed = remove_everywhere(ctx, id)?;
    ctx.print_json(&DrainReport { moves, removed })
}
