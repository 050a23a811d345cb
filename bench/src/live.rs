//! A dataset replayed at the pace it was scraped: the part of it that lies in the past (the
//! history rules need for their ranges) goes out as fast as the system takes it, the rest as the
//! wall clock reaches each target's scrape time, the way Prometheus' queue manager forwards
//! live scrapes: series hashed onto shards, a shard's batch sent when it holds
//! `batch_samples_max` samples or its oldest sample has waited `flush_after_ms`
//! (`batch_send_deadline`). Requests are handed to a bounded channel that
//! [`crate::sender::replay`] drains; [`LiveProgress`] tells how late it runs while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::batch::{BatchConfig, EncodedRequest};
use crate::dataset::Dataset;
use crate::remote_write::{append_time_series, compress};

/// The longest the pacing thread sleeps before looking at its stop switch again.
const SLEEP_SLICE_MS: i64 = 100;
/// Requests buffered between the pacing thread and the senders.
const QUEUED_REQUESTS_MAX: usize = 64;
/// Samples due within this long are sent without sleeping first.
const SLEEP_MIN_MS: i64 = 20;

/// What the pacing thread did.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveStats {
    /// Samples handed to the senders.
    pub samples: u64,
    /// Of which were already in the past when the stream started (the history).
    pub history_samples: u64,
    /// The latest a live sample was handed over after its timestamp, in ms (a sender that
    /// cannot keep up shows here).
    pub lateness_ms_max: i64,
}

/// How late the pacing thread runs, readable while it runs.
#[derive(Debug, Default)]
pub struct LiveProgress {
    /// The latest a live sample was handed over after its timestamp since this was last taken
    /// ([`LiveProgress::take_lateness_ms_max`]).
    lateness_ms_max: AtomicI64,
}

impl LiveProgress {
    /// The latest a live sample was handed over after its timestamp, in ms, since the last call
    /// (0 if none was late).
    pub fn take_lateness_ms_max(&self) -> i64 {
        self.lateness_ms_max.swap(0, Ordering::Relaxed)
    }
}

/// A running paced stream: its requests, a stop switch, its progress and the thread.
pub struct LiveStream {
    requests: Receiver<EncodedRequest>,
    stop: Arc<AtomicBool>,
    progress: Arc<LiveProgress>,
    thread: JoinHandle<LiveStats>,
}

impl LiveStream {
    /// Starts pacing `dataset` (whose later scrapes lie in the future) on its own thread.
    pub fn start(dataset: Dataset, batch: BatchConfig, flush_after_ms: u64) -> LiveStream {
        let (tx, rx) = sync_channel(QUEUED_REQUESTS_MAX);
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(LiveProgress::default());
        let (thread_stop, thread_progress) = (stop.clone(), progress.clone());
        let thread = std::thread::spawn(move || {
            pace(
                dataset,
                batch,
                flush_after_ms,
                tx,
                &thread_stop,
                &thread_progress,
            )
        });
        LiveStream {
            requests: rx,
            stop,
            progress,
            thread,
        }
    }

    /// How late the stream runs, readable while it runs.
    pub fn progress(&self) -> Arc<LiveProgress> {
        self.progress.clone()
    }

    /// Splits the stream into its requests, its stop switch (set: the stream ends at the next
    /// sample) and its thread (which returns what it did).
    pub fn into_parts(
        self,
    ) -> (
        Receiver<EncodedRequest>,
        Arc<AtomicBool>,
        JoinHandle<LiveStats>,
    ) {
        (self.requests, self.stop, self.thread)
    }
}

/// Wall-clock time in ms since the epoch.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Sleeps until wall-clock `ts_ms`; false if `stop` was set meanwhile.
fn sleep_until(ts_ms: i64, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = ts_ms - wall_ms();
        if left <= 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(left.min(SLEEP_SLICE_MS) as u64));
    }
}

struct ShardBuffer {
    body: Vec<u8>,
    samples: u32,
    /// When the first sample of the current batch was added.
    opened: Option<Instant>,
}

fn pace(
    mut dataset: Dataset,
    batch: BatchConfig,
    flush_after_ms: u64,
    tx: SyncSender<EncodedRequest>,
    stop: &AtomicBool,
    progress: &LiveProgress,
) -> LiveStats {
    let shards = batch.shards.max(1);
    let mut buffers: Vec<ShardBuffer> = (0..shards)
        .map(|_| ShardBuffer {
            body: Vec::new(),
            samples: 0,
            opened: None,
        })
        .collect();
    let mut encoder = snap::raw::Encoder::new();
    let flush_after = Duration::from_millis(flush_after_ms);
    let labels = std::mem::take(&mut dataset.labels_encoded);
    let shard_of: Vec<usize> = dataset
        .label_hash
        .iter()
        .map(|h| (h % shards as u64) as usize)
        .collect();
    let started_ms = wall_ms();
    let mut stats = LiveStats::default();
    let mut open = true;
    let mut emit = |shard: usize, buffer: &mut ShardBuffer, open: &mut bool| {
        if buffer.samples == 0 {
            return;
        }
        let body = compress(&mut encoder, &buffer.body);
        let request = EncodedRequest {
            shard,
            samples: buffer.samples,
            body: Bytes::from(body),
            raw_bytes: buffer.body.len() as u32,
        };
        buffer.body.clear();
        buffer.samples = 0;
        buffer.opened = None;
        if *open && tx.send(request).is_err() {
            *open = false;
        }
    };
    for step in 0..dataset.scrapes.steps {
        if stop.load(Ordering::Relaxed) || !open {
            break;
        }
        dataset.scrapes.scrape(step, |series, ts, value| {
            if !open || stop.load(Ordering::Relaxed) {
                return;
            }
            let mut now = wall_ms();
            if ts - now > SLEEP_MIN_MS {
                // Nothing more is due before `ts`: send what waited long enough, then wait.
                for (shard, buffer) in buffers.iter_mut().enumerate() {
                    emit(shard, buffer, &mut open);
                }
                if !sleep_until(ts, stop) {
                    return;
                }
                now = wall_ms();
            }
            if ts < started_ms {
                stats.history_samples += 1;
            } else {
                stats.lateness_ms_max = stats.lateness_ms_max.max(now - ts);
                progress
                    .lateness_ms_max
                    .fetch_max(now - ts, Ordering::Relaxed);
            }
            let shard = shard_of[series as usize];
            let buffer = &mut buffers[shard];
            append_time_series(&mut buffer.body, &labels[series as usize], ts, value);
            buffer.samples += 1;
            buffer.opened.get_or_insert_with(Instant::now);
            stats.samples += 1;
            if buffer.samples >= batch.batch_samples_max {
                emit(shard, buffer, &mut open);
            }
            for (shard, buffer) in buffers.iter_mut().enumerate() {
                if buffer.opened.is_some_and(|t| t.elapsed() >= flush_after) {
                    emit(shard, buffer, &mut open);
                }
            }
        });
    }
    for (shard, buffer) in buffers.iter_mut().enumerate() {
        emit(shard, buffer, &mut open);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_testkit::dataset::node_exporter;

    #[test]
    fn history_goes_at_once_and_every_sample_once() {
        // Two minutes of history at 15 s ending now: all in the past, sent without pacing.
        let end = wall_ms() / 15_000 * 15_000 - 15_000;
        let ds = Dataset::encode(300, |on| node_exporter(300, 2.0 / 60.0, 15, 3, end, on));
        let total = ds.scrapes.samples_total;
        let started = Instant::now();
        let stream = LiveStream::start(
            ds,
            BatchConfig {
                shards: 3,
                batch_samples_max: 500,
            },
            5_000,
        );
        let progress = stream.progress();
        let (rx, _stop, thread) = stream.into_parts();
        let sent: u64 = rx.iter().map(|r| u64::from(r.samples)).sum();
        let stats = thread.join().unwrap();
        assert_eq!(sent, total);
        assert_eq!(stats.samples, total);
        // History is never late.
        assert_eq!(progress.take_lateness_ms_max(), 0);
        assert_eq!(stats.history_samples, total);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn stop_ends_a_live_stream() {
        // Ten minutes ending in the future: only the past part goes before the stop.
        let end = (wall_ms() / 15_000 + 40) * 15_000;
        let ds = Dataset::encode(100, |on| node_exporter(100, 0.25, 15, 3, end, on));
        let total = ds.scrapes.samples_total;
        let stream = LiveStream::start(
            ds,
            BatchConfig {
                shards: 2,
                batch_samples_max: 100,
            },
            200,
        );
        let (rx, stop, thread) = stream.into_parts();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        let sent: u64 = rx.iter().map(|r| u64::from(r.samples)).sum();
        let stats = thread.join().unwrap();
        assert!(sent < total && sent == stats.samples);
        assert!(stats.history_samples > 0);
    }
}
