//! `tidemark-bench ingest`: the same dataset (node-exporter hosts, by default each with an HTTP
//! application's request histograms) replayed into each system in turn, then memory, disk and
//! query latency measured and printed side by side.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tidemark_testkit::dataset::{self as generator, SeriesLabels, fleet, node_exporter};

use crate::batch::{BatchConfig, EncodedRequest, encode_dataset};
use crate::dataset::Dataset;
use crate::queries::{QuerySpec, app_queries, node_exporter_queries, run_queries};
use crate::report::{DatasetInfo, IngestReport, SystemResult, mismatches, ratios, render_ingest};
use crate::sender::{SendLimits, replay};
use crate::systems::{Binaries, RunningSystem, SystemKind};

/// The dataset an ingest run replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestDataset {
    /// Node-exporter hosts, each also running an HTTP application with classic request
    /// histograms (`tidemark_testkit::dataset::fleet`).
    Fleet,
    /// Node-exporter hosts alone (`tidemark_testkit::dataset::node_exporter`), the dataset of
    /// the figures before the application was added; the application's queries are left out.
    NodeExporter,
}

impl IngestDataset {
    /// `series` series over `hours` at `interval_s` ending at `end_ms`, labels to `on_series`.
    pub fn generate(
        self,
        series: usize,
        hours: f64,
        interval_s: u32,
        seed: u64,
        end_ms: i64,
        on_series: &mut dyn FnMut(&SeriesLabels),
    ) -> generator::Dataset {
        match self {
            IngestDataset::Fleet => fleet(series, hours, interval_s, seed, end_ms, on_series),
            IngestDataset::NodeExporter => {
                node_exporter(series, hours, interval_s, seed, end_ms, on_series)
            }
        }
    }

    /// The dashboard queries this dataset answers.
    pub fn queries(self, hours: f64) -> Vec<QuerySpec> {
        let mut queries = node_exporter_queries(hours);
        if self == IngestDataset::Fleet {
            queries.extend(app_queries(hours));
        }
        queries
    }
}

/// Parameters of an ingest run (from the command line).
pub struct IngestConfig {
    pub systems: Vec<SystemKind>,
    pub bins: Binaries,
    pub dataset: IngestDataset,
    pub series: usize,
    pub hours: f64,
    pub interval_s: u32,
    pub seed: u64,
    pub batch: BatchConfig,
    pub limits: SendLimits,
    pub query_runs: u32,
    /// Timed refreshes of each range query with results caches on (0: none).
    pub refresh_runs: u32,
    pub work_dir: Option<PathBuf>,
    pub keep_data: bool,
    pub out: Option<PathBuf>,
}

/// "Now" rounded down to the interval, in ms: the end of every generated dataset.
pub fn rounded_now_ms(interval_s: u32) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let interval_ms = i64::from(interval_s) * 1000;
    now / interval_ms * interval_ms
}

/// A fresh working directory for data dirs and logs (removed on drop unless kept).
pub fn work_dir(base: Option<&PathBuf>, keep: bool) -> Result<tempfile::TempDir> {
    let base = base.cloned().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)?;
    let dir = tempfile::Builder::new()
        .prefix("tidemark-bench-")
        .disable_cleanup(keep)
        .tempdir_in(&base)
        .with_context(|| format!("create work dir in {}", base.display()))?;
    Ok(dir)
}

/// Runs the benchmark; returns the report and whether every system completed without errors.
pub async fn run(config: IngestConfig) -> Result<(IngestReport, bool)> {
    let end_ms = rounded_now_ms(config.interval_s);
    eprintln!(
        "generating {} series of the {:?} dataset x {} h at {} s (seed {}) ...",
        config.series, config.dataset, config.hours, config.interval_s, config.seed
    );
    let started = Instant::now();
    let (dataset, series, hours, interval_s, seed, batch) = (
        config.dataset,
        config.series,
        config.hours,
        config.interval_s,
        config.seed,
        config.batch,
    );
    let (dataset_info, requests) = tokio::task::spawn_blocking(move || {
        let mut ds = Dataset::encode(series, |on| {
            dataset.generate(series, hours, interval_s, seed, end_ms, on)
        });
        let information = ds.scrapes.information();
        let mut requests: Vec<EncodedRequest> = Vec::new();
        encode_dataset(&mut ds, batch, |r| requests.push(r));
        let info = DatasetInfo {
            kind: ds.scrapes.kind,
            seed: ds.scrapes.seed,
            series: ds.scrapes.series_count(),
            samples: ds.scrapes.samples_total,
            start_ms: ds.scrapes.start_ms,
            end_ms: ds.scrapes.end_ms,
            interval_s: ds.scrapes.interval_ms as f64 / 1000.0,
            steps: ds.scrapes.steps,
            requests: requests.len(),
            shards: batch.shards,
            batch_samples_max: batch.batch_samples_max,
            compressed_bytes: requests.iter().map(|r| r.body.len() as u64).sum(),
            uncompressed_bytes: requests.iter().map(|r| u64::from(r.raw_bytes)).sum(),
            generate_encode_s: 0.0,
            information_bytes_per_sample: information.bytes_per_sample(),
            information_per_series_bytes_per_sample: information.per_series_bytes_per_sample(),
        };
        (info, requests)
    })
    .await?;
    if let Some(first) = requests.first() {
        let (series, samples) = crate::remote_write::decode_counts(&first.body)
            .map_err(|e| anyhow::anyhow!("encoder self-check: {e}"))?;
        anyhow::ensure!(
            series == first.samples as usize && samples == series,
            "encoder self-check: {series} series / {samples} samples decoded, {} encoded",
            first.samples
        );
    }
    let mut dataset_info = dataset_info;
    dataset_info.generate_encode_s = started.elapsed().as_secs_f64();
    eprintln!(
        "  {} samples in {} requests ({:.1} MiB compressed) in {:.1} s",
        dataset_info.samples,
        dataset_info.requests,
        dataset_info.compressed_bytes as f64 / 1_048_576.0,
        dataset_info.generate_encode_s
    );
    let requests = Arc::new(requests);
    let queries = config.dataset.queries(config.hours);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .context("HTTP client")?;
    let work = work_dir(config.work_dir.as_ref(), config.keep_data)?;
    eprintln!("work dir: {}", work.path().display());

    let mut results = Vec::new();
    let mut all_ok = true;
    for &kind in &config.systems {
        eprintln!("\n== {} ==", kind.name());
        let mut result = SystemResult::new(kind);
        let outcome = bench_one(
            kind,
            &config,
            work.path(),
            &client,
            requests.clone(),
            &queries,
            dataset_info.end_ms / 1000,
            &mut result,
        )
        .await;
        if let Err(e) = outcome {
            eprintln!("  {} failed: {e:#}", kind.name());
            result.failure = Some(format!("{e:#}"));
        }
        result.summarize_queries();
        let ingest_failed = result
            .ingest
            .as_ref()
            .is_none_or(|i| i.requests_failed > 0 || i.deadline_hit);
        if result.failure.is_some()
            || ingest_failed
            || result.query_failures > 0
            || !result.errors.is_empty()
        {
            all_ok = false;
        }
        results.push(result);
    }

    let report = IngestReport {
        benchmark: "ingest",
        dataset: dataset_info,
        query_runs: config.query_runs,
        ratios: ratios(&results),
        mismatches: mismatches(&results),
        systems: results,
    };
    println!("{}", render_ingest(&report));
    if let Some(out) = &config.out {
        write_json(out, &report)?;
    }
    Ok((report, all_ok))
}

/// The share of range query steps Tidemark's results cache answered, from its `/metrics`.
async fn results_cache_hit_rate(client: &reqwest::Client, system: &RunningSystem) -> Option<f64> {
    let text = client
        .get(system.query_url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let steps = |source: &str| -> Option<f64> {
        let prefix = format!("tidemark_query_results_cache_steps_total{{source=\"{source}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))?
            .trim()
            .parse()
            .ok()
    };
    let (cached, evaluated) = (steps("cache")?, steps("evaluation")?);
    (cached + evaluated > 0.0).then(|| cached / (cached + evaluated))
}

/// Writes `value` as pretty JSON to `path`, creating parent directories.
pub fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("write {}", path.display()))?;
    eprintln!("results written to {}", path.display());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn bench_one(
    kind: SystemKind,
    config: &IngestConfig,
    work: &std::path::Path,
    client: &reqwest::Client,
    requests: Arc<Vec<EncodedRequest>>,
    queries: &[QuerySpec],
    end_s: i64,
    result: &mut SystemResult,
) -> Result<()> {
    let mut system = RunningSystem::start(kind, &config.bins, work)?;
    let ready = system.wait_ready(client).await?;
    result.ready_s = Some(ready.as_secs_f64());
    eprintln!(
        "  ready in {:.1} s on {} (pid {})",
        ready.as_secs_f64(),
        system.http,
        system.child.pid().unwrap_or(0)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    result.rss_before_ingest_bytes = system.rss_bytes().ok();
    let cpu_before = system.cpu_seconds().ok();

    let n = requests.len();
    let source = (0..n).map(move |i| requests[i].clone());
    let stats = replay(
        client.clone(),
        system.url("/api/v1/write"),
        source,
        config.limits,
    )
    .await?;
    crate::process::check_alive(&mut system.child)?;
    result.rss_after_ingest_bytes = Some(system.rss_bytes()?);
    if let (Some(before), Ok(after)) = (cpu_before, system.cpu_seconds()) {
        result.ingest_cpu_s = Some(after - before);
    }
    eprintln!(
        "  ingest: {} samples in {:.1} s = {:.0} samples/s, {} failed requests, RSS {:.1} MiB",
        stats.samples_sent_ok,
        stats.wall_s,
        stats.samples_per_s,
        stats.requests_failed,
        result.rss_after_ingest_bytes.unwrap_or(0) as f64 / 1_048_576.0
    );
    let samples_ok = stats.samples_sent_ok;
    result.ingest = Some(stats);

    // A failed flush is reported, and the queries still run (the disk is then not measured).
    let plan = match system.flush(client).await {
        Ok(plan) => Some(plan),
        Err(e) => {
            eprintln!("  flush failed: {e:#}");
            result.errors.push(format!("flush: {e:#}"));
            None
        }
    };
    result.queries = run_queries(
        client,
        &system.query_url(""),
        queries,
        end_s,
        config.query_runs,
    )
    .await;
    crate::process::check_alive(&mut system.child)?;
    crate::queries::log_results(&result.queries);
    if config.refresh_runs > 0 {
        result.refreshes = crate::queries::run_refreshes(
            client,
            &system.query_url(""),
            queries,
            end_s,
            config.refresh_runs,
        )
        .await;
        crate::process::check_alive(&mut system.child)?;
        if matches!(kind, SystemKind::Tidemark | SystemKind::TidemarkRf3) {
            result.results_cache_hit_rate = results_cache_hit_rate(client, &system).await;
        }
    }

    if let Some(plan) = plan {
        let disk = system.measure_disk(plan).await?;
        if samples_ok > 0 {
            result.bytes_per_sample = Some(disk.data_bytes as f64 / samples_ok as f64);
        }
        eprintln!(
            "  disk: {:.1} MiB ({:.3} bytes/sample), data dir {:.1} MiB",
            disk.data_bytes as f64 / 1_048_576.0,
            result.bytes_per_sample.unwrap_or(0.0),
            disk.dir_bytes as f64 / 1_048_576.0
        );
        result.disk = Some(disk);
    }
    crate::process::stop(&mut system.child);
    if !config.keep_data {
        let _ = std::fs::remove_dir_all(&system.data_dir);
    }
    Ok(())
}
