//! Cluster commands: `cluster status`, `cluster set-replication`, `node add|remove|drain`,
//! `shard list|move|transfer-leader`, `rebalance`. Membership changes go one step at a time through `POST /api/v1/admin/cluster/members` on the node given with
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
        "cluster {}  shards {}  replication factor {}  (as node {} sees it)",
        d["clusterId"].as_str().unwrap_or("?"),
        d["shardCount"],
        d["replicationFactor"],
        d["nodeId"]
    );
    println!();
    println!("{:<22} SHARDS", "SHARD MAP FROM");
    for v in d["shardMap"].as_array().into_iter().flatten() {
        let from = match v["startMs"].as_i64() {
            Some(i64::MIN) | None => "the beginning".to_string(),
            Some(ms) => utc(ms),
        };
        println!("{from:<22} {}", v["shardCount"]);
    }
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
    let data = post_retrying(ctx, "/api/v1/admin/cluster/members", body)?;
    Ok(data["outcome"].as_str().unwrap_or("?").to_string())
}

/// POSTs `body` to `path`, retried while the node answers 503 (for `ctx.retry_for`); the
/// answer's `data`.
fn post_retrying(ctx: &Ctx, path: &str, body: &Value) -> anyhow::Result<Value> {
    let url = format!("{}{path}", ctx.base);
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
            return Ok(answer["data"].clone());
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

/// `node add ID ADDR`: the meta group first, then every shard with fewer voters than the
/// replication factor. Further replicas move to the node with `rebalance`.
pub fn node_add(ctx: &Ctx, id: u64, addr: &str) -> anyhow::Result<()> {
    let mut results = run_groups(ctx, vec![0], "add", id, Some(addr))?;
    let layout = Layout::read(ctx)?;
    let under: Vec<u64> = layout
        .shards
        .iter()
        .filter(|s| !s.voters.contains(&id) && s.voters.len() < layout.rf)
        .map(|s| s.shard + 1)
        .collect();
    if !under.is_empty() {
        results.extend(run_groups(ctx, under, "add", id, Some(addr))?);
    }
    if matches!(ctx.output, Output::Table) {
        println!("run `tidemarkctl rebalance` to move replicas and leaders to node {id}");
    }
    print_json(ctx, &json!(results))
}

/// Removes node `id` from every group (shards first, the meta group last).
fn remove_everywhere(ctx: &Ctx, id: u64) -> anyhow::Result<Vec<Value>> {
    let mut order = group_ids(ctx)?;
    order.rotate_left(1);
    run_groups(ctx, order, "remove", id, None)
}

/// `node remove ID`: every shard first, the meta group last. Its replicas are not replaced
/// (`node drain` moves them first).
pub fn node_remove(ctx: &Ctx, id: u64) -> anyhow::Result<()> {
    let results = remove_everywhere(ctx, id)?;
    print_json(ctx, &json!(results))
}

/// `node drain ID`: moves every replica the node holds to the node holding the fewest
/// replicas that does not hold that shard (add there, move the leadership if the drained node
/// leads, remove it), moves the meta group's leadership off it, then removes it from every
/// group. A shard no other node can take loses the replica (its leadership moves first).
/// Idempotent: run it again after a failure to resume.
pub fn node_drain(ctx: &Ctx, id: u64) -> anyhow::Result<()> {
    let layout = Layout::read(ctx)?;
    let steps = plan_drain(&layout, id);
    let moves = execute(ctx, &layout, &steps)?;
    let layout = Layout::read(ctx)?;
    if layout.meta_leader == Some(id) {
        let Some(&to) = layout.nodes.keys().find(|&&n| n != id) else {
            bail!("node {id} is the only node of the cluster");
        };
        let body = json!({ "group": 0, "op": "transfer-leader", "nodeId": to });
        change(ctx, &body).with_context(|| format!("meta group: moving its leader to {to}"))?;
    }
    if matches!(ctx.output, Output::Table) {
        eprintln!(
            "node {id}: {} placement steps done; removing it from every group",
            moves.len()
        );
    }
    let removed = remove_everywhere(ctx, id)?;
    print_json(ctx, &json!({ "moves": moves, "removed": removed }))
}

/// One shard group as the status reports it.
#[derive(Clone, Debug, PartialEq)]
struct ShardView {
    shard: u64,
    leader: Option<u64>,
    voters: Vec<u64>,
}

/// The cluster as `/api/v1/status/cluster` reports it: what the placement commands plan with.
#[derive(Clone, Debug)]
struct Layout {
    /// Target voters per shard.
    rf: usize,
    /// Nodes and their gRPC addresses.
    nodes: std::collections::BTreeMap<u64, String>,
    meta_leader: Option<u64>,
    shards: Vec<ShardView>,
}

impl Layout {
    fn read(ctx: &Ctx) -> anyhow::Result<Layout> {
        let body = ctx.get("/api/v1/status/cluster")?;
        let d = &body["data"];
        let groups = d["groups"].as_array().context("status has no groups")?;
        let ids = |v: &Value| -> Vec<u64> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_u64())
                .collect()
        };
        Ok(Layout {
            rf: d["replicationFactor"].as_u64().unwrap_or(1).max(1) as usize,
            nodes: d["nodes"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
                .collect(),
            meta_leader: groups
                .iter()
                .find(|g| g["group_id"].as_u64() == Some(0))
                .and_then(|g| g["leader"].as_u64()),
            shards: groups
                .iter()
                .filter_map(|g| {
                    Some(ShardView {
                        shard: g["shard"].as_u64()?,
                        leader: g["leader"].as_u64(),
                        voters: ids(&g["voters"]),
                    })
                })
                .collect(),
        })
    }

    /// Replicas per node (every node of the map, holding some or none).
    fn replicas_per_node(&self) -> std::collections::BTreeMap<u64, usize> {
        let mut count: std::collections::BTreeMap<u64, usize> =
            self.nodes.keys().map(|&n| (n, 0)).collect();
        for s in &self.shards {
            for v in &s.voters {
                *count.entry(*v).or_default() += 1;
            }
        }
        count
    }
}

/// One step of a placement plan.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    /// Adds a voter to a shard (learner first, promoted once caught up).
    Add { shard: u64, node: u64 },
    /// Moves a shard's leadership.
    Lead { shard: u64, node: u64 },
    /// Removes a voter from a shard.
    Remove { shard: u64, node: u64 },
}

/// Moving shard `shard`'s replica from `from` to `to`: add, hand over the leadership if `from`
/// has it, remove.
fn move_steps(view: &ShardView, from: u64, to: u64) -> Vec<Step> {
    let shard = view.shard;
    let mut steps = vec![Step::Add { shard, node: to }];
    if view.leader == Some(from) {
        steps.push(Step::Lead { shard, node: to });
    }
    steps.push(Step::Remove { shard, node: from });
    steps
}

/// Applies `steps` to `layout` as the cluster would (for planning further steps).
fn apply(layout: &mut Layout, steps: &[Step]) {
    for step in steps {
        let (shard, node) = match step {
            Step::Add { shard, node }
            | Step::Lead { shard, node }
            | Step::Remove { shard, node } => (*shard, *node),
        };
        let Some(v) = layout.shards.iter_mut().find(|v| v.shard == shard) else {
            continue;
        };
        match step {
            Step::Add { .. } => {
                if !v.voters.contains(&node) {
                    v.voters.push(node);
                    v.voters.sort_unstable();
                }
            }
            Step::Lead { .. } => v.leader = Some(node),
            Step::Remove { .. } => {
                v.voters.retain(|&x| x != node);
                if v.leader == Some(node) {
                    v.leader = v.voters.first().copied();
                }
            }
        }
    }
}

/// The node outside `exclude` that holds the fewest replicas and none of `view`'s shard.
fn emptiest(layout: &Layout, view: &ShardView, exclude: &[u64]) -> Option<u64> {
    let count = layout.replicas_per_node();
    count
        .iter()
        .filter(|(n, _)| !view.voters.contains(n) && !exclude.contains(n))
        .min_by_key(|(n, c)| (**c, **n))
        .map(|(n, _)| *n)
}

/// Steps that move every replica off node `id`.
fn plan_drain(layout: &Layout, id: u64) -> Vec<Step> {
    let mut layout = layout.clone();
    let mut steps = Vec::new();
    let held: Vec<ShardView> = layout
        .shards
        .iter()
        .filter(|v| v.voters.contains(&id))
        .cloned()
        .collect();
    for view in held {
        let view = layout
            .shards
            .iter()
            .find(|v| v.shard == view.shard)
            .cloned()
            .unwrap_or(view);
        let Some(to) = emptiest(&layout, &view, &[id]) else {
            // Nowhere to move the replica: at least hand the leadership to another voter, so
            // the shard stays led when the node is removed.
            if view.leader == Some(id)
                && let Some(&other) = view.voters.iter().find(|&&v| v != id)
            {
                let s = vec![Step::Lead {
                    shard: view.shard,
                    node: other,
                }];
                apply(&mut layout, &s);
                steps.extend(s);
            }
            continue;
        };
        let s = move_steps(&view, id, to);
        apply(&mut layout, &s);
        steps.extend(s);
    }
    steps
}

/// Steps that bring every shard to the replication factor (capped at the node count) and
/// even out replicas per node (counts differ by at most one). Leaders are evened afterwards,
/// from the status as the moves leave it.
fn plan_replicas(layout: &Layout) -> Vec<Step> {
    let mut layout = layout.clone();
    let rf = layout.rf.min(layout.nodes.len()).max(1);
    let mut steps = Vec::new();
    // Shards below the factor gain replicas on the emptiest nodes; shards above it lose them
    // on the fullest nodes (not on their leader).
    for i in 0..layout.shards.len() {
        while layout.shards[i].voters.len() < rf {
            let view = layout.shards[i].clone();
            let Some(node) = emptiest(&layout, &view, &[]) else {
                break;
            };
            let s = vec![Step::Add {
                shard: view.shard,
                node,
            }];
            apply(&mut layout, &s);
            steps.extend(s);
        }
        while layout.shards[i].voters.len() > rf {
            let view = layout.shards[i].clone();
            let count = layout.replicas_per_node();
            let Some(&node) = view
                .voters
                .iter()
                .filter(|&&n| Some(n) != view.leader)
                .max_by_key(|&&n| (count.get(&n).copied().unwrap_or(0), n))
            else {
                break;
            };
            let s = vec![Step::Remove {
                shard: view.shard,
                node,
            }];
            apply(&mut layout, &s);
            steps.extend(s);
        }
    }
    // Even out: move a replica from the fullest node to the emptiest while they differ by
    // more than one and some shard can move.
    for _ in 0..layout.shards.len() * layout.nodes.len().max(1) {
        let count = layout.replicas_per_node();
        let Some((&full, &most)) = count
            .iter()
            .max_by_key(|(n, c)| (**c, std::cmp::Reverse(**n)))
        else {
            break;
        };
        let Some((&empty, &fewest)) = count.iter().min_by_key(|(n, c)| (**c, **n)) else {
            break;
        };
        if most <= fewest + 1 {
            break;
        }
        let Some(view) = layout
            .shards
            .iter()
            .find(|v| v.voters.contains(&full) && !v.voters.contains(&empty))
            .cloned()
        else {
            break;
        };
        let s = move_steps(&view, full, empty);
        apply(&mut layout, &s);
        steps.extend(s);
    }
    steps
}

/// Runs `steps` in order, one membership change at a time, printing progress; the outcome of
/// each.
fn execute(ctx: &Ctx, layout: &Layout, steps: &[Step]) -> anyhow::Result<Vec<Value>> {
    let total = steps.len();
    let mut done = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (what, body) = match step {
            Step::Add { shard, node } => {
                let addr = layout
                    .nodes
                    .get(node)
                    .with_context(|| format!("node {node} is not in the cluster map"))?;
                (
                    format!("shard {shard}: add node {node}"),
                    json!({ "group": shard + 1, "op": "add", "nodeId": node, "addr": addr }),
                )
            }
            Step::Lead { shard, node } => (
                format!("shard {shard}: leader -> node {node}"),
                json!({ "group": shard + 1, "op": "transfer-leader", "nodeId": node }),
            ),
            Step::Remove { shard, node } => (
                format!("shard {shard}: remove node {node}"),
                json!({ "group": shard + 1, "op": "remove", "nodeId": node }),
            ),
        };
        if matches!(ctx.output, Output::Table) {
            eprint!("[{}/{total}] {what} ... ", i + 1);
        }
        let outcome = change(ctx, &body).with_context(|| {
            format!("{what} failed after {i} of {total} steps; run the command again to resume")
        })?;
        if matches!(ctx.output, Output::Table) {
            eprintln!("{outcome}");
        }
        let mut row = body.clone();
        row["outcome"] = json!(outcome);
        done.push(row);
    }
    Ok(done)
}

/// `cluster set-replication N`: records the target, then adds or removes replicas towards it
/// (and evens them out), showing each step.
pub fn set_replication(ctx: &Ctx, n: u32) -> anyhow::Result<()> {
    if n == 0 {
        bail!("the replication factor must be at least 1");
    }
    let url = format!("{}/api/v1/admin/cluster/replication", ctx.base);
    let r = ctx
        .auth(
            ctx.client
                .post(&url)
                .json(&json!({ "replicationFactor": n })),
        )
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    if !r.status().is_success() {
        let status = r.status();
        bail!("{url} answered {status}: {}", r.text().unwrap_or_default());
    }
    let layout = Layout::read(ctx)?;
    if (n as usize) > layout.nodes.len() && matches!(ctx.output, Output::Table) {
        eprintln!(
            "{} nodes for {n} replicas per shard: shards get more replicas as nodes join",
            layout.nodes.len()
        );
    }
    let steps = plan_replicas(&layout);
    let moves = execute(ctx, &layout, &steps)?;
    if matches!(ctx.output, Output::Table) {
        println!("replication factor {n}: {} replica changes", moves.len());
    }
    print_json(ctx, &json!({ "replicationFactor": n, "steps": moves }))
}

/// `shards set S`: adds the shard-map version (retried while the node answers 503), then
/// waits until every shard it created has elected a leader.
pub fn shards_set(ctx: &Ctx, count: u32) -> anyhow::Result<()> {
    if count == 0 {
        bail!("the shard count must be at least 1");
    }
    let outcome = post_retrying(
        ctx,
        "/api/v1/admin/cluster/shards",
        &json!({ "shardCount": count }),
    )?;
    let deadline = Instant::now() + ctx.retry_for;
    let start = outcome["version"]["startMs"].as_i64().unwrap_or(0);
    let table = matches!(ctx.output, Output::Table);
    if outcome["changed"] != json!(true) {
        if table {
            println!(
                "the newest shard-map version already has {count} shards (from {}): unchanged",
                utc(start)
            );
        }
        return print_json(ctx, &outcome);
    }
    if table {
        println!(
            "shard-map version added: {count} shards from {} (data before stays where it is)",
            utc(start)
        );
    }
    let created: Vec<u64> = outcome["placement"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.parse().ok())
        .collect();
    let total = created.len();
    for (i, shard) in created.iter().enumerate() {
        let voters = &outcome["placement"][shard.to_string()];
        if table {
            eprint!(
                "[{}/{total}] shard {shard} (voters {voters}): electing ... ",
                i + 1
            );
        }
        let leader = loop {
            let views = shard_views(ctx)?;
            if let Some(l) = views
                .iter()
                .find(|v| v.shard == *shard)
                .and_then(|v| v.leader)
            {
                break l;
            }
            if Instant::now() > deadline {
                if table {
                    eprintln!("no leader yet");
                }
                bail!(
                    "shard {shard} has no leader after {:?}; `tidemarkctl cluster status` shows its state",
                    ctx.retry_for
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        if table {
            eprintln!("leader node {leader}");
        }
    }
    print_json(ctx, &outcome)
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `shard move SHARD --from A --to B`.
pub fn shard_move(ctx: &Ctx, shard: u64, from: u64, to: u64) -> anyhow::Result<()> {
    let layout = Layout::read(ctx)?;
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
    if matches!(ctx.output, Output::Table) {
        println!("shard {shard}: replica moved from node {from} to node {to}");
    }
    print_json(ctx, &json!({ "shard": shard, "steps": moves }))
}

fn shard_views(ctx: &Ctx) -> anyhow::Result<Vec<ShardView>> {
    Ok(Layout::read(ctx)?.shards)
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

/// `rebalance`: first brings every shard to the replication factor and evens out replicas
/// per node (add on the emptiest node, hand over the leadership if needed, remove from the
/// fullest), then moves shard leaderships from the node leading the most shards to the node
/// leading the fewest (among each shard's voters) until the counts differ by at most one.
pub fn rebalance(ctx: &Ctx) -> anyhow::Result<()> {
    let layout = Layout::read(ctx)?;
    let replica_steps = execute(ctx, &layout, &plan_replicas(&layout))?;
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
            serde_json::to_string_pretty(&json!({
                "replicaSteps": replica_steps,
                "moves": moves,
                "leadersPerNode": per_node,
            }))?
        ),
        Output::Table => {
            println!(
                "{} replica changes, {} leadership moves; leaders per node:",
                replica_steps.len(),
                moves.len()
            );
            for p in &per_node {
                println!("  node {}: {}", p["node"], p["leaders"]);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(rf: usize, nodes: &[u64], shards: &[(Option<u64>, &[u64])]) -> Layout {
        Layout {
            rf,
            nodes: nodes.iter().map(|&n| (n, format!("h:{n}"))).collect(),
            meta_leader: nodes.first().copied(),
            shards: shards
                .iter()
                .enumerate()
                .map(|(i, (leader, voters))| ShardView {
                    shard: i as u64,
                    leader: *leader,
                    voters: voters.to_vec(),
                })
                .collect(),
        }
    }

    fn after(l: &Layout, steps: &[Step]) -> Layout {
        let mut l = l.clone();
        apply(&mut l, steps);
        l
    }

    #[test]
    fn utc_formats_civil_time() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            utc(1_795_651_200_000 + 3_723_000),
            "2026-11-26 01:02:03 UTC"
        );
        assert_eq!(utc(-1000), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn a_fourth_node_gets_its_share_of_replicas() {
        let l = layout(
            3,
            &[1, 2, 3, 4],
            &[
                (Some(1), &[1, 2, 3]),
                (Some(2), &[1, 2, 3]),
                (Some(3), &[1, 2, 3]),
                (Some(1), &[1, 2, 3]),
            ],
        );
        let steps = plan_replicas(&l);
        let end = after(&l, &steps);
        let count = end.replicas_per_node();
        assert_eq!(count.values().sum::<usize>(), 12, "{steps:?}");
        assert!(count.values().all(|&c| c == 3), "{count:?}");
        assert!(end.shards.iter().all(|s| s.voters.len() == 3));
        // Every move adds before it removes, and hands over the leadership first.
        for w in steps.windows(2) {
            if let Step::Remove { shard, node } = &w[1] {
                assert!(
                    matches!(&w[0], Step::Add { shard: s, .. } | Step::Lead { shard: s, .. } if s == shard)
                );
                assert!(!matches!(&w[0], Step::Add { node: n, .. } if n == node));
            }
        }
        assert!(plan_replicas(&end).is_empty());
    }

    #[test]
    fn raising_the_factor_adds_replicas_and_lowering_it_removes_them() {
        let l = layout(3, &[1, 2, 3], &[(Some(1), &[1]), (Some(1), &[1])]);
        let end = after(&l, &plan_replicas(&l));
        assert!(end.shards.iter().all(|s| s.voters == vec![1, 2, 3]));
        let mut down = end.clone();
        down.rf = 2;
        let steps = plan_replicas(&down);
        let end = after(&down, &steps);
        assert!(
            end.shards
                .iter()
                .all(|s| s.voters.len() == 2 && s.voters.contains(&1))
        );
        assert!(
            steps
                .iter()
                .all(|s| matches!(s, Step::Remove { node, .. } if *node != 1))
        );
    }

    #[test]
    fn more_replicas_than_nodes_is_capped() {
        let l = layout(5, &[1, 2], &[(Some(1), &[1])]);
        let end = after(&l, &plan_replicas(&l));
        assert_eq!(end.shards[0].voters, vec![1, 2]);
    }

    #[test]
    fn drain_moves_every_replica_off_the_node() {
        let l = layout(
            2,
            &[1, 2, 3],
            &[(Some(2), &[1, 2]), (Some(3), &[2, 3]), (Some(1), &[1, 3])],
        );
        let steps = plan_drain(&l, 2);
        let end = after(&l, &steps);
        assert!(
            end.shards.iter().all(|s| !s.voters.contains(&2)),
            "{steps:?}"
        );
        assert!(end.shards.iter().all(|s| s.voters.len() == 2));
        assert!(steps.contains(&Step::Lead { shard: 0, node: 3 }));
        // With nowhere to go, a replica stays (the removal that follows drops it), but the
        // leadership moves.
        let tight = layout(2, &[1, 2], &[(Some(1), &[1, 2]), (Some(2), &[1, 2])]);
        assert_eq!(
            plan_drain(&tight, 2),
            vec![Step::Lead { shard: 1, node: 1 }]
        );
    }
}
