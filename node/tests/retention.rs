//! Retention against one real `tidemark` node: a policy seeded from the node's YAML, per-metric
//! overrides, expiry run on request, the policy changed with `tidemarkctl retention set`
//! without a restart, disk space given back, late samples for expired data refused, and all of
//! it surviving kill -9; a node whose YAML differs from the cluster's policy reports it and
//! applies the cluster's.
//!
//! Needs `tidemarkctl` next to `tidemark`: build it first (`cargo build -p tidemark-cli`).

mod support;

use serde_json::Value;
use support::{Node, TestSeries, encode_write_v1, post_write_v1};

const DAY_MS: i64 = 86_400_000;
const PARTITION_MS: i64 = 2 * 3_600_000;
const STEP_MS: i64 = 10 * 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The samples of `name` that retention `keep_ms` leaves at `now`: those whose partition
/// ends later than `now - keep_ms` (expiry removes whole partitions).
fn kept(ts: &[i64], now: i64, keep_ms: i64) -> usize {
    ts.iter()
        .filter(|&&t| t.div_euclid(PARTITION_MS) * PARTITION_MS + PARTITION_MS > now - keep_ms)
        .count()
}

async fn count(client: &reqwest::Client, base: &str, name: &str, at_s: f64) -> usize {
    count_in(
        client,
        base,
        &format!("count_over_time({name}[15d])"),
        at_s,
        None,
    )
    .await
}

/// The first series' value of instant query `expr` at `at_s`, pinned to `tier` if given.
async fn value_in(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    at_s: f64,
    tier: Option<&str>,
) -> f64 {
    let mut form = vec![("query", expr.to_string()), ("time", format!("{at_s:.3}"))];
    if let Some(t) = tier {
        form.push(("tier", t.to_string()));
    }
    let r = client
        .post(format!("{base}/api/v1/query"))
        .form(&form)
        .send()
        .await
        .expect("query");
    let status = r.status();
    let j: Value = r.json().await.expect("JSON");
    assert!(status.is_success(), "{expr} ({tier:?}): {status} {j}");
    j["data"]["result"]
        .as_array()
        .and_then(|r| r.first())
        .map_or(0.0, |s| s["value"][1].as_str().unwrap().parse().unwrap())
}

async fn count_in(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    at_s: f64,
    tier: Option<&str>,
) -> usize {
    value_in(client, base, expr, at_s, tier).await as usize
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    let r = client.get(url).send().await.expect("GET");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.expect("JSON")
}

/// `/api/v1/status/retention` once the node's YAML has seeded the cluster's policy (the last
/// answer after 10 s otherwise).
async fn seeded_status(client: &reqwest::Client, base: &str) -> Value {
    let mut s = Value::Null;
    for _ in 0..100 {
        s = get(client, &format!("{base}/api/v1/status/retention")).await;
        // Seeded, and the leaders accept backfill under it (refreshed every second).
        if s["data"]["source"] == "cluster" && s["data"]["backfillMs"].is_i64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s
}

async fn run_jobs(client: &reqwest::Client, base: &str) -> Value {
    let r = client
        .post(format!("{base}/api/v1/admin/retention/run"))
        .send()
        .await
        .expect("run");
    let status = r.status();
    let j: Value = r.json().await.unwrap();
    assert!(status.is_success(), "run: {status} {j}");
    assert_eq!(j["data"]["skipped"], Value::Null, "{j}");
    j["data"].clone()
}

async fn raw_bytes(client: &reqwest::Client, base: &str) -> u64 {
    let r = client
        .post(format!("{base}/api/v1/admin/flush"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let s = get(client, &format!("{base}/api/v1/status/retention")).await;
    s["data"]["tiers"][0]["bytes"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_expires_by_policy_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        "retention_interval_ms: 0\n\
         retention:\n  raw: 3d\n  rollup_1m: 0\n  rollup_1h: 0\n  overrides:\n    \
         - match: '{__name__=\"debug_x\"}'\n      raw: 1d\n    \
         - match: '{__name__=\"keep_x\"}'\n      raw: 30d\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let config_arg = config.display().to_string();
    let mut node = Node::start(&data, &["--config", &config_arg]);
    let base = node.url();
    let client = reqwest::Client::new();

    // Ten days of a sample every 10 minutes for three metrics, ending now.
    let now = now_ms();
    let ts: Vec<i64> = (0..10 * DAY_MS / STEP_MS)
        .map(|i| now - 10 * DAY_MS + i * STEP_MS)
        .collect();
    let series: Vec<TestSeries> = ["app_x", "debug_x", "keep_x"]
        .iter()
        .map(|name| {
            (
                vec![("__name__".to_string(), name.to_string())],
                ts.iter().map(|&t| (t, 1.0)).collect(),
            )
        })
        .collect();
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&series))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    let at = now as f64 / 1000.0;
    for name in ["app_x", "debug_x", "keep_x"] {
        assert_eq!(count(&client, &base, name, at).await, ts.len(), "{name}");
    }

    // The YAML seeded the cluster's policy.
    let seeded = seeded_status(&client, &base).await;
    assert_eq!(seeded["data"]["source"], "cluster", "{seeded}");
    assert_eq!(seeded["data"]["configDifference"], Value::Null, "{seeded}");
    assert_eq!(seeded["data"]["default"]["rawMs"], 3 * DAY_MS);
    let bytes_before = raw_bytes(&client, &base).await;

    let run_before = now_ms();
    let run = run_jobs(&client, &base).await;
    assert!(run["partitionsExpired"].as_u64().unwrap() > 0, "{run}");
    assert!(run["seriesExpired"].as_u64().unwrap() > 0, "{run}");
    // What a run at a time in `[before, after]` left: the node's clock read somewhere in there.
    let check = |raw_app: i64, before: i64, after: i64| {
        let client = client.clone();
        let base = base.clone();
        let ts = ts.clone();
        async move {
            for (name, keep) in [
                ("app_x", raw_app),
                ("debug_x", DAY_MS),
                ("keep_x", 30 * DAY_MS),
            ] {
                let got = count(&client, &base, name, at).await;
                let (hi, lo) = (kept(&ts, before, keep), kept(&ts, after, keep));
                assert!(
                    (lo..=hi).contains(&got),
                    "{name} kept {keep} ms: {got} samples, expected {lo} to {hi}"
                );
            }
        }
    };
    check(3 * DAY_MS, run_before, now_ms()).await;
    // Running again drops nothing more.
    let again = run_jobs(&client, &base).await;
    assert_eq!(again["partitionsExpired"], 0, "{again}");
    assert_eq!(again["seriesExpired"], 0, "{again}");

    // A late sample for expired data is refused, not written.
    let late: Vec<TestSeries> = vec![(
        vec![("__name__".to_string(), "app_x".to_string())],
        vec![(now - 5 * DAY_MS + 1, 7.0)],
    )];
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&late))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    check(3 * DAY_MS, run_before, now_ms()).await;

    // The disk space comes back once the expiry is flushed and compacted.
    let bytes_after = raw_bytes(&client, &base).await;
    assert!(
        bytes_after * 10 < bytes_before * 7,
        "raw bytes {bytes_before} before expiry, {bytes_after} after"
    );

    // A new policy through tidemarkctl applies at the next run, without a restart.
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "raw: 2d\nrollup_1m: 0\nrollup_1h: 0\noverrides:\n  - match: '{__name__=\"debug_x\"}'\n    raw: 1d\n  - match: '{__name__=\"keep_x\"}'\n    raw: 30d\n",
    )
    .unwrap();
    let out = std::process::Command::new(support::tidemarkctl())
        .args(["--endpoint", &base, "retention", "set"])
        .arg(&policy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let run_before = now_ms();
    let out = std::process::Command::new(support::tidemarkctl())
        .args(["--endpoint", &base, "retention", "run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let run_after = now_ms();
    check(2 * DAY_MS, run_before, run_after).await;
    let out = std::process::Command::new(support::tidemarkctl())
        .args(["--endpoint", &base, "retention", "show"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{out:?}");
    assert!(shown.contains("default: raw 2d"), "{shown}");
    assert!(shown.contains("raw "), "{shown}");
    let info = get(&client, &format!("{base}/api/v1/status/runtimeinfo")).await;
    assert_eq!(
        info["data"]["storageRetention"],
        "raw 2d, 1m off, 1h off (2 per-metric overrides)"
    );

    // Killed without a flush, the node comes back with the same data and policy; its YAML now
    // differs from the cluster's policy, which is reported and not applied.
    node.kill9();
    node.restart();
    check(2 * DAY_MS, run_before, run_after).await;
    let s = get(&client, &format!("{base}/api/v1/status/retention")).await;
    assert_eq!(s["data"]["default"]["rawMs"], 2 * DAY_MS, "{s}");
    let diff = s["data"]["configDifference"].as_str().unwrap_or_default();
    assert!(diff.contains("\"raw\":\"3d\""), "{s}");
    let warned = "retention: block of this node's configuration is not the cluster's policy";
    for _ in 0..100 {
        if node.log().contains(warned) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(node.log().contains(warned), "{}", node.log());
    let tsdb = get(&client, &format!("{base}/api/v1/status/tsdb")).await;
    assert!(
        tsdb["data"]["retention"]["tiers"][0]["partitions"]
            .as_u64()
            .unwrap()
            > 0
    );
    // A bad policy is refused with the reason.
    let r = client
        .put(format!("{base}/api/v1/admin/retention"))
        .body("overrides: [{match: 'rate(x[5m])', raw: 1d}]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("overrides[0]"), "{body}");
    node.stop();
}

/// With rollup tiers kept, a run rolls up every complete day before raw data goes: afterwards
/// raw samples older than the raw retention are gone and the 1m and 1h tiers hold the days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_data_expires_only_after_its_days_are_rolled_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        "retention_interval_ms: 0\nretention:\n  raw: 2d\n  rollup_1m: 30d\n  rollup_1h: 1y\n",
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let mut node = Node::start(&dir.path().join("data"), &["--config", &config_arg]);
    let base = node.url();
    let client = reqwest::Client::new();
    let now = now_ms();
    let ts: Vec<i64> = (0..6 * DAY_MS / STEP_MS)
        .map(|i| now - 6 * DAY_MS + i * STEP_MS)
        .collect();
    let series: Vec<TestSeries> = (0..3)
        .map(|i| {
            (
                vec![
                    ("__name__".to_string(), "req_total".to_string()),
                    ("i".to_string(), i.to_string()),
                ],
                ts.iter().enumerate().map(|(k, &t)| (t, k as f64)).collect(),
            )
        })
        .collect();
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&series))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    seeded_status(&client, &base).await;
    let before = now_ms();
    let run = run_jobs(&client, &base).await;
    let after = now_ms();
    // Six days of data touch seven calendar days; every complete one is rolled into both tiers.
    assert!(run["daysRolledUp"].as_u64().unwrap() >= 10, "{run}");
    assert!(run["partitionsExpired"].as_u64().unwrap() > 0, "{run}");
    let at = now as f64 / 1000.0;
    let raw = count_in(
        &client,
        &base,
        "count_over_time(req_total{i=\"0\"}[15d])",
        at,
        Some("raw"),
    )
    .await;
    let (hi, lo) = (kept(&ts, before, 2 * DAY_MS), kept(&ts, after, 2 * DAY_MS));
    assert!(
        (lo..=hi).contains(&raw),
        "{raw} raw samples left, expected {lo} to {hi}"
    );
    // Queries stitch the tiers: every sample still counts, from windows where raw data went.
    let all = count_in(
        &client,
        &base,
        "count_over_time(req_total{i=\"0\"}[15d])",
        at,
        None,
    )
    .await;
    assert_eq!(all, ts.len(), "stitched count");
    let (m, h) = (
        count_in(
            &client,
            &base,
            "count_over_time(req_total{i=\"0\"}[15d])",
            at,
            Some("1m"),
        )
        .await,
        count_in(
            &client,
            &base,
            "count_over_time(req_total{i=\"0\"}[15d])",
            at,
            Some("1h"),
        )
        .await,
    );
    assert_eq!(m, h, "both rollup tiers hold the same days");
    assert!(
        m + raw >= ts.len() && m < ts.len(),
        "1m {m}, raw {raw} of {}",
        ts.len()
    );
    // A day of increase, four days ago, from 1-minute windows: 144 samples 1 apart.
    let old = ((now - 4 * DAY_MS) / 3_600_000 * 3_600) as f64;
    let expr = "increase(req_total{i=\"0\"}[1d])";
    let increase = value_in(&client, &base, expr, old, None).await;
    let pinned = value_in(&client, &base, expr, old, Some("1m")).await;
    assert_eq!(increase, pinned);
    assert!((143.0..=144.001).contains(&increase), "increase {increase}");
    raw_bytes(&client, &base).await;
    let s = get(&client, &format!("{base}/api/v1/status/retention")).await;
    let tiers = s["data"]["tiers"].as_array().unwrap();
    for (i, name) in [(1, "1m"), (2, "1h")] {
        assert_eq!(tiers[i]["tier"], name, "{s}");
        assert!(tiers[i]["partitions"].as_u64().unwrap() >= 1, "{s}");
        assert!(tiers[i]["series"].as_u64().unwrap() >= 3, "{s}");
    }
    // A second run has nothing left to do.
    let again = run_jobs(&client, &base).await;
    assert_eq!(again["daysRolledUp"], 0, "{again}");
    // The rollups outlive a kill -9.
    node.kill9();
    node.restart();
    let s = get(&client, &format!("{base}/api/v1/status/retention")).await;
    assert_eq!(s["data"]["tiers"][1]["series"], tiers[1]["series"], "{s}");
    node.stop();
}

/// Samples older than the out-of-order window are accepted back to the longest retention
/// (backfill): into sealed partitions and rolled-up days, which are computed again; samples
/// where raw data already expired, or older than every tier keeps, are refused. All of it
/// survives a kill -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_enters_sealed_partitions_and_rolled_up_days() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        "retention_interval_ms: 0\nretention:\n  raw: 3d\n  rollup_1m: 30d\n  rollup_1h: 90d\n",
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let mut node = Node::start(&dir.path().join("data"), &["--config", &config_arg]);
    let base = node.url();
    let client = reqwest::Client::new();
    let now = now_ms();
    // Five days of eight series every 10 minutes, ending now (every shard holds some): the
    // old partitions get sealed, the complete days rolled up.
    let ts: Vec<i64> = (0..5 * DAY_MS / STEP_MS)
        .map(|i| now - 5 * DAY_MS + i * STEP_MS)
        .collect();
    let labels = |i: usize| {
        vec![
            ("__name__".to_string(), "x".to_string()),
            ("i".to_string(), i.to_string()),
        ]
    };
    let x: Vec<TestSeries> = (0..8)
        .map(|i| (labels(i), ts.iter().map(|&t| (t, 1.0)).collect()))
        .collect();
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&x))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    seeded_status(&client, &base).await;
    let run = run_jobs(&client, &base).await;
    assert!(run["daysRolledUp"].as_u64().unwrap() > 0, "{run}");

    // Samples between the stored ones, at noon of a rolled-up day whose raw data is whole
    // (its windows read from 2 h before it, the partition of the first window's jump, to the
    // partition holding its end): two days back, or yesterday late in the day, when two
    // days back reads a partition retention (3 days) has dropped. In sealed partitions;
    // accepted, read at once, and counted by the day's 1-minute windows.
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let day = if now - today <= 20 * 3_600_000 {
        today - 2 * DAY_MS
    } else {
        today - DAY_MS
    };
    let at_ms = day + 12 * 3_600_000;
    let late: Vec<TestSeries> = (0..8)
        .map(|i| {
            let samples = ts
                .iter()
                .map(|&t| t + 60_000)
                .filter(|&t| t > at_ms - 3_600_000 && t <= at_ms)
                .map(|t| (t, 2.0))
                .collect();
            (labels(i), samples)
        })
        .collect();
    let (status, body) = post_write_v1(&client, &base, encode_write_v1(&late))
        .await
        .unwrap();
    assert_eq!(status, 204, "{body}");
    let at = at_ms as f64 / 1000.0;
    let expr = "count_over_time(x{i=\"3\"}[1h])";
    let raw = count_in(&client, &base, expr, at, Some("raw")).await;
    assert_eq!(raw, 12, "six samples an hour and six backfilled");
    assert_eq!(count_in(&client, &base, expr, at, Some("1m")).await, 12);
    run_jobs(&client, &base).await;
    client
        .post(format!("{base}/api/v1/admin/flush"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        count_in(&client, &base, expr, at, Some("1m")).await,
        12,
        "the rolled-up day was computed again"
    );

    // Where raw data expired, and older than any tier keeps: refused.
    for (t, why) in [
        (now - 4 * DAY_MS + 1, "raw expired"),
        (now - 200 * DAY_MS, "too old"),
    ] {
        let z: Vec<TestSeries> = vec![(labels(0), vec![(t, 3.0)])];
        let (status, body) = post_write_v1(&client, &base, encode_write_v1(&z))
            .await
            .unwrap();
        assert_eq!(status, 400, "{why}: {body}");
    }

    node.kill9();
    node.restart();
    assert_eq!(count_in(&client, &base, expr, at, Some("raw")).await, 12);
    assert_eq!(count_in(&client, &base, expr, at, Some("1m")).await, 12);
    node.stop();
}
