//! Replays remote-write requests against one system: one sender task per shard (requests of a
//! shard are sent one at a time, in order, like a Prometheus queue-manager shard), a producer that
//! hands requests to shards through small bounded queues (so shards cannot drift apart in time by
//! more than a few batches: Prometheus' head rejects samples older than about an hour behind its
//! newest), retries with exponential backoff on 429/503 and on connection errors, and counts every
//! other non-2xx as an error (the batch is dropped, as Prometheus does on 4xx).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::batch::EncodedRequest;
use crate::systems::truncate;

/// Bounds of one replay.
#[derive(Clone, Copy, Debug)]
pub struct SendLimits {
    pub shards: usize,
    /// Requests queued per shard ahead of its sender.
    pub queue_requests_max: usize,
    /// Retries of one request before it is counted as failed.
    pub retries_max: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub request_timeout_ms: u64,
    /// The whole replay stops (and reports) after this long.
    pub deadline_ms: u64,
    /// How often progress is printed (0: never).
    pub progress_interval_ms: u64,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits {
            shards: 4,
            queue_requests_max: 2,
            retries_max: 30,
            backoff_initial_ms: 30,
            backoff_max_ms: 5_000,
            request_timeout_ms: 60_000,
            deadline_ms: 1_800_000,
            progress_interval_ms: 5_000,
        }
    }
}

/// What a replay achieved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SendStats {
    pub samples_sent_ok: u64,
    pub requests_ok: u64,
    pub requests_failed: u64,
    pub retries_429: u64,
    pub retries_503: u64,
    pub retries_network: u64,
    /// Wall time from the first send to the last 2xx.
    pub wall_s: f64,
    pub samples_per_s: f64,
    pub compressed_bytes_sent: u64,
    /// Time from sending a request to its 2xx (the successful attempt), median and 99th
    /// percentile over every acknowledged request, in ms.
    pub ack_ms_p50: f64,
    pub ack_ms_p99: f64,
    pub deadline_hit: bool,
    /// The first few error messages.
    pub errors: Vec<String>,
}

const ERROR_EXAMPLES_MAX: usize = 10;

/// What a replay has done so far, readable while it runs ([`replay_counted`]).
#[derive(Default)]
pub struct Counters {
    samples_ok: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    retries_429: AtomicU64,
    retries_503: AtomicU64,
    retries_network: AtomicU64,
    bytes: AtomicU64,
    stop: AtomicBool,
    /// Acknowledgement latency of every acknowledged request, in microseconds.
    ack_us: std::sync::Mutex<Vec<u32>>,
}

impl Counters {
    /// Samples acknowledged so far.
    pub fn samples_ok(&self) -> u64 {
        self.samples_ok.load(Ordering::Relaxed)
    }

    /// Requests given up so far (a non-retryable status, or retries spent).
    pub fn requests_failed(&self) -> u64 {
        self.requests_failed.load(Ordering::Relaxed)
    }

    /// Retries so far (429, 503 and connection errors).
    pub fn retries(&self) -> u64 {
        self.retries_429.load(Ordering::Relaxed)
            + self.retries_503.load(Ordering::Relaxed)
            + self.retries_network.load(Ordering::Relaxed)
    }
}

/// Sends everything `source` yields to `url` and reports rates. `source` runs on a blocking thread
/// (it may generate and encode on the fly).
pub async fn replay<I>(
    client: reqwest::Client,
    url: String,
    source: I,
    limits: SendLimits,
) -> Result<SendStats>
where
    I: Iterator<Item = EncodedRequest> + Send + 'static,
{
    replay_counted(client, url, source, limits, Arc::default()).await
}

/// [`replay`], counting into `counters` as it goes (for progress read by the caller).
pub async fn replay_counted<I>(
    client: reqwest::Client,
    url: String,
    source: I,
    limits: SendLimits,
    counters: Arc<Counters>,
) -> Result<SendStats>
where
    I: Iterator<Item = EncodedRequest> + Send + 'static,
{
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::with_capacity(limits.shards);
    let mut workers = Vec::with_capacity(limits.shards);
    let started = Instant::now();
    let deadline = started + Duration::from_millis(limits.deadline_ms);
    for _ in 0..limits.shards {
        let (tx, mut rx) = mpsc::channel::<EncodedRequest>(limits.queue_requests_max.max(1));
        senders.push(tx);
        let (client, url, counters, errors) = (
            client.clone(),
            url.clone(),
            counters.clone(),
            errors.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut last_ok: Option<Instant> = None;
            while let Some(request) = rx.recv().await {
                if Instant::now() >= deadline || counters.stop.load(Ordering::Relaxed) {
                    counters.stop.store(true, Ordering::Relaxed);
                    break;
                }
                match send_one(&client, &url, &request, &limits, &counters).await {
                    Ok(()) => {
                        last_ok = Some(Instant::now());
                        counters
                            .samples_ok
                            .fetch_add(u64::from(request.samples), Ordering::Relaxed);
                        counters.requests_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(message) => {
                        counters.requests_failed.fetch_add(1, Ordering::Relaxed);
                        let mut errors = errors.lock().expect("errors lock");
                        if errors.len() < ERROR_EXAMPLES_MAX {
                            errors.push(message);
                        }
                    }
                }
            }
            last_ok
        }));
    }

    let producer_stop = counters.clone();
    let producer = tokio::task::spawn_blocking(move || {
        for request in source {
            if producer_stop.stop.load(Ordering::Relaxed) {
                break;
            }
            let shard = request.shard % senders.len();
            if senders[shard].blocking_send(request).is_err() {
                break;
            }
        }
        // Dropping the senders ends the workers once their queues drain.
    });

    let progress_counters = counters.clone();
    let progress_interval_ms = limits.progress_interval_ms;
    let progress = tokio::spawn(async move {
        if progress_interval_ms == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(progress_interval_ms));
        tick.tick().await;
        loop {
            tick.tick().await;
            let samples = progress_counters.samples_ok();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "  ... {:>6.1} s: {} samples acknowledged ({:.0}/s), retries {}",
                secs,
                samples,
                samples as f64 / secs,
                progress_counters.retries()
            );
        }
    });

    let mut last_ok: Option<Instant> = None;
    for worker in workers {
        if let Some(t) = worker.await? {
            last_ok = Some(last_ok.map_or(t, |l: Instant| l.max(t)));
        }
    }
    progress.abort();
    producer.await?;

    let wall_s = last_ok.map_or(0.0, |t| (t - started).as_secs_f64());
    let mut ack_us = std::mem::take(&mut *counters.ack_us.lock().expect("ack lock"));
    ack_us.sort_unstable();
    let percentile_ms = |q: f64| {
        if ack_us.is_empty() {
            return 0.0;
        }
        let i = ((ack_us.len() - 1) as f64 * q).round() as usize;
        f64::from(ack_us[i]) / 1000.0
    };
    let samples = counters.samples_ok.load(Ordering::Relaxed);
    let errors = errors.lock().expect("errors lock").clone();
    Ok(SendStats {
        samples_sent_ok: samples,
        requests_ok: counters.requests_ok.load(Ordering::Relaxed),
        requests_failed: counters.requests_failed.load(Ordering::Relaxed),
        retries_429: counters.retries_429.load(Ordering::Relaxed),
        retries_503: counters.retries_503.load(Ordering::Relaxed),
        retries_network: counters.retries_network.load(Ordering::Relaxed),
        wall_s,
        samples_per_s: if wall_s > 0.0 {
            samples as f64 / wall_s
        } else {
            0.0
        },
        compressed_bytes_sent: counters.bytes.load(Ordering::Relaxed),
        ack_ms_p50: percentile_ms(0.5),
        ack_ms_p99: percentile_ms(0.99),
        deadline_hit: counters.stop.load(Ordering::Relaxed),
        errors,
    })
}

/// Sends one request until a 2xx, a non-retryable status, or the retry budget is spent.
async fn send_one(
    client: &reqwest::Client,
    url: &str,
    request: &EncodedRequest,
    limits: &SendLimits,
    counters: &Counters,
) -> std::result::Result<(), String> {
    let mut backoff_ms = limits.backoff_initial_ms;
    let mut attempt = 0u32;
    loop {
        let sent = Instant::now();
        let result = client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header("User-Agent", "tidemark-bench")
            .timeout(Duration::from_millis(limits.request_timeout_ms))
            .body(request.body.clone())
            .send()
            .await;
        let retry_reason = match result {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                    counters.ack_us.lock().expect("ack lock").push(us);
                    counters
                        .bytes
                        .fetch_add(request.body.len() as u64, Ordering::Relaxed);
                    return Ok(());
                }
                match status.as_u16() {
                    429 => {
                        counters.retries_429.fetch_add(1, Ordering::Relaxed);
                        format!("HTTP {status}")
                    }
                    503 => {
                        counters.retries_503.fetch_add(1, Ordering::Relaxed);
                        format!("HTTP {status}")
                    }
                    _ => {
                        let body = resp.text().await.unwrap_or_default();
                        return Err(format!("HTTP {status}: {}", truncate(body.trim(), 300)));
                    }
                }
            }
            Err(e) => {
                counters.retries_network.fetch_add(1, Ordering::Relaxed);
                format!("request error: {e}")
            }
        };
        attempt += 1;
        if attempt > limits.retries_max {
            return Err(format!(
                "gave up after {} retries: {retry_reason}",
                limits.retries_max
            ));
        }
        tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
        backoff_ms = (backoff_ms * 2).min(limits.backoff_max_ms);
    }
}
