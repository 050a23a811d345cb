//! Times the PromQL engine on the benchmark harness' dashboard queries (`bench/src/queries.rs`)
//! over an in-memory storage engine, without HTTP: what the engine itself costs.
//!
//! ```text
//! cargo run --release -p tidemark-query --example eval_bench -- [--series N] [--hours H]
//!     [--runs R] [--shards S] [--only SUBSTRING]
//! ```
//!
//! Builds a `MemEngine` with N (default 10,000) node-exporter-like series scraped every 15 s for
//! H (default 6) hours, then runs every query once to check it (series and points are printed)
//! and R (default 5) more times, printing the median wall time of those. Two `select_only:`
//! queries at the end read the data of the heaviest queries with almost no evaluation: the
//! storage engine's share of their time.

use std::sync::Arc;
use std::time::Instant;

use tidemark_query::{EngineQuerier, PromqlEngine, Value};
use tidemark_storage::{
    Command, Engine, EngineOptions, Label, Labels, MemEngine, Sample, SeriesRef, ShardId,
    WriteBatch,
};
use tidemark_testkit::dataset::{LiteDataset, node_exporter_lite};

/// Scrape interval of the dataset.
const INTERVAL_MS: i64 = 15_000;
/// Scrapes written per log entry and shard.
const STEPS_PER_WRITE: usize = 40;
/// Where the data ends (a round time, so that query steps align the same way every run).
const END_MS: i64 = 1_700_000_400_000;
/// Step of the range queries, as in the harness.
const RANGE_STEP_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// Seed of the series and their value models.
const SEED: u64 = 42;
/// Seed of the scrape-to-scrape values and restarts.
const VALUES_SEED: u64 = 7;

/// Command-line options.
struct Options {
    series: usize,
    hours: f64,
    runs: usize,
    shards: u32,
    only: Option<String>,
}

fn parse_args() -> Options {
    let mut o = Options {
        series: 10_000,
        hours: 6.0,
        runs: 5,
        shards: 4,
        only: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--series" => o.series = value.parse().expect("--series: a number"),
            "--hours" => o.hours = value.parse().expect("--hours: a number"),
            "--runs" => o.runs = value.parse().expect("--runs: a number"),
            "--shards" => o.shards = value.parse().expect("--shards: a number"),
            "--only" => o.only = Some(value.clone()),
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

/// Generates the dataset and writes it through the engine's log commands, shard by label hash.
fn load(o: &Options) -> Arc<MemEngine> {
    let engine = Arc::new(MemEngine::new(EngineOptions::default()));
    let (mut ds, labels) = dataset(o.series);
    let steps = steps(o.hours);
    let start_ms = END_MS - steps as i64 * INTERVAL_MS;
    let shard_of: Vec<ShardId> = labels.iter().map(|l| l.shard(o.shards)).collect();
    let mut refs: Vec<Option<SeriesRef>> = vec![None; labels.len()];
    let mut index = vec![0u64; o.shards as usize];
    // Per series, the samples of the scrapes not yet written.
    let mut pending: Vec<Vec<Sample>> = vec![Vec::new(); labels.len()];
    for step in 0..steps {
        ds.scrape(start_ms, step as u32, |s, t, v| {
            pending[s as usize].push(Sample::new(t, v))
        });
        if !(step + 1).is_multiple_of(STEPS_PER_WRITE) && step + 1 != steps {
            continue;
        }
        for shard in 0..o.shards {
            let mut batch = WriteBatch::default();
            for s in (0..labels.len()).filter(|&s| shard_of[s] == shard) {
                let r = *refs[s].get_or_insert_with(|| {
                    batch.new_series.push(labels[s].clone());
                    SeriesRef::New(batch.new_series.len() as u32 - 1)
                });
                batch.samples.push((r, std::mem::take(&mut pending[s])));
            }
            index[shard as usize] += 1;
            engine
                .apply(shard, index[shard as usize], &Command::Write(batch))
                .expect("apply");
        }
        // Series created by this entry are referred to by id from now on.
        for (s, r) in refs.iter_mut().enumerate() {
            if let Some(SeriesRef::New(_)) = r {
                let id = engine.series_id(shard_of[s], &labels[s]).expect("created");
                *r = Some(SeriesRef::Id(id));
            }
        }
    }
    engine
}

/// The node-exporter-like series (`tidemark_testkit::dataset::node_exporter_lite`) and their
/// labels as storage label sets.
fn dataset(series: usize) -> (LiteDataset, Vec<Labels>) {
    let mut labels = Vec::with_capacity(series);
    let ds = node_exporter_lite(series, INTERVAL_MS, SEED, VALUES_SEED, |pairs| {
        labels.push(Labels::new(
            pairs.iter().map(|(n, v)| Label::new(n, v)).collect(),
        ))
    });
    (ds, labels)
}

/// Scrapes in `hours` of data.
fn steps(hours: f64) -> usize {
    (hours * HOUR_MS as f64 / INTERVAL_MS as f64).round() as usize
}

/// Instant (at the end of the data) or range (the last `window_ms` at 60 s steps).
#[derive(Clone, Copy)]
enum Kind {
    Instant,
    Range { window_ms: i64 },
}

/// The harness' node-exporter query set (`bench/src/queries.rs`), 6 h queries clamped to the data.
fn queries(hours: f64) -> Vec<(&'static str, &'static str, Kind)> {
    let long = ((hours * HOUR_MS as f64) as i64).clamp(HOUR_MS, 6 * HOUR_MS);
    let hour = Kind::Range { window_ms: HOUR_MS };
    let long = Kind::Range { window_ms: long };
    vec![
        (
            "cpu_busy_by_instance_1h",
            r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
            hour,
        ),
        (
            "cpu_by_mode_6h",
            "avg by (mode) (rate(node_cpu_seconds_total[5m]))",
            long,
        ),
        (
            "cpu_util_pct_1h",
            r#"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))"#,
            hour,
        ),
        (
            "topk_net_rx_1h",
            "topk(10, rate(node_network_receive_bytes_total[5m]))",
            hour,
        ),
        (
            "disk_write_by_device_6h",
            "sum by (device) (rate(node_disk_written_bytes_total[5m]))",
            long,
        ),
        (
            "load1_avg_over_time_1h",
            "avg_over_time(node_load1[5m])",
            hour,
        ),
        (
            "raw_mem_available_one_host_6h",
            r#"node_memory_MemAvailable_bytes{instance="host-00001:9100"}"#,
            long,
        ),
        (
            "mem_used_ratio_by_pool_6h",
            "avg by (pool) (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
            long,
        ),
        (
            "fs_avail_ratio",
            r#"node_filesystem_avail_bytes{fstype!="tmpfs"} / node_filesystem_size_bytes"#,
            Kind::Instant,
        ),
        (
            "load5_max_over_time_1h",
            "max_over_time(node_load5[1h])",
            Kind::Instant,
        ),
        (
            "net_tx_increase_1h",
            "increase(node_network_transmit_bytes_total[1h])",
            Kind::Instant,
        ),
        (
            "targets_count_by_pool",
            "count by (pool) (node_load1)",
            Kind::Instant,
        ),
        (
            "raw_cpu_one_host_5m",
            r#"node_cpu_seconds_total{instance="host-00003:9100", cpu="0"}[5m]"#,
            Kind::Instant,
        ),
        (
            "bottomk_fs_avail",
            r#"bottomk(5, node_filesystem_avail_bytes{mountpoint="/"})"#,
            Kind::Instant,
        ),
        (
            "fs_fill_forecast_6h",
            r#"predict_linear(node_filesystem_avail_bytes{fstype!="tmpfs"}[1h], 4 * 3600)"#,
            long,
        ),
        // Not in the harness: the data of the two heaviest queries read with next to no
        // evaluation, to tell the storage's share of their time from the engine's.
        (
            "select_only:cpu_busy_1h",
            r#"count_over_time(node_cpu_seconds_total{mode!="idle"}[65m])"#,
            Kind::Instant,
        ),
        (
            "select_only:cpu_6h",
            "count_over_time(node_cpu_seconds_total[365m])",
            Kind::Instant,
        ),
    ]
}

/// Series and points of a result.
fn size(v: &Value) -> (usize, usize) {
    match v {
        Value::Scalar { .. } | Value::String { .. } => (1, 1),
        Value::Vector(v) => (v.len(), v.len()),
        Value::Matrix(m) => (m.len(), m.iter().map(|s| s.len()).sum()),
    }
}

fn main() {
    let o = parse_args();
    let started = Instant::now();
    let engine = load(&o);
    println!(
        "loaded {} series x {} h at 15 s into {} shards in {:.1} s",
        o.series,
        o.hours,
        o.shards,
        started.elapsed().as_secs_f64()
    );
    let dyn_engine: Arc<dyn Engine> = engine;
    let querier = EngineQuerier::new(dyn_engine, (0..o.shards).collect());
    let promql = PromqlEngine::default();
    println!(
        "{:<32} {:>8} {:>9} {:>11}",
        "query", "series", "points", "median ms"
    );
    for (name, expr, kind) in queries(o.hours) {
        if o.only.as_ref().is_some_and(|s| !name.contains(s.as_str())) {
            continue;
        }
        let run = || match kind {
            Kind::Instant => promql.instant(&querier, expr, END_MS),
            Kind::Range { window_ms } => {
                promql.range(&querier, expr, END_MS - window_ms, END_MS, RANGE_STEP_MS)
            }
        };
        let (series, points) = match run() {
            Ok(r) => size(&r.value),
            Err(e) => {
                println!("{name:<32} error: {}", e.message);
                continue;
            }
        };
        let mut ms: Vec<f64> = (0..o.runs)
            .map(|_| {
                let t = Instant::now();
                run().expect("succeeded once");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        let median = ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN);
        println!("{name:<32} {series:>8} {points:>9} {median:>11.1}");
    }
}

#[cfg(test)]
mod tests {
    use tidemark_testkit::digest::DatasetDigest;

    use super::*;

    /// The dataset of the default run (10,000 series, 6 h): every series' labels, then every
    /// sample in generation order.
    #[test]
    fn dataset_digest_is_unchanged() {
        let (mut ds, labels) = dataset(10_000);
        let mut d = DatasetDigest::new();
        for labels in &labels {
            d.series(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        }
        let steps = steps(6.0);
        let start_ms = END_MS - steps as i64 * INTERVAL_MS;
        for step in 0..steps {
            ds.scrape(start_ms, step as u32, |s, t, v| d.sample(s, t, v));
        }
        assert_eq!(d.summary(), "10000/14400000/a9ebe621feaa3bc9");
    }
}
