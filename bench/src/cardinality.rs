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
/// Time the system gets after its flush before its memory is read again (background work, GC).
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
    /// User + system CPU seconds of the server process during ingest: on a machine whose
    /// cores are shared with other guests (steal time), CPU per sample moves far less than
    /// samples/s.
    pub ingest_cpu_s: Option<f64>,
    /// RSS a few seconds after the system's buffers were flushed (`flushed_with`): memory as it
    /// stands between two of the system's own flushes.
    pub rss_after_settle_bytes: Option<u64>,
    /// (RSS after ingest - RSS at start) / series.
    pub rss_bytes_per_series: Option<f64>,
    /// (RSS settled - RSS at start) / series.
    pub rss_settled_bytes_per_series: Option<f64>,
    /// What was asked of the system before the settled reading.
    pub flushed_with: Option<&'static str>,
    /// `count({job="kubelet"})` at the end, to check every series arrived.
    pub series_counted: Option<u64>,
    /// Tidemark's own account of its memory after settling (`/api/v1/status/tsdb`'s
    /// `memory`), to set beside the RSS.
    pub memory_split: Option<serde_json::Value>,
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
            ingest_cpu_s: None,
            rss_after_settle_bytes: None,
            rss_bytes_per_series: None,
            rss_settled_bytes_per_series: None,
            flushed_with: None,
            series_counted: None,
            memory_split: None,
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
    let end_ms = end_within_one_block(
        rounded_now_ms(config.interval_s),
        config.minutes,
        i64::from(config.interval_s) * 1000,
    );
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
    let cpu_before = system.cpu_seconds().ok();

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
    if let (Some(before), Ok(after)) = (cpu_before, system.cpu_seconds()) {
        result.ingest_cpu_s = Some(after - before);
    }
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
        "  ingest: {:.0} samples/s, {} CPU per sample, RSS {} -> {} ({:.0} bytes per series)",
        stats.samples_per_s,
        cpu_per_sample(result.ingest_cpu_s, stats.samples_sent_ok),
        mib(rss_start as f64),
        mib(rss_after as f64),
        result.rss_bytes_per_series.unwrap_or(0.0)
    );
    result.ingest = Some(stats);
    result.flushed_with = Some(system.flush_buffers(client).await?);
    tokio::time::sleep(Duration::from_millis(SETTLE_AFTER_INGEST_MS)).await;
    result.rss_after_settle_bytes = system.rss_bytes().ok();
    result.rss_settled_bytes_per_series = result
        .rss_after_settle_bytes
        .map(|r| r.saturating_sub(rss_start) as f64 / config.series.max(1) as f64);
    if kind == SystemKind::Tidemark {
        result.memory_split = memory_split(client, &system).await;
    }
    result.series_counted = count_series(client, &system, end_ms / 1000).await;
    crate::process::stop(&mut system.child);
    if !config.keep_data {
        let _ = std::fs::remove_dir_all(&system.data_dir);
    }
    Ok(())
}

/// Two hours, the block of Prometheus' head and Tidemark's default partition, aligned to the
/// epoch as both align them.
const BLOCK_MS: i64 = 2 * 3600 * 1000;

/// `now_ms`, or the last scrape (`interval_ms` apart) before the start of its 2-hour block when
/// `minutes` before `now_ms` lie in the previous one: a run whose data crosses the boundary
/// holds every series twice in some systems (two partitions' postings and chunks) and once in
/// others, and its figures compare with nothing. (The data ends at the end time inclusive.)
fn end_within_one_block(now_ms: i64, minutes: f64, interval_ms: i64) -> i64 {
    let span_ms = (minutes * 60_000.0) as i64;
    let block_start = now_ms - now_ms.rem_euclid(BLOCK_MS);
    if span_ms < BLOCK_MS && now_ms - span_ms < block_start {
        block_start - interval_ms
    } else {
        now_ms
    }
}

/// The `memory` object of Tidemark's `/api/v1/status/tsdb`.
async fn memory_split(
    client: &reqwest::Client,
    system: &RunningSystem,
) -> Option<serde_json::Value> {
    let resp = client
        .get(system.url("/api/v1/status/tsdb"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .ok()?;
    let json: serde_json::Value = resp.json().await.ok()?;
    Some(json["data"]["memory"].clone())
}

/// One line of a memory split: each figure of `memory` (nested objects flattened) in MiB.
fn render_split(memory: &serde_json::Value) -> String {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, v, out);
                }
            }
            serde_json::Value::Number(n) => {
                // Byte figures in MiB, counts as they are.
                match n.as_f64() {
                    Some(b) if prefix.ends_with("Bytes") => {
                        out.push(format!("{prefix} {}", mib(b)))
                    }
                    _ => out.push(format!("{prefix} {n}")),
                }
            }
            _ => {}
        }
    }
    let mut parts = Vec::new();
    walk("", memory, &mut parts);
    parts.join(", ")
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

/// CPU microseconds per acknowledged sample, `-` when unknown.
fn cpu_per_sample(cpu_s: Option<f64>, samples: u64) -> String {
    match cpu_s {
        Some(cpu) if samples > 0 => format!("{:.2} us", cpu * 1e6 / samples as f64),
        _ => "-".to_string(),
    }
}

fn render(report: &CardinalityReport) -> String {
    let mut out = format!(
        "\nCardinality: {} unique pod/container series x {} min at {} s (settled: after the \
         system's flush and {} s)\n\n{:<16} | {:>17} | {:>10} | {:>12} | {:>12} | {:>12} | {:>14} | {:>14} | {:>10}\n",
        report.series,
        report.minutes,
        report.interval_s,
        SETTLE_AFTER_INGEST_MS / 1000,
        "system",
        "ingest samples/s",
        "CPU/sample",
        "RSS start",
        "RSS after",
        "RSS settled",
        "B/series after",
        "B/series settl",
        "counted"
    );
    out.push_str(&format!("{}\n", "-".repeat(142)));
    let per_series = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    for r in &report.results {
        out.push_str(&format!(
            "{:<16} | {:>17} | {:>10} | {:>12} | {:>12} | {:>12} | {:>14} | {:>14} | {:>10}\n",
            r.system.name(),
            r.ingest
                .as_ref()
                .map_or("-".to_string(), |i| format!("{:.0}", i.samples_per_s)),
            cpu_per_sample(
                r.ingest_cpu_s,
                r.ingest.as_ref().map_or(0, |i| i.samples_sent_ok)
            ),
            r.rss_start_bytes.map_or("-".to_string(), |v| mib(v as f64)),
            r.rss_after_ingest_bytes
                .map_or("-".to_string(), |v| mib(v as f64)),
            r.rss_after_settle_bytes
                .map_or("-".to_string(), |v| mib(v as f64)),
            per_series(r.rss_bytes_per_series),
            per_series(r.rss_settled_bytes_per_series),
            r.series_counted.map_or("-".to_string(), |v| v.to_string()),
        ));
        if let Some(m) = &r.memory_split {
            out.push_str(&format!(
                "  {} memory: {}\n",
                r.system.name(),
                render_split(m)
            ));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_ends_where_its_data_stays_in_one_block() {
        let block = 7 * BLOCK_MS;
        // 40 minutes into a block: 30 minutes fit, an hour does not.
        let now = block + 40 * 60_000;
        assert_eq!(end_within_one_block(now, 30.0, 15_000), now);
        assert_eq!(end_within_one_block(now, 60.0, 15_000), block - 15_000);
        // Runs longer than a block cross one anyway.
        assert_eq!(end_within_one_block(now, 180.0, 15_000), now);
    }
}
