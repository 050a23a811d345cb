//! Tests of the write, read and flush paths on single-node clusters (in-process, test engine).

use std::path::Path;
use std::sync::Arc;

use tidemark_storage::{Engine, Labels, Matcher, Sample, SeriesKey};

use super::Node;
use crate::batcher::build_batch;
use crate::clock::{Clock, FakeClock};
use crate::config::Config;
use crate::error::NodeError;
use crate::raft::test_engine::TestEngine;
use crate::request::{SeriesWrite, WriteOutcome};

fn opts(dir: &Path, shard_count: u32) -> Config {
    Config::test_node(dir, shard_count)
}

/// Opens a node with `config` on a test engine in `dir/data`.
async fn open_with(dir: &Path, config: Config) -> (Arc<Node>, Arc<TestEngine>) {
    let engine = Arc::new(TestEngine::open(&dir.join("data")));
    let node = Node::open(Arc::new(config), None, engine.clone() as Arc<dyn Engine>)
        .await
        .unwrap();
    (node, engine)
}

fn series(i: usize, samples: &[(i64, f64)]) -> SeriesWrite {
    SeriesWrite {
        key: SeriesKey::from(&Labels::from_pairs(&[
            ("__name__", "cpu"),
            ("host", &format!("h{i}")),
        ])),
        samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    }
}

async fn open(dir: &Path, shard_count: u32) -> (Arc<Node>, Arc<TestEngine>) {
    open_with(dir, opts(dir, shard_count)).await
}

/// Every sample of `cpu` through the querier, as (host, samples).
fn read_all(shards: &Node) -> Vec<(String, Vec<Sample>)> {
    let q = shards.querier();
    let mut out: Vec<_> = q
        .select(&[Matcher::equal("__name__", "cpu")], i64::MIN, i64::MAX)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels.get("host").unwrap().to_string(), s.samples)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn batch_of(n: usize, t: i64) -> Vec<SeriesWrite> {
    (0..n)
        .map(|i| series(i, &[(t, i as f64), (t + 1000, i as f64 + 0.5)]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_write_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (shards, _engine) = open(dir.path(), 4).await;
    assert_eq!(shards.shard_count(), 4);
    assert_eq!(
        shards.cluster_map().cluster_id.as_deref(),
        Some(shards.cluster_id())
    );
    let out = shards.write(batch_of(20, 10_000)).await.unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            samples_written: 40,
            too_old: 0,
            too_new: 0,
            conflicting: 0,
            series_written: 20,
            ..Default::default()
        }
    );
    shards.read_barrier().await.unwrap();
    let all = read_all(&shards);
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|(_, s)| s.len() == 2));
    // The meta group and 4 shards; the ruler group (last) is created by the ruler's loop.
    let status = shards.status();
    assert_eq!(status.len(), 6);
    assert_eq!(status[5].group_id, crate::raft::RULER_GROUP);
    assert!(status[..5].iter().all(|g| g.leader == Some(1)));
    shards.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unflushed_writes_are_replayed_from_the_log_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let cluster_id = {
        let (shards, _engine) = open(dir.path(), 2).await;
        shards.write(batch_of(10, 10_000)).await.unwrap();
        // A crash: no flush; the engine's head is lost with the process.
        shards.stop().await;
        shards.cluster_id().to_string()
    };
    let (shards, engine) = open(dir.path(), 7).await;
    assert_eq!(shards.cluster_id(), cluster_id);
    assert_eq!(
        shards.shard_count(),
        2,
        "shard count comes from the cluster record, not options"
    );
    shards.read_barrier().await.unwrap();
    let all = read_all(&shards);
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|(_, s)| s.len() == 2));
    // Writes keep working after the replay.
    let out = shards.write(batch_of(10, 20_000)).await.unwrap();
    assert_eq!(out.samples_written, 20);
    assert!(!engine.applied_log.lock().unwrap().is_empty());
    shards.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flushed_and_unflushed_writes_survive_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (shards, _engine) = open(dir.path(), 2).await;
        shards.write(batch_of(5, 10_000)).await.unwrap();
        shards.flush().await.unwrap();
        let st = shards.status();
        assert!(
            st.iter()
                .filter(|g| g.group_id != crate::raft::RULER_GROUP)
                .all(|g| g.flushed_index.is_some() && g.flushed_index == g.applied_index),
            "{st:?}"
        );
        shards.write(batch_of(5, 20_000)).await.unwrap();
        shards.stop().await;
    }
    let (shards, engine) = open(dir.path(), 2).await;
    shards.read_barrier().await.unwrap();
    let all = read_all(&shards);
    assert_eq!(all.len(), 5);
    for (_, s) in &all {
        let ts: Vec<i64> = s.iter().map(|s| s.t).collect();
        assert_eq!(ts, vec![10_000, 11_000, 20_000, 21_000]);
    }
    // The replay applied only entries after the flush (TestEngine asserts increasing indexes).
    let replayed = engine.applied_log.lock().unwrap().clone();
    assert!(replayed.len() <= 2, "replayed {replayed:?}");
    shards.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flush_purges_the_log_below_the_flushed_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 1);
    o.raft.log_keep_entries = 0;
    let (shards, _engine) = open_with(dir.path(), o).await;
    for k in 0..5 {
        shards
            .write(batch_of(3, 10_000 + k * 10_000))
            .await
            .unwrap();
    }
    shards.flush().await.unwrap();
    let raft = shards.raft_of_shard(0).unwrap().clone();
    let flushed = shards.status()[1].flushed_index.unwrap();
    raft.wait(Some(std::time::Duration::from_secs(5)))
        .metrics(
            move |m| m.purged.is_some_and(|p| p.index() == flushed),
            "purged",
        )
        .await
        .unwrap();
    shards.stop().await;
    drop(shards);
    let (shards, _engine) = open(dir.path(), 1).await;
    shards.read_barrier().await.unwrap();
    assert_eq!(read_all(&shards).len(), 3);
    shards.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_answers_overloaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 1);
    o.inflight_writes_max = 1;
    let (shards, _engine) = open_with(dir.path(), o).await;
    let writes = (0..64).map(|k| shards.write(vec![series(k, &[(10_000, 1.0)])]));
    let results = futures::future::join_all(writes).await;
    let overloaded = results
        .iter()
        .filter(|r| matches!(r, Err(NodeError::Overloaded { shard: 0, .. })))
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(overloaded > 0, "no write was refused");
    assert!(ok > 0, "no write went through");
    assert_eq!(ok + overloaded, 64);
    shards.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_conflicting_and_duplicate_samples_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path(), 1);
    o.ooo_window_ms = 1_000;
    let (shards, _engine) = open_with(dir.path(), o).await;
    shards
        .write(vec![series(0, &[(100_000, 1.0)])])
        .await
        .unwrap();
    let out = shards
        .write(vec![
            series(0, &[(50_000, 1.0), (99_500, 2.0), (100_000, 1.0)]),
            series(1, &[(100_000, 9.0)]),
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            samples_written: 3,
            too_old: 1,
            too_new: 0,
            conflicting: 0,
            series_written: 2,
            ..Default::default()
        }
    );
    let out = shards
        .write(vec![series(0, &[(100_000, 5.0)])])
        .await
        .unwrap();
    assert_eq!(
        out,
        WriteOutcome {
            samples_written: 0,
            too_old: 0,
            too_new: 0,
            conflicting: 1,
            series_written: 0,
            ..Default::default()
        }
    );
    shards.shutdown().await.unwrap();
}

/// A part whose samples are not sorted (a forwarded write from a peer that did not sort) still
/// gives the series one sorted list without duplicates.
#[test]
fn a_series_first_unsorted_part_is_sorted_in_the_batch() {
    let engine = TestEngine::in_memory();
    let a = vec![series(0, &[(3000, 3.0), (1000, 1.0)])];
    let b = vec![series(0, &[(2000, 2.0), (3000, 3.0)])];
    let (batch, _, outcomes) =
        build_batch(&engine, 0, vec![a, b], 60_000, i64::MAX, &mut |_| Ok(()));
    let times: Vec<i64> = batch.samples[0].1.iter().map(|s| s.t).collect();
    assert_eq!(times, [1000, 2000, 3000]);
    assert_eq!(
        outcomes[1].samples_written, 2,
        "the identical 3000 counts as written"
    );
}

#[test]
fn one_batch_resolves_duplicates_and_conflicts_between_writes() {
    let engine = TestEngine::in_memory();
    let a = vec![series(0, &[(1000, 1.0), (2000, 2.0)])];
    let b = vec![
        series(0, &[(2000, 2.0), (3000, 3.0)]),
        series(1, &[(1000, 1.0)]),
    ];
    let c = vec![series(0, &[(3000, 7.0)])];
    let (batch, backfill, outcomes) =
        build_batch(&engine, 0, vec![a, b, c], 60_000, i64::MAX, &mut |_| Ok(()));
    assert!(backfill.samples.is_empty());
    assert_eq!(batch.new_series.len(), 2, "each new series is carried once");
    assert_eq!(batch.sample_count(), 4);
    assert_eq!(
        outcomes[0],
        WriteOutcome {
            samples_written: 2,
            too_old: 0,
            too_new: 0,
            conflicting: 0,
            series_written: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        outcomes[1],
        WriteOutcome {
            samples_written: 3,
            too_old: 0,
            too_new: 0,
            conflicting: 0,
            series_written: 2,
            ..Default::default()
        }
    );
    assert_eq!(
        outcomes[2],
        WriteOutcome {
            samples_written: 0,
            too_old: 0,
            too_new: 0,
            conflicting: 1,
            series_written: 0,
            ..Default::default()
        }
    );
}

#[test]
fn a_new_series_beyond_a_limit_is_left_out_and_the_rest_written() {
    let engine = TestEngine::in_memory();
    let a = vec![
        series(0, &[(1000, 1.0)]),
        series(1, &[(1000, 1.0), (2000, 2.0)]),
    ];
    let b = vec![series(1, &[(3000, 3.0)]), series(2, &[(1000, 1.0)])];
    let refused = series(1, &[]).key;
    let mut admit = |k: &tidemark_storage::SeriesKey| {
        if *k == refused {
            Err(crate::series_limits::LimitHit::PerMetric)
        } else {
            Ok(())
        }
    };
    let (batch, _, outcomes) = build_batch(&engine, 0, vec![a, b], 60_000, i64::MAX, &mut admit);
    assert_eq!(batch.new_series.len(), 2);
    assert_eq!(batch.sample_count(), 2);
    assert_eq!(
        (
            outcomes[0].samples_written,
            outcomes[0].series_limited,
            outcomes[0].samples_limited
        ),
        (1, 1, 2)
    );
    assert_eq!(
        (
            outcomes[1].samples_written,
            outcomes[1].series_limited,
            outcomes[1].samples_limited
        ),
        (1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn samples_far_in_the_future_are_refused_and_the_rest_written() {
    let dir = tempfile::tempdir().unwrap();
    let (shards, _engine) = open(dir.path(), 2).await;
    let now = crate::clock::now_ms();
    let far = now + 2 * Config::default().future_window_ms;
    let out = shards
        .write(vec![
            series(0, &[(now - 1000, 1.0), (now, 2.0), (far, 3.0)]),
            series(1, &[(far, 1.0)]),
            series(2, &[(now + 5 * 365 * 86_400_000, 1.0)]),
        ])
        .await
        .unwrap();
    assert_eq!((out.samples_written, out.too_new), (2, 3));
    shards.read_barrier().await.unwrap();
    let all = read_all(&shards);
    assert_eq!(
        all.len(),
        1,
        "series with nothing left are not created: {all:?}"
    );
    shards.shutdown().await.unwrap();
}

/// Polls `check` every 20 ms for up to 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{what}: not within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shard_map_version_splits_series_by_time_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let versioned = Config {
        // A version starts on a whole second at least 2 s + write_timeout_ms (2 s) ahead.
        shard_version_align_ms: 1000,
        shard_version_lead_ms: 2000,
        future_window_ms: 300,
        write_timeout_ms: 2000,
        ..opts(dir.path(), 2)
    };
    // Time moves only when the test moves it (Raft's own timers do not read this clock).
    let clock = FakeClock::at(crate::clock::now_ms());
    let open = || async {
        let engine = Arc::new(TestEngine::open(&dir.path().join("data")));
        let node = Node::open_with_clock(
            Arc::new(versioned.clone()),
            None,
            engine.clone() as Arc<dyn Engine>,
            clock.clone(),
        )
        .await
        .unwrap();
        (node, engine)
    };
    let (shards, engine) = open().await;
    let before = clock.now_ms();
    let outcome = shards.set_shard_count(5).await.unwrap();
    assert!(outcome.changed);
    let b = outcome.version.start_ms;
    assert!(
        b >= before + 4000 && b % 1000 == 0,
        "start {b} after {before}"
    );
    assert_eq!(
        outcome.placement,
        (2..5)
            .map(|s| (s, vec![1]))
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    assert_eq!(shards.shard_count(), 5);
    eventually("new shards lead", || {
        shards.status().iter().all(|g| g.leader == Some(1))
    })
    .await;
    assert!(!shards.set_shard_count(5).await.unwrap().changed);
    assert!(matches!(
        shards.set_shard_count(0).await,
        Err(NodeError::BadRequest(_))
    ));

    let n = 40;
    let times = [b - 2000, b - 1000, b, b + 1000];
    let writes: Vec<SeriesWrite> = (0..n)
        .map(|i| series(i, &times.map(|t| (t, i as f64))))
        .collect();
    // Seconds ahead of the clock, they are refused; once the clock has passed them, written.
    let early = shards.write(writes.clone()).await.unwrap();
    assert_eq!((early.samples_written, early.too_new), (0, 4 * n));
    clock.set(b + 1001);
    let (out, _) = write_once_routable(&shards, writes.clone()).await;
    assert_eq!((out.samples_written, out.too_new), (4 * n, 0));
    // A node whose map was last confirmed longer ago than the lead refuses to route current
    // samples, and to read linearizably (a confirmation in the background may come in
    // between: a few tries).
    let mut stale = false;
    for _ in 0..5 {
        clock.advance(10_000);
        let now_writes = vec![series(0, &[(clock.now_ms(), 1.0)])];
        let routed = shards.write(now_writes).await;
        let read = shards.reader(true, u64::MAX).await.map(|_| ());
        if matches!(routed, Err(NodeError::Unavailable(m)) if m.contains("cannot route"))
            && matches!(read, Err(NodeError::Unavailable(m)) if m.contains("linearizable"))
        {
            stale = true;
            break;
        }
    }
    assert!(stale, "a stale shard map was not refused");
    // Each series' samples before the boundary are in its shard of 2, the rest in its shard
    // of 5.
    let mut moved = 0;
    for sw in &writes {
        let host = Matcher::equal("host", sw_host(sw));
        let (old, new) = (sw.key.shard(2), sw.key.shard(5));
        moved += usize::from(old != new);
        let in_shard = |shard| -> Vec<i64> {
            engine
                .select(shard, std::slice::from_ref(&host), i64::MIN, i64::MAX)
                .unwrap()
                .flat_map(|s| s.unwrap().samples)
                .map(|s| s.t)
                .collect()
        };
        if old == new {
            assert_eq!(in_shard(old), times.to_vec());
        } else {
            assert_eq!(in_shard(old), times[..2].to_vec());
            assert_eq!(in_shard(new), times[2..].to_vec());
        }
    }
    assert!(moved > n / 4, "{moved} of {n} series changed shards");
    // Read across the boundary, each series is one.
    let all = read_all(&shards);
    assert_eq!(all.len(), n);
    assert!(all.iter().all(|(_, s)| s.iter().map(|s| s.t).eq(times)));

    // A restart starts the groups the versions added, from the meta group's record.
    shards.stop().await;
    drop(shards);
    drop(engine);
    let (shards, _engine) = open().await;
    assert_eq!(shards.shard_count(), 5);
    shards.read_barrier().await.unwrap();
    assert_eq!(read_all(&shards), all);
    clock.set(clock.now_ms().max(b + 2001));
    let later: Vec<SeriesWrite> = (0..n).map(|i| series(i, &[(b + 2000, 9.0)])).collect();
    assert_eq!(
        write_once_routable(&shards, later).await.0.samples_written,
        n
    );
    shards.shutdown().await.unwrap();
}

/// Writes `series`, retrying while the node cannot route them yet; the outcome and the number
/// of refusals.
async fn write_once_routable(shards: &Node, series: Vec<SeriesWrite>) -> (WriteOutcome, usize) {
    let mut refused = 0;
    loop {
        match shards.write(series.clone()).await {
            Err(NodeError::Unavailable(m)) if m.contains("cannot route") => refused += 1,
            other => return (other.unwrap(), refused),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn sw_host(sw: &SeriesWrite) -> String {
    sw.key.labels().get("host").unwrap().to_string()
}

#[tokio::test]
async fn initial_cluster_id_is_derived_and_checked_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let members = std::collections::BTreeMap::from([(1, "127.0.0.1:1".to_string())]);
    let with = |token: &str| {
        Arc::new(Config {
            initial_cluster: Some("1=127.0.0.1:1".into()),
            initial_cluster_token: token.into(),
            ..opts(dir.path(), 2)
        })
    };
    let engine = || Arc::new(TestEngine::open(&dir.path().join("data"))) as Arc<dyn Engine>;
    let shards = Node::open(with("a"), None, engine()).await.unwrap();
    assert_eq!(
        shards.cluster_id(),
        crate::meta::initial_cluster_id("a", &members)
    );
    shards.write(batch_of(4, 1_000)).await.unwrap();
    shards.stop().await;
    drop(shards);

    let refused = Node::open(with("b"), None, engine()).await;
    match refused {
        Err(NodeError::Startup(m)) => assert!(m.contains("holds cluster"), "{m}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a data dir of another cluster opened"),
    }
    let again = Node::open(with("a"), None, engine()).await.unwrap();
    again.read_barrier().await.unwrap();
    assert_eq!(read_all(&again).len(), 4);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_a_crash_left_half_emptied_is_emptied_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (term, shard0) = {
        let (shards, engine) = open(dir.path(), 2).await;
        shards.write(batch_of(10, 10_000)).await.unwrap();
        shards.flush().await.unwrap();
        shards.write(batch_of(10, 20_000)).await.unwrap();
        assert!(!engine.dump(1).is_empty());
        let term = shards.status()[2].term;
        let shard0 = engine.dump(0);
        shards.stop().await;
        (term, shard0)
    };
    // The node crashed right after recording that it empties its replica of shard 1.
    {
        let db = crate::raft::log_store::LogDb::open(&dir.path().join("raft-log")).unwrap();
        db.put_node_record_sync(crate::groups::RETIRING_RECORD, &1u32.to_be_bytes())
            .unwrap();
    }
    let (shards, engine) = open(dir.path(), 2).await;
    // Shard 1: no data, no log, its vote kept; shard 0 as it was.
    assert!(engine.dump(1).is_empty());
    let st = shards.status();
    assert_eq!(st[2].shard, Some(1));
    assert_eq!(
        (st[2].last_log_index, st[2].applied_index, st[2].term),
        (None, None, term),
        "{st:?}"
    );
    assert!(st[2].voters.is_empty(), "{st:?}");
    assert_eq!(st[1].voters, vec![1]);
    assert_eq!(engine.dump(0), shard0);
    shards.stop().await;
    drop(shards);
    // Done once: the record is gone.
    let db = crate::raft::log_store::LogDb::open(&dir.path().join("raft-log")).unwrap();
    assert_eq!(
        db.get_node_record(crate::groups::RETIRING_RECORD).unwrap(),
        None
    );
    // The log it had is remembered as its vote floor.
    let floor = db.store(crate::raft::shard_group(1)).vote_floor().unwrap();
    assert!(floor.is_some_and(|f| f.index() > 0), "{floor:?}");
    assert_eq!(
        db.store(crate::raft::shard_group(0)).vote_floor().unwrap(),
        None
    );
}

/// The leader's entry of a request's native histograms: stored ones are duplicates or
/// conflicts, new series are created once admitted, a limited one is counted, not written.
#[test]
fn a_histogram_batch_takes_what_the_engine_check_accepts() {
    use tidemark_storage::histogram::{HistogramSample, HistogramValue, IntHistogram};
    use tidemark_storage::{Command, MemEngine, SeriesRef, WriteBatch};
    let int = |t: i64, count: u64| HistogramSample {
        t,
        h: HistogramValue::Int(IntHistogram {
            count,
            zero_count: count,
            ..IntHistogram::default()
        }),
    };
    let hist = |name: &str, samples: Vec<HistogramSample>| crate::request::HistogramWrite {
        key: SeriesKey::from(&Labels::from_pairs(&[("__name__", name)])),
        samples,
    };
    let engine = MemEngine::default();
    let stored = Command::Write(WriteBatch {
        new_series: vec![Labels::from_pairs(&[("__name__", "a")])],
        samples: vec![],
        histograms: vec![(SeriesRef::New(0), vec![int(1000, 1), int(2000, 2)])],
    });
    engine.apply(0, 1, &stored).unwrap();
    let limited = SeriesKey::from(&Labels::from_pairs(&[("__name__", "limited")]));
    let mut admitted = Vec::new();
    let (batch, outcome) = crate::batcher::build_histogram_batch(
        &engine,
        0,
        vec![
            hist("a", vec![int(1000, 1), int(2000, 5), int(3000, 3)]),
            hist("b", vec![int(1000, 1)]),
            hist("limited", vec![int(1000, 1), int(2000, 1)]),
            // All too old: the series is not created.
            hist("old", vec![int(-100_000, 1)]),
            // A second run of "b" (a shard-map change split it): merged, admitted once.
            hist("b", vec![int(500, 1)]),
        ],
        60_000,
        &mut |key| {
            admitted.push(key.clone());
            if *key == limited {
                Err(crate::series_limits::LimitHit::Series)
            } else {
                Ok(())
            }
        },
    );
    assert_eq!(admitted.len(), 2, "b once, limited once, old never");
    assert_eq!(
        batch.new_series,
        vec![Labels::from_pairs(&[("__name__", "b")])]
    );
    assert_eq!(batch.histograms.len(), 2);
    assert_eq!(batch.histograms[0].0, SeriesRef::Id(0));
    let times: Vec<i64> = batch.histograms[0].1.iter().map(|s| s.t).collect();
    assert_eq!(times, [3000]);
    assert_eq!(batch.histograms[1].0, SeriesRef::New(0));
    let times: Vec<i64> = batch.histograms[1].1.iter().map(|s| s.t).collect();
    assert_eq!(times, [500, 1000]);
    assert!(batch.samples.is_empty());
    assert_eq!(
        outcome,
        WriteOutcome {
            samples_written: 4,
            too_old: 1,
            conflicting: 1,
            series_written: 2,
            series_limited: 1,
            samples_limited: 2,
            ..Default::default()
        }
    );
}
