//! Bytes per sample of the chunk codecs on the benchmark's node-exporter dataset: the head's
//! XOR chunks (cut at `chunk_samples_max` = 120 samples and at partition boundaries) against
//! sealed chunks (one per series per partition) at 2 h and 24 h partitions.
//!
//! `cargo run --release -p tidemark-storage --example codec_bytes [series] [hours] [--rocks]`
//! (defaults: 10,000 series, 6 h at 15 s). With `--rocks` it also ingests the dataset into a
//! `RocksEngine` (a batch per scrape step, seals as the leader proposes them, a flush every
//! 10 minutes of data, then `compact`) and reports the files' bytes per sample: chunks plus
//! keys, series, postings and RocksDB's own files.
//!
//! The generator follows `bench/src/dataset.rs` and `bench/src/dataset/node_exporter.rs` (same
//! SplitMix64 streams, value models, per-host scrape phase and +-4 ms jitter, 2-decimal CPU
//! counters, memory gauges in 4 KiB steps, ...) without the label encoding the benchmark needs
//! for remote write; it is copied, not shared, so that storage does not depend on the bench
//! crate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tidemark_storage::chunk::{XorChunk, sealed};
use tidemark_storage::{
    Command, Engine, EngineOptions, Labels, RocksEngine, Sample, SeriesRef, WriteBatch,
};

const INTERVAL_S: u32 = 15;
const SEED: u64 = 42;
const HOUR_MS: i64 = 3_600_000;
/// Where the data ends: aligned to a day, so that the 24 h partition holds the whole dataset when
/// hours <= 24.
const END_MS: i64 = 1_700_006_400_000 / (24 * HOUR_MS) * (24 * HOUR_MS);
/// VictoriaMetrics on the same dataset (bench report), for comparison.
const VICTORIAMETRICS_BYTES_PER_SAMPLE: f64 = 1.93;

fn main() {
    let rocks = std::env::args().any(|a| a == "--rocks");
    let mut args = std::env::args().skip(1).filter(|a| a != "--rocks");
    let series: usize = args.next().map_or(10_000, |a| a.parse().expect("series"));
    let hours: f64 = args.next().map_or(6.0, |a| a.parse().expect("hours"));
    let generated = Instant::now();
    let mut ds = dataset::node_exporter(series, hours, INTERVAL_S, SEED, END_MS);
    let mut per_series: Vec<Vec<Sample>> = vec![Vec::new(); ds.models.len()];
    ds.generate(|s, t, v| per_series[s as usize].push(Sample::new(t, v)));
    let total: usize = per_series.iter().map(Vec::len).sum();
    println!(
        "node_exporter: {} series x {} steps = {total} samples ({hours} h at {INTERVAL_S} s), \
         generated in {:?}",
        per_series.len(),
        ds.steps,
        generated.elapsed()
    );

    let columns = [
        ("xor 120", Codec::Xor { samples_max: 120 }),
        ("sealed 2h", Codec::Sealed { partition_h: 2 }),
        ("sealed 24h", Codec::Sealed { partition_h: 24 }),
    ];
    // family -> (samples, bytes per codec, timestamp-only bytes of sealed 2h)
    let mut families: BTreeMap<&str, (usize, [usize; 3], usize)> = BTreeMap::new();
    let mut encode_time = [Duration::ZERO; 3];
    let mut decode_time = [Duration::ZERO; 3];
    for (samples, family) in per_series.iter().zip(&ds.families) {
        let entry = families.entry(family).or_default();
        entry.0 += samples.len();
        for (k, (_, codec)) in columns.iter().enumerate() {
            let t = Instant::now();
            let chunks = codec.encode(samples);
            encode_time[k] += t.elapsed();
            entry.1[k] += chunks.iter().map(Vec::len).sum::<usize>();
            let t = Instant::now();
            let back = codec.decode(&chunks);
            decode_time[k] += t.elapsed();
            assert!(
                back.len() == samples.len()
                    && back.iter().zip(samples).all(|(a, b)| a.identical(b)),
                "{} does not round-trip",
                columns[k].0
            );
        }
        // The timestamps' share: the same chunks with every value zero (a constant column
        // costs 4 bytes).
        let zeroed: Vec<Sample> = samples.iter().map(|s| Sample::new(s.t, 0.0)).collect();
        entry.2 += (Codec::Sealed { partition_h: 2 })
            .encode(&zeroed)
            .iter()
            .map(|c| c.len().saturating_sub(4))
            .sum::<usize>();
    }

    println!(
        "(a 24 h partition holds up to 24 h of a series; '2h: times' is the timestamps' share of \
         sealed 2h)"
    );
    println!();
    println!(
        "{:<18} {:>10} {:>9} {:>10} {:>11} {:>12}",
        "bytes/sample", "samples", "xor 120", "sealed 2h", "sealed 24h", "(2h: times)"
    );
    let mut all = (0usize, [0usize; 3], 0usize);
    for (family, (n, bytes, ts)) in &families {
        print_row(family, *n, bytes, *ts);
        all.0 += n;
        for (sum, b) in all.1.iter_mut().zip(bytes) {
            *sum += b;
        }
        all.2 += ts;
    }
    print_row("all", all.0, &all.1, all.2);
    println!();
    for (k, (name, _)) in columns.iter().enumerate() {
        let per_s = |d: Duration| all.0 as f64 / d.as_secs_f64().max(1e-9) / 1e6;
        println!(
            "{name:<11} {:.3} B/sample = {:.2}x VictoriaMetrics ({VICTORIAMETRICS_BYTES_PER_SAMPLE}); \
             encode {:.1} M samples/s, decode {:.1} M samples/s",
            all.1[k] as f64 / all.0 as f64,
            all.1[k] as f64 / all.0 as f64 / VICTORIAMETRICS_BYTES_PER_SAMPLE,
            per_s(encode_time[k]),
            per_s(decode_time[k]),
        );
    }
    if rocks {
        ingest_into_rocks(&per_series, &ds.families);
    }
}

/// Out-of-order window the emulated leader waits for before sealing a partition.
const OOO_WINDOW_MS: i64 = 5 * 60_000;
/// Scrape steps between flushes (10 minutes at 15 s).
const FLUSH_EVERY_STEPS: usize = 40;

/// Ingests the dataset into a fresh `RocksEngine` as the node would and prints its file sizes
/// per sample, before and after the last partition is sealed.
fn ingest_into_rocks(per_series: &[Vec<Sample>], families: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = EngineOptions::default();
    let engine = RocksEngine::open(dir.path(), opts).expect("open");
    let shard = 0;
    let labels: Vec<Labels> = families
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Labels::from_pairs(&[
                ("__name__", "node_metric"),
                ("family", f),
                ("series", &i.to_string()),
            ])
        })
        .collect();
    let steps = per_series.iter().map(Vec::len).max().unwrap_or(0);
    let total: usize = per_series.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut index = 0u64;
    let mut apply = |cmd: Command| {
        index += 1;
        engine.apply(shard, index, &cmd).expect("apply");
        index
    };
    for step in 0..steps {
        let mut batch = WriteBatch::default();
        for (id, samples) in per_series.iter().enumerate() {
            let Some(s) = samples.get(step) else {
                continue;
            };
            let r = if step == 0 {
                batch.new_series.push(labels[id].clone());
                SeriesRef::New(batch.new_series.len() as u32 - 1)
            } else {
                SeriesRef::Id(id as u32)
            };
            batch.samples.push((r, vec![*s]));
        }
        apply(Command::Write(batch));
        for p in engine.sealable_partitions(shard, OOO_WINDOW_MS) {
            apply(Command::Seal {
                partition_start_ms: p,
            });
        }
        if step % FLUSH_EVERY_STEPS == FLUSH_EVERY_STEPS - 1 {
            engine.flush(shard, b"").expect("flush");
        }
    }
    engine.flush(shard, b"").expect("flush");
    engine.compact().expect("compact");
    let (sst, all) = dir_bytes(dir.path());
    println!();
    println!(
        "RocksEngine, {total} samples ingested in {:?}: sst {:.3} B/sample, all files {:.3} \
         (the newest partition still open)",
        started.elapsed(),
        sst as f64 / total as f64,
        all as f64 / total as f64
    );
    // Seal what is left (the leader would once newer data arrived).
    let partitions: std::collections::BTreeSet<i64> = per_series
        .iter()
        .flatten()
        .map(|s| engine.options().partition_of(s.t))
        .collect();
    for p in partitions {
        apply(Command::Seal {
            partition_start_ms: p,
        });
    }
    engine.flush(shard, b"").expect("flush");
    engine.compact().expect("compact");
    let (sst, all) = dir_bytes(dir.path());
    println!(
        "RocksEngine, every partition sealed: sst {:.3} B/sample, all files {:.3}",
        sst as f64 / total as f64,
        all as f64 / total as f64
    );
}

/// Bytes of the `.sst` files and of all files in `dir`.
fn dir_bytes(dir: &std::path::Path) -> (u64, u64) {
    let (mut sst, mut all) = (0, 0);
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let len = entry.metadata().expect("metadata").len();
        all += len;
        if entry.path().extension().is_some_and(|e| e == "sst") {
            sst += len;
        }
    }
    (sst, all)
}

fn print_row(family: &str, n: usize, bytes: &[usize; 3], ts: usize) {
    let per = |b: usize| b as f64 / n.max(1) as f64;
    println!(
        "{family:<18} {n:>10} {:>9.3} {:>10.3} {:>11.3} {:>12.3}",
        per(bytes[0]),
        per(bytes[1]),
        per(bytes[2]),
        per(ts)
    );
}

/// A way to store one series.
enum Codec {
    /// Head chunks: cut at `samples_max` and at 2 h partition boundaries.
    Xor { samples_max: usize },
    /// One sealed chunk per partition of `partition_h` hours.
    Sealed { partition_h: i64 },
}

impl Codec {
    fn encode(&self, samples: &[Sample]) -> Vec<Vec<u8>> {
        match *self {
            Codec::Xor { samples_max } => {
                let mut out: Vec<(i64, XorChunk)> = Vec::new();
                for s in samples {
                    let p = s.t.div_euclid(2 * HOUR_MS);
                    if out
                        .last()
                        .is_none_or(|(lp, c)| *lp != p || c.len() >= samples_max)
                    {
                        out.push((p, XorChunk::new()));
                    }
                    if let Some((_, c)) = out.last_mut() {
                        c.append(s.t, s.v).expect("append");
                    }
                }
                out.into_iter().map(|(_, c)| c.bytes().to_vec()).collect()
            }
            Codec::Sealed { partition_h } => samples
                .chunk_by(|a, b| {
                    a.t.div_euclid(partition_h * HOUR_MS) == b.t.div_euclid(partition_h * HOUR_MS)
                })
                .map(|part| sealed::encode(part).expect("encode"))
                .collect(),
        }
    }

    fn decode(&self, chunks: &[Vec<u8>]) -> Vec<Sample> {
        let mut out = Vec::new();
        for c in chunks {
            match self {
                Codec::Xor { .. } => {
                    tidemark_storage::chunk::decode_range(c, i64::MIN, i64::MAX, &mut out)
                        .expect("decode")
                }
                Codec::Sealed { .. } => sealed::decode_into(c, &mut out).expect("decode"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use tidemark_testkit::digest::DatasetDigest;

    use super::*;

    /// The dataset of the default run (the figures in `storage/src/chunk/sealed.md`): every
    /// series' family, then every sample in generation order.
    #[test]
    fn dataset_digest_is_unchanged() {
        let mut ds = dataset::node_exporter(10_000, 6.0, INTERVAL_S, SEED, END_MS);
        let mut d = DatasetDigest::new();
        for family in &ds.families {
            d.series([("family", *family)]);
        }
        ds.generate(|s, t, v| d.sample(s, t, v));
        assert_eq!(d.summary(), "10000/14400000/4431f8c2867d0bd8");
    }
}

/// The benchmark's node-exporter generator, reduced to what the codecs see.
mod dataset {
    /// SplitMix64, as `bench/src/rng.rs`.
    #[derive(Clone, Debug)]
    pub struct Rng {
        state: u64,
    }

    impl Rng {
        pub fn new(seed: u64, stream: u64) -> Self {
            let mut rng = Rng {
                state: seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
            };
            rng.next_u64();
            rng
        }
        pub fn next_u64(&mut self) -> u64 {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        pub fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
        pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.unit()
        }
        pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
            let span = (hi - lo) as u64 + 1;
            lo + (self.next_u64() % span) as i64
        }
        pub fn normal(&mut self) -> f64 {
            let sum = self.unit() + self.unit() + self.unit() + self.unit();
            (sum - 2.0) * 1.732_050_8
        }
        pub fn chance(&mut self, p: f64) -> bool {
            self.unit() < p
        }
        pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
            (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp()
        }
    }

    /// How one series' value evolves (as `bench/src/dataset.rs`).
    #[derive(Clone, Debug)]
    pub enum Model {
        Counter {
            value: f64,
            rate_per_s: f64,
            noise: f64,
            decimals: u8,
        },
        Gauge {
            value: f64,
            mean: f64,
            sd_per_step: f64,
            min: f64,
            max: f64,
            quantum: f64,
        },
        Const {
            value: f64,
        },
        BootTime,
        Clock,
    }

    pub struct Target {
        first_series: u32,
        series_count: u32,
        phase_ms: i64,
        boot_time_s: f64,
        rng: Rng,
    }

    pub struct Dataset {
        pub models: Vec<Model>,
        /// Per series: the family it is reported under.
        pub families: Vec<&'static str>,
        targets: Vec<Target>,
        start_ms: i64,
        interval_ms: i64,
        pub steps: u32,
        jitter_ms_max: i64,
        reset_probability: f64,
    }

    pub fn round_to(value: f64, decimals: u8) -> f64 {
        let scale = 10f64.powi(i32::from(decimals));
        (value * scale).round() / scale
    }

    fn decimals_of(quantum: f64) -> u8 {
        let mut d = 0u8;
        let mut q = quantum;
        while q < 0.999_999 && d < 9 {
            q *= 10.0;
            d += 1;
        }
        d
    }

    fn phase_for(seed: u64, index: u64, interval_ms: i64) -> i64 {
        let mut rng = Rng::new(seed, 2_000_000 + index);
        rng.range_i64(10, interval_ms - 10)
    }

    struct Builder {
        seed: u64,
        models: Vec<Model>,
        families: Vec<&'static str>,
        targets: Vec<Target>,
        series_max: usize,
    }

    impl Builder {
        fn full(&self) -> bool {
            self.models.len() >= self.series_max
        }
        fn begin_target(&mut self, phase_ms: i64, boot_time_s: f64) {
            let index = self.targets.len() as u64;
            self.targets.push(Target {
                first_series: self.models.len() as u32,
                series_count: 0,
                phase_ms,
                boot_time_s,
                rng: Rng::new(self.seed, 1_000_000 + index),
            });
        }
        fn series(&mut self, family: &'static str, model: Model) {
            if self.full() {
                return;
            }
            self.models.push(model);
            self.families.push(family);
            if let Some(t) = self.targets.last_mut() {
                t.series_count += 1;
            }
        }
    }

    impl Dataset {
        /// Calls `emit(series, timestamp_ms, value)` for every sample in time order.
        pub fn generate(&mut self, mut emit: impl FnMut(u32, i64, f64)) {
            let interval_s = self.interval_ms as f64 / 1000.0;
            for step in 0..self.steps {
                let nominal = self.start_ms + i64::from(step) * self.interval_ms;
                for target in &mut self.targets {
                    let rng = &mut target.rng;
                    let jitter = rng.range_i64(-self.jitter_ms_max, self.jitter_ms_max);
                    let ts = nominal + target.phase_ms + jitter;
                    let restarted = step > 0 && rng.chance(self.reset_probability);
                    if restarted {
                        target.boot_time_s = (ts / 1000) as f64 - rng.range_i64(5, 60) as f64;
                    }
                    let first = target.first_series as usize;
                    let models = &mut self.models[first..first + target.series_count as usize];
                    for (offset, model) in models.iter_mut().enumerate() {
                        let value =
                            next_value(model, rng, interval_s, restarted, target.boot_time_s, ts);
                        emit((first + offset) as u32, ts, value);
                    }
                }
            }
        }
    }

    fn next_value(
        model: &mut Model,
        rng: &mut Rng,
        interval_s: f64,
        restarted: bool,
        boot_time_s: f64,
        ts_ms: i64,
    ) -> f64 {
        match model {
            Model::Counter {
                value,
                rate_per_s,
                noise,
                decimals,
            } => {
                let expected = *rate_per_s * interval_s * (1.0 + *noise * rng.normal()).max(0.0);
                if restarted {
                    *value = 0.0;
                }
                let increment = if *decimals == 0 {
                    (expected + rng.unit()).floor()
                } else {
                    round_to(expected, *decimals)
                };
                *value = round_to(*value + increment, *decimals);
                *value
            }
            Model::Gauge {
                value,
                mean,
                sd_per_step,
                min,
                max,
                quantum,
            } => {
                *value += *sd_per_step * rng.normal() + 0.05 * (*mean - *value);
                *value = value.clamp(*min, *max);
                let q = (*value / *quantum).round() * *quantum;
                round_to(q, decimals_of(*quantum))
            }
            Model::Const { value } => *value,
            Model::BootTime => boot_time_s,
            Model::Clock => round_to(ts_ms as f64 / 1000.0, 3),
        }
    }

    const CPU_MODES: [(&str, f64); 8] = [
        ("idle", 0.70),
        ("user", 0.17),
        ("system", 0.06),
        ("iowait", 0.02),
        ("irq", 0.002),
        ("softirq", 0.01),
        ("nice", 0.004),
        ("steal", 0.001),
    ];
    const MOUNTS: usize = 3;
    const NET_DEVICES: usize = 2;
    const DISKS: usize = 2;
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    pub fn node_exporter(
        series: usize,
        hours: f64,
        interval_s: u32,
        seed: u64,
        end_ms: i64,
    ) -> Dataset {
        let interval_ms = i64::from(interval_s) * 1000;
        let steps = ((hours * 3600.0) / f64::from(interval_s)).round().max(1.0) as u32;
        let mut b = Builder {
            seed,
            models: Vec::with_capacity(series),
            families: Vec::with_capacity(series),
            targets: Vec::new(),
            series_max: series,
        };
        let mut host = 0u64;
        while !b.full() {
            add_host(&mut b, seed, host, interval_ms, end_ms);
            host += 1;
        }
        let reset_probability = f64::from(interval_s) / (2.0 * 86_400.0);
        b.targets.retain(|t| t.series_count > 0);
        b.targets.sort_by_key(|t| (t.phase_ms, t.first_series));
        Dataset {
            models: b.models,
            families: b.families,
            targets: b.targets,
            start_ms: end_ms - i64::from(steps) * interval_ms,
            interval_ms,
            steps,
            jitter_ms_max: 4,
            reset_probability,
        }
    }

    fn add_host(b: &mut Builder, seed: u64, host: u64, interval_ms: i64, end_ms: i64) {
        let mut rng = Rng::new(seed, host);
        let uptime_s = rng.range_f64(3_600.0, 60.0 * 86_400.0);
        let boot_time_s = ((end_ms / 1000) as f64 - uptime_s).floor();
        b.begin_target(phase_for(seed, host, interval_ms), boot_time_s);
        let counter = |rng: &mut Rng, rate: f64, noise: f64, decimals: u8| Model::Counter {
            value: round_to(rate * uptime_s * rng.range_f64(0.8, 1.2), decimals),
            rate_per_s: rate,
            noise,
            decimals,
        };

        let cpus = if rng.chance(0.5) { 4 } else { 8 };
        let busy = rng.range_f64(0.3, 2.0);
        for _cpu in 0..cpus {
            for (mode, share) in CPU_MODES {
                let share = if mode == "idle" {
                    1.0 - (1.0 - share) * busy
                } else {
                    share * busy
                };
                let model = counter(&mut rng, share.max(0.0005), 0.3, 2);
                b.series("cpu (counter .2)", model);
            }
        }

        let mem_total = (rng.range_i64(8, 256) as f64 * GIB / 4096.0).round() * 4096.0;
        let gauge = |mean: f64, sd: f64, min: f64, max: f64, quantum: f64| Model::Gauge {
            value: mean,
            mean,
            sd_per_step: sd,
            min,
            max,
            quantum,
        };
        let mem = |frac: f64, sd_frac: f64| {
            gauge(
                mem_total * frac,
                mem_total * sd_frac,
                0.0,
                mem_total,
                4096.0,
            )
        };
        let memory: [Model; 12] = [
            Model::Const { value: mem_total },
            mem(0.15, 0.001),
            mem(0.45, 0.001),
            mem(0.02, 0.0002),
            mem(0.30, 0.0005),
            mem(0.40, 0.0008),
            mem(0.25, 0.0005),
            Model::Const { value: 0.0 },
            Model::Const { value: 0.0 },
            mem(0.0005, 0.0002),
            mem(0.01, 0.0001),
            mem(0.03, 0.0001),
        ];
        for model in memory {
            b.series("memory (4 KiB)", model);
        }

        for _ in 0..MOUNTS {
            let size = (rng.range_i64(1, 2048) as f64 * GIB / 4096.0).round() * 4096.0;
            let used = rng.range_f64(0.1, 0.9);
            let files = (size / 16384.0).round();
            let fs: [Model; 6] = [
                Model::Const { value: size },
                gauge(size * (0.95 - used), size * 1e-5, 0.0, size, 4096.0),
                gauge(size * (1.0 - used), size * 1e-5, 0.0, size, 4096.0),
                Model::Const { value: files },
                gauge(files * 0.9, files * 1e-5, 0.0, files, 1.0),
                Model::Const { value: 0.0 },
            ];
            for model in fs {
                b.series("filesystem", model);
            }
        }

        for _ in 0..NET_DEVICES {
            let bytes_rate = rng.log_uniform(1e4, 5e7);
            let packet_rate = bytes_rate / rng.range_f64(300.0, 1400.0);
            let net: [f64; 8] = [
                bytes_rate,
                bytes_rate * rng.range_f64(0.3, 1.5),
                packet_rate,
                packet_rate * rng.range_f64(0.5, 1.2),
                rng.log_uniform(1e-6, 1e-2),
                rng.log_uniform(1e-6, 1e-3),
                rng.log_uniform(1e-5, 1e-1),
                rng.log_uniform(1e-6, 1e-3),
            ];
            for rate in net {
                let model = counter(&mut rng, rate, 0.4, 0);
                b.series("network (counter)", model);
            }
        }

        for _ in 0..DISKS {
            let iops = rng.log_uniform(1.0, 2000.0);
            let disk: [(f64, u8); 7] = [
                (iops * 0.4, 0),
                (iops * 0.6, 0),
                (iops * 0.4 * 16384.0, 0),
                (iops * 0.6 * 8192.0, 0),
                ((iops / 4000.0).min(0.9), 3),
                (iops * 0.4 * 2e-4, 3),
                (iops * 0.6 * 5e-4, 3),
            ];
            for (rate, decimals) in disk {
                let model = counter(&mut rng, rate, 0.5, decimals);
                b.series("disk (counter)", model);
            }
        }

        let load = f64::from(cpus) * busy * 0.3;
        for sd in [0.15, 0.06, 0.03] {
            b.series(
                "load (gauge .01)",
                gauge(load, sd * load.max(0.2), 0.0, 4.0 * f64::from(cpus), 0.01),
            );
        }

        let forks_rate = rng.log_uniform(0.5, 50.0);
        let misc: [Model; 12] = [
            counter(&mut rng, 5_000.0 * busy * f64::from(cpus), 0.3, 0),
            counter(&mut rng, 3_000.0 * busy * f64::from(cpus), 0.3, 0),
            counter(&mut rng, forks_rate, 0.6, 0),
            gauge(1.0 + busy * 2.0, 1.0, 0.0, 64.0, 1.0),
            gauge(0.1, 0.3, 0.0, 16.0, 1.0),
            Model::BootTime,
            Model::Clock,
            gauge(256.0, 0.0, 256.0, 256.0, 1.0),
            gauge(rng.range_f64(1e3, 3e4), 20.0, 0.0, 1e6, 1.0),
            gauge(rng.range_f64(20.0, 2e3), 5.0, 0.0, 1e5, 1.0),
            gauge(rng.range_f64(10.0, 1e3), 3.0, 0.0, 1e5, 1.0),
            Model::Const { value: 1.0 },
        ];
        for model in misc {
            b.series("misc", model);
        }
    }
}
