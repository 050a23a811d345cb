//! Bytes per sample of the chunk codecs on the benchmark's node-exporter dataset: the head's
//! XOR chunks (cut at `chunk_samples_max` = 120 samples and at partition boundaries) against
//! sealed chunks (one per series per partition) at 2 h and 24 h partitions, and against those
//! XOR chunks each re-encoded as a sealed chunk ("sealed 120": what a flush stores for the
//! chunks the head cut in an open partition, `shard/recode.rs`).
//!
//! `cargo run --release -p tidemark-storage --example codec_bytes [series] [hours] [--rocks]`
//! (defaults: 10,000 series, 6 h at 15 s). With `--rocks` it also ingests the dataset into a
//! `RocksEngine` (a batch per scrape step, seals as the leader proposes them, a flush every
//! 10 minutes of data, then `compact`) and reports the files' bytes per sample: chunks plus
//! keys, series, postings and RocksDB's own files.
//!
//! The data is the benchmark's (`tidemark_testkit::dataset::node_exporter`: per-host scrape
//! phase and +-4 ms jitter, 2-decimal CPU counters, memory gauges in 4 KiB steps, ...), reported
//! by metric family.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tidemark_storage::chunk::{XorChunk, sealed};
use tidemark_storage::{
    Command, Engine, EngineOptions, Labels, RocksEngine, Sample, SeriesRef, WriteBatch,
};
use tidemark_testkit::dataset::{SeriesLabels, node_exporter};

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
    let mut family_of = Vec::with_capacity(series);
    let mut ds = node_exporter(series, hours, INTERVAL_S, SEED, END_MS, |labels| {
        family_of.push(family(labels))
    });
    let information = ds.information();
    let mut per_series: Vec<Vec<Sample>> = vec![Vec::new(); ds.series_count()];
    ds.generate(|s, t, v| per_series[s as usize].push(Sample::new(t, v)));
    let total: usize = per_series.iter().map(Vec::len).sum();
    println!(
        "node_exporter: {} series x {} steps = {total} samples ({hours} h at {INTERVAL_S} s), \
         generated in {:?}",
        per_series.len(),
        ds.steps,
        generated.elapsed()
    );
    println!(
        "information in the data (the generator's estimate of what any lossless codec must keep): \
         {:.3} bytes/sample, of which values {:.3}",
        information.bytes_per_sample(),
        information.value_bytes_per_sample()
    );

    let columns = [
        ("xor 120", Codec::Xor { samples_max: 120 }),
        ("sealed 2h", Codec::Sealed { partition_h: 2 }),
        ("sealed 24h", Codec::Sealed { partition_h: 24 }),
        ("sealed 120", Codec::SealedCut { samples_max: 120 }),
    ];
    // family -> (samples, bytes per codec, timestamp-only bytes of sealed 2h)
    let mut families: BTreeMap<&str, (usize, [usize; 4], usize)> = BTreeMap::new();
    let mut encode_time = [Duration::ZERO; 4];
    let mut decode_time = [Duration::ZERO; 4];
    for (samples, family) in per_series.iter().zip(&family_of) {
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
        "{:<18} {:>10} {:>9} {:>10} {:>11} {:>11} {:>12}",
        "bytes/sample",
        "samples",
        "xor 120",
        "sealed 2h",
        "sealed 24h",
        "sealed 120",
        "(2h: times)"
    );
    let mut all = (0usize, [0usize; 4], 0usize);
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
        ingest_into_rocks(&per_series, &family_of);
    }
}

/// The family a series is reported under, by its metric name.
fn family(labels: &SeriesLabels) -> &'static str {
    let name = labels
        .iter()
        .find(|(n, _)| n == "__name__")
        .map_or("", |(_, v)| v.as_str());
    const FAMILIES: [(&str, &str); 6] = [
        ("node_cpu_", "cpu (counter .2)"),
        ("node_memory_", "memory (4 KiB)"),
        ("node_filesystem_", "filesystem"),
        ("node_network_", "network (counter)"),
        ("node_disk_", "disk (counter)"),
        ("node_load", "load (gauge .01)"),
    ];
    FAMILIES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map_or("misc", |(_, family)| family)
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
    engine.set_shared_time_columns(true);
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

fn print_row(family: &str, n: usize, bytes: &[usize; 4], ts: usize) {
    let per = |b: usize| b as f64 / n.max(1) as f64;
    println!(
        "{family:<18} {n:>10} {:>9.3} {:>10.3} {:>11.3} {:>11.3} {:>12.3}",
        per(bytes[0]),
        per(bytes[1]),
        per(bytes[2]),
        per(bytes[3]),
        per(ts)
    );
}

/// A way to store one series.
enum Codec {
    /// Head chunks: cut at `samples_max` and at 2 h partition boundaries.
    Xor { samples_max: usize },
    /// One sealed chunk per partition of `partition_h` hours.
    Sealed { partition_h: i64 },
    /// The head's chunks (cut as `Xor`), each re-encoded alone as a sealed chunk.
    SealedCut { samples_max: usize },
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
            Codec::SealedCut { samples_max } => Codec::Xor { samples_max }
                .encode(samples)
                .iter()
                .map(|c| {
                    let mut part = Vec::new();
                    tidemark_storage::chunk::decode_range(c, i64::MIN, i64::MAX, &mut part)
                        .expect("decode");
                    sealed::encode(&part).expect("encode")
                })
                .collect(),
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
                Codec::Sealed { .. } | Codec::SealedCut { .. } => {
                    sealed::decode_into(c, &mut out).expect("decode")
                }
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
        let mut families = Vec::new();
        let mut ds = node_exporter(10_000, 6.0, INTERVAL_S, SEED, END_MS, |labels| {
            families.push(family(labels))
        });
        let mut d = DatasetDigest::new();
        for family in &families {
            d.series([("family", *family)]);
        }
        ds.generate(|s, t, v| d.sample(s, t, v));
        assert_eq!(d.summary(), "10000/14400000/4431f8c2867d0bd8");
    }
}
