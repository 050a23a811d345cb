//! `tidemarkctl`: the admin and client CLI of a Tidemark cluster.
//!
//! It speaks to one node's HTTP API: queries, flush, build info, cluster status, membership and
//! placement (`cluster.rs`): `cluster status|set-replication|join-token`, `node add|remove|drain`,
//! `shard list|move|transfer-leader|repair`, `shards set`, `rebalance`; rule groups
//! (`rules.rs`):
//! `rules list|get|lint|sync|diff|delete`; and the built-in notifier (`notifier.rs`):
//! `notifier get|set|check|delete`, `silence add|list|expire`, `alerts [groups]`; and retention
//! (`retention.rs`): `retention show|set|reset|run`; and API tokens (`tokens.rs`):
//! `token create|list|revoke`.

mod cluster;
mod notifier;
mod retention;
mod rules;
mod tokens;

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

/// Admin and client CLI for Tidemark.
#[derive(Parser, Debug)]
#[command(name = "tidemarkctl", version, about)]
struct Cli {
    /// HTTP address of any Tidemark node.
    #[arg(
        long,
        global = true,
        env = "TIDEMARK_ENDPOINT",
        default_value = "http://127.0.0.1:9201"
    )]
    endpoint: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Request timeout in seconds; membership, rule and notifier commands also keep retrying
    /// "try again" (503) answers this long. Adding a node waits until it has caught up: raise
    /// it for large shards.
    #[arg(long, global = true, default_value_t = 60)]
    timeout_s: u64,
    /// The token sent with every request (`Authorization: Bearer`): one made by `tidemarkctl
    /// token create` with the roles the command needs, a node's bootstrap token, or its
    /// `admin_token`. TIDEMARK_ADMIN_TOKEN is read too, as before tokens had roles.
    #[arg(
        long = "token",
        visible_alias = "admin-token",
        global = true,
        env = "TIDEMARK_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// A PEM file of CA certificates to trust beside the system's, for a node whose HTTPS
    /// certificate comes from a CA of your own.
    #[arg(long, global = true, env = "TIDEMARK_CA_FILE", value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Block until the operation has finished, showing its progress, and exit non-zero if it
    /// fails. Placement commands (`node add|remove|drain`, `shard move|transfer-leader`,
    /// `shards set`, `rebalance`, `cluster set-replication`) always do: they run step by step
    /// from tidemarkctl, so there is no background mode; the flag lets scripts say so.
    #[arg(long, global = true)]
    wait: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Output {
    /// Human-readable lines.
    Table,
    /// JSON: the node's answer (as `tidemark-api` types it), or for the placement commands
    /// what each step did.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Evaluates a PromQL expression at one instant (default: now).
    Query {
        /// The PromQL expression.
        expr: String,
        /// Evaluation time: RFC 3339 or Unix seconds.
        #[arg(long)]
        time: Option<String>,
    },
    /// Evaluates a PromQL expression over a time range.
    QueryRange {
        expr: String,
        /// Start: RFC 3339 or Unix seconds.
        #[arg(long)]
        start: String,
        /// End: RFC 3339 or Unix seconds.
        #[arg(long)]
        end: String,
        /// Step: a duration such as 15s or 1m, or seconds.
        #[arg(long, default_value = "60s")]
        step: String,
    },
    /// Persists every in-memory head of the node to chunk storage and waits until done.
    Flush,
    /// Prints the node's build information.
    Buildinfo,
    /// The cluster as a whole.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Cluster membership of one node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Shards: where their leaders and replicas are.
    #[command(subcommand)]
    Shard(ShardCommand),
    /// The shard map.
    #[command(subcommand)]
    Shards(ShardsCommand),
    /// Brings every shard to the replication factor, evens out replicas per node (moving a
    /// replica is: add it on the new node and let it catch up, hand over the leadership,
    /// remove the old one), then spreads shard leaderships evenly. Blocks until done; shows
    /// each step.
    Rebalance,
    /// Rule groups on the ruler: list, get, lint, sync and diff rule files, delete.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// The built-in notifier's configuration (the cluster's `alertmanager.yml`): get, set,
    /// check, delete.
    #[command(subcommand)]
    Notifier(notifier::NotifierCommand),
    /// Silences of the built-in notifier: add, list, expire (as `amtool silence`).
    #[command(subcommand)]
    Silence(notifier::SilenceCommand),
    /// The built-in notifier's alerts (as `amtool alert query`), or with `groups` their
    /// aggregation groups.
    Alerts(notifier::AlertsArgs),
    /// The cluster's retention policy (show, set, reset) and its jobs (run).
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// API tokens with roles: create, list, revoke.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
}

#[derive(Subcommand, Debug)]
enum ShardCommand {
    /// Every shard's leader and voters.
    List,
    /// Moves SHARD's replica from node --from to node --to: adds it on --to (which catches
    /// up from a snapshot of the shard and the log), hands over the leadership if --from has
    /// it, removes it from --from. Blocks until done, showing each step; run it again to
    /// resume after a failure.
    Move {
        /// The shard.
        shard: u64,
        /// The node that gives up its replica.
        #[arg(long)]
        from: u64,
        /// The node that gets it (in the cluster, holding no replica of SHARD).
        #[arg(long)]
        to: u64,
    },
    /// Rebuilds the replica of SHARD on the node at --endpoint from the other replicas (one
    /// whose reads found corrupt data: `corruptionCount` in /api/v1/status/runtimeinfo): hands
    /// over the leadership if that node has it, removes the node from the group, waits until
    /// it has emptied its replica, adds it back (it catches up from a snapshot and the log).
    /// The group has one voter fewer meanwhile: it needs a leader and two other voters. Blocks
    /// until done, showing each step; run it again to resume after a failure.
    Repair {
        /// The shard.
        shard: u64,
        /// Runs with only one other voter (that one copy alone holds the shard meanwhile).
        #[arg(long)]
        force: bool,
    },
    /// Makes voter --to the leader of SHARD; blocks until it leads.
    TransferLeader {
        /// The shard.
        shard: u64,
        /// The node to lead it.
        #[arg(long)]
        to: u64,
    },
}

#[derive(Subcommand, Debug)]
enum ShardsCommand {
    /// Adds a shard-map version: from the first time-partition boundary at least
    /// `shard_version_lead_ms` ahead (2 h by default), series go to S shards. Nothing is
    /// rehashed: data before stays in its shards, and queries read each time range from the
    /// shards that hold it. New shards get replication-factor voters on the nodes holding the
    /// fewest replicas. Blocks until every new shard has a leader, showing each; idempotent
    /// (unchanged when the newest version already has S shards).
    Set {
        /// The number of shards.
        count: u32,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Nodes, and every group's leader, term, log and applied index, lag and members, as the
    /// node at --endpoint sees them.
    Status,
    /// Sets the number of voters per shard group, then adds or removes replicas towards it
    /// (as many as there are nodes; shards below it gain replicas as nodes join). Blocks
    /// until done, showing each step.
    SetReplication {
        /// Voters per shard (at least 1).
        n: u32,
    },
    /// Prints the token a new node joins with (`tidemark --join URL --join-token TOKEN`):
    /// the cluster id and secret. Needs the admin token; without HTTP access, read the
    /// join-token file in a member's data directory.
    JoinToken,
}

#[derive(Subcommand, Debug)]
enum NodeCommand {
    /// Adds a node to the meta group, then to every shard with fewer voters than the
    /// replication factor, one group at a time: each group's leader sends it the log or a
    /// snapshot of the shard and makes it a voter once it has caught up. Blocks until done;
    /// idempotent (a member already there is left unchanged). `rebalance` moves more replicas
    /// to it.
    Add {
        /// The node's id (its --node-id).
        id: u64,
        /// The node's gRPC address (its --grpc-listen), HOST:PORT.
        addr: String,
    },
    /// Removes a node from every group (the shards first, the meta group last) without
    /// replacing its replicas (`drain` moves them first). Blocks until done; idempotent. A
    /// node still running deletes the replicas it lost once it sees the change; stop the node
    /// afterwards and remove its data directory.
    Remove {
        /// The node's id.
        id: u64,
    },
    /// Moves every replica the node holds to the node holding the fewest (handing over
    /// leaderships on the way), then removes it from every group. Blocks until done, showing
    /// each step; idempotent. Stop the node afterwards.
    Drain {
        /// The node's id.
        id: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if cli.token.is_none() {
        cli.token = std::env::var("TIDEMARK_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
    }
    let mut builder = reqwest::blocking::Client::builder();
    if let Some(path) = &cli.ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read --ca-file {}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("--ca-file {} holds no PEM certificate", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder
        .timeout(Duration::from_secs(cli.timeout_s))
        // What the node's audit log names when no `X-Tidemark-User` is sent.
        .user_agent(concat!("tidemarkctl/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let base = cli.endpoint.trim_end_matches('/');
    let ctx = cluster::Ctx {
        client: client.clone(),
        base: base.to_string(),
        admin_token: cli.token.clone(),
        output: cli.output,
        retry_for: Duration::from_secs(cli.timeout_s),
    };
    let (path, form): (&str, Vec<(&str, String)>) = match &cli.command {
        Command::Query { expr, time } => {
            let mut form = vec![("query", expr.clone())];
            if let Some(t) = time {
                form.push(("time", t.clone()));
            }
            ("/api/v1/query", form)
        }
        Command::QueryRange {
            expr,
            start,
            end,
            step,
        } => (
            "/api/v1/query_range",
            vec![
                ("query", expr.clone()),
                ("start", start.clone()),
                ("end", end.clone()),
                ("step", step.clone()),
            ],
        ),
        Command::Flush => ("/api/v1/admin/flush", vec![]),
        Command::Buildinfo => ("/api/v1/status/buildinfo", vec![]),
        Command::Cluster(ClusterCommand::Status) => return cluster::status(&ctx),
        Command::Cluster(ClusterCommand::SetReplication { n }) => {
            return cluster::set_replication(&ctx, *n);
        }
        Command::Cluster(ClusterCommand::JoinToken) => return cluster::join_token(&ctx),
        Command::Shard(ShardCommand::Move { shard, from, to }) => {
            return cluster::shard_move(&ctx, *shard, *from, *to);
        }
        Command::Node(NodeCommand::Add { id, addr }) => return cluster::node_add(&ctx, *id, addr),
        Command::Node(NodeCommand::Remove { id }) => return cluster::node_remove(&ctx, *id),
        Command::Node(NodeCommand::Drain { id }) => return cluster::node_drain(&ctx, *id),
        Command::Shard(ShardCommand::List) => return cluster::shard_list(&ctx),
        Command::Shard(ShardCommand::Repair { shard, force }) => {
            return cluster::shard_repair(&ctx, *shard, *force);
        }
        Command::Shard(ShardCommand::TransferLeader { shard, to }) => {
            return cluster::transfer_leader(&ctx, *shard, *to);
        }
        Command::Rebalance => return cluster::rebalance(&ctx),
        Command::Shards(ShardsCommand::Set { count }) => return cluster::shards_set(&ctx, *count),
        Command::Notifier(cmd) => {
            return notifier::run_notifier(&notifier_api(&ctx), cli.output, cmd);
        }
        Command::Silence(cmd) => {
            return notifier::run_silence(&notifier_api(&ctx), cli.output, cmd);
        }
        Command::Alerts(args) => {
            return notifier::run_alerts(&notifier_api(&ctx), cli.output, args);
        }
        Command::Retention(cmd) => return retention::run(&ctx, cmd),
        Command::Token(cmd) => return tokens::run(&ctx, cmd),
        Command::Rules(cmd) => {
            let api = rules::Api::new(client, base, cli.token.clone(), ctx.retry_for);
            let code = rules::run(&api, cli.output, cmd)?;
            if code != 0 {
                std::process::exit(code);
            }
            return Ok(());
        }
    };
    let url = format!("{base}{path}");
    let mut request = match cli.command {
        Command::Buildinfo => client.get(&url),
        _ => client.post(&url).form(&form),
    };
    if let Some(t) = &cli.token {
        request = request.bearer_auth(t);
    }
    let response = request
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.text()?;
    let json: serde_json::Value = if body.trim().is_empty() {
        serde_json::json!({"status": if status.is_success() { "success" } else { "error" }})
    } else {
        serde_json::from_str(&body)
            .with_context(|| format!("{url} answered {status} with non-JSON: {body}"))?
    };
    match cli.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        Output::Table => print_table(&json),
    }
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(())
}

/// The notifier's API at `--endpoint`, called as `$USER` (the node's audit log names it).
fn notifier_api(ctx: &cluster::Ctx) -> notifier::Api {
    notifier::Api::new(
        ctx.client.clone(),
        &ctx.base,
        ctx.admin_token.clone(),
        std::env::var("USER").ok(),
        ctx.retry_for,
    )
}

/// Prints a Prometheus API answer as lines: one per series for vectors and matrices.
fn print_table(json: &serde_json::Value) {
    if let Some(err) = json.get("error") {
        eprintln!(
            "error ({}): {}",
            json["errorType"].as_str().unwrap_or("unknown"),
            err.as_str().unwrap_or("")
        );
        return;
    }
    let data = &json["data"];
    match data["resultType"].as_str() {
        Some("vector") => {
            for s in data["result"].as_array().into_iter().flatten() {
                println!(
                    "{} {} @{}",
                    s["metric"],
                    s["value"][1].as_str().unwrap_or(""),
                    s["value"][0]
                );
            }
        }
        Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let values = s["values"].as_array().map(|v| v.len()).unwrap_or(0);
                println!("{} ({values} points)", s["metric"]);
                for p in s["values"].as_array().into_iter().flatten() {
                    println!("  {} @{}", p[1].as_str().unwrap_or(""), p[0]);
                }
            }
        }
        Some("scalar") | Some("string") => println!("{} @{}", data["result"][1], data["result"][0]),
        _ if data.is_null() => println!("{}", json["status"].as_str().unwrap_or("")),
        _ => println!("{data}"),
    }
    for w in json["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or(""));
    }
}
