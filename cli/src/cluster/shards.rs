//! Commands on shards: `shard list|move|transfer-leader` and `shards set` (a new shard-map
//! version).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tidemark_api::{MemberChangeOp, MemberOutcome, ShardCountChange, ShardVersionOutcome};

use super::membership::{StepDone, change_member, execute, member_change};
use super::plan::move_steps;
use super::status::utc;
use super::{Ctx, id_list};

/// Where shard-map versions are added ([`ShardCountChange`]).
const SHARDS_PATH: &str = "/api/v1/admin/cluster/shards";

/// How often `shards set` looks for the leaders of the shards it created.
const LEADER_POLL_MS: u64 = 250;

/// What `shard move --output json` prints.
#[derive(Debug, Serialize)]
struct MoveReport {
    shard: u64,
    /// The steps of the move, in order.
    steps: Vec<StepDone>,
}

/// What `shard transfer-leader --output json` prints.
#[derive(Debug, Serialize)]
struct TransferReport {
    shard: u64,
    outcome: MemberOutcome,
}

/// `shard list`: every shard's leader and voters.
pub fn shard_list(ctx: &Ctx) -> anyhow::Result<()> {
    let views = ctx.layout()?.shards;
    if !ctx.table() {
        return ctx.print_json(&views);
    }
    println!("{:<6} {:<7} VOTERS", "SHARD", "LEADER");
    for v in &views {
        println!(
            "{:<6} {:<7} {}",
            v.shard,
            v.leader.map_or("-".into(), |l| l.to_string()),
            id_list(&v.voters)
        );
    }
    Ok(())
}

/// `shard move SHARD --from A --to B`.
pub fn shard_move(ctx: &Ctx, shard: u64, from: u64, to: u64) -> anyhow::Result<()> {
    let layout = ctx.layout()?;
    let view = layout
        .shards
        .iter()
        .find(|v| v.shard == shard)
        .with_context(|| format!("shard {shard} does not exist"))?;
    if !layout.nodes.contains_key(&to) {
        bail!("node {to} is not in the cluster map (add it with `node add` first)");
    }
    let steps = if view.voters.contains(&from) {
        if view.voters.contains(&to) {
            bail!("node {to} already holds shard {shard}");
        }
        move_steps(view, from, to)
    } else if view.voters.contains(&to) {
        // A previous run stopped after its last step's precondition: nothing left to do.
        Vec::new()
    } else {
        bail!("node {from} holds no replica of shard {shard}");
    };
    let moves = execute(ctx, &layout, &steps)?;
    if ctx.table() {
        println!("shard {shard}: replica moved from node {from} to node {to}");
    }
    ctx.print_json(&MoveReport {
        shard,
        steps: moves,
    })
}

/// `shard transfer-leader SHARD --to N`.
pub fn transfer_leader(ctx: &Ctx, shard: u64, to: u64) -> anyhow::Result<()> {
    let change = member_change(shard + 1, MemberChangeOp::TransferLeader, to);
    let outcome = change_member(ctx, &change)
        .with_context(|| format!("shard {shard}"))?
        .outcome;
    if ctx.table() {
        println!("shard {shard}: leader node {to} ({})", outcome.as_str());
    } else {
        println!(
            "{}",
            serde_json::to_string(&TransferReport { shard, outcome })?
        );
    }
    Ok(())
}

/// `shards set S`: adds the shard-map version (retried while the node answers 503), then
/// waits until every shard it created has elected a leader.
pub fn shards_set(ctx: &Ctx, count: u32) -> anyhow::Result<()> {
    if count == 0 {
        bail!("the shard count must be at least 1");
    }
    let outcome: ShardVersionOutcome = ctx.post(
        SHARDS_PATH,
        &ShardCountChange { shard_count: count },
        ctx.retry_for,
    )?;
    let deadline = Instant::now() + ctx.retry_for;
    let start = outcome.version.start_ms;
    if !outcome.changed {
        if ctx.table() {
            println!(
                "the newest shard-map version already has {count} shards (from {}): unchanged",
                utc(start)
            );
        }
        return ctx.print_json(&outcome);
    }
    if ctx.table() {
        println!(
            "shard-map version added: {count} shards from {} (data before stays where it is)",
            utc(start)
        );
    }
    let total = outcome.placement.len();
    for (i, (&shard, voters)) in outcome.placement.iter().enumerate() {
        let shard = u64::from(shard);
        if ctx.table() {
            eprint!(
                "[{}/{total}] shard {shard} (voters [{}]): electing ... ",
                i + 1,
                id_list(voters)
            );
        }
        let leader = loop {
            let views = ctx.layout()?.shards;
            if let Some(l) = views
                .iter()
                .find(|v| v.shard == shard)
                .and_then(|v| v.leader)
            {
                break l;
            }
            if Instant::now() > deadline {
                if ctx.table() {
                    eprintln!("no leader yet");
                }
                bail!(
                    "shard {shard} has no leader after {:?}; `tidemarkctl cluster status` shows its state",
                    ctx.retry_for
                );
            }
            std::thread::sleep(Duration::from_millis(LEADER_POLL_MS));
        };
        if ctx.table() {
            eprintln!("leader node {leader}");
        }
    }
    ctx.print_json(&outcome)
}
