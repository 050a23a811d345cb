//! The `tiers` workload: samples backfilled up to three days into the past while retention (raw
//! data 2 days, 1-minute windows 30 days, 1-hour windows a year) rolls them up and expires their
//! raw data under faults, run on request through random nodes all along: late samples land in
//! open partitions, in sealed ones, in rolled-up days (computed again) and, refused, where raw
//! data went. After healing, every
//! acknowledged sample must still be counted through every member: from raw data where it is
//! kept, from rollup windows where it went (a window counts its samples exactly), and nothing
//! that was never written. Replica digests (compared for every workload) cover the tiers.
//! Meanwhile range queries over those days go through every node's results cache
//! (`cached_reads.rs`): after healing, no cached answer may differ from what the data gives.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tidemark_proto::prometheus as pb;

use crate::history::Outcome;
use crate::workload::{label, now_ms, post_write};

/// The metric of the workload's series (label `key`).
pub const METRIC: &str = "jepsen_tier";
/// Series written.
pub const KEYS: u32 = 4;
/// Samples per write.
pub const SAMPLES_PER_WRITE: usize = 20;
/// Pause between two writes.
pub const OP_INTERVAL_MS: u64 = 50;
/// Pause between two retention runs asked for.
pub const RUN_INTERVAL_MS: u64 = 1_500;
/// The policy the workload sets.
pub const POLICY: &str = "raw: 2d\nrollup_1m: 30d\nrollup_1h: 1y\n";
/// Samples are written from this long before the start to two hours before it.
pub const BACK_MS: i64 = 3 * 86_400_000;
/// Spacing of the time slots samples take (one sample per slot and series).
pub const SLOT_MS: i64 = 15_000;

/// One write of the workload.
#[derive(Clone, Debug, Serialize)]
pub struct TierWrite {
    pub key: u32,
    pub node: u32,
    pub invoke_ms: u64,
    pub timestamps: Vec<i64>,
    pub outcome: Outcome,
    pub detail: String,
}

/// What the workload did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierHistory {
    pub writes: Vec<TierWrite>,
    /// Retention runs answered 200, and the others.
    pub runs_ok: u32,
    pub runs_failed: u32,
    /// When (ms since the epoch) the workload started writing: samples lie in
    /// `[origin - BACK_MS, origin - 2h]`.
    pub origin_ms: i64,
    /// Range queries through the results cache during the run.
    pub cached_reads: crate::cached_reads::CachedReads,
}

/// What the checker found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierCheck {
    /// Whether the workload ran.
    pub ran: bool,
    pub writes_ok: usize,
    pub writes_failed: usize,
    pub writes_indeterminate: usize,
    pub runs_ok: u32,
    /// Per member and key: (counted, acknowledged, written or maybe, raw samples left).
    pub counts: Vec<(u32, u32, u64, u64, u64, u64)>,
    /// Members and keys counting fewer samples than were acknowledged.
    pub lost: Vec<String>,
    /// Members and keys counting more samples than were ever sent.
    pub phantom: Vec<String>,
    /// Members that could not be read.
    pub unreadable: Vec<String>,
    /// Whether raw data expired anywhere (the tiers did their work during the run).
    pub raw_expired: bool,
    /// Cached range answers compared with whole evaluation after healing, and those that
    /// differed from it.
    pub cache_compared: usize,
    pub cache_stale: Vec<String>,
}

impl TierCheck {
    pub fn valid(&self) -> bool {
        !self.ran
            || (self.lost.is_empty()
                && self.phantom.is_empty()
                && self.unreadable.is_empty()
                && self.cache_stale.is_empty()
                && self.raw_expired)
    }

    /// Rows for the report's table (empty when the workload did not run).
    pub fn table(&self) -> String {
        if !self.ran {
            return String::new();
        }
        let mut s = format!(
            "{:<32} {}/{}/{}\n{:<32} {}\n",
            "tier writes ok/failed/indet.",
            self.writes_ok,
            self.writes_failed,
            self.writes_indeterminate,
            "tier retention runs ok",
            self.runs_ok
        );
        for (node, key, all, acked, maybe, raw) in &self.counts {
            s.push_str(&format!(
                "  node {node} key {key}: {all} counted ({raw} raw), {acked} acknowledged, {maybe} at most\n"
            ));
        }
        s.push_str(&format!(
            "{:<32} {} compared with evaluation\n",
            "tier cached range answers", self.cache_compared
        ));
        for line in self
            .lost
            .iter()
            .chain(&self.phantom)
            .chain(&self.unreadable)
            .chain(&self.cache_stale)
        {
            s.push_str(&format!("  tiers anomaly: {line}\n"));
        }
        if !self.raw_expired {
            s.push_str("  tiers anomaly: no raw data expired: the tiers did not run\n");
        }
        s
    }

    /// Fields for the verdict line (empty when the workload did not run).
    pub fn verdict_fields(&self) -> String {
        if !self.ran {
            return String::new();
        }
        format!(
            " tier_writes={} tier_ok={} tier_runs={} tier_lost={} tier_phantom={} tier_unreadable={} tier_raw_expired={} tier_cache_compared={} tier_cache_stale={}",
            self.writes_ok + self.writes_failed + self.writes_indeterminate,
            self.writes_ok,
            self.runs_ok,
            self.lost.len(),
            self.phantom.len(),
            self.unreadable.len(),
            self.raw_expired,
            self.cache_compared,
            self.cache_stale.len()
        )
    }
}

/// Sets the policy (retrying until a node takes it or `until`), then writes backfilled
/// samples and asks for retention runs until `until`.
pub async fn run_tiers(
    seed: u64,
    http: reqwest::Client,
    urls: Vec<String>,
    started: Instant,
    until: Instant,
) -> TierHistory {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7469_6572);
    let mut history = TierHistory {
        origin_ms: now_ms(),
        ..TierHistory::default()
    };
    while Instant::now() < until {
        let node = rng.random_range(0..urls.len());
        let ok = http
            .put(format!("{}/api/v1/admin/retention", urls[node]))
            .body(POLICY)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let origin = history.origin_ms;
    let runs = async {
        let (mut ok, mut failed) = (0, 0);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x7275_6e73);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(RUN_INTERVAL_MS)).await;
            let node = rng.random_range(0..urls.len());
            let r = http
                .post(format!("{}/api/v1/admin/retention/run", urls[node]))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        (ok, failed)
    };
    let writes = async {
        let mut used: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); KEYS as usize];
        let slots = (BACK_MS - 2 * 3_600_000) / SLOT_MS;
        let mut out = Vec::new();
        while Instant::now() < until {
            let key = rng.random_range(0..KEYS);
            let node = rng.random_range(0..urls.len());
            // A run of consecutive free slots from a random one (late samples land in whole
            // stretches, as a backfill does).
            let mut slot = rng.random_range(0..slots);
            let mut timestamps = Vec::with_capacity(SAMPLES_PER_WRITE);
            while timestamps.len() < SAMPLES_PER_WRITE && slot < slots {
                let t = origin - BACK_MS + slot * SLOT_MS;
                if used[key as usize].insert(t) {
                    timestamps.push(t);
                }
                slot += 1;
            }
            if timestamps.is_empty() {
                continue;
            }
            let invoke_ms = started.elapsed().as_millis() as u64;
            let (outcome, detail) = post_write(&http, &urls[node], encode(key, &timestamps)).await;
            out.push(TierWrite {
                key,
                node: node as u32 + 1,
                invoke_ms,
                timestamps,
                outcome,
                detail,
            });
            tokio::time::sleep(Duration::from_millis(OP_INTERVAL_MS)).await;
        }
        out
    };
    let reads = crate::cached_reads::prime(seed, http.clone(), urls.clone(), origin, until);
    let (writes, (ok, failed), reads) = tokio::join!(writes, runs, reads);
    history.cached_reads = reads;
    history.writes = writes;
    history.runs_ok = ok;
    history.runs_failed = failed;
    history
}

fn encode(key: u32, timestamps: &[i64]) -> Vec<u8> {
    use prost::Message;
    let req = pb::WriteRequest {
        timeseries: vec![pb::TimeSeries {
            labels: vec![label("__name__", METRIC), label("key", &key.to_string())],
            samples: timestamps
                .iter()
                .map(|&t| pb::Sample {
                    value: 1.0,
                    timestamp: t,
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

/// After healing: one more retention run, then every member counts every key's samples, from
/// whichever tier holds them, and its raw samples alone.
pub async fn check_tiers(
    history: &TierHistory,
    http: &reqwest::Client,
    members: &[(u32, String)],
) -> TierCheck {
    let mut check = TierCheck {
        ran: true,
        runs_ok: history.runs_ok,
        ..TierCheck::default()
    };
    let mut acked = vec![0u64; KEYS as usize];
    let mut maybe = vec![0u64; KEYS as usize];
    for w in &history.writes {
        let n = w.timestamps.len() as u64;
        match w.outcome {
            Outcome::Ok => {
                check.writes_ok += 1;
                acked[w.key as usize] += n;
                maybe[w.key as usize] += n;
            }
            // A 400 may be partial (some samples of the write refused, the others taken).
            Outcome::Fail if w.detail.starts_with("400") => {
                check.writes_failed += 1;
                maybe[w.key as usize] += n;
            }
            Outcome::Fail => check.writes_failed += 1,
            Outcome::Indeterminate => {
                check.writes_indeterminate += 1;
                maybe[w.key as usize] += n;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    'run: while Instant::now() < deadline {
        for (_, url) in members {
            let r = http
                .post(format!("{url}/api/v1/admin/retention/run"))
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                break 'run;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let at_ms = history.origin_ms;
    let (compared, stale, unreadable) =
        crate::cached_reads::check(http, members, history.origin_ms).await;
    check.cache_compared = compared;
    check.cache_stale = stale;
    check.unreadable.extend(unreadable);
    for (id, url) in members {
        for key in 0..KEYS {
            let expr = format!("count_over_time({METRIC}{{key=\"{key}\"}}[4d])");
            let (all, raw) = (
                count(http, url, &expr, at_ms, None).await,
                count(http, url, &expr, at_ms, Some("raw")).await,
            );
            let (Ok(all), Ok(raw)) = (all, raw) else {
                check.unreadable.push(format!("node {id} key {key}"));
                continue;
            };
            let k = key as usize;
            check.counts.push((*id, key, all, acked[k], maybe[k], raw));
            if raw < all {
                check.raw_expired = true;
            }
            if all < acked[k] {
                check.lost.push(format!(
                    "node {id} key {key}: {all} counted, {} acknowledged",
                    acked[k]
                ));
            }
            if all > maybe[k] {
                check.phantom.push(format!(
                    "node {id} key {key}: {all} counted, at most {} written",
                    maybe[k]
                ));
            }
        }
    }
    check
}

/// The value of instant query `expr` at `at_ms` through `base` (0 with no series), pinned to
/// `tier` if given; retries 503s and transport errors for a minute.
async fn count(
    http: &reqwest::Client,
    base: &str,
    expr: &str,
    at_ms: i64,
    tier: Option<&str>,
) -> Result<u64, String> {
    let mut form = vec![
        ("query", expr.to_string()),
        ("time", format!("{:.3}", at_ms as f64 / 1000.0)),
    ];
    if let Some(t) = tier {
        form.push(("tier", t.to_string()));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = http
            .post(format!("{base}/api/v1/query"))
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let why = match res {
            Ok(r) if r.status().is_success() => {
                let json: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
                let v = json["data"]["result"][0]["value"][1]
                    .as_str()
                    .map_or(Ok(0.0), |s| s.parse::<f64>().map_err(|e| e.to_string()))?;
                return Ok(v as u64);
            }
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => format!("transport: {e}"),
        };
        if Instant::now() > deadline {
            return Err(format!("{expr} through {base}: {why}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
