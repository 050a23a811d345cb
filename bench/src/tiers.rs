//! The `tiers` benchmark: a simulated year of node-exporter data backfilled through
//! remote-write (oldest first), then Tidemark's retention jobs run (raw 7 days, 1-minute
//! windows 30 days, 1-hour windows a year) beside a VictoriaMetrics that keeps every raw sample
//! a year (`-retentionPeriod=1y`; it has no downsampling of its own). Reported per system:
//! ingest, disk (per tier for Tidemark) and bytes per raw-equivalent sample, the retention
//! run's wall and CPU time, and the latency of a 1-year range query at a 1-hour step beside the
//! same query over the last 7 days (raw data in Tidemark).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tidemark_testkit::dataset::node_exporter;

use crate::batch::{BatchConfig, EncodedRequest, encode_dataset};
use crate::dataset::Dataset;
use crate::ingest::{rounded_now_ms, work_dir, write_json};
use crate::queries::{QueryKind, QueryResult, QuerySpec, run_queries};
use crate::sender::{SendLimits, SendStats, replay};
use crate::systems::{Binaries, RunningSystem, StartExtras, SystemKind};

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;

/// Retention runs asked for at most, until no shard is skipped.
const RUNS_MAX: u32 = 20;

/// The retention policy Tidemark runs with.
const POLICY: &str = "raw: 7d\n  rollup_1m: 30d\n  rollup_1h: 1y\n";

pub struct TiersConfig {
    pub systems: Vec<SystemKind>,
    pub bins: Binaries,
    pub series: usize,
    pub days: u32,
    pub interval_s: u32,
    pub seed: u64,
    pub batch: BatchConfig,
    pub limits: SendLimits,
    pub query_runs: u32,
    pub work_dir: Option<PathBuf>,
    pub keep_data: bool,
    pub out: Option<PathBuf>,
}

/// What one system did.
#[derive(Debug, Default, Serialize)]
pub struct TiersResult {
    pub system: &'static str,
    pub ingest: Option<SendStats>,
    /// Tidemark: the retention run (every job due), then the flush that computes the rollups
    /// left pending, in seconds, and the node's CPU seconds over both.
    pub retention_wall_s: Option<f64>,
    /// Runs asked for until no shard was skipped (a shard's run that times out is skipped).
    pub retention_runs: u32,
    pub retention_cpu_s: Option<f64>,
    /// Tidemark: `/api/v1/status/retention`'s tiers after the run, flushed and compacted.
    pub tiers: Option<serde_json::Value>,
    /// The data on disk after the jobs (flushed), and per raw-equivalent sample ingested.
    pub disk_bytes: Option<u64>,
    pub bytes_per_sample: Option<f64>,
    pub queries: Vec<QueryResult>,
    pub failure: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TiersReport {
    pub benchmark: &'static str,
    pub series: usize,
    pub days: u32,
    pub interval_s: u32,
    pub samples: u64,
    pub policy: &'static str,
    pub systems: Vec<TiersResult>,
}

/// The queries: the same aggregation over a year and over a week, at a 1-hour step.
fn queries(days: u32) -> Vec<QuerySpec> {
    let year = i64::from(days) * DAY - DAY;
    let q = |name, expr: &str, window_s| QuerySpec {
        name,
        expr: expr.to_string(),
        kind: QueryKind::Range {
            window_s,
            step_s: HOUR,
        },
    };
    let rate = "sum by (mode) (rate(node_cpu_seconds_total[1h]))";
    let load = "max by (instance) (max_over_time(node_load1[1h]))";
    vec![
        q("cpu_rate_by_mode_1y", rate, year),
        q("cpu_rate_by_mode_7d", rate, 7 * DAY),
        q("load_max_by_instance_1y", load, year),
        q("load_max_by_instance_7d", load, 7 * DAY),
    ]
}

pub async fn run(config: TiersConfig) -> Result<(TiersReport, bool)> {
    let end_ms = rounded_now_ms(3600);
    let hours = f64::from(config.days) * 24.0;
    eprintln!(
        "generating {} node-exporter series x {} days at {} s (seed {}) ...",
        config.series, config.days, config.interval_s, config.seed
    );
    // The requests are generated and encoded while they are sent (a year of them does not fit
    // in memory): the ingest rate includes that work.
    let (series, interval_s, seed, batch) =
        (config.series, config.interval_s, config.seed, config.batch);
    let generate = move || {
        Dataset::encode(series, |on| {
            node_exporter(series, hours, interval_s, seed, end_ms, on)
        })
    };
    let samples = tokio::task::spawn_blocking(move || generate().scrapes.samples_total).await?;
    eprintln!("  {samples} samples");
    let requests = move || {
        let (tx, rx) = std::sync::mpsc::sync_channel::<EncodedRequest>(256);
        std::thread::spawn(move || {
            let mut ds = generate();
            encode_dataset(&mut ds, batch, |r| {
                let _ = tx.send(r);
            });
        });
        rx.into_iter()
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .context("HTTP client")?;
    let work = work_dir(config.work_dir.as_ref(), config.keep_data)?;
    let specs = queries(config.days);
    let mut results = Vec::new();
    let mut ok = true;
    for &kind in &config.systems {
        eprintln!("\n== {} ==", kind.name());
        let mut result = TiersResult {
            system: kind.name(),
            ..TiersResult::default()
        };
        if let Err(e) = bench_one(
            kind,
            &config,
            work.path(),
            &client,
            &requests,
            &specs,
            end_ms / 1000,
            samples,
            &mut result,
        )
        .await
        {
            eprintln!("  {} failed: {e:#}", kind.name());
            result.failure = Some(format!("{e:#}"));
            ok = false;
        }
        if result.queries.iter().any(|q| q.error.is_some()) {
            ok = false;
        }
        results.push(result);
    }
    let report = TiersReport {
        benchmark: "tiers",
        series: config.series,
        days: config.days,
        interval_s: config.interval_s,
        samples,
        policy: POLICY,
        systems: results,
    };
    println!("{}", render(&report));
    if let Some(out) = &config.out {
        write_json(out, &report)?;
    }
    Ok((report, ok))
}

#[allow(clippy::too_many_arguments)]
async fn bench_one(
    kind: SystemKind,
    config: &TiersConfig,
    work: &std::path::Path,
    client: &reqwest::Client,
    requests: &impl Fn() -> std::sync::mpsc::IntoIter<EncodedRequest>,
    specs: &[QuerySpec],
    end_s: i64,
    samples: u64,
    result: &mut TiersResult,
) -> Result<()> {
    let extras = match kind {
        SystemKind::Tidemark => {
            let path = work.join("tidemark-tiers.yaml");
            std::fs::write(
                &path,
                format!("retention_interval_ms: 0\nretention:\n  {POLICY}"),
            )?;
            StartExtras {
                tidemark_args: vec!["--config".into(), path.display().to_string()],
                ..StartExtras::default()
            }
        }
        SystemKind::VictoriaMetrics => StartExtras::default(),
        other => bail!("the tiers benchmark compares tidemark and victoriametrics, not {other:?}"),
    };
    let mut system = RunningSystem::start_with(kind, &config.bins, work, &extras)?;
    system.wait_ready(client).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let source = requests();
    let stats = replay(
        client.clone(),
        system.url("/api/v1/write"),
        source,
        config.limits,
    )
    .await?;
    crate::process::check_alive(&mut system.child)?;
    eprintln!(
        "  ingest: {} samples in {:.1} s = {:.0} samples/s, {} failed requests",
        stats.samples_sent_ok, stats.wall_s, stats.samples_per_s, stats.requests_failed
    );
    let failed = stats.requests_failed;
    result.ingest = Some(stats);
    if failed > 0 {
        bail!("{failed} remote-write requests failed");
    }
    if kind == SystemKind::Tidemark {
        let cpu_before = system.cpu_seconds()?;
        let t = Instant::now();
        // A shard whose run timed out (skipped) resumes where it stopped at the next run, as
        // the periodic job would.
        for attempt in 1..=RUNS_MAX {
            let run = post(client, &system.url("/api/v1/admin/retention/run")).await?;
            eprintln!("  retention run {attempt}: {run}");
            result.retention_runs = attempt;
            if run["skipped"].as_array().is_none_or(|s| s.is_empty()) {
                break;
            }
        }
        system.flush(client).await?;
        let wall = t.elapsed().as_secs_f64();
        let cpu = system.cpu_seconds()? - cpu_before;
        eprintln!("  retention: {wall:.1} s wall, {cpu:.1} s CPU");
        result.retention_wall_s = Some(wall);
        result.retention_cpu_s = Some(cpu);
        let status = get(client, &system.url("/api/v1/status/retention")).await?;
        result.tiers = Some(status["data"]["tiers"].clone());
    }
    let plan = system.flush(client).await?;
    result.queries = run_queries(
        client,
        &system.query_url(""),
        specs,
        end_s,
        config.query_runs,
    )
    .await;
    crate::queries::log_results(&result.queries);
    let disk = system.measure_disk(plan).await?;
    result.disk_bytes = Some(disk.data_bytes);
    result.bytes_per_sample = Some(disk.data_bytes as f64 / samples.max(1) as f64);
    crate::process::stop(&mut system.child);
    if !config.keep_data {
        let _ = std::fs::remove_dir_all(&system.data_dir);
    }
    Ok(())
}

async fn post(client: &reqwest::Client, url: &str) -> Result<serde_json::Value> {
    let r = client
        .post(url)
        .timeout(Duration::from_secs(4 * 3600))
        .send()
        .await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.context("JSON answer")?;
    if !status.is_success() {
        bail!("POST {url}: {status} {body}");
    }
    Ok(body["data"].clone())
}

async fn get(client: &reqwest::Client, url: &str) -> Result<serde_json::Value> {
    let r = client
        .get(url)
        .timeout(Duration::from_secs(60))
        .send()
        .await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.context("JSON answer")?;
    if !status.is_success() {
        bail!("GET {url}: {status} {body}");
    }
    Ok(body)
}

/// The report as text: per system, then per Tidemark tier, then the queries side by side.
fn render(r: &TiersReport) -> String {
    let mut s = format!(
        "tiers: {} series x {} days at {} s = {} samples; Tidemark policy raw 7d, 1m 30d, 1h 1y\n",
        r.series, r.days, r.interval_s, r.samples
    );
    for sys in &r.systems {
        let ingest = sys.ingest.as_ref();
        s.push_str(&format!(
            "{:<16} ingest {:>9.0} samples/s  disk {:>8.1} MiB  {:.3} bytes per raw-equivalent sample{}\n",
            sys.system,
            ingest.map_or(0.0, |i| i.samples_per_s),
            sys.disk_bytes.unwrap_or(0) as f64 / 1_048_576.0,
            sys.bytes_per_sample.unwrap_or(0.0),
            sys.failure
                .as_ref()
                .map_or(String::new(), |f| format!("  FAILED {f}"))
        ));
        if let (Some(wall), Some(cpu)) = (sys.retention_wall_s, sys.retention_cpu_s) {
            s.push_str(&format!(
                "  retention ({} runs) + flush: {wall:.1} s wall, {cpu:.1} s CPU ({:.0} % of one core); {:.2} million raw samples rolled up per second\n",
                sys.retention_runs,
                100.0 * cpu / wall.max(1e-9),
                r.samples as f64 / wall.max(1e-9) / 1e6
            ));
        }
        if let Some(tiers) = sys.tiers.as_ref().and_then(|t| t.as_array()) {
            for t in tiers {
                s.push_str(&format!(
                    "  tier {:<4} partitions {:>5}  series {:>5}  {:>8.1} MiB\n",
                    t["tier"].as_str().unwrap_or("?"),
                    t["partitions"].as_u64().unwrap_or(0),
                    t["series"].as_u64().unwrap_or(0),
                    t["bytes"].as_u64().unwrap_or(0) as f64 / 1_048_576.0
                ));
            }
        }
    }
    s.push_str("query (1 h step)                 ");
    for sys in &r.systems {
        s.push_str(&format!("{:>16}", sys.system));
    }
    s.push('\n');
    let names: Vec<&str> = r
        .systems
        .first()
        .map(|sys| sys.queries.iter().map(|q| q.name.as_str()).collect())
        .unwrap_or_default();
    for name in names {
        s.push_str(&format!("{name:<33}"));
        for sys in &r.systems {
            let q = sys.queries.iter().find(|q| q.name == name);
            s.push_str(&format!(
                "{:>13} ms",
                q.and_then(|q| q.median_ms)
                    .map_or("-".into(), |v| format!("{v:.1}"))
            ));
        }
        s.push('\n');
    }
    s
}
