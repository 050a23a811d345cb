//! How long a shard's applies wait for its flushes, with the flush's encoding work prepared
//! while applies go on (`Engine::prepare_flush`, as a node's state machine does) against the
//! whole flush holding them (as before it did).
//!
//! `cargo run --release -p tidemark-storage --example flush_pause [series] [hours]`
//! (defaults: 250,000 series, a quarter of a 1M-series node of four shards; 2.25 h at 15 s, so
//! that every series cuts its chunk at the 120th sample, 30 minutes in, and the first 2 h
//! partition is sealed). One thread applies a batch per scrape step as fast as it can, and the
//! leader's `Seal`s, under a mutex standing for the state machine's; another flushes after
//! every minute of data (a trigger while a flush runs is skipped, as a node's flush loop
//! waits). Each mode runs on a fresh `RocksEngine` with the same data; it prints the applies'
//! latency (waiting for the mutex included) and the flushes that took longer than 500 ms.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tidemark_storage::{
    Command, Engine, EngineOptions, Flushed, Labels, LateSeals, RocksEngine, Sample, SeriesRef,
    WriteBatch,
};

const INTERVAL_MS: i64 = 15_000;
const STEPS_PER_FLUSH: usize = 4;
/// The leader seals a partition once its end is this far behind the newest sample.
const OOO_WINDOW_MS: i64 = 10 * 60_000;
const SHARD: u32 = 0;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `prepare_flush` without the mutex, `flush_prepared` under it.
    Prepared,
    /// `flush` under the mutex.
    Whole,
}

/// One flush: the minute of data it followed, its time without the mutex and its pause (the
/// time holding it, waiting for it included).
struct Flush {
    minute: usize,
    prepare: Duration,
    pause: Duration,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let series: usize = args.next().map_or(250_000, |a| a.parse().expect("series"));
    let hours: f64 = args.next().map_or(2.25, |a| a.parse().expect("hours"));
    let steps = (hours * 3_600_000.0 / INTERVAL_MS as f64) as usize;
    println!("{series} series x {steps} steps of 15 s, a flush after every minute of data");
    for (name, mode) in [("prepared", Mode::Prepared), ("whole", Mode::Whole)] {
        let (applies, flushes, took) = run(series, steps, mode);
        report(name, &applies, &flushes, took);
    }
}

fn run(series: usize, steps: usize, mode: Mode) -> (Vec<Duration>, Vec<Flush>, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = RocksEngine::open(dir.path(), EngineOptions::default()).expect("open");
    engine.set_shared_time_columns(true);
    let sm = Mutex::new(0u64);
    let (trigger, triggered) = std::sync::mpsc::sync_channel::<usize>(1);
    let started = Instant::now();
    let (applies, flushes) = std::thread::scope(|s| {
        let flusher = s.spawn(|| flush_loop(&engine, &sm, triggered, mode));
        let applies = write_loop(&engine, &sm, series, steps, trigger);
        (applies, flusher.join().expect("flusher"))
    });
    (applies, flushes, started.elapsed())
}

/// Applies every step (and the seals due), returning each apply's latency.
fn write_loop(
    engine: &RocksEngine,
    sm: &Mutex<u64>,
    series: usize,
    steps: usize,
    trigger: SyncSender<usize>,
) -> Vec<Duration> {
    let start_ms = 1_700_000_000_000 / 7_200_000 * 7_200_000;
    let mut values = vec![0.0f64; series];
    let mut latencies = Vec::with_capacity(steps);
    for step in 0..steps {
        let mut batch = WriteBatch::default();
        for (id, v) in values.iter_mut().enumerate() {
            let r = if step == 0 {
                batch.new_series.push(labels_of(id));
                SeriesRef::New(id as u32)
            } else {
                SeriesRef::Id(id as u32)
            };
            // A counter whose increments vary per series and step; timestamps jittered per
            // target like a scrape's.
            *v += (mix(id as u64 * 1_000_003 + step as u64) % 200) as f64 * 0.25;
            let t = start_ms + step as i64 * INTERVAL_MS + (id % 1000) as i64;
            batch.samples.push((r, vec![Sample::new(t, *v)]));
        }
        let waited = Instant::now();
        {
            let mut index = lock(sm);
            *index += 1;
            engine
                .apply(SHARD, *index, &Command::Write(batch))
                .expect("apply");
            for p in engine.sealable_partitions(SHARD, OOO_WINDOW_MS) {
                *index += 1;
                let seal = Command::Seal {
                    partition_start_ms: p,
                };
                engine.apply(SHARD, *index, &seal).expect("seal");
            }
        }
        latencies.push(waited.elapsed());
        if step % STEPS_PER_FLUSH == STEPS_PER_FLUSH - 1 {
            match trigger.try_send(step / STEPS_PER_FLUSH) {
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => panic!("flusher gone"),
            }
        }
    }
    latencies
}

fn flush_loop(
    engine: &RocksEngine,
    sm: &Mutex<u64>,
    triggered: Receiver<usize>,
    mode: Mode,
) -> Vec<Flush> {
    let mut flushes = Vec::new();
    for minute in triggered {
        let started = Instant::now();
        let mut pause = Duration::ZERO;
        match mode {
            // As a node's state machine does (`SmShared::flush_shard`): prepare without the
            // mutex; a partition sealed meanwhile hands the preparation back, twice at most.
            Mode::Prepared => {
                let mut prepared = engine.prepare_flush(SHARD, None).expect("prepare");
                for attempt in 1.. {
                    let paused = Instant::now();
                    let _sm = lock(sm);
                    let late = if attempt < 3 {
                        LateSeals::Return
                    } else {
                        LateSeals::Encode
                    };
                    let flushed = engine.flush_prepared(SHARD, prepared, b"", late);
                    pause += paused.elapsed();
                    match flushed.expect("flush") {
                        Flushed::Index(_) => break,
                        Flushed::Unprepared(p) => {
                            drop(_sm);
                            prepared = engine.prepare_flush(SHARD, Some(p)).expect("prepare");
                        }
                    }
                }
            }
            Mode::Whole => {
                let paused = Instant::now();
                let _sm = lock(sm);
                engine.flush(SHARD, b"").expect("flush");
                pause = paused.elapsed();
            }
        }
        let prepare = started.elapsed() - pause;
        flushes.push(Flush {
            minute,
            prepare,
            pause,
        });
    }
    flushes
}

fn report(name: &str, applies: &[Duration], flushes: &[Flush], took: Duration) {
    let mut sorted = applies.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let pause_max = flushes.iter().map(|f| f.pause).max().unwrap_or_default();
    println!(
        "{name}: {:.1} s; applies median {:.0} ms, p99 {:.0}, max {:.0}; {} flushes, longest \
         pause {:.0} ms",
        took.as_secs_f64(),
        at(0.5),
        at(0.99),
        at(1.0),
        flushes.len(),
        pause_max.as_secs_f64() * 1e3
    );
    for f in flushes
        .iter()
        .filter(|f| f.prepare + f.pause > Duration::from_millis(500))
    {
        println!(
            "  after minute {:>3}: prepare {:>6.0} ms, pause {:>6.0} ms",
            f.minute + 1,
            f.prepare.as_secs_f64() * 1e3,
            f.pause.as_secs_f64() * 1e3
        );
    }
}

fn lock(m: &Mutex<u64>) -> MutexGuard<'_, u64> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn labels_of(id: usize) -> Labels {
    let host = id / 50;
    Labels::from_pairs(&[
        ("__name__", "requests_total"),
        ("instance", &format!("host-{host:05}:9100")),
        ("job", "app"),
        ("path", &format!("/api/v{}", id % 50)),
    ])
}

/// A 64-bit mixer (splitmix64's finaliser): deterministic pseudo-random increments.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
