//! `tidemark-bench`: the foundation benchmark. Replays a deterministic node-exporter-like dataset
//! (with an HTTP application's request histograms on every host) as Prometheus remote-write 1.0
//! into Tidemark, VictoriaMetrics and Prometheus (one at a time, each on loopback with a fresh
//! data dir), then reports ingest rate, memory, bytes per sample on disk and dashboard query
//! latency side by side with Tidemark/peer ratios; measures memory per active series under high
//! cardinality; compares rule evaluation (a generated rule file on live data) with
//! Prometheus; and reads one node under hours of live ingest (`scale`).

mod batch;
mod cardinality;
mod dataset;
mod exposition;
mod ingest;
mod live;
mod process;
mod queries;
mod remote_write;
mod report;
mod rules;
mod scale;
mod sender;
mod systems;
mod tiers;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::batch::BatchConfig;
use crate::ingest::IngestDataset;
use crate::sender::SendLimits;
use crate::systems::{Binaries, SystemKind};

#[derive(Parser)]
#[command(
    name = "tidemark-bench",
    about = "Benchmarks Tidemark against Prometheus and VictoriaMetrics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest, memory, disk and query benchmark over node-exporter hosts running an application.
    Ingest(IngestArgs),
    /// Memory per active series with many unique pod/container series.
    Cardinality(CardinalityArgs),
    /// Rule evaluation (recording and alerting rules) on live node-exporter data, against
    /// Prometheus.
    Rules(RulesArgs),
    /// A year of node-exporter data backfilled, Tidemark's retention tiers run: disk per tier
    /// and 1-year queries, against VictoriaMetrics keeping every raw sample.
    Tiers(TiersArgs),
    /// One node under live remote write for hours (a million series for 24 h by default):
    /// ingest, memory, disk, flushes and seals, query latency, read periodically.
    Scale(ScaleArgs),
}

#[derive(Args)]
struct Common {
    /// The `tidemark` server binary.
    #[arg(long)]
    tidemark_bin: Option<PathBuf>,
    /// Folder with `prometheus` and `victoria-metrics` (default: $TIDEMARK_PEERS_BIN,
    /// $PEERS_DIR/usr/bin or ~/.cache/tsdb-peers/usr/bin, where scripts/install-peers.sh puts
    /// them).
    #[arg(long)]
    peers_bin: Option<PathBuf>,
    /// Extra arguments passed to `tidemark` (whitespace separated).
    #[arg(long, default_value = "")]
    tidemark_args: String,
    /// Scrape interval of the generated data, seconds.
    #[arg(long, default_value_t = 15)]
    interval_s: u32,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Concurrent remote-write senders (queue-manager shards); a series always uses the same one.
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Samples per remote-write request (Prometheus' max_samples_per_send).
    #[arg(long, default_value_t = 2000)]
    batch_samples: u32,
    /// Stop ingesting (and report) after this many seconds.
    #[arg(long, default_value_t = 1800)]
    ingest_timeout_s: u64,
    /// Where data dirs and logs go (default: the system temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep data dirs and logs after the run.
    #[arg(long)]
    keep_data: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    common: Common,
    /// Number of series.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Hours of data (ending now).
    #[arg(long, default_value_t = 6.0)]
    hours: f64,
    /// The generated dataset.
    #[arg(long, value_enum, default_value_t = IngestDataset::Fleet)]
    dataset: IngestDataset,
    /// Systems to benchmark, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tidemark,victoriametrics,prometheus"
    )]
    systems: Vec<String>,
    /// Timed executions of each query (after one warm-up whose result is checked).
    #[arg(long, default_value_t = 10)]
    query_runs: u32,
    /// Timed refreshes of each range query as a dashboard repeats it, results caches on
    /// (Tidemark's, VictoriaMetrics' rollup cache); 0: none.
    #[arg(long, default_value_t = 10)]
    refresh_runs: u32,
}

#[derive(Args)]
struct CardinalityArgs {
    #[command(flatten)]
    common: Common,
    /// Number of active series (unique label sets).
    #[arg(long, default_value_t = 1_000_000)]
    series: usize,
    /// Minutes of data (ending now).
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Systems to measure (Tidemark by default; the peers give reference figures).
    #[arg(long, value_delimiter = ',', default_value = "tidemark")]
    systems: Vec<String>,
}

#[derive(Args)]
struct TiersArgs {
    #[command(flatten)]
    common: Common,
    /// Number of series.
    #[arg(long, default_value_t = 1_000)]
    series: usize,
    /// Days of data (ending now).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Systems to measure, in order (tidemark and victoriametrics).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tidemark,victoriametrics"
    )]
    systems: Vec<String>,
    /// Timed executions of each query (after one warm-up whose result is checked).
    #[arg(long, default_value_t = 5)]
    query_runs: u32,
}

#[derive(Args)]
struct ScaleArgs {
    #[command(flatten)]
    common: Common,
    /// Number of active series.
    #[arg(long, default_value_t = 1_000_000)]
    series: usize,
    /// Hours of live ingest.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// The generated dataset.
    #[arg(long, value_enum, default_value_t = IngestDataset::Fleet)]
    dataset: IngestDataset,
    /// Minutes between two readings.
    #[arg(long, default_value_t = 60.0)]
    report_every_min: f64,
}

#[derive(Args)]
struct RulesArgs {
    #[command(flatten)]
    common: Common,
    /// Number of series (node-exporter hosts' worth).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Systems to measure, in order (tidemark and prometheus only).
    #[arg(long, value_delimiter = ',', default_value = "tidemark,prometheus")]
    systems: Vec<String>,
    /// Rules in the generated rule file (a multiple of --groups).
    #[arg(long, default_value_t = 1_000)]
    rules: usize,
    /// Rule groups the rules are split over.
    #[arg(long, default_value_t = 20)]
    groups: usize,
    /// Of the rules, this many are alerting rules (the rest recording rules).
    #[arg(long, default_value_t = 300)]
    alerting_rules: usize,
    /// Evaluation interval of every group, seconds.
    #[arg(long, default_value_t = 10)]
    eval_interval_s: u32,
    /// Minutes of data sent before the live part (the rules' ranges reach up to 10 min back).
    #[arg(long, default_value_t = 10)]
    history_min: u32,
    /// Seconds of rule evaluation before the measurement starts.
    #[arg(long, default_value_t = 30)]
    warmup_s: u64,
    /// Seconds measured per system (cut into windows of --window-s).
    #[arg(long, default_value_t = 100)]
    duration_s: u64,
    /// Length of one measured window, seconds (a multiple of the interval counts whole
    /// iterations).
    #[arg(long, default_value_t = 20)]
    window_s: u64,
}

impl Common {
    fn binaries(&self) -> Binaries {
        let peers_dir = self.peers_bin.clone().unwrap_or_else(|| {
            if let Some(dir) = std::env::var_os("TIDEMARK_PEERS_BIN") {
                return PathBuf::from(dir);
            }
            let base = std::env::var_os("PEERS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/tsdb-peers")
                });
            base.join("usr/bin")
        });
        Binaries {
            tidemark: self.tidemark_bin.clone(),
            peers_dir,
            tidemark_args: self
                .tidemark_args
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }
    }

    fn batch(&self) -> BatchConfig {
        BatchConfig {
            shards: self.shards.max(1),
            batch_samples_max: self.batch_samples.max(1),
        }
    }

    fn limits(&self) -> SendLimits {
        SendLimits {
            shards: self.shards.max(1),
            deadline_ms: self.ingest_timeout_s.saturating_mul(1000),
            ..SendLimits::default()
        }
    }
}

fn parse_systems(names: &[String]) -> Result<Vec<SystemKind>> {
    names
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| SystemKind::parse(n))
        .collect()
}

// The current-thread runtime keeps the main future on the main thread, where the system processes
// are spawned (their PR_SET_PDEATHSIG is tied to the spawning thread); senders and generators run
// on the blocking pool or in plain threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let benchmark = async move {
        match cli.command {
            Command::Ingest(args) => {
                async {
                    let config = ingest::IngestConfig {
                        systems: parse_systems(&args.systems)?,
                        bins: args.common.binaries(),
                        dataset: args.dataset,
                        series: args.series,
                        hours: args.hours,
                        interval_s: args.common.interval_s.max(1),
                        seed: args.common.seed,
                        batch: args.common.batch(),
                        limits: args.common.limits(),
                        query_runs: args.query_runs,
                        refresh_runs: args.refresh_runs,
                        work_dir: args.common.work_dir.clone(),
                        keep_data: args.common.keep_data,
                        out: args.common.out.clone(),
                    };
                    ingest::run(config).await.map(|(_, ok)| ok)
                }
                .await
            }
            Command::Cardinality(args) => {
                async {
                    let config = cardinality::CardinalityConfig {
                        systems: parse_systems(&args.systems)?,
                        bins: args.common.binaries(),
                        series: args.series,
                        minutes: args.minutes,
                        interval_s: args.common.interval_s.max(1),
                        seed: args.common.seed,
                        batch: args.common.batch(),
                        limits: args.common.limits(),
                        work_dir: args.common.work_dir.clone(),
                        keep_data: args.common.keep_data,
                        out: args.common.out.clone(),
                    };
                    cardinality::run(config).await.map(|(_, ok)| ok)
                }
                .await
            }
            Command::Tiers(args) => {
                async {
                    let config = tiers::TiersConfig {
                        systems: parse_systems(&args.systems)?,
                        bins: args.common.binaries(),
                        series: args.series,
                        days: args.days.max(8),
                        interval_s: args.common.interval_s.max(1),
                        seed: args.common.seed,
                        batch: args.common.batch(),
                        limits: args.common.limits(),
                        query_runs: args.query_runs,
                        work_dir: args.common.work_dir.clone(),
                        keep_data: args.common.keep_data,
                        out: args.common.out.clone(),
                    };
                    tiers::run(config).await.map(|(_, ok)| ok)
                }
                .await
            }
            Command::Scale(args) => {
                let config = scale::ScaleConfig {
                    bins: args.common.binaries(),
                    dataset: args.dataset,
                    series: args.series,
                    hours: args.hours,
                    interval_s: args.common.interval_s.max(1),
                    seed: args.common.seed,
                    report_every: std::time::Duration::from_secs_f64(
                        (args.report_every_min * 60.0).max(1.0),
                    ),
                    batch: args.common.batch(),
                    limits: args.common.limits(),
                    work_dir: args.common.work_dir.clone(),
                    keep_data: args.common.keep_data,
                    out: args.common.out.clone(),
                };
                scale::run(config).await.map(|(_, ok)| ok)
            }
            Command::Rules(args) => {
                async {
                    let config = rules::RulesConfig {
                        systems: parse_systems(&args.systems)?,
                        bins: args.common.binaries(),
                        series: args.series,
                        interval_s: args.common.interval_s.max(1),
                        seed: args.common.seed,
                        batch: args.common.batch(),
                        limits: args.common.limits(),
                        rules: args.rules,
                        groups: args.groups,
                        alerting_rules: args.alerting_rules,
                        eval_interval_s: args.eval_interval_s.max(1),
                        history_min: args.history_min,
                        warmup_s: args.warmup_s,
                        duration_s: args.duration_s,
                        window_s: args.window_s.max(1),
                        work_dir: args.common.work_dir.clone(),
                        keep_data: args.common.keep_data,
                        out: args.common.out.clone(),
                    };
                    rules::run(config).await.map(|(_, ok)| ok)
                }
                .await
            }
        }
    };
    // On Ctrl-C or SIGTERM the benchmark future is dropped: its guards kill the systems and remove
    // the work dir.
    let outcome = tokio::select! {
        outcome = benchmark => outcome,
        signal = interrupted() => {
            eprintln!("tidemark-bench: interrupted by {signal}; stopping the systems");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("tidemark-bench: some systems failed or reported errors (see above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("tidemark-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Resolves with the signal's name on SIGINT or SIGTERM.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
