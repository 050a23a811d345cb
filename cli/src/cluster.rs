//! Cluster commands: `cluster status`, `node add`, `node remove`. Membership changes go one
//! group at a time through `POST /api/v1/admin/cluster/members` on the node given with
//! `--endpoint` (which passes each to the group's leader), so that progress shows per group
//! and a failure names the group; every step is idempotent, so running a command again after
//! a failure resumes it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use crate::Output;

/// What every command needs to reach the node.
pub struct Ctx {
    pub client: Client,
    pub base: String,
    pub admin_token: Option<String>,
    pub output: Output,
    /// How long a command keeps retrying answers that say "retry" (503).
    pub retry_for: Duration,
}

impl Ctx {
    fn auth(&self, req: RequestBuilder) -> RequestBuilder {
        match &self.admin_token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let r = self
            .auth(self.client.get(&url))
            .send()
            .with_context(|| format!("cannot reach {url}"))?;
        let status = r.status();
        let body: Value = r
            .json()
            .with_context(|| format!("{url} answered {status} with non-JSON"))?;
        if !status.is_success() {
            bail!("{url} answered {status}: {}", body["error"]);
        }
        Ok(body)
    }
}

/// `cluster status`: the node's view of the cluster map and of every group.
pub fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let body = ctx.get("/api/v1/status/cluster")?;
    if matches!(ctx.output, Output::Json) {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let d = &body["data"];
    println!(
        "cluster {}  shards {}  (as node {} sees it)",
        d["clusterId"].as_str().unwrap_or("?"),
        d["shardCount"],
        d["nodeId"]
    );
    println!();
    println!("{:<6} ADDRESS", "NODE");
    for (id, addr) in d["nodes"].as_object().into_iter().flatten() {
        println!("{id:<6} {}", addr.as_str().unwrap_or(""));
    }
    println!();
    println!(
        "{:<6} {:<6} {:<7} {:<5} {:>9} {:>9} {:>9} {:>6}  {:<10} LEARNERS",
        "GROUP", "SHARD", "LEADER", "TERM", "LAST_LOG", "APPLIED", "FLUSHED", "LAG", "VOTERS"
    );
    for g in d["groups"].as_array().into_iter().flatten() {
        let num = |k: &str| g[k].as_u64().map_or("-".to_string(), |v| v.to_string());
        let lag = match (g["last_log_index"].as_u64(), g["applied_index"].as_u64()) {
            (Some(l), Some(a)) => l.saturating_sub(a).to_string(),
            _ => "-".into(),
        };
        let list = |k: &str| {
            g[k].as_array()
                .into_iter()
                .flatten()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let group = match g["shard"].as_u64() {
            None => "meta".to_string(),
            Some(_) => g["group_id"].to_string(),
        };
        println!(
            "{:<6} {:<6} {:<7} {:<5} {:>9} {:>9} {:>9} {:>6}  {:<10} {}",
            group,
            num("shard"),
            num("leader"),
            num("term"),
            num("last_log_index"),
            num("applied_index"),
            num("flushed_index"),
            lag,
            list("voters"),
            list("learners"),
        );
    }
    Ok(())
}

/// The group ids of the cluster, the meta group (0) first.
fn group_ids(ctx: &Ctx) -> anyhow::Result<Vec<u64>> {
    let body = ctx.get("/api/v1/status/cluster")?;
    let mut ids: Vec<u64> = body["data"]["groups"]
        .as_array()
        .context("status has no groups")?
        .iter()
        .filter_map(|g| g["group_id"].as_u64())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// One member change, retried while the node answers 503; the outcome.
fn change(ctx: &Ctx, body: &Value) -> anyhow::Result<String> {
    let url = format!("{}/api/v1/admin/cluster/members", ctx.base);
    let deadline = Instant::now() + ctx.retry_for;
    loop {
        let r = ctx
            .auth(ctx.client.post(&url).json(body))
            .send()
            .with_context(|| format!("cannot reach {url}"))?;
        let status = r.status();
        let answer: Value = r
            .json()
            .with_context(|| format!("{url} answered {status} with non-JSON"))?;
        if status.is_success() {
            return Ok(answer["data"]["outcome"]
                .as_str()
                .unwrap_or("?")
                .to_string());
        }
        if status.as_u16() == 503 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        bail!("{status}: {}", answer["error"].as_str().unwrap_or(""));
    }
}

/// Runs `op` for node `id` on every group in `order`, printing progress; returns each group's
/// outcome.
fn run_groups(
    ctx: &Ctx,
    order: Vec<u64>,
    op: &str,
    id: u64,
    addr: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let total = order.len();
    let mut results = Vec::new();
    for (i, group) in order.into_iter().enumerate() {
        let mut body = json!({ "group": group, "op": op, "nodeId": id });
        if let Some(a) = addr {
            body["addr"] = json!(a);
        }
        let name = if group == 0 {
            "meta group".to_string()
        } else {
            format!("shard {}", group - 1)
        };
        if matches!(ctx.output, Output::Table) {
            eprint!("[{}/{total}] {name}: {op} node {id} ... ", i + 1);
        }
        match change(ctx, &body) {
            Ok(outcome) => {
                if matches!(ctx.output, Output::Table) {
                    eprintln!("{outcome}");
                }
                results.push(json!({ "group": group, "outcome": outcome }));
            }
            Err(e) => {
                if matches!(ctx.output, Output::Table) {
                    eprintln!("failed");
                }
                return Err(e.context(format!(
                    "{name}: {op} node {id} failed after {} of {total} groups; run the command again to resume",
                    i
                )));
            }
        }
    }
    if matches!(ctx.output, Output::Table) {
        println!("node {id}: {op} done on {total} groups");
    }
    Ok(results)
}

/// Prints `value` as JSON when that is the output asked for.
fn print_json(ctx: &Ctx, value: &Value) -> anyhow::Result<()> {
    if matches!(ctx.output, Output::Json) {
        println!("{}", serde_json::to_string_pretty(value)?);
    }
    Ok(())
}

/// `node add ID ADDR`: the meta group first, then every shard.
pub fn node_add(ctx: &Ctx, id: u64, addr: &str) -> anyhow::Result<()> {
    let order = group_ids(ctx)?;
    let results = run_groups(ctx, order, "add", id, Some(addr))?;
    print_json(ctx, &json!(results))
}

/// Removes node `id` from every group (shards first, the meta group last).
fn remove_everywhere(ctx: &Ctx, id: u64) -> anyhow::Result<Vec<Value>> {
    let mut order = group_ids(ctx)?;
    order.rotate_left(1);
    run_groups(ctx, order, "remove", id, None)
}

/// `node remove ID`: every shard first, the meta group last.
pub fn node_remove(ctx: &Ctx, id: u64) -> anyhow::Result<()> {
    let results = remove_everywhere(ctx, id)?;
    print_json(ctx, &json!(results))
}

/// `node drain ID`: moves the leadership of every group the node leads (the meta group
/// included) to the voter leading the fewest groups, then removes the node from every group
/// (shards first, the meta group last). Every member holds every shard today, so there are no
/// replicas to move first; moving the leaders keeps every group led while the node leaves.
/// Idempotent: run it again after a failure to resume.
pub fn node_drain(ctx: &Ctx, id: u64) -> anyhow::Result<()> {
    let body = ctx.get("/api/v1/status/cluster")?;
    let groups: Vec<(u64, Option<u64>, Vec<u64>)> = body["data"]["groups"]
        .as_array()
        .context("status has no groups")?
        .iter()
        .filter_map(|g| {
            Some((
                g["group_id"].as_u64()?,
                g["leader"].as_u64(),
                g["voters"]
                    .as_array()?
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .collect(),
            ))
        })
        .collect();
    let mut leads: std::collections::BTreeMap<u64, usize> = std::collections::BTreeMap::new();
    for (_, leader, _) in &groups {
        if let Some(l) = leader {
            *leads.entry(*l).or_default() += 1;
        }
    }
    let led: Vec<&(u64, Option<u64>, Vec<u64>)> =
        groups.iter().filter(|g| g.1 == Some(id)).collect();
    let mut moves = Vec::new();
    for (i, (group, _, voters)) in led.iter().enumerate() {
        let Some(&to) = voters
            .iter()
            .filter(|&&v| v != id)
            .min_by_key(|&&v| (leads.get(&v).copied().unwrap_or(0), v))
        else {
            bail!("group {group}: node {id} is its only voter; add another node first");
        };
        if matches!(ctx.output, Output::Table) {
            eprint!(
                "[{}/{}] group {group}: leader node {id} -> node {to} ... ",
                i + 1,
                led.len()
            );
        }
        let body = json!({ "group": group, "op": "transfer-leader", "nodeId": to });
        let outcome = change(ctx, &body)
            .with_context(|| format!("group {group}: moving its leader to node {to}"))?;
        if matches!(ctx.output, Output::Table) {
            eprintln!("{outcome}");
        }
        *leads.entry(to).or_default() += 1;
        moves.push(json!({ "group": group, "from": id, "to": to, "outcome": outcome }));
    }
    if matches!(ctx.output, Output::Table) {
        eprintln!(
            "node {id} leads no group now ({} moved); removing it",
            led.len()
        );
    }
    let removed = remove_everywhere(ctx, id)?;
    print_json(ctx, &json!({ "moves": moves, "removed": removed }))
}

/// One shard group as the status reports it.
struct ShardView {
    shard: u64,
    leader: Option<u64>,
    voters: Vec<u64>,
}

fn shard_views(ctx: &Ctx) -> anyhow::Result<Vec<ShardView>> {
    let body = ctx.get("/api/v1/status/cluster")?;
    Ok(body["data"]["groups"]
        .as_array()
        .context("status has no groups")?
        .iter()
        .filter_map(|g| {
            Some(ShardView {
                shard: g["shard"].as_u64()?,
                leader: g["leader"].as_u64(),
                voters: g["voters"]
                    .as_array()?
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .collect(),
            })
        })
        .collect())
}

/// `shard list`: every shard's leader and voters.
pub fn shard_list(ctx: &Ctx) -> anyhow::Result<()> {
    let views = shard_views(ctx)?;
    match ctx.output {
        Output::Json => {
            let rows: Vec<Value> = views
                .iter()
                .map(|v| json!({ "shard": v.shard, "leader": v.leader, "voters": v.voters }))
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Output::Table => {
            println!("{:<6} {:<7} VOTERS", "SHARD", "LEADER");
            for v in &views {
                let voters: Vec<String> = v.voters.iter().map(|x| x.to_string()).collect();
                println!(
                    "{:<6} {:<7} {}",
                    v.shard,
                    v.leader.map_or("-".into(), |l| l.to_string()),
                    voters.join(",")
                );
            }
        }
    }
    Ok(())
}

/// `shard transfer-leader SHARD --to N`.
pub fn transfer_leader(ctx: &Ctx, shard: u64, to: u64) -> anyhow::Result<()> {
    let body = json!({ "group": shard + 1, "op": "transfer-leader", "nodeId": to });
    let outcome = change(ctx, &body).with_context(|| format!("shard {shard}"))?;
    match ctx.output {
        Output::Json => println!("{}", json!({ "shard": shard, "outcome": outcome })),
        Output::Table => println!("shard {shard}: leader node {to} ({outcome})"),
    }
    Ok(())
}

/// `rebalance`: moves shard leaderships from the node leading the most shards to the node
/// leading the fewest (among each shard's voters) until the counts differ by at most one.
/// Every member holds every shard today, so leaders are what is uneven.
pub fn rebalance(ctx: &Ctx) -> anyhow::Result<()> {
    let views = shard_views(ctx)?;
    let mut leader: Vec<(u64, Option<u64>, Vec<u64>)> = views
        .into_iter()
        .map(|v| (v.shard, v.leader, v.voters))
        .collect();
    let mut nodes: Vec<u64> = leader.iter().flat_map(|l| l.2.iter().copied()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let count = |leader: &[(u64, Option<u64>, Vec<u64>)], n: u64| {
        leader.iter().filter(|l| l.1 == Some(n)).count()
    };
    let mut moves = Vec::new();
    for _ in 0..leader.len() * nodes.len().max(1) {
        let Some(&most) = nodes.iter().max_by_key(|&&n| (count(&leader, n), n)) else {
            break;
        };
        let Some(&fewest) = nodes.iter().min_by_key(|&&n| (count(&leader, n), n)) else {
            break;
        };
        if count(&leader, most) <= count(&leader, fewest) + 1 {
            break;
        }
        let Some(entry) = leader
            .iter_mut()
            .find(|l| l.1 == Some(most) && l.2.contains(&fewest))
        else {
            break;
        };
        if matches!(ctx.output, Output::Table) {
            eprint!(
                "[{}] shard {}: leader node {most} -> node {fewest} ... ",
                moves.len() + 1,
                entry.0
            );
        }
        let body = json!({ "group": entry.0 + 1, "op": "transfer-leader", "nodeId": fewest });
        let outcome = change(ctx, &body)
            .with_context(|| format!("shard {}: moving its leader to node {fewest}", entry.0))?;
        if matches!(ctx.output, Output::Table) {
            eprintln!("{outcome}");
        }
        entry.1 = Some(fewest);
        moves.push(json!({ "shard": entry.0, "from": most, "to": fewest, "outcome": outcome }));
    }
    let per_node: Vec<Value> = nodes
        .iter()
        .map(|&n| json!({ "node": n, "leaders": count(&leader, n) }))
        .collect();
    match ctx.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "moves": moves, "leadersPerNode": per_node }))?
        ),
        Output::Table => {
            println!("{} leadership moves; leaders per node:", moves.len());
            for p in &per_node {
                println!("  node {}: {}", p["node"], p["leaders"]);
            }
        }
    }
    Ok(())
}
