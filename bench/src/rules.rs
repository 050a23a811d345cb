//! `tidemark-bench rules`: the same generated rule file (by default 1,000 rules, 70% recording,
//! 30% alerting, in 20 groups) loaded into Tidemark (`--rule-file`, `ruler.evaluation_interval_ms`)
//! and Prometheus (`rule_files`, `global.evaluation_interval`), one system at a time, each fed
//! the node-exporter dataset live by remote write (some minutes of history first, for the
//! rules' ranges, then every scrape as the clock reaches it). After a warm-up, the ruler's own
//! counters and the process's CPU and memory are read every half interval and cut into windows;
//! the table gives the medians over the windows, side by side with Tidemark/Prometheus ratios.
//!
//! - `file.rs`: the rule file.
//! - `probe.rs`: reading each system's ruler counters.
//! - `report.rs`: windows, medians, ratios and the table.

mod file;
mod probe;
mod report;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tidemark_testkit::dataset::node_exporter;

use crate::batch::BatchConfig;
use crate::dataset::Dataset;
use crate::ingest::{work_dir, write_json};
use crate::live::{LiveStream, wall_ms};
use crate::sender::{SendLimits, replay};
use crate::systems::{Binaries, RunningSystem, StartExtras, SystemKind};
use file::RuleSet;
use probe::Reading;
use report::{RulesReport, RulesResult, RulesSetup, Summary, Window, ratios, render};

/// How long a system gets to load every rule group after it is ready.
const RULES_LOADED_TIMEOUT_MS: u64 = 120_000;
/// Live data generated beyond the measured time (loading, warm-up slack).
const STREAM_SLACK_S: u64 = 180;
/// Remote-write batches wait at most this long for more samples (Prometheus'
/// `batch_send_deadline`).
const BATCH_SEND_DEADLINE_MS: u64 = 5_000;
/// Progress of the stream is printed this often.
const STREAM_PROGRESS_MS: u64 = 60_000;

/// Parameters of a rules run (from the command line).
pub struct RulesConfig {
    pub systems: Vec<SystemKind>,
    pub bins: Binaries,
    pub series: usize,
    pub interval_s: u32,
    pub seed: u64,
    pub batch: BatchConfig,
    pub limits: SendLimits,
    pub rules: usize,
    pub groups: usize,
    pub alerting_rules: usize,
    pub eval_interval_s: u32,
    pub history_min: u32,
    pub warmup_s: u64,
    pub duration_s: u64,
    pub window_s: u64,
    pub work_dir: Option<PathBuf>,
    pub keep_data: bool,
    pub out: Option<PathBuf>,
}

impl RulesConfig {
    fn windows(&self) -> usize {
        (self.duration_s / self.window_s.max(1)).max(1) as usize
    }

    /// Readings are taken this often: every iteration's duration is seen at least once.
    fn poll_ms(&self) -> u64 {
        (u64::from(self.eval_interval_s) * 1000 / 2).clamp(1_000, 5_000)
    }
}

/// Runs the benchmark; returns the report and whether every system completed without errors.
pub async fn run(config: RulesConfig) -> Result<(RulesReport, bool)> {
    for &kind in &config.systems {
        if !matches!(kind, SystemKind::Tidemark | SystemKind::Prometheus) {
            bail!(
                "the rules benchmark runs tidemark and prometheus only, not {}",
                kind.name()
            );
        }
    }
    if config.groups == 0 || config.rules == 0 || !config.rules.is_multiple_of(config.groups) {
        bail!(
            "--rules ({}) must be a non-zero multiple of --groups ({}): every group holds as many rules",
            config.rules,
            config.groups
        );
    }
    let set = file::generate(
        config.groups,
        config.rules / config.groups,
        config.alerting_rules,
    );
    let work = work_dir(config.work_dir.as_ref(), config.keep_data)?;
    eprintln!("work dir: {}", work.path().display());
    let rule_file = work.path().join("rules.yml");
    std::fs::write(&rule_file, &set.yaml)?;
    eprintln!(
        "rule file {}: {} groups x {} rules ({} recording, {} alerting), {} KiB",
        rule_file.display(),
        set.groups,
        set.rules_per_group,
        set.recording,
        set.alerting,
        set.yaml.len() / 1024
    );
    let extras = start_extras(&config, work.path(), &rule_file)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .context("HTTP client")?;

    let mut results = Vec::new();
    let mut all_ok = true;
    for &kind in &config.systems {
        eprintln!("\n== {} (rules) ==", kind.name());
        let mut result = RulesResult::new(kind);
        let outcome = bench_one(
            kind,
            &config,
            &set,
            &extras,
            work.path(),
            &client,
            &mut result,
        )
        .await;
        if let Err(e) = outcome {
            eprintln!("  {} failed: {e:#}", kind.name());
            result.failure = Some(format!("{e:#}"));
        }
        result.summary = Summary::of(&result.windows);
        let ingest_failed = result
            .ingest
            .as_ref()
            .is_none_or(|i| i.requests_failed > 0 || i.deadline_hit);
        all_ok &= result.failure.is_none() && !ingest_failed;
        results.push(result);
    }
    let report = RulesReport {
        benchmark: "rules",
        setup: RulesSetup {
            rules: set.groups * set.rules_per_group,
            recording: set.recording,
            alerting: set.alerting,
            groups: set.groups,
            rules_per_group: set.rules_per_group,
            eval_interval_s: config.eval_interval_s,
            series: config.series,
            scrape_interval_s: config.interval_s,
            seed: config.seed,
            history_min: config.history_min,
            warmup_s: config.warmup_s,
            window_s: config.window_s,
            windows: config.windows(),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        },
        ratios: ratios(&results),
        systems: results,
    };
    println!("{}", render(&report));
    if let Some(out) = &config.out {
        write_json(out, &report)?;
    }
    Ok((report, all_ok))
}

/// Tidemark's arguments and Prometheus' configuration for the rule file and the interval.
fn start_extras(config: &RulesConfig, work: &Path, rule_file: &Path) -> Result<StartExtras> {
    let tidemark_config = work.join("tidemark.yaml");
    std::fs::write(
        &tidemark_config,
        format!(
            "ruler:\n  evaluation_interval_ms: {}\n",
            u64::from(config.eval_interval_s) * 1000
        ),
    )?;
    Ok(StartExtras {
        tidemark_args: vec![
            "--config".to_string(),
            tidemark_config.display().to_string(),
            "--rule-file".to_string(),
            rule_file.display().to_string(),
        ],
        prometheus_config: Some(format!(
            "global:\n  scrape_interval: {}s\n  evaluation_interval: {}s\nrule_files:\n  - {}\nscrape_configs: []\n",
            config.interval_s,
            config.eval_interval_s,
            rule_file.display()
        )),
    })
}

async fn bench_one(
    kind: SystemKind,
    config: &RulesConfig,
    set: &RuleSet,
    extras: &StartExtras,
    work: &Path,
    client: &reqwest::Client,
    result: &mut RulesResult,
) -> Result<()> {
    let started = Instant::now();
    let mut system = RunningSystem::start_with(kind, &config.bins, work, extras)?;
    let ready = system.wait_ready(client).await?;
    eprintln!(
        "  ready in {:.1} s on {} (pid {})",
        ready.as_secs_f64(),
        system.http,
        system.child.pid().unwrap_or(0)
    );
    result.rss_start_bytes = system.rss_bytes().ok();

    // The dataset: `history_min` minutes in the past, then live scrapes until well after the
    // measurement ends.
    let live_s = config.warmup_s + config.duration_s + STREAM_SLACK_S;
    let interval_ms = i64::from(config.interval_s) * 1000;
    let end_ms = (wall_ms() + live_s as i64 * 1000) / interval_ms * interval_ms;
    let hours = (f64::from(config.history_min) * 60.0 + live_s as f64) / 3600.0;
    let (series, interval_s, seed) = (config.series, config.interval_s, config.seed);
    let dataset = tokio::task::spawn_blocking(move || {
        Dataset::encode(series, |on| {
            node_exporter(series, hours, interval_s, seed, end_ms, on)
        })
    })
    .await?;
    let stream = LiveStream::start(dataset, config.batch, BATCH_SEND_DEADLINE_MS);
    let (requests, stop, pacer) = stream.into_parts();
    let limits = SendLimits {
        deadline_ms: (live_s + 120) * 1000,
        progress_interval_ms: STREAM_PROGRESS_MS,
        ..config.limits
    };
    let sender = tokio::spawn(replay(
        client.clone(),
        system.url("/api/v1/write"),
        requests.into_iter(),
        limits,
    ));

    let measured = measure(config, set, &mut system, client, started, result).await;
    stop.store(true, Ordering::Relaxed);
    let sent = sender.await?;
    let stats = tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("stream thread panicked"))?;
    result.stream_samples = stats.samples;
    result.stream_history_samples = stats.history_samples;
    result.stream_lateness_ms_max = stats.lateness_ms_max;
    result.ingest = Some(sent?);
    measured?;
    result.alerts_at_end = probe::alerts(client, &system).await.ok();
    crate::process::check_alive(&mut system.child)?;
    crate::process::stop(&mut system.child);
    if !config.keep_data {
        let _ = std::fs::remove_dir_all(&system.data_dir);
    }
    Ok(())
}

/// Waits until every group is loaded, warms up, then reads the ruler every `poll_ms` and closes
/// a window every `window_s`.
async fn measure(
    config: &RulesConfig,
    set: &RuleSet,
    system: &mut RunningSystem,
    client: &reqwest::Client,
    started: Instant,
    result: &mut RulesResult,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_millis(RULES_LOADED_TIMEOUT_MS);
    loop {
        crate::process::check_alive(&mut system.child)?;
        match probe::read(client, system, set.rules_per_group).await {
            Ok(r) if r.groups_loaded >= set.groups => break,
            Ok(r) if Instant::now() >= deadline => {
                bail!(
                    "only {} of {} rule groups loaded",
                    r.groups_loaded,
                    set.groups
                )
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    result.rules_loaded_s = Some(started.elapsed().as_secs_f64());
    eprintln!(
        "  {} groups loaded after {:.1} s; warming up {} s",
        set.groups,
        started.elapsed().as_secs_f64(),
        config.warmup_s
    );
    tokio::time::sleep(Duration::from_secs(config.warmup_s)).await;

    let poll = Duration::from_millis(config.poll_ms());
    let window = Duration::from_secs(config.window_s.max(1));
    let mut boundary = probe::read(client, system, set.rules_per_group).await?;
    let evaluated = boundary.groups.len();
    if evaluated < set.groups {
        eprintln!(
            "  warning: only {evaluated} of {} groups evaluated after the warm-up",
            set.groups
        );
    }
    let mut seen: BTreeSet<(String, String)> = seen_iterations(&boundary);
    let mut durations = Vec::new();
    let mut window_end = boundary.at + window;
    while result.windows.len() < config.windows() {
        let next = (Instant::now() + poll).min(window_end);
        tokio::time::sleep_until(next.into()).await;
        crate::process::check_alive(&mut system.child)?;
        let reading = probe::read(client, system, set.rules_per_group).await?;
        for g in &reading.groups {
            if seen.insert((g.group.clone(), g.iteration.clone())) {
                durations.push(g.duration_s);
            }
        }
        if reading.at >= window_end {
            let w = Window::between(&boundary, &reading, std::mem::take(&mut durations));
            eprintln!(
                "  window {}: {:.1} rules/s, group p50 {:.1} ms, missed {}, failures {}+{}, CPU {:.0}%, RSS {:.1} MiB",
                result.windows.len(),
                w.rules_per_s,
                w.group_eval_median_s.unwrap_or(f64::NAN) * 1000.0,
                w.missed,
                w.failures,
                w.other_failures,
                w.cpu_cores * 100.0,
                w.rss_bytes as f64 / 1_048_576.0
            );
            result.windows.push(w);
            boundary = reading;
            window_end = boundary.at + window;
        }
    }
    Ok(())
}

/// The (group, iteration) pairs a reading shows.
fn seen_iterations(reading: &Reading) -> BTreeSet<(String, String)> {
    reading
        .groups
        .iter()
        .map(|g| (g.group.clone(), g.iteration.clone()))
        .collect()
}
