//! Corruption is detected, not served, and a replica is rebuilt from its peers: node 2's
//! stored chunks are overwritten on disk while it is down; restarted, its reads of its own
//! replicas fail with an error naming the corruption (counted in `corruptionCount` and
//! `/metrics`) instead of answering wrong samples; `tidemarkctl shard repair` rebuilds each of
//! its replicas from the other two, after which it answers as they do and the replicas agree.

use super::*;

/// Overwrites every stored chunk in the data store at `data` (the node is down).
fn corrupt_every_chunk(data: &std::path::Path) -> usize {
    let mut opts = rocksdb::Options::default();
    tidemark_storage::rocks::set_chunk_merge_operator(&mut opts);
    let cfs = rocksdb::DB::list_cf(&opts, data).expect("list column families");
    let db = rocksdb::DB::open_cf(&opts, data, &cfs).expect("open the data store");
    let cf = db.cf_handle("chunks").expect("chunks column family");
    let keys: Vec<Box<[u8]>> = db
        .iterator_cf(cf, rocksdb::IteratorMode::Start)
        .map(|kv| kv.unwrap().0)
        .collect();
    for k in &keys {
        db.put_cf(cf, k, b"\xfe\x00 not a chunk").unwrap();
    }
    db.flush_cf(cf).unwrap();
    keys.len()
}

/// A follower read through `base` (the node's own replicas): its status and body.
async fn follower_count(client: &reqwest::Client, base: &str) -> (u16, String) {
    let time_s = (base_ms() + 4 * STEP_MS) as f64 / 1000.0;
    let r = client
        .post(format!("{base}/api/v1/query"))
        .form(&[
            (
                "query",
                "count(count_over_time(cluster_test[1d]))".to_string(),
            ),
            ("time", format!("{time_s:.3}")),
            ("consistency", "follower".to_string()),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn corruption_count(client: &reqwest::Client, base: &str) -> u64 {
    let info: serde_json::Value =
        api_get(client, &format!("{base}/api/v1/status/runtimeinfo")).await;
    info["corruptionCount"].as_u64().unwrap()
}

#[tokio::test]
async fn a_corrupt_replica_fails_its_reads_and_shard_repair_rebuilds_it() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(&config, format!("admin_token: {ADMIN_TOKEN}\n")).unwrap();
    let config = config.to_str().unwrap().to_string();
    let mut c = start_cluster(&["--config", &config]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    for k in 0..5 {
        write_acked(&client, &urls[0], k).await;
    }
    let want = 5 * SERIES_PER_BATCH;
    assert_eq!(series_seen(&client, &urls[1], 4).await, want);
    replicas_agree(&client, &urls, 3).await;

    // Stopped cleanly, node 2 flushes everything into chunks; they are then overwritten.
    c.nodes[1].stop();
    let overwritten = corrupt_every_chunk(&c.nodes[1].data_dir.join("data"));
    assert!(overwritten > 0);
    c.nodes[1].restart();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c.nodes[1].has_exited(), "{}", c.nodes[1].log());
    assert_eq!(corruption_count(&client, &urls[1]).await, 0);

    // Its own replicas answer no wrong count: the read fails, saying why, and is counted.
    let (status, body) = follower_count(&client, &urls[1]).await;
    assert!(!(200..300).contains(&status), "{status} {body}");
    assert!(body.contains("corrupt"), "{body}");
    assert!(corruption_count(&client, &urls[1]).await > 0);
    let metrics = support::get_text(&client, &format!("{}/metrics", urls[1])).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tidemark_storage_corruptions_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );

    // Each replica of node 2 is rebuilt from the other two.
    let shards = local_shards(&client, &urls[1]).await.len();
    for shard in 0..shards {
        let out = ctl(&urls[1], &["shard", "repair", &shard.to_string()]).await;
        assert!(out.contains("rebuilt from the other replicas"), "{out}");
        assert!(
            out.contains("empties its replica"),
            "progress is shown: {out}"
        );
    }
    let (status, body) = follower_count(&client, &urls[1]).await;
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        value["data"]["result"][0]["value"][1],
        want.to_string(),
        "{body}"
    );
    assert_eq!(placement(&client, &urls[0]).await.len(), shards);
    for voters in placement(&client, &urls[0]).await {
        assert_eq!(voters.len(), 3, "every shard has its three voters back");
    }
    replicas_agree(&client, &urls, 3).await;
}
