//! A static three-node cluster of real `tidemark` processes on loopback (`--initial-cluster`):
//! writes through any node, linearizable reads from any node, kill -9 of a shard leader, writes
//! resume on the survivors with no acknowledged sample lost, and the killed node catches up
//! after a restart, from a shard snapshot streamed by the leader once the leader's log no
//! longer holds what it missed.

mod auth;
mod clock;
mod helpers;
mod histograms;
mod metadata;
mod repair;
mod retention;
mod stored_formats;
#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use helpers::*;
use support::{Node, TestSeries, encode_write_v1, get_text, post_write_v1};
use tidemark_api::{
    ClusterStatus, Envelope, GroupStatus, LocalShard, MemberChange, MemberChangeAnswer,
    MemberChangeOp, MemberOutcome, ReplicationChange, ShardDigest,
};
use tidemark_testkit::free_port;

/// Series per write batch (spread over the shards by their labels).
const SERIES_PER_BATCH: usize = 8;
/// Batch k carries one sample per series at `base_ms() + k * STEP_MS`.
fn base_ms() -> i64 {
    // Two hours before the test started, to the second: recent, so that retention (at least
    // the default year) never expires it while the test runs, and within the future window for
    // every batch the test writes.
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        (now - 2 * 3_600_000) / 1000 * 1000
    })
}
const STEP_MS: i64 = 1_000;
/// Batches written through the survivors after the kill.
const BATCHES_AFTER_KILL: i64 = 20;
/// How long a write or query keeps retrying 503s (several election timeouts).
const RETRY_MS: u64 = 30_000;

#[tokio::test]
async fn three_nodes_write_anywhere_read_anywhere_survive_a_leader_kill() {
    // Frequent flushes keeping almost no log below them: the restarted node cannot catch up
    // from the leader's log and must install a snapshot of the shard.
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        "flush_interval_ms: 100\nraft:\n  log_keep_entries: 1\n",
    )
    .unwrap();
    let mut c = start_cluster(&["--config", config.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();

    // Write through node 2, read through node 3 right after the 2xx: linearizable.
    write_acked(&client, &urls[1], 0).await;
    assert_eq!(series_seen(&client, &urls[2], 0).await, SERIES_PER_BATCH);
    write_acked(&client, &urls[2], 1).await;
    assert_eq!(
        series_seen(&client, &urls[0], 1).await,
        2 * SERIES_PER_BATCH
    );

    // Every node reports the same cluster and leaders.
    let leader = shard_leader(&client, &urls[0], 0)
        .await
        .expect("shard 0 has a leader");
    assert!((1..=3).contains(&leader), "leader {leader}");

    // kill -9 the leader of shard 0; keep writing through the survivors.
    let victim = (leader - 1) as usize;
    let victim_applied = shard_status(&client, &urls[victim], 0)
        .await
        .and_then(|g| g.applied_index)
        .expect("applied index of the victim");
    c.nodes[victim].kill9();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != victim).collect();
    let mut last = 1;
    for k in 2..2 + BATCHES_AFTER_KILL {
        let through = survivors[k as usize % survivors.len()];
        write_acked(&client, &urls[through], k).await;
        last = k;
    }
    let expected = (last as usize + 1) * SERIES_PER_BATCH;
    for &i in &survivors {
        assert_eq!(
            series_seen(&client, &urls[i], last).await,
            expected,
            "node {} after the kill",
            i + 1
        );
    }
    let new_leader = shard_leader(&client, &urls[survivors[0]], 0).await;
    assert!(
        new_leader.is_some_and(|l| l != leader),
        "shard 0 leader after the kill: {new_leader:?}"
    );
    // Wait until the new leader has purged what the victim last applied (flushes run every
    // 100 ms), so that only a snapshot can bring the victim back.
    let new_leader_url = &urls[new_leader.unwrap() as usize - 1];
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let purged = shard_status(&client, new_leader_url, 0)
            .await
            .and_then(|g| g.purged_index);
        if purged.is_some_and(|p| p > victim_applied) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shard 0 log never purged past {victim_applied}: {purged:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Restart the killed node: it catches up (its read barrier waits for its replica).
    c.nodes[victim].relaunch();
    c.nodes[victim].wait_ready();
    assert_eq!(
        series_seen(&client, &urls[victim], last).await,
        expected,
        "restarted node {}",
        victim + 1
    );
    let log = c.nodes[victim].log();
    assert!(
        log.lines()
            .any(|l| l.contains("installed a shard snapshot") && l.contains("shard=0")),
        "the restarted node installed no snapshot of shard 0:\n{log}"
    );
    // ... which /metrics counts, on the node that received it and on one that sent it.
    let counter = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    let mut sent = 0;
    for (i, url) in urls.iter().enumerate() {
        let text = support::get_text(&client, &format!("{url}/metrics")).await;
        if i == victim {
            assert!(
                counter(&text, "tidemark_raft_snapshots_received_total") >= 1,
                "{text}"
            );
        } else {
            sent += counter(&text, "tidemark_raft_snapshots_sent_total");
        }
    }
    assert!(sent >= 1, "no node counted a snapshot sent");
    // A write through the restarted node is visible everywhere.
    write_acked(&client, &urls[victim], last + 1).await;
    for url in &urls {
        assert_eq!(
            series_seen(&client, url, last + 1).await,
            expected + SERIES_PER_BATCH
        );
    }

    // delete_series through one node reaches every shard leader; once it answers, every node
    // reads without the deleted series, and the replicas of each shard agree.
    let r = client
        .post(format!(
            "{}/api/v1/admin/tsdb/delete_series",
            urls[survivors[1]]
        ))
        .form(&[("match[]", r#"cluster_test{batch="0"}"#)])
        .send()
        .await
        .expect("delete request");
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.text().await);
    for url in &urls {
        assert_eq!(series_seen(&client, url, last + 1).await, expected);
    }
    replicas_agree(&client, &urls, 3).await;
}

#[tokio::test]
async fn a_data_dir_of_another_cluster_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    // A one-node cluster created without --initial-cluster.
    let mut single = Node::start(&data, &[]);
    single.stop();
    let grpc = single.grpc_addr.clone();
    let initial = format!("1={grpc}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--http-listen", &single.http_addr, "--grpc-listen", &grpc])
        .args(["--node-id", "1", "--initial-cluster", &initial])
        .output()
        .expect("run tidemark");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("holds cluster"), "stderr: {stderr}");

    // A node not listed at its gRPC address is refused before anything is written.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(["--data-dir", dir.path().join("n2").to_str().unwrap()])
        .args(["--grpc-listen", "127.0.0.1:1", "--node-id", "2"])
        .args(["--initial-cluster", &initial])
        .output()
        .expect("run tidemark");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not list this node"),
        "stderr: {stderr}"
    );
}

const ADMIN_TOKEN: &str = "s3cret";

#[tokio::test]
async fn a_fourth_node_joins_takes_replicas_under_load_and_node_1_is_drained() {
    // Frequent flushes keeping no log: replicas that move catch up from shard snapshots.
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        format!(
            "flush_interval_ms: 100\nadmin_token: {ADMIN_TOKEN}\nmeta_voters_max: 3\n\
             raft:\n  log_keep_entries: 1\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let mut c = start_cluster(&["--config", &config]);
    let client = reqwest::Client::new();
    let mut urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    for k in 0..5 {
        write_acked(&client, &urls[k as usize % 3], k).await;
    }

    // Admin endpoints need the token.
    let r = client
        .post(format!("{}/api/v1/admin/flush", urls[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .post(format!("{}/api/v1/admin/flush", urls[0]))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);

    // Node 4 joins through node 2. The meta group has its 3 voters (meta_voters_max), so node
    // 4 follows it as a learner; every shard has its 3 voters, so it holds no replica, yet
    // answers reads (from the shards' leaders at their read index) and writes (forwarded to
    // the leaders).
    let (_dir4, n4) = join_node(4, &urls[1], &config);
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    while meta_members(&client, &urls[1]).await != (vec![1, 2, 3], vec![4]) {
        assert!(
            Instant::now() < deadline,
            "node 4 never joined the meta group: {:?}",
            meta_members(&client, &urls[1]).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let p = placement(&client, &n4.url()).await;
    assert!(p.iter().all(|v| *v == vec![1, 2, 3]), "{p:?}");
    assert_eq!(
        series_seen(&client, &n4.url(), 4).await,
        5 * SERIES_PER_BATCH
    );
    write_acked(&client, &n4.url(), 5).await;
    assert_eq!(
        series_seen(&client, &urls[0], 5).await,
        6 * SERIES_PER_BATCH
    );
    let early = r#"sort(cluster_test{batch=~"[0-5]"})"#;
    let at = (base_ms() + 5 * STEP_MS) as f64 / 1000.0;
    let before = query_result(&client, &n4.url(), early, at).await;
    assert_eq!(
        before["result"].as_array().unwrap().len(),
        6 * SERIES_PER_BATCH
    );

    // Adding a member again changes nothing; another address for it is refused.
    let add = |addr: &str| MemberChange {
        group: 0,
        op: MemberChangeOp::Add,
        node_id: 4,
        addr: Some(addr.to_string()),
    };
    let (status, json) = change_member(&client, &urls[2], add(&n4.grpc_addr)).await;
    assert_eq!(
        (status, json.data.as_ref().map(|a| a.outcome)),
        (200, Some(MemberOutcome::Unchanged)),
        "{json:?}"
    );
    let (status, json) = change_member(&client, &urls[2], add("127.0.0.1:1")).await;
    assert_eq!(status, 400, "{json:?}");

    // Writes continue through nodes 2 and 3 while `rebalance` moves replicas to node 4 and
    // `node drain 1` moves node 1's away.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, stop) = (client.clone(), stop.clone());
        let through = [urls[1].clone(), urls[2].clone()];
        tokio::spawn(async move {
            let mut k = 6;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                write_acked(&client, &through[k as usize % 2], k).await;
                k += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            k - 1
        })
    };
    let out = ctl(&urls[2], &["rebalance"]).await;
    let p = placement(&client, &urls[1]).await;
    for node in 1..=4 {
        let held = p.iter().filter(|v| v.contains(&node)).count();
        assert_eq!(held, 3, "node {node} in {p:?}\n{out}");
    }
    assert!(
        n4.log().contains("installed a shard snapshot"),
        "node 4 caught up without a snapshot:\n{}",
        n4.log()
    );
    ctl(&urls[1], &["node", "drain", "1"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let last = writer.await.expect("writer");
    assert!(last > 6, "the writer made no progress during the moves");
    c.nodes[0].kill9();
    urls[0] = n4.url();

    // Node 1 is gone from every group and the map; nodes 2-4 hold every shard, and node 4
    // took node 1's seat among the meta voters.
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let p = placement(&client, &urls[1]).await;
        let meta = meta_members(&client, &urls[1]).await;
        if p.iter().all(|v| *v == vec![2, 3, 4]) && meta == (vec![2, 3, 4], vec![]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "placement as node 2 sees it: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every acknowledged batch is there, through every node, and early answers are unchanged.
    for url in &urls {
        assert_eq!(
            series_seen(&client, url, last).await,
            (last as usize + 1) * SERIES_PER_BATCH,
            "through {url}"
        );
        assert_eq!(
            query_result(&client, url, early, at).await,
            before,
            "through {url}"
        );
    }
    replicas_agree(&client, &urls, 3).await;
    let map = cluster_status(&client, &urls[1]).await;
    let nodes: Vec<u64> = map.nodes.into_keys().collect();
    assert_eq!(nodes, [2, 3, 4]);
}

#[tokio::test]
async fn with_fewer_replicas_than_nodes_every_node_reads_and_writes_every_shard() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        format!("admin_token: {ADMIN_TOKEN}\nmeta_voters_max: 2\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let c = start_cluster(&["--replication-factor", "2", "--config", &config]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    // Two meta voters at most: node 3 follows the meta group as a learner.
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    while meta_members(&client, &urls[2]).await != (vec![1, 2], vec![3]) {
        assert!(
            Instant::now() < deadline,
            "meta members: {:?}",
            meta_members(&client, &urls[2]).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Shard s is on the 2 members from position s on: each node holds some shards only.
    let p = placement(&client, &urls[0]).await;
    assert_eq!(p, vec![vec![1, 2], vec![2, 3], vec![1, 3], vec![1, 2]]);
    for url in &urls {
        let held: Vec<Vec<u64>> = placement(&client, url).await;
        assert_eq!(held, p, "placement through {url}");
    }
    // Write through each node, read through the next one right after the 2xx.
    for k in 0..6 {
        write_acked(&client, &urls[k as usize % 3], k).await;
        assert_eq!(
            series_seen(&client, &urls[(k as usize + 1) % 3], k).await,
            (k as usize + 1) * SERIES_PER_BATCH
        );
    }
    // Series, label and follower reads cover the shards a node does not hold.
    for url in &urls {
        let r: serde_json::Value = client
            .get(format!(
                "{url}/api/v1/series?match[]=cluster_test&consistency=follower"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r["data"].as_array().unwrap().len() <= 6 * SERIES_PER_BATCH);
        // A limit is the first series of the whole answer, in label order, though each
        // shard, here or on another node, sends only its first few.
        let get = |q: String| {
            let client = client.clone();
            async move {
                client
                    .get(q)
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        let all = get(format!("{url}/api/v1/series?match[]=cluster_test")).await;
        let all = all["data"].as_array().unwrap().clone();
        assert_eq!(all.len(), 6 * SERIES_PER_BATCH);
        let limited = get(format!("{url}/api/v1/series?match[]=cluster_test&limit=7")).await;
        assert_eq!(
            limited["data"].as_array().unwrap()[..],
            all[..7],
            "{limited}"
        );
        assert_eq!(limited["warnings"][0], "results truncated due to limit");
        let r: serde_json::Value = client
            .get(format!("{url}/api/v1/label/batch/values"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["data"].as_array().unwrap().len(), 6, "{r}");
    }
    replicas_agree(&client, &urls, 2).await;
    aggregations_pushed_down_equal_whole_evaluation(&client, &urls).await;
    cached_ranges_equal_whole_evaluation(&client, &urls, Some(ADMIN_TOKEN)).await;
    // `shard move` puts shard 0's replica from node 2 on node 3.
    ctl(
        &urls[0],
        &["shard", "move", "0", "--from", "2", "--to", "3"],
    )
    .await;
    let p = placement(&client, &urls[1]).await;
    assert_eq!(p[0], vec![1, 3]);
    assert_eq!(
        series_seen(&client, &urls[1], 5).await,
        6 * SERIES_PER_BATCH
    );
    replicas_agree(&client, &urls, 2).await;

    // Node 2 empties the replica it gave up, and keeps the others.
    let before = local_shards(&client, &urls[1]).await;
    assert!(before[1].series > 0, "{before:?}");
    let emptied = wait_emptied(&client, &urls[1], 0).await;
    assert_eq!(emptied[1].series, before[1].series, "shard 1 untouched");
    assert!(
        local_shards(&client, &urls[2]).await[0].series > 0,
        "node 3 holds shard 0 now"
    );

    // Moved back, node 2's emptied replica catches up again and agrees with node 1's; writes
    // and reads go on through every node.
    ctl(
        &urls[0],
        &["shard", "move", "0", "--from", "3", "--to", "2"],
    )
    .await;
    wait_placement(&client, &urls[2], 0, &[1, 2]).await;
    write_acked(&client, &urls[1], 6).await;
    for url in &urls {
        assert_eq!(
            series_seen(&client, url, 6).await,
            7 * SERIES_PER_BATCH,
            "through {url}"
        );
    }
    replicas_agree(&client, &urls, 2).await;
    let back = local_shards(&client, &urls[1]).await;
    assert!(back[0].held, "{back:?}");
    assert!(back[0].series > 0, "{back:?}");

    // A leader that removes itself hands the group over and empties its replica too.
    let leader = shard_leader(&client, &urls[0], 0)
        .await
        .expect("shard 0 has a leader");
    let remove = MemberChange {
        group: 1,
        op: MemberChangeOp::Remove,
        node_id: leader,
        addr: None,
    };
    let (status, json) = change_member(&client, &urls[0], remove).await;
    assert_eq!(status, 200, "{json:?}");
    wait_emptied(&client, &urls[leader as usize - 1], 0).await;
    let remaining = if leader == 1 { 2 } else { 1 };
    wait_placement(&client, &urls[2], 0, &[remaining]).await;
    assert_eq!(
        series_seen(&client, &urls[leader as usize - 1], 6).await,
        7 * SERIES_PER_BATCH
    );
}

#[tokio::test]
async fn a_new_shard_map_version_adds_shards_and_series_read_whole_across_it() {
    // Versions start on a whole second at least 3 s + write_timeout_ms (10 s) ahead; samples
    // at a time are taken once the nodes have confirmed their shard map up to it.
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        format!(
            "admin_token: {ADMIN_TOKEN}\nshard_version_lead_ms: 3000\n\
             shard_version_align_ms: 1000\nfuture_window_ms: 500\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let mut c = start_cluster(&["--replication-factor", "2", "--config", &config]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    let out = ctl(&urls[1], &["shards", "set", "6"]).await;
    assert!(out.contains("6 shards from"), "{out}");
    assert!(out.contains("shard 4") && out.contains("shard 5"), "{out}");
    // Again: unchanged.
    let again = ctl(&urls[2], &["shards", "set", "6"]).await;
    assert!(again.contains("unchanged"), "{again}");
    // Every node follows the map: two versions, six shard groups, new shards placed on the
    // nodes holding the fewest replicas, with leaders.
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    let start_ms = loop {
        let mut starts = Vec::new();
        for url in &urls {
            let st = cluster_status(&client, url).await;
            if st.shard_count == 6 && st.shard_map.len() == 2 {
                starts.push(st.shard_map[1].start_ms);
            }
        }
        if starts.len() == urls.len() {
            assert!(starts.windows(2).all(|w| w[0] == w[1]), "{starts:?}");
            break starts[0];
        }
        assert!(Instant::now() < deadline, "nodes never all had 6 shards");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let p = placement(&client, &urls[0]).await;
    assert_eq!(p.len(), 6);
    assert!(p[4].len() == 2 && p[5].len() == 2, "{p:?}");
    let mut per_node = std::collections::BTreeMap::<u64, usize>::new();
    for n in p.iter().flatten() {
        *per_node.entry(*n).or_default() += 1;
    }
    assert_eq!(
        per_node.values().copied().collect::<Vec<_>>(),
        vec![4, 4, 4],
        "{p:?}"
    );
    for shard in [4, 5] {
        let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
        while shard_leader(&client, &urls[0], shard).await.is_none() {
            assert!(Instant::now() < deadline, "shard {shard} has no leader");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Samples on both sides of the boundary: many series change shards there.
    let n = 24;
    let times = [start_ms - 2000, start_ms - 1000, start_ms, start_ms + 1000];
    let series: Vec<TestSeries> = (0..n)
        .map(|i| {
            let labels = vec![
                ("__name__".to_string(), "versioned".to_string()),
                ("series".to_string(), i.to_string()),
            ];
            (labels, times.iter().map(|&t| (t, i as f64)).collect())
        })
        .collect();
    // Once the clock has passed them (future_window_ms is short here).
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    while now_ms() <= start_ms + 1000 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, url) in urls.iter().enumerate() {
        let part: Vec<TestSeries> = series.iter().skip(i).step_by(3).cloned().collect();
        write_series_acked(&client, url, &part, "versioned series").await;
    }
    let at = (start_ms + 1500) as f64 / 1000.0;
    let value = |data: &serde_json::Value| -> f64 {
        support::parse_value(data["result"][0]["value"][1].as_str().expect("a value"))
    };
    for url in &urls {
        let per_series = query_result(&client, url, "count_over_time(versioned[10s])", at).await;
        let result = per_series["result"].as_array().unwrap();
        assert_eq!(result.len(), n, "through {url}: {per_series}");
        assert!(
            result.iter().all(|s| s["value"][1] == "4"),
            "through {url}: {per_series}"
        );
        let sum = query_result(&client, url, "sum(count_over_time(versioned[10s]))", at).await;
        assert_eq!(value(&sum), 4.0 * n as f64, "through {url}");
        let count = query_result(&client, url, "count(versioned)", at).await;
        assert_eq!(value(&count), n as f64, "through {url}");
    }
    replicas_agree(&client, &urls, 2).await;

    // A restarted node starts the added shards' groups again and reads them.
    c.nodes[2].kill9();
    c.nodes[2].restart();
    c.nodes[2].wait_ready();
    // A new client: the old one's pooled connection died with the process.
    let client = reqwest::Client::new();
    let st = cluster_status(&client, &urls[2]).await;
    assert_eq!(st.shard_count, 6, "{st:?}");
    let sum = query_result(
        &client,
        &urls[2],
        "sum(count_over_time(versioned[10s]))",
        at,
    )
    .await;
    assert_eq!(value(&sum), 4.0 * n as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_meta_voter_gives_its_seat_to_a_learner() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        format!("admin_token: {ADMIN_TOKEN}\nmeta_voters_max: 3\nmeta_dead_voter_ms: 2000\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let mut c = start_cluster(&["--config", &config]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    // Node 4 joins: the meta group has its 3 voters, so node 4 follows it as a learner.
    let (_dir4, n4) = join_node(4, &urls[0], &config);
    let wait_for = |want: (Vec<u64>, Vec<u64>), why: &'static str| {
        let (client, url) = (client.clone(), urls[0].clone());
        async move {
            let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
            loop {
                let got = meta_members(&client, &url).await;
                if got == want {
                    return;
                }
                assert!(Instant::now() < deadline, "{why}: meta members {got:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait_for((vec![1, 2, 3], vec![4]), "node 4 joins as a learner").await;
    // Node 3 dies without being removed: after 2 s of silence node 4 takes its seat.
    c.nodes[2].kill9();
    wait_for((vec![1, 2, 4], vec![3]), "node 4 replaces node 3").await;
    // A second death leaves 2 of the 3 voters: the meta group still commits. Without the
    // replacement, nodes 1 and 4 alone would have been 1 voter of 3.
    c.nodes[1].kill9();
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    while set_replication_factor(&client, &urls[0], 2).await != 200 {
        assert!(Instant::now() < deadline, "the meta group lost its quorum");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Node 4 (a voter now) applies it too; its status reads its own replica, which may be
    // an instant behind the leader's answer.
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    while replication_factor(&client, &n4.url()).await != 2 {
        assert!(Instant::now() < deadline, "node 4 never applied the change");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Node 3 comes back as a learner, follows the cluster map again, and takes the seat of
    // node 2, silent by now.
    c.nodes[2].kill9();
    c.nodes[2].restart();
    c.nodes[2].wait_ready();
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    while replication_factor(&client, &urls[2]).await != 2 {
        assert!(
            Instant::now() < deadline,
            "node 3 never caught up with the map"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for((vec![1, 3, 4], vec![2]), "node 3 replaces node 2").await;
}
