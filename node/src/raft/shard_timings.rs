//! How long a node's shard state machines take for a flush (the head persisted with its
//! applied index), how much of it the shard's applies waited (the flush proper, after its
//! encoding work was prepared), and how long the apply of a `Seal` entry takes. Shared by every
//! shard group of the node and served on `/metrics` as `tidemark_shard_flush_duration_seconds`,
//! `tidemark_shard_flush_pause_seconds` and `tidemark_shard_seal_apply_duration_seconds`.
//! Observing a duration changes nothing a replica computes.

use std::time::Instant;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// The histograms (cheap to clone: clones count into the same buckets).
#[derive(Clone, Debug)]
pub struct ShardTimings {
    /// Seconds per shard flush, its prepared encoding work included.
    pub flush: Histogram,
    /// Seconds per shard flush during which the shard's applies waited.
    pub flush_pause: Histogram,
    /// Seconds per applied `Seal` entry.
    pub seal_apply: Histogram,
}

impl Default for ShardTimings {
    fn default() -> Self {
        // 1 ms to about 33 s: a flush of a small shard takes milliseconds, one that writes a
        // sealed partition of a million series tens of seconds.
        let buckets = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        ShardTimings {
            flush: buckets(),
            flush_pause: buckets(),
            seal_apply: buckets(),
        }
    }
}

/// Runs `f` and observes its duration in `histogram`, whatever it returns.
pub fn timed<T>(histogram: &Histogram, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    histogram.observe(started.elapsed().as_secs_f64());
    out
}
