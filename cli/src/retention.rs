//! `tidemarkctl retention show|set|reset|run`: the cluster's retention policy and this node's
//! data per tier, through `/api/v1/status/retention` and `/api/v1/admin/retention[/run]`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use tidemark_api::duration::format_ms;
use tidemark_api::retention::{
    PolicySource, RetentionPolicy, RetentionRun, RetentionStatus, TierKeep,
};

use crate::cluster::Ctx;

const STATUS_PATH: &str = "/api/v1/status/retention";
const ADMIN_PATH: &str = "/api/v1/admin/retention";

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// The policy in force and where it comes from, and per tier this node's partitions,
    /// series, bytes, oldest and newest time.
    Show,
    /// Sets the cluster's policy from a YAML or JSON file (the keys of a node's `retention:`
    /// block; `-` reads standard input). It applies from the next run of the jobs.
    Set {
        /// The policy file.
        file: PathBuf,
    },
    /// Puts the built-in defaults back (raw 7d, 1m 30d, 1h 1y).
    Reset,
    /// Runs every retention job that is due now, on every shard's leader, and waits until
    /// what they proposed is applied.
    Run,
}

/// Runs one `retention` command.
pub fn run(ctx: &Ctx, cmd: &RetentionCommand) -> anyhow::Result<()> {
    match cmd {
        RetentionCommand::Show => {
            let status = fetch_status(ctx)?;
            ctx.print_json(&status)?;
            if ctx.table() {
                print_status(&status);
            }
        }
        RetentionCommand::Set { file } => {
            let text = read_policy_file(file)?;
            // Checked here first, so a typo is named before anything is sent.
            let policy: RetentionPolicy = serde_yaml::from_str(&text)
                .with_context(|| format!("{} is not a retention policy", file.display()))?;
            policy
                .check()
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let status = ctx.call::<RetentionStatus>(
                ctx.client
                    .put(format!("{}{ADMIN_PATH}", ctx.base))
                    .header("content-type", "application/yaml")
                    .body(text),
            )?;
            ctx.print_json(&status)?;
            if ctx.table() {
                println!("retention policy set");
                print_status(&status);
            }
        }
        RetentionCommand::Reset => {
            let status = ctx
                .call::<RetentionStatus>(ctx.client.delete(format!("{}{ADMIN_PATH}", ctx.base)))?;
            ctx.print_json(&status)?;
            if ctx.table() {
                println!("retention policy back to the defaults");
                print_status(&status);
            }
        }
        RetentionCommand::Run => {
            if ctx.table() {
                println!("running the retention jobs due now on every shard's leader...");
            }
            let run =
                ctx.call::<RetentionRun>(ctx.client.post(format!("{}{ADMIN_PATH}/run", ctx.base)))?;
            ctx.print_json(&run)?;
            if ctx.table() {
                println!(
                    "{} shards ran: {} partitions expired whole, {} series expired from partitions",
                    run.shards, run.partitions_expired, run.series_expired
                );
                for s in &run.skipped {
                    println!("skipped: {s}");
                }
            }
            if !run.skipped.is_empty() {
                bail!("{} shards did not run", run.skipped.len());
            }
        }
    }
    Ok(())
}

fn fetch_status(ctx: &Ctx) -> anyhow::Result<RetentionStatus> {
    ctx.get::<RetentionStatus>(STATUS_PATH)?
        .into_result()
        .map_err(|e| anyhow!("{}{STATUS_PATH}: {e}", ctx.base))
}

fn read_policy_file(file: &PathBuf) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(s);
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// `raw 1w, 1m 30d, 1h 1y` (`off` for a tier not kept).
fn keep_line(k: &TierKeep) -> String {
    let tier = |name: &str, ms: i64| match ms {
        0 => format!("{name} off"),
        ms => format!("{name} {}", format_ms(ms)),
    };
    [
        tier("raw", k.raw_ms),
        tier("1m", k.rollup_1m_ms),
        tier("1h", k.rollup_1h_ms),
    ]
    .join(", ")
}

fn print_status(s: &RetentionStatus) {
    let source = match s.source {
        PolicySource::Default => "built-in defaults (never set)",
        PolicySource::Cluster => "the cluster's policy",
    };
    println!("policy: {source}");
    println!("default: {}", keep_line(&s.default));
    for o in &s.policy.overrides {
        println!(
            "override {}: {}",
            o.matcher,
            keep_line(&s.policy.override_keep(o))
        );
    }
    if let Some(b) = s.policy.disk_budget {
        println!("disk budget per node: {b}");
    }
    if let (Some(free), Some(reserve)) = (s.disk_free_bytes, s.disk_reserve_bytes) {
        let refused = if free < reserve {
            " (below the reserve: writes are refused)"
        } else {
            ""
        };
        println!("disk: {free} bytes free, writes refused below {reserve}{refused}");
    }
    if let Some(d) = &s.config_difference {
        println!("note: {d}");
    }
    match s.backfill_ms {
        Some(ms) => println!("backfill: samples accepted back to {} ago", format_ms(ms)),
        None => {
            println!("backfill: off (the out-of-order window only) until every node can apply it")
        }
    }
    println!(
        "{:<5} {:>10} {:>10} {:>14}  {:<20}  {:<20}",
        "TIER", "PARTITIONS", "SERIES", "BYTES", "OLDEST", "NEWEST"
    );
    for t in &s.tiers {
        println!(
            "{:<5} {:>10} {:>10} {:>14}  {:<20}  {:<20}",
            t.tier,
            t.partitions,
            t.series,
            t.bytes,
            t.oldest_ms.map(time).unwrap_or_else(|| "-".into()),
            t.newest_ms.map(time).unwrap_or_else(|| "-".into()),
        )
    }
}

/// A time in UTC, to the minute.
fn time(ms: i64) -> String {
    tidemark_api::alertmanager::rfc3339_ms(ms)
        .get(..16)
        .map(|s| s.replace('T', " "))
        .unwrap_or_default()
}
