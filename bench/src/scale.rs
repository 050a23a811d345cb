//! `tidemark-bench scale`: one Tidemark node under live remote write for hours (by default a
//! million series of the fleet dataset for 24 h at 15 s), read every `--report-every-min`:
//! ingest rate and how late the stream ran, RSS, CPU, data-directory bytes (and per sample
//! acknowledged), series held, shard flushes, the part of them that paused the shard's applies,
//! and seal applies (count, mean, the bucket bound of the slowest, from the node's own
//! histograms) and dashboard query latency over the last hour.
//! Rates, CPU and histograms cover the time from the end of one reading's queries to the start
//! of the next reading: what ingest and the node's own work cost, without the queries.
//! Each reading is printed as a line and the whole report rewritten to `--out`, so that a run cut
//! short keeps what it measured. Not part of CI: the figures go to the benchmark README.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::batch::BatchConfig;
use crate::dataset::Dataset;
use crate::exposition::{label, parse_sample};
use crate::ingest::{IngestDataset, work_dir, write_json};
use crate::live::{LiveProgress, LiveStream, wall_ms};
use crate::queries::{QuerySpec, quantile, run_queries};
use crate::report::mib;
use crate::sender::{Counters, SendLimits, SendStats, replay_counted};
use crate::systems::{Binaries, RunningSystem, SystemKind};

/// A shard's batch goes out at the latest this long after its first sample (Prometheus'
/// `batch_send_deadline`).
const BATCH_SEND_DEADLINE_MS: u64 = 5_000;
/// Timed executions of each dashboard query per reading.
const QUERY_RUNS: u32 = 3;

/// Parameters of a scale run (from the command line).
pub struct ScaleConfig {
    pub bins: Binaries,
    pub dataset: IngestDataset,
    pub series: usize,
    pub hours: f64,
    pub interval_s: u32,
    pub seed: u64,
    pub report_every: Duration,
    pub batch: BatchConfig,
    pub limits: SendLimits,
    pub work_dir: Option<PathBuf>,
    pub keep_data: bool,
    pub out: Option<PathBuf>,
}

/// One reading, covering the time since the previous one.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Reading {
    pub elapsed_s: f64,
    pub samples_acked: u64,
    /// Samples acknowledged per second since the previous reading.
    pub ingest_samples_per_s: f64,
    /// The latest a live sample was handed to the senders after its timestamp since the previous
    /// reading (the system or the generator not keeping up shows here).
    pub stream_lateness_ms_max: i64,
    /// Requests given up and retried since the start.
    pub requests_failed: u64,
    pub retries: u64,
    pub rss_bytes: u64,
    /// CPU seconds per second since the previous reading's queries ended.
    pub cpu_cores: f64,
    pub disk_bytes: u64,
    pub disk_bytes_per_sample: f64,
    pub series: Option<u64>,
    pub flushes: Durations,
    /// The part of each flush during which the shard's applies waited.
    pub flush_pauses: Durations,
    pub seal_applies: Durations,
    pub query_median_ms: Option<f64>,
    pub query_p90_ms: Option<f64>,
    pub query_errors: Vec<String>,
}

/// Observations of one of the node's duration histograms since the previous reading.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Durations {
    pub count: u64,
    pub mean_s: Option<f64>,
    /// The upper bound of the bucket the slowest observation fell in.
    pub max_bucket_s: Option<f64>,
}

/// The JSON document of a scale run.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleReport {
    pub benchmark: &'static str,
    pub dataset: String,
    pub series: usize,
    pub hours: f64,
    pub interval_s: u32,
    pub seed: u64,
    pub readings: Vec<Reading>,
    pub ingest: Option<SendStats>,
    pub failure: Option<String>,
}

pub async fn run(config: ScaleConfig) -> Result<(ScaleReport, bool)> {
    let client = reqwest::Client::builder().build().context("HTTP client")?;
    let work = work_dir(config.work_dir.as_ref(), config.keep_data)?;
    eprintln!("work dir: {}", work.path().display());
    let mut report = ScaleReport {
        benchmark: "scale",
        dataset: format!("{:?}", config.dataset),
        series: config.series,
        hours: config.hours,
        interval_s: config.interval_s,
        seed: config.seed,
        readings: Vec::new(),
        ingest: None,
        failure: None,
    };
    if let Err(e) = run_one(&config, work.path(), &client, &mut report).await {
        eprintln!("scale run failed: {e:#}");
        report.failure = Some(format!("{e:#}"));
    }
    if let Some(out) = &config.out {
        write_json(out, &report)?;
    }
    let ok = report.failure.is_none()
        && report
            .ingest
            .as_ref()
            .is_some_and(|i| i.requests_failed == 0);
    Ok((report, ok))
}

async fn run_one(
    config: &ScaleConfig,
    work: &Path,
    client: &reqwest::Client,
    report: &mut ScaleReport,
) -> Result<()> {
    let mut system = RunningSystem::start(SystemKind::Tidemark, &config.bins, work)?;
    system.wait_ready(client).await?;
    // Every scrape lies ahead: the first is one interval from now.
    let interval_ms = i64::from(config.interval_s) * 1000;
    let end_ms = (wall_ms() / interval_ms + 1) * interval_ms + (config.hours * 3.6e6) as i64;
    let (kind, series, hours, interval_s, seed) = (
        config.dataset,
        config.series,
        config.hours,
        config.interval_s,
        config.seed,
    );
    let built = Instant::now();
    let dataset = tokio::task::spawn_blocking(move || {
        Dataset::encode(series, |on| {
            kind.generate(series, hours, interval_s, seed, end_ms, on)
        })
    })
    .await?;
    eprintln!(
        "  {} series built in {:.1} s; {:.1} h live at {} s",
        dataset.scrapes.series_count(),
        built.elapsed().as_secs_f64(),
        hours,
        interval_s
    );
    let stream = LiveStream::start(dataset, config.batch, BATCH_SEND_DEADLINE_MS);
    let progress = stream.progress();
    let (requests, stop, pacer) = stream.into_parts();
    let counters = Arc::new(Counters::default());
    let limits = SendLimits {
        deadline_ms: (config.hours * 3.6e6) as u64 + 600_000,
        progress_interval_ms: 0,
        ..config.limits
    };
    let sender = tokio::spawn(replay_counted(
        client.clone(),
        system.url("/api/v1/write"),
        requests.into_iter(),
        limits,
        counters.clone(),
    ));

    let queries = config.dataset.queries(1.0);
    let started = Instant::now();
    let mut last = Snapshot::take(&system, &counters, client).await;
    let mut next = started + config.report_every;
    println!("{}", header());
    while !sender.is_finished() {
        tokio::time::sleep_until(next.into()).await;
        next += config.report_every;
        crate::process::check_alive(&mut system.child)?;
        let now = Snapshot::take(&system, &counters, client).await;
        let reading = read(&system, client, &queries, &last, &now, started, &progress).await;
        println!("{}", line(&reading));
        report.readings.push(reading);
        if let Some(out) = &config.out {
            write_json(out, report)?;
        }
        // The next reading's rates start after this one's queries: CPU, ingest and the
        // histograms are those of ingest (and the node's own work), not of the queries.
        last = Snapshot::take(&system, &counters, client).await;
        if started.elapsed().as_secs_f64() >= config.hours * 3600.0 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    report.ingest = Some(sender.await??);
    tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("stream thread panicked"))?;
    crate::process::check_alive(&mut system.child)?;
    crate::process::stop(&mut system.child);
    if !config.keep_data {
        let _ = std::fs::remove_dir_all(&system.data_dir);
    }
    Ok(())
}

/// The cumulative figures a reading is the difference of.
struct Snapshot {
    at: Instant,
    samples_acked: u64,
    requests_failed: u64,
    retries: u64,
    cpu_s: f64,
    metrics: String,
}

impl Snapshot {
    async fn take(system: &RunningSystem, counters: &Counters, client: &reqwest::Client) -> Self {
        let metrics = match client
            .get(system.url("/metrics"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
        {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        Snapshot {
            at: Instant::now(),
            samples_acked: counters.samples_ok(),
            requests_failed: counters.requests_failed(),
            retries: counters.retries(),
            cpu_s: system.cpu_seconds().unwrap_or(0.0),
            metrics,
        }
    }
}

async fn read(
    system: &RunningSystem,
    client: &reqwest::Client,
    queries: &[QuerySpec],
    last: &Snapshot,
    now: &Snapshot,
    started: Instant,
    progress: &LiveProgress,
) -> Reading {
    let secs = (now.at - last.at).as_secs_f64().max(1e-3);
    let disk_bytes = crate::process::disk_usage(&system.data_dir, &[]);
    let end_s = wall_ms() / 60_000 * 60;
    let results = run_queries(client, &system.url(""), queries, end_s, QUERY_RUNS).await;
    let mut medians: Vec<f64> = results.iter().filter_map(|r| r.median_ms).collect();
    medians.sort_by(f64::total_cmp);
    let name = "tidemark_shard_flush_duration_seconds";
    let pause = "tidemark_shard_flush_pause_seconds";
    let seal = "tidemark_shard_seal_apply_duration_seconds";
    Reading {
        elapsed_s: started.elapsed().as_secs_f64(),
        samples_acked: now.samples_acked,
        ingest_samples_per_s: (now.samples_acked - last.samples_acked) as f64 / secs,
        stream_lateness_ms_max: progress.take_lateness_ms_max(),
        requests_failed: now.requests_failed,
        retries: now.retries,
        rss_bytes: system.rss_bytes().unwrap_or(0),
        cpu_cores: (now.cpu_s - last.cpu_s) / secs,
        disk_bytes,
        disk_bytes_per_sample: disk_bytes as f64 / now.samples_acked.max(1) as f64,
        series: series_held(client, system).await,
        flushes: durations(&last.metrics, &now.metrics, name),
        flush_pauses: durations(&last.metrics, &now.metrics, pause),
        seal_applies: durations(&last.metrics, &now.metrics, seal),
        query_median_ms: quantile(&medians, 0.5),
        query_p90_ms: quantile(&medians, 0.9),
        query_errors: results
            .iter()
            .filter_map(|r| Some(format!("{}: {}", r.name, r.error.as_ref()?)))
            .collect(),
    }
}

/// `headStats.numSeries` of `/api/v1/status/tsdb`.
async fn series_held(client: &reqwest::Client, system: &RunningSystem) -> Option<u64> {
    let resp = client
        .get(system.url("/api/v1/status/tsdb"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .ok()?;
    let json: serde_json::Value = resp.json().await.ok()?;
    json["data"]["headStats"]["numSeries"].as_u64()
}

/// A histogram's cumulative buckets (`le`, count), sum and count in Prometheus' text format.
#[derive(Debug, Default, PartialEq)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

fn histogram(text: &str, name: &str) -> Histogram {
    let mut h = Histogram::default();
    for (sample, labels, value) in text.lines().filter_map(parse_sample) {
        match sample.strip_prefix(name) {
            Some("_bucket") => {
                if let Some(le) = label(labels, "le").and_then(|l| l.parse::<f64>().ok()) {
                    h.buckets.push((le, value));
                }
            }
            Some("_sum") => h.sum = value,
            Some("_count") => h.count = value,
            _ => {}
        }
    }
    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    h
}

/// What `name` observed between two `/metrics` texts.
fn durations(before: &str, after: &str, name: &str) -> Durations {
    let (b, a) = (histogram(before, name), histogram(after, name));
    let count = (a.count - b.count).max(0.0);
    if count == 0.0 {
        return Durations::default();
    }
    let added = |le: f64, cumulative: f64| {
        let earlier = b.buckets.iter().find(|x| x.0 == le).map_or(0.0, |x| x.1);
        cumulative - earlier
    };
    // The first bucket that holds every observation of the period bounds the slowest one.
    let max_bucket_s = a
        .buckets
        .iter()
        .find(|&&(le, cumulative)| added(le, cumulative) >= count)
        .map(|&(le, _)| le);
    Durations {
        count: count as u64,
        mean_s: Some((a.sum - b.sum) / count),
        max_bucket_s,
    }
}

fn header() -> String {
    format!(
        "{:>7} | {:>12} | {:>8} | {:>9} | {:>10} | {:>5} | {:>10} | {:>8} | {:>9} | {:>20} | {:>20} | {:>20} | {:>14}",
        "hours",
        "samples/s",
        "late ms",
        "series",
        "RSS",
        "cores",
        "disk",
        "B/sample",
        "B/series",
        "flushes n/mean/max s",
        "pauses n/mean/max s",
        "seals n/mean/max s",
        "query med/p90"
    )
}

fn line(r: &Reading) -> String {
    let durations = |d: &Durations| {
        format!(
            "{}/{}/{}",
            d.count,
            d.mean_s.map_or("-".into(), |s| format!("{s:.3}")),
            d.max_bucket_s.map_or("-".into(), |s| if s.is_infinite() {
                "inf".to_string()
            } else {
                format!("{s:.3}")
            })
        )
    };
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let mut out = format!(
        "{:>7.2} | {:>12.0} | {:>8} | {:>9} | {:>10} | {:>5.2} | {:>10} | {:>8.3} | {:>9} | {:>20} | {:>20} | {:>20} | {:>14}",
        r.elapsed_s / 3600.0,
        r.ingest_samples_per_s,
        r.stream_lateness_ms_max,
        r.series.map_or("-".to_string(), |s| s.to_string()),
        mib(r.rss_bytes as f64),
        r.cpu_cores,
        mib(r.disk_bytes as f64),
        r.disk_bytes_per_sample,
        r.series
            .filter(|&s| s > 0)
            .map_or("-".to_string(), |s| format!(
                "{:.0}",
                r.rss_bytes as f64 / s as f64
            )),
        durations(&r.flushes),
        durations(&r.flush_pauses),
        durations(&r.seal_applies),
        format!("{}/{}", ms(r.query_median_ms), ms(r.query_p90_ms)),
    );
    for e in &r.query_errors {
        out.push_str(&format!("\n  query error: {e}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# TYPE tidemark_shard_flush_duration_seconds histogram
tidemark_shard_flush_duration_seconds_sum 0.5
tidemark_shard_flush_duration_seconds_count 4
tidemark_shard_flush_duration_seconds_bucket{le=\"0.1\"} 3
tidemark_shard_flush_duration_seconds_bucket{le=\"0.2\"} 4
tidemark_shard_flush_duration_seconds_bucket{le=\"+Inf\"} 4
tidemark_shard_seal_apply_duration_seconds_count 0
";

    #[test]
    fn durations_are_the_difference_of_two_scrapes() {
        let after = BEFORE
            .replace("_sum 0.5", "_sum 2.5")
            .replace("_count 4", "_count 8")
            .replace("le=\"0.1\"} 3", "le=\"0.1\"} 5")
            .replace("le=\"0.2\"} 4", "le=\"0.2\"} 7")
            .replace("le=\"+Inf\"} 4", "le=\"+Inf\"} 8");
        let name = "tidemark_shard_flush_duration_seconds";
        let d = durations(BEFORE, &after, name);
        // Four flushes took 2 s: two under 0.1 s, one under 0.2 s, one above.
        assert_eq!(d.count, 4);
        assert_eq!(d.mean_s, Some(0.5));
        assert_eq!(d.max_bucket_s, Some(f64::INFINITY));
        // Nothing new: no figures.
        assert_eq!(durations(&after, &after, name), Durations::default());
        // The seal histogram (a prefix of nothing else) is read on its own.
        let seal = durations(BEFORE, BEFORE, "tidemark_shard_seal_apply_duration_seconds");
        assert_eq!(seal.count, 0);
    }

    #[test]
    fn the_slowest_bucket_is_the_first_holding_every_new_observation() {
        let after = BEFORE
            .replace("_sum 0.5", "_sum 0.8")
            .replace("_count 4", "_count 6")
            .replace("le=\"0.1\"} 3", "le=\"0.1\"} 4")
            .replace("le=\"0.2\"} 4", "le=\"0.2\"} 6")
            .replace("le=\"+Inf\"} 4", "le=\"+Inf\"} 6");
        let d = durations(BEFORE, &after, "tidemark_shard_flush_duration_seconds");
        assert_eq!(d.count, 2);
        assert_eq!(d.max_bucket_s, Some(0.2));
        assert!((d.mean_s.unwrap() - 0.15).abs() < 1e-9);
    }
}
