//! `tidemark-bench cardinality`: many unique pod/container series for a short time, measuring
//! memory per active series (RSS after ingest minus RSS at start, over the series count) and the
//! ingest rate while series are being created. Requests are generated and encoded on the fly (a
//! million series for 30 minutes is too much to hold encoded), on one core shared with the system
//! under test, as a real agent would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tidemark_testkit::dataset::pods;

use crate::batch::{BatchConfig, EncodedRequest, encode_dataset};
use crate::dataset::Dataset;
use crate::ingest::{rounded_now_ms, work_dir, write_json};
use crate::report::mib;
use crate::sender::{SendLimits, SendStats, replay};
use crate::systems::{Binaries, RunningSystem, SystemKind};

/// Requests buffered between the generator thread and the senders.
const GENERATED_REQUESTS_QUEUED_MAX: usize = 16;
/// Time the system gets after ingest before its memory is read again (background work, GC).
const SETTLE_AFTER_INGEST_MS: u64 = 5_000;

/// Parameters of a cardinality run (from the command line).
pub struct CardinalityConfig {
    pub systems: Vec<SystemKind>,
    pub bins: Binaries,
    pub series: usize,
    pub minutes: f64,
    pub interval_s: u32,
    pub seed: u64,
    pub batch: BatchConfig,
    pub limits: SendLimits,
    pub work_dir: Option<PathBuf>,
    pub keep_data: bool,
    pub out: Option<PathBuf>,
}

/// What one system showed.
#[derive(Clone, Debug, Serialize)]
pub struct CardinalityResult {
    pub system: SystemKind,
    pub failure: Option<String>,
    pub series: usize,
    pub samples: u64,
    pub ingest: Option<SendStats>,
    pub rss_start_bytes: Option<u64>,
    pub rss_after_ingest_bytes: Option<u64>,
    pub rss_after_settle_bytes: Option<u64>,
    /// (RSS after ingest - RSS at start) / series.
    pub rss_bytes_per_series: Option<f64>,
    /// `count({job="kubelet"})` at the end, to check every series arrived.
    pub series_counted: Option<u64>,
}

/// The JSON document of a cardinality run.
#[derive(Clone, Debug, Serialize)]
pub struct CardinalityReport {
    pub benchmark: &'static str,
    pub series: usize,
    pub minutes: f64,
    pub interval_s: u32,
    pub seed: u64,
    pub results: Vec<CardinalityResult>,
}

pub async fn run(config: CardinalityConfig) -> Result<(CardinalityReport, bool)> {
    let client = reqwest::Client::builder().build().context("HTTP client")?;
    let work = work_dir(config.work_dir.as_ref(), config.keep_data)?;
    eprintln!("work dir: {}", work.path().display());
    let mut results = Vec::new();
    let mut all_ok = true;
    for &kind in &config.systems {
        eprintln!(
            "\n== {} (cardinality: {} series x {} min) ==",
            kind.name(),
            config.series,
            config.minutes
        );
        let mut result = CardinalityResult {
            system: kind,
            failure: None,
            series: config.series,
            samples: 0,
            ingest: None,
            rss_start_bytes: None,
            rss_after_ingest_bytes: None,
            rss_after_settle_bytes: None,
            rss_bytes_per_series: None,
            series_counted: None,
        };
        if let Err(e) = bench_one(kind, &config, work.path(), &client, &mut result).await {
            eprintln!("  {} failed: {e:#}", kind.name());
            result.failure = Some(format!("{e:#}"));
        }
        let ingest_ok = result
            .ingest
            .as_ref()
            .is_some_and(|i| i.requests_failed == 0 && !i.deadline_hit);
        all_ok &= result.failure.is_none() && ingest_ok;
        results.push(result);
    }
    let report = CardinalityReport {
        benchmark: "cardinality",
        series: config.series,
        minutes: config.minutes,
        interval_s: config.interval_s,
        seed: config.seed,
        results,
    };
    println!("{}", render(&report));
    if let Some(out) = &config.out {
        write_json(out, &report)?;
    }
    Ok((report, all_ok))
}

async fn bench_one(
    kind: SystemKind,
    config: &CardinalityConfig,
    work: &std::path::Path,
    client: &reqwest::Client,
    result: &mut CardinalityResult,
) -> Result<()> {
    let end_ms = rounded_now_ms(config.interval_s);
    let (series, minutes, interval_s, seed) = (
        config.series,
        config.minutes,
        config.interval_s,
        config.seed,
    );
    let built = Instant::now();
    let dataset = tokio::task::spawn_blocking(move || {
        Dataset::encode(series, |on| {
            pods(series, minutes, interval_s, seed, end_ms, on)
        })
    })
    .await?;
    let scrapes = &dataset.scrapes;
    result.samples = scrapes.samples_total;
    eprintln!(
        "  {} series built in {:.1} s ({} samples, {:.0} label bytes per series)",
        scrapes.series_count(),
        built.elapsed().as_secs_f64(),
        scrapes.samples_total,
        scrapes.label_bytes_total as f64 / scrapes.series_count().max(1) as f64
    );

    let mut system = RunningSystem::start(kind, &config.bins, work)?;
    let ready = system.wait_ready(client).await?;
    eprintln!(
        "  ready in {:.1} s on {} (pid {})",
        ready.as_secs_f64(),
        system.http,
        system.child.pid().unwrap_or(0)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_start = system.rss_bytes()?;
    result.rss_start_bytes = Some(rss_start);

    let (tx, rx) = std::sync::mpsc::sync_channel::<EncodedRequest>(GENERATED_REQUESTS_QUEUED_MAX);
    let batch = config.batch;
    let generator = std::thread::spawn(move || {
        let mut dataset = dataset;
        let mut open = true;
        encode_dataset(&mut dataset, batch, |r| {
            if open && tx.send(r).is_err() {
                open = false;
            }
        });
    });
    let stats = replay(
        client.clone(),
        system.url("/api/v1/write"),
        rx.into_iter(),
        config.limits,
    )
    .await?;
    generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))?;
    crate::process::check_alive(&mut system.child)?;
    let rss_after = system.rss_bytes()?;
    result.rss_after_ingest_bytes = Some(rss_after);
    result.rss_bytes_per_series =
        Some(rss_after.saturating_sub(rss_start) as f64 / config.series.max(1) as f64);
    if stats.samples_sent_ok < result.samples {
        eprintln!(
            "  warning: only {} of {} samples acknowledged",
            stats.samples_sent_ok, result.samples
        );
    }
    eprintln!(
        "  ingest: {:.0} samples/s, RSS {} -> {} ({:.0} bytes per series)",
        stats.samples_per_s,
        mib(rss_start as f64),
        mib(rss_after as f64),
        result.rss_bytes_per_series.unwrap_or(0.0)
    );
    result.ingest = Some(stats);
    tokio::time::sleep(Duration::from_millis(SETTLE_AFTER_INGEST_MS)).await;
    result.rss_after_settle_bytes = system.rss_bytes().ok();
    result.series_counted = count_series(client, &system, end_ms / 1000).await;
    crate::process::stop(&mut system.child);
    if !config.keep_data {
        let _ = std::fs::remove_dir_all(&system.data_dir);
    }
    Ok(())
}

/// `count({job="kubelet"})` at `end_s`, if the system answers it.
async fn count_series(client: &reqwest::Client, system: &RunningSystem, end_s: i64) -> Option<u64> {
    let resp = client
        .get(system.url("/api/v1/query"))
        .query(&[
            ("query", "count({job=\"kubelet\"})".to_string()),
            ("time", end_s.to_string()),
        ])
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .ok()?;
    let json: serde_json::Value = resp.json().await.ok()?;
    json["data"]["result"][0]["value"][1]
        .as_str()?
        .parse::<f64>()
        .ok()
        .map(|v| v as u64)
}

fn render(report: &CardinalityReport) -> String {
    let mut out = format!(
        "\nCardinality: {} unique pod/container series x {} min at {} s\n\n{:<16} | {:>17} | {:>12} | {:>12} | {:>12} | {:>16} | {:>10}\n",
        report.series,
        report.minutes,
        report.interval_s,
        "system",
        "ingest samples/s",
        "RSS start",
        "RSS after",
        "RSS settled",
        "bytes/series",
        "counted"
    );
    out.push_str(&format!("{}\n", "-".repeat(112)));
    for r in &report.results {
        out.push_str(&format!(
            "{:<16} | {:>17} | {:>12} | {:>12} | {:>12} | {:>16} | {:>10}\n",
            r.system.name(),
            r.ingest
                .as_ref()
                .map_or("-".to_string(), |i| format!("{:.0}", i.samples_per_s)),
            r.rss_start_bytes.map_or("-".to_string(), |v| mib(v as f64)),
            r.rss_after_ingest_bytes
                .map_or("-".to_string(), |v| mib(v as f64)),
            r.rss_after_settle_bytes
                .map_or("-".to_string(), |v| mib(v as f64)),
            r.rss_bytes_per_series
                .map_or("-".to_string(), |v| format!("{v:.0}")),
            r.series_counted.map_or("-".to_string(), |v| v.to_string()),
        ));
        if let Some(f) = &r.failure {
            out.push_str(&format!("  {} FAILED: {f}\n", r.system.name()));
        }
        if let Some(i) = &r.ingest {
            for e in &i.errors {
                out.push_str(&format!("  {} ingest error: {e}\n", r.system.name()));
            }
        }
    }
    out
}
