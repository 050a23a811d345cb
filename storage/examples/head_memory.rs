//! Memory per active series in a `RocksEngine`, measured with a counting allocator and split by
//! component (registry, head, open-partition postings), on series shaped like the benchmark's
//! cardinality workload (`tidemark_testkit::dataset::pods`: unique pod label sets of about 200
//! label bytes, 10 series per pod, scraped every 15 s).
//!
//! `cargo run --release -p tidemark-storage --example head_memory [series] [minutes]`
//! (defaults: 100,000 series, 30 minutes). Writes one batch per scrape step and flushes every
//! minute of data, as the node's flush timer would.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tidemark_storage::{
    Command, Engine, EngineOptions, Labels, RocksEngine, Sample, SeriesRef, WriteBatch,
};

/// Bytes currently allocated through the global allocator.
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const INTERVAL_MS: i64 = 15_000;
const METRICS: [&str; 10] = [
    "container_cpu_usage_seconds_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_memory_working_set_bytes",
    "container_memory_rss",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_fs_reads_bytes_total",
    "container_fs_writes_bytes_total",
    "container_spec_memory_limit_bytes",
    "kube_pod_container_status_restarts_total",
];

fn labels_of(series: usize) -> Labels {
    let pod = series / METRICS.len();
    let node = pod / 110;
    let team = pod * 7919 % 200;
    let app = pod * 104_729 % 50;
    let deployment = format!("svc-{app:02}-api");
    Labels::from_pairs(&[
        ("__name__", METRICS[series % METRICS.len()]),
        ("namespace", &format!("team-{team:03}")),
        (
            "pod",
            &format!(
                "{deployment}-{:010x}-{pod:05}",
                pod * 2_654_435_761 % 14_348_907
            ),
        ),
        ("container", "api"),
        (
            "image",
            &format!(
                "registry.internal/team-{team:03}/{deployment}:v1.{}.{}",
                app % 7,
                team % 13
            ),
        ),
        ("node", &format!("node-{node:05}")),
        (
            "instance",
            &format!("10.0.{}.{}:10250", node / 256 % 256, node % 256),
        ),
        ("job", "kubelet"),
    ])
}

fn main() {
    let mut args = std::env::args().skip(1);
    let series: usize = args.next().map_or(100_000, |a| a.parse().expect("series"));
    let minutes: i64 = args.next().map_or(30, |a| a.parse().expect("minutes"));
    let steps = (minutes * 60_000 / INTERVAL_MS) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = RocksEngine::open(dir.path(), EngineOptions::default()).expect("open");
    let shard = 0;
    let labels: Vec<Labels> = (0..series).map(labels_of).collect();
    let label_bytes: usize = labels.iter().map(|l| l.canonical_bytes().len()).sum();
    let base = ALLOCATED.load(Ordering::Relaxed);
    let start_ms = 1_700_000_000_000 / 7_200_000 * 7_200_000;
    let mut index = 0;
    for step in 0..steps {
        let mut batch = WriteBatch::default();
        for (id, l) in labels.iter().enumerate() {
            let r = if step == 0 {
                batch.new_series.push(l.clone());
                SeriesRef::New(batch.new_series.len() as u32 - 1)
            } else {
                SeriesRef::Id(id as u32)
            };
            let t = start_ms + step as i64 * INTERVAL_MS + (id % 1000) as i64;
            let v = (step * (id % 97 + 1)) as f64 * 0.25;
            batch.samples.push((r, vec![Sample::new(t, v)]));
        }
        index += 1;
        engine
            .apply(shard, index, &Command::Write(batch))
            .expect("apply");
        if step % 4 == 3 {
            engine.flush(shard, b"").expect("flush");
        }
    }
    engine.flush(shard, b"").expect("flush");
    let heap = ALLOCATED.load(Ordering::Relaxed) - base;
    let b = engine.memory_breakdown(shard);
    let per = |x: usize| x as f64 / series as f64;
    println!(
        "{series} series x {steps} samples ({:.0} canonical label bytes per series)",
        per(label_bytes)
    );
    println!(
        "heap growth (counting allocator): {:.0} bytes per series",
        per(heap)
    );
    println!(
        "  estimated: registry {:.0}, head {:.0} (open chunks {:.0}), postings {:.0}",
        per(b.registry),
        per(b.heads),
        per(b.open_chunks),
        per(b.postings)
    );
}
