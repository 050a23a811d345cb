//! A node whose wall clock runs five minutes ahead (libfaketime), beside two that agree: every
//! node sees the offset on `/metrics` and the others log it; writes through the skewed node
//! land and read back through the others; what each node refuses as too far in the future
//! follows its own clock and says so; a shard-map version added through the skewed node starts
//! far enough ahead for every node, and writes and reads go on across it.
//!
//! Needs libfaketime (`scripts/deps.sh --test` installs Debian's `faketime`); without it the
//! test says so and does nothing else.

use super::*;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const SKEW_S: i64 = 300;

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The offsets node `base` reports for its peers, by peer id, in seconds.
async fn offsets(client: &reqwest::Client, base: &str) -> std::collections::BTreeMap<u64, f64> {
    let text = support::get_text(client, &format!("{base}/metrics")).await;
    text.lines()
        .filter_map(|l| l.strip_prefix("tidemark_peer_clock_offset_seconds{peer=\""))
        .filter_map(|rest| {
            let (peer, value) = rest.split_once("\"} ")?;
            Some((peer.parse().ok()?, value.parse().ok()?))
        })
        .collect()
}

/// Waits until node `base` reports an offset near `want` seconds for every peer in `want`.
async fn wait_offsets(client: &reqwest::Client, base: &str, want: &[(u64, f64)]) {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let got = offsets(client, base).await;
        if want
            .iter()
            .all(|(p, w)| got.get(p).is_some_and(|g| (g - w).abs() < 5.0))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} reports offsets {got:?}, not about {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn one(name: &str, t_ms: i64) -> Vec<TestSeries> {
    vec![(
        vec![("__name__".to_string(), name.to_string())],
        vec![(t_ms, 1.0)],
    )]
}

/// How many samples of `name` node `base` reads in the hour around now.
async fn count(client: &reqwest::Client, base: &str, name: &str) -> u64 {
    let now_s = wall_ms() as f64 / 1000.0 + 3600.0;
    let data = query_result(
        client,
        base,
        &format!("sum(count_over_time({name}[2h]))"),
        now_s,
    )
    .await;
    data["result"][0]["value"][1]
        .as_str()
        .map_or(0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn a_node_minutes_ahead_is_seen_and_loses_nothing() {
    if !std::path::Path::new(LIBFAKETIME).exists() {
        eprintln!("skipped: {LIBFAKETIME} missing (apt-get install faketime)");
        return;
    }
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(&config, format!("admin_token: {ADMIN_TOKEN}\n")).unwrap();
    let config = config.to_str().unwrap().to_string();
    let mut c = start_cluster(&["--config", &config]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();

    // Node 3 starts again with its clock five minutes ahead (the monotonic clock untouched).
    c.nodes[2].stop();
    c.nodes[2].env = vec![
        ("LD_PRELOAD".into(), LIBFAKETIME.into()),
        ("FAKETIME".into(), format!("+{SKEW_S}s")),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
    ];
    c.nodes[2].restart();
    let skew = SKEW_S as f64;
    wait_offsets(&client, &urls[0], &[(2, 0.0), (3, skew)]).await;
    wait_offsets(&client, &urls[2], &[(1, -skew), (2, -skew)]).await;
    assert!(
        c.nodes[0].log().contains("node 3's clock is"),
        "the offset is logged:\n{}",
        c.nodes[0].log()
    );

    // Writes through every node land, and read back through every node.
    for (i, url) in urls.iter().enumerate() {
        write_series_acked(&client, url, &one("skew_now", wall_ms() + i as i64), "now").await;
    }
    for url in &urls {
        assert_eq!(count(&client, url, "skew_now").await, 3, "through {url}");
    }

    // Twelve minutes ahead of the true time: beyond node 1's future window (ten minutes), not
    // beyond node 3's, whose clock says it is only seven minutes ahead.
    let ahead = wall_ms() + 12 * 60_000;
    let (status, body) = post_write_v1(
        &client,
        &urls[0],
        encode_write_v1(&one("skew_ahead", ahead)),
    )
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("too far in the future"), "{body}");
    let (status, body) = post_write_v1(
        &client,
        &urls[2],
        encode_write_v1(&one("skew_ahead", ahead)),
    )
    .await
    .unwrap();
    assert_eq!(status, 204, "{body}");
    assert_eq!(count(&client, &urls[0], "skew_ahead").await, 1);

    // A shard-map version added through the skewed node starts at least the lead time (2 h)
    // ahead of its clock: well ahead of every node's.
    ctl(&urls[2], &["shards", "set", "6"]).await;
    let status = cluster_status(&client, &urls[0]).await;
    let newest = status.shard_map.last().unwrap();
    assert_eq!(newest.shard_count, 6);
    assert!(
        newest.start_ms > wall_ms() + 3_600_000,
        "version starts at {}, now is {}",
        newest.start_ms,
        wall_ms()
    );
    for (i, url) in urls.iter().enumerate() {
        write_series_acked(
            &client,
            url,
            &one("skew_after", wall_ms() + i as i64),
            "after",
        )
        .await;
    }
    for url in &urls {
        assert_eq!(count(&client, url, "skew_after").await, 3, "through {url}");
    }
    replicas_agree(&client, &urls, 3).await;
}
