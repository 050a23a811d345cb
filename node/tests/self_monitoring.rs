//! A single node monitors itself (`self_scrape: true`): its own metrics land in its own
//! storage with `job="tidemark"` and its HTTP address as `instance`, queryable with PromQL.

mod support;

use std::time::{Duration, Instant};

use support::{Node, query_now};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_scrapes_itself_into_its_own_storage() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        "self_scrape: true\nself_scrape_interval_ms: 300\nstorage: {memory_budget: 128MiB}\n",
    )
    .unwrap();
    let node = Node::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let base = node.url();
    let client = reqwest::Client::new();
    let instance = node.http_addr.clone();
    // A few requests for the counters to count, then wait for two scrapes to hold them.
    for _ in 0..3 {
        query_now(&client, &base, "vector(1)").await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let expr = format!(
        "sum(tidemark_http_requests_total{{job=\"tidemark\",instance=\"{instance}\",handler=\"/api/v1/query\"}})"
    );
    loop {
        let r = query_now(&client, &base, &expr).await;
        let seen = r[0]["value"][1]
            .as_str()
            .map_or(0.0, |v| v.parse::<f64>().unwrap());
        if seen >= 3.0 {
            break;
        }
        assert!(Instant::now() < deadline, "never scraped: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let up = query_now(&client, &base, "up{job=\"tidemark\"}").await;
    assert_eq!(up[0]["value"][1], "1", "{up}");
    assert_eq!(up[0]["metric"]["instance"], instance.as_str(), "{up}");
    let leaders = query_now(
        &client,
        &base,
        "sum(tidemark_raft_leader{job=\"tidemark\"})",
    )
    .await;
    let n: f64 = leaders[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        n >= 5.0,
        "the meta group and four shards led here: {leaders}"
    );
    // Every write of the log was timed, fsync included: the writes above went through it.
    let syncs = query_now(
        &client,
        &base,
        "sum(tidemark_raft_log_sync_write_seconds_count{job=\"tidemark\"})",
    )
    .await;
    let n: f64 = syncs[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(n >= 1.0, "log writes timed: {syncs}");

    // The data store's own figures: a flush leaves SST files.
    let r = client
        .post(format!("{base}/api/v1/admin/flush"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "flush: {}", r.status());
    let text = support::get_text(&client, &format!("{base}/metrics")).await;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .parse()
            .unwrap()
    };
    assert!(value("tidemark_storage_sst_bytes") > 0.0, "{text}");
    // Where those bytes are: the written series' chunks and labels are in their families.
    for family in ["chunks", "series", "postings"] {
        let name =
            format!("tidemark_storage_column_family_sst_bytes{{column_family=\"{family}\"}}");
        assert!(value(&name) > 0.0, "{name}: {text}");
    }
    assert_eq!(value("tidemark_storage_write_stopped"), 0.0);
    assert_eq!(value("tidemark_storage_background_errors_total"), 0.0);
    // The flush was timed per shard (those that had applied something since their last one);
    // no partition was old enough to seal, but the histogram is served.
    assert!(
        value("tidemark_shard_flush_duration_seconds_count") >= 1.0,
        "{text}"
    );
    assert!(
        value("tidemark_shard_flush_duration_seconds_sum") > 0.0,
        "{text}"
    );
    assert!(
        value("tidemark_shard_seal_apply_duration_seconds_count") >= 0.0,
        "{text}"
    );
    // Each flush's pause (its write, applies waiting) is a part of that flush.
    assert_eq!(
        value("tidemark_shard_flush_pause_seconds_count"),
        value("tidemark_shard_flush_duration_seconds_count"),
        "{text}"
    );
    assert!(
        value("tidemark_shard_flush_pause_seconds_sum")
            <= value("tidemark_shard_flush_duration_seconds_sum"),
        "{text}"
    );

    // The memory budget, split three to one between the data store and the Raft log, and
    // what each holds within it; the process' own figures.
    const MIB: f64 = 1024.0 * 1024.0;
    assert_eq!(value("tidemark_storage_memory_budget_bytes"), 96.0 * MIB);
    assert_eq!(value("tidemark_raft_log_memory_budget_bytes"), 32.0 * MIB);
    assert!(value("tidemark_raft_log_memtable_bytes") > 0.0, "{text}");
    let cache = value("tidemark_storage_block_cache_bytes");
    assert!(cache > 0.0 && cache <= 97.0 * MIB, "{text}");
    let rss = value("process_resident_memory_bytes");
    assert!(rss > 10.0 * MIB, "{text}");
    assert!(value("process_open_fds") >= 10.0, "{text}");
    assert!(value("process_cpu_seconds_total") > 0.0, "{text}");
    // RocksDB's C++ allocates from glibc's malloc: something is in use, the trimmer's
    // counters are there (whether it trimmed yet depends on what was freed).
    assert!(value("tidemark_c_heap_in_use_bytes") > 0.0, "{text}");
    assert!(value("tidemark_c_heap_trims_total") >= 0.0, "{text}");

    let status = support::get_json(&client, &format!("{base}/api/v1/status/tsdb")).await;
    let disk = &status["data"]["disk"];
    let families = disk["sstBytesByColumnFamily"].as_object().unwrap();
    assert_eq!(
        families.values().filter_map(|v| v.as_u64()).sum::<u64>(),
        disk["sstBytes"].as_u64().unwrap(),
        "{disk}"
    );
    assert!(families["chunks"].as_u64() > Some(0), "{disk}");
    let memory = &status["data"]["memory"];
    assert_eq!(memory["budgetBytes"], 128 * 1024 * 1024, "{memory}");
    assert_eq!(
        memory["dataStore"]["budgetBytes"],
        96 * 1024 * 1024,
        "{memory}"
    );
    assert_eq!(
        memory["raftLog"]["budgetBytes"],
        32 * 1024 * 1024,
        "{memory}"
    );
    for part in [
        "registryBytes",
        "headBytes",
        "openChunkBytes",
        "postingsBytes",
    ] {
        assert!(
            memory["series"][part].as_u64() > Some(0),
            "{part}: {memory}"
        );
    }
    assert!(
        memory["residentBytes"].as_u64() > Some(10 << 20),
        "{memory}"
    );
    assert!(memory["cHeap"]["inUseBytes"].as_u64() > Some(0), "{memory}");
}
