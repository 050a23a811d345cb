//! The rollup job on the benchmark's node-exporter dataset: a `RocksEngine` holding a day of
//! raw samples (sealed, flushed, compacted) rolls the day up into the 1 m and 1 h tiers, and
//! the flush that computes them is timed; then the day's raw data expires and what is left is
//! measured. Reports samples rolled up per second, CPU time per wall time, bytes per window of
//! each tier and bytes per raw-equivalent sample.
//!
//! `cargo run --release -p tidemark-storage --example rollup_job [series]` (default 1,000).

use std::time::Instant;

use tidemark_storage::tier::ROLLUP_UNIT_MS;
use tidemark_storage::{
    Command, Engine, EngineOptions, ExpireScope, Labels, RocksEngine, Sample, SeriesRef, Tier,
    WriteBatch,
};
use tidemark_testkit::dataset::node_exporter;

const INTERVAL_S: u32 = 15;
const SEED: u64 = 42;
const S: u32 = 0;
const DAY: i64 = ROLLUP_UNIT_MS;
/// The day the data covers (its end is a midnight).
const END_MS: i64 = 1_700_006_400_000 / DAY * DAY;

/// CPU time of this process so far, in seconds (user + system, from /proc).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn bytes_of(e: &RocksEngine, tier: Tier) -> u64 {
    e.partitions(S)
        .unwrap()
        .iter()
        .filter(|p| p.tier == tier)
        .map(|p| p.bytes)
        .sum()
}

fn main() {
    let series: usize = std::env::args()
        .nth(1)
        .map_or(1_000, |a| a.parse().expect("series"));
    let mut labels: Vec<Labels> = Vec::new();
    let mut ds = node_exporter(series, 24.0, INTERVAL_S, SEED, END_MS, |l| {
        labels.push(Labels::from_pairs(
            &l.iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        ))
    });
    let mut per_series: Vec<Vec<Sample>> = vec![Vec::new(); ds.series_count()];
    ds.generate(|s, t, v| per_series[s as usize].push(Sample::new(t, v)));
    let samples: usize = per_series.iter().map(Vec::len).sum();
    let dir = tempfile::tempdir().unwrap();
    let e = RocksEngine::open(dir.path(), EngineOptions::default()).unwrap();
    let mut index = 0;
    for (l, s) in labels.into_iter().zip(per_series) {
        index += 1;
        e.apply(
            S,
            index,
            &Command::Write(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![l],
                samples: vec![(SeriesRef::New(0), s)],
            }),
        )
        .unwrap();
    }
    let first = END_MS - DAY - 2 * 3_600_000;
    for p in (0..14).map(|i| first + i * 2 * 3_600_000) {
        index += 1;
        e.apply(
            S,
            index,
            &Command::Seal {
                partition_start_ms: p,
            },
        )
        .unwrap();
    }
    e.flush(S, b"m").unwrap();
    e.compact().unwrap();
    let raw_bytes = bytes_of(&e, Tier::Raw);
    let day = END_MS - DAY;
    for tier in [Tier::Rollup1m, Tier::Rollup1h] {
        index += 1;
        e.apply(
            S,
            index,
            &Command::RollUp {
                tier,
                unit_start_ms: day,
                skip: vec![],
            },
        )
        .unwrap();
    }
    let (wall, cpu) = (Instant::now(), cpu_s());
    e.flush(S, b"m").unwrap();
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_s() - cpu);
    for p in (0..14).map(|i| first + i * 2 * 3_600_000) {
        index += 1;
        e.apply(
            S,
            index,
            &Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: p,
                scope: ExpireScope::All,
            },
        )
        .unwrap();
    }
    e.flush(S, b"m").unwrap();
    e.compact().unwrap();
    let windows = |tier: Tier| -> usize {
        e.select_windows(S, tier, &[], day + 1, day + DAY)
            .unwrap()
            .iter()
            .map(|s| s.windows.len())
            .sum()
    };
    let (w1m, w1h) = (windows(Tier::Rollup1m), windows(Tier::Rollup1h));
    let (b1m, b1h) = (bytes_of(&e, Tier::Rollup1m), bytes_of(&e, Tier::Rollup1h));
    println!("node_exporter: {series} series x 24 h at {INTERVAL_S} s = {samples} samples");
    println!(
        "rollup flush (1m and 1h): {wall:.2} s wall, {cpu:.2} s CPU ({:.0}% of a core), \
         {:.0} samples/s",
        100.0 * cpu / wall,
        samples as f64 / wall
    );
    println!(
        "raw: {raw_bytes} bytes, {:.2} bytes/sample",
        raw_bytes as f64 / samples as f64
    );
    println!(
        "1m: {w1m} windows, {b1m} bytes, {:.1} bytes/window, {:.2} bytes per raw-equivalent sample",
        b1m as f64 / w1m.max(1) as f64,
        b1m as f64 / samples as f64
    );
    println!(
        "1h: {w1h} windows, {b1h} bytes, {:.1} bytes/window, {:.3} bytes per raw-equivalent sample",
        b1h as f64 / w1h.max(1) as f64,
        b1h as f64 / samples as f64
    );
}
