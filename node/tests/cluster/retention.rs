//! Retention and tombstone cleaning in a three-node cluster: the policy set through one node reaches every shard's
//! leader (remote ones through `RunRetention`), expiry happens at the same log index on every
//! replica (their digests agree while writes go on), queries through any node stitch the
//! rollup windows of local and remote shards with their raw samples, and a replica killed and
//! restarted comes back to the same content.

use super::*;

const DAY_MS: i64 = 86_400_000;
const OLD_STEP_MS: i64 = 30 * 60_000;

/// Series with a sample every 30 minutes over the ten days before `end_ms`: `kind` is `app` or
/// `debug`.
fn old_series(kind: &str, end_ms: i64) -> Vec<TestSeries> {
    (0..SERIES_PER_BATCH)
        .map(|s| {
            let labels = vec![
                ("__name__".to_string(), format!("{kind}_old")),
                ("series".to_string(), s.to_string()),
            ];
            let samples = (0..10 * DAY_MS / OLD_STEP_MS)
                .map(|i| (end_ms - 10 * DAY_MS + i * OLD_STEP_MS, 1.0))
                .collect();
            (labels, samples)
        })
        .collect()
}

/// The samples of `name` a query at `at_s` counts, rollup windows included. Checks that the
/// shards' pushed-down counts (each replica stitching its own tiers) equal the whole
/// evaluation's (`* 1`: remote shards send their raw samples and windows).
async fn samples_of(client: &reqwest::Client, base: &str, name: &str, at_s: f64) -> u64 {
    let mut got = Vec::new();
    for expr in [
        format!("sum(count_over_time({name}[15d]))"),
        format!("sum(count_over_time({name}[15d]) * 1)"),
    ] {
        let data = query_result(client, base, &expr, at_s).await;
        got.push(
            data["result"][0]["value"][1]
                .as_str()
                .map_or(0, |v| v.parse::<f64>().unwrap() as u64),
        );
    }
    assert_eq!(
        got[0], got[1],
        "{name} pushed down and whole, through {base}"
    );
    got[0]
}

/// The raw samples of `name` left (`tier=raw`).
async fn raw_samples_of(client: &reqwest::Client, base: &str, name: &str, at_s: f64) -> u64 {
    let r = client
        .post(format!("{base}/api/v1/query"))
        .form(&[
            ("query", format!("sum(count_over_time({name}[15d]))")),
            ("time", format!("{at_s:.3}")),
            ("tier", "raw".to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let j: serde_json::Value = r.json().await.unwrap();
    j["data"]["result"][0]["value"][1]
        .as_str()
        .map_or(0, |v| v.parse::<f64>().unwrap() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_on_every_leader_and_replicas_agree() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        "retention_interval_ms: 0\nflush_interval_ms: 500\n",
    )
    .unwrap();
    // Two replicas of four shards on three nodes: every node reads some shards remotely.
    let mut c = start_cluster(&[
        "--replication-factor",
        "2",
        "--config",
        config.to_str().unwrap(),
    ]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();

    // Old data first, in one request (an empty shard takes samples from any time; after that,
    // only within the out-of-order window of its newest), then the present.
    let end = base_ms();
    let mut old = old_series("app", end);
    old.extend(old_series("debug", end));
    write_series_acked(&client, &urls[0], &old, "old series").await;
    write_acked(&client, &urls[1], 0).await;
    let at = end as f64 / 1000.0;
    let full = SERIES_PER_BATCH as u64 * (10 * DAY_MS / OLD_STEP_MS) as u64;
    assert_eq!(samples_of(&client, &urls[2], "app_old", at).await, full);

    // The policy through node 2, the jobs through node 3.
    let r = client
        .put(format!("{}/api/v1/admin/retention", urls[1]))
        .body(
            "raw: 3d\nrollup_1m: 30d\nrollup_1h: 0\noverrides:\n  - match: '{__name__=\"debug_old\"}'\n    raw: 1d\n    rollup_1m: 0\n",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = client
        .post(format!("{}/api/v1/admin/retention/run", urls[2]))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let run: serde_json::Value = r.json().await.unwrap();
    assert!(status.is_success(), "{run}");
    assert_eq!(run["data"]["shards"], 4, "every shard ran: {run}");
    assert!(
        run["data"]["partitionsExpired"].as_u64().unwrap() > 0,
        "{run}"
    );
    assert!(run["data"]["seriesExpired"].as_u64().unwrap() > 0, "{run}");

    // Every node reads the same, and every shard's replicas agree while writes go on. The
    // app series' raw samples older than 3 days went, but their 1-minute windows count them
    // all; the debug series kept no rollups.
    let app = samples_of(&client, &urls[0], "app_old", at).await;
    let app_raw = raw_samples_of(&client, &urls[0], "app_old", at).await;
    let debug = samples_of(&client, &urls[0], "debug_old", at).await;
    assert!(
        app == full && app_raw < full && debug < app_raw,
        "app {app} ({app_raw} raw), debug {debug} of {full}"
    );
    for url in &urls[1..] {
        assert_eq!(samples_of(&client, url, "app_old", at).await, app);
        assert_eq!(raw_samples_of(&client, url, "app_old", at).await, app_raw);
        assert_eq!(samples_of(&client, url, "debug_old", at).await, debug);
    }
    for k in 1..4 {
        write_acked(&client, &urls[k as usize % 3], k).await;
    }
    replicas_agree(&client, &urls, 2).await;

    // Deleted series' space comes back on demand; what every node reads does not change.
    let r = client
        .post(format!("{}/api/v1/admin/tsdb/delete_series", urls[0]))
        .form(&[("match[]", r#"app_old{series=~"[0-3]"}"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.text().await);
    let app_left = samples_of(&client, &urls[1], "app_old", at).await;
    assert_eq!(app_left, app / 2);
    let r = client
        .post(format!("{}/api/v1/admin/tsdb/clean_tombstones", urls[1]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.text().await);
    for url in &urls {
        assert_eq!(samples_of(&client, url, "app_old", at).await, app_left);
    }
    replicas_agree(&client, &urls, 2).await;

    // A replica killed without a flush replays the expiry from its log.
    // (With two replicas, the shards it holds have no quorum meanwhile: write after.)
    c.nodes[2].kill9();
    c.nodes[2].relaunch();
    c.nodes[2].wait_ready();
    write_acked(&client, &urls[0], 4).await;
    assert_eq!(samples_of(&client, &urls[2], "app_old", at).await, app_left);
    replicas_agree(&client, &urls, 2).await;
}
