//! Range queries through the results cache during the `tiers` workload: while samples are
//! backfilled, days rolled up (computed again when samples reach them late) and raw data
//! expired under faults, random nodes answer a step-aligned range over the backfilled days
//! (stitched from every tier, and from the 1-minute tier alone), so that every node's cache
//! holds results across all of it: leader changes, restarts, snapshot installs. After healing,
//! each member's cached answer must be an answer its data gives: equal to a `nocache=1`
//! evaluation just before or just after it (a flush may change what is read in between).

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::tiers::{BACK_MS, METRIC};

/// Pause between two cached reads.
pub const READ_INTERVAL_MS: u64 = 700;
/// The step of the cached range (and its alignment).
const STEP_MS: i64 = 3_600_000;

/// The expression read: samples per hour and key.
fn expr() -> String {
    format!("sum by (key) (count_over_time({METRIC}[1h]))")
}

/// The tiers read: stitched (every tier), and the 1-minute rollups alone.
const TIERS: [Option<&str>; 2] = [None, Some("1m")];

/// The range's form fields: the backfilled days, aligned to the step, pinned to `tier`.
fn form(origin_ms: i64, tier: Option<&str>, nocache: bool) -> Vec<(&'static str, String)> {
    let start = (origin_ms - BACK_MS).div_euclid(STEP_MS) * STEP_MS;
    let end = (origin_ms - 2 * 3_600_000).div_euclid(STEP_MS) * STEP_MS;
    let mut form = vec![
        ("query", expr()),
        ("start", (start / 1000).to_string()),
        ("end", (end / 1000).to_string()),
        ("step", (STEP_MS / 1000).to_string()),
    ];
    if let Some(t) = tier {
        form.push(("tier", t.to_string()));
    }
    if nocache {
        form.push(("nocache", "1".to_string()));
    }
    form
}

/// Reads answered and failed during the run.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CachedReads {
    pub ok: u32,
    pub failed: u32,
}

/// Reads the range through random nodes until `until`.
pub async fn prime(
    seed: u64,
    http: reqwest::Client,
    urls: Vec<String>,
    origin_ms: i64,
    until: Instant,
) -> CachedReads {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6361_6368);
    let mut reads = CachedReads::default();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(READ_INTERVAL_MS)).await;
        let node = rng.random_range(0..urls.len());
        let tier = TIERS[rng.random_range(0..TIERS.len())];
        match range(&http, &urls[node], &form(origin_ms, tier, false)).await {
            Ok(_) => reads.ok += 1,
            Err(_) => reads.failed += 1,
        }
    }
    reads
}

/// Through every member and tier: the cached answer against whole evaluations before and
/// after it (up to three tries, as a flush may change the data between two reads). Returns
/// the anomalies (a cached answer no evaluation gave) and the members that could not be read.
pub async fn check(
    http: &reqwest::Client,
    members: &[(u32, String)],
    origin_ms: i64,
) -> (usize, Vec<String>, Vec<String>) {
    let (mut compared, mut stale, mut unreadable) = (0, Vec::new(), Vec::new());
    for (id, url) in members {
        for tier in TIERS {
            let what = format!("node {id} tier {}", tier.unwrap_or("any"));
            let mut verdict = Ok(false);
            for _ in 0..3 {
                verdict = agree(http, url, origin_ms, tier).await;
                if !matches!(verdict, Ok(false)) {
                    break;
                }
            }
            match verdict {
                Ok(true) => compared += 1,
                Ok(false) => stale.push(format!("{what}: cached answer differs from evaluation")),
                Err(e) => unreadable.push(format!("{what}: {e}")),
            }
        }
    }
    (compared, stale, unreadable)
}

/// Whether the cached answer equals a whole evaluation read just before or just after it.
async fn agree(
    http: &reqwest::Client,
    url: &str,
    origin_ms: i64,
    tier: Option<&str>,
) -> Result<bool, String> {
    let before = range_retrying(http, url, &form(origin_ms, tier, true)).await?;
    let cached = range_retrying(http, url, &form(origin_ms, tier, false)).await?;
    let after = range_retrying(http, url, &form(origin_ms, tier, true)).await?;
    Ok(cached == before || cached == after)
}

/// `range` retried for a minute on failures (503 while a shard elects, transport errors).
async fn range_retrying(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, String)],
) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match range(http, base, form).await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// One `query_range` through `base`: its `data.result`.
async fn range(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, String)],
) -> Result<serde_json::Value, String> {
    let r = http
        .post(format!("{base}/api/v1/query_range"))
        .form(form)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = r.status();
    let json: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status} {json}"));
    }
    Ok(json["data"]["result"].clone())
}
