//! RocksDB only: flush, drop, reopen, replay.

use super::*;
use tidemark_storage::RocksEngine;

fn open(dir: &std::path::Path, o: EngineOptions) -> RocksEngine {
    RocksEngine::open(dir, o).expect("open")
}

#[test]
fn flushed_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 5,
    };
    let a = up("a");
    let b = labels(&[("__name__", "req"), ("job", "b")]);
    {
        let e = open(dir.path(), o.clone());
        assert_eq!(e.flushed_state(S).unwrap(), None);
        write(
            &e,
            1,
            &a,
            (0..12).map(|i| Sample::new(i * 1000, i as f64)).collect(),
        );
        write(&e, 2, &b, samples(&[(500, 1.0), (2 * H + 500, 2.0)]));
        write(&e, 3, &a, samples(&[(1500, 1.5)])); // out of order
        assert_eq!(e.flush(S, b"raft-meta").unwrap(), 3);
        write(&e, 4, &a, samples(&[(20_000, 20.0)])); // lost: not flushed
    }
    let e = open(dir.path(), o);
    assert_eq!(e.applied_index(S), 3);
    assert_eq!(
        e.flushed_state(S).unwrap(),
        Some((3, b"raft-meta".to_vec()))
    );
    assert_eq!(e.stats(S).head_samples, 0, "the head starts empty");
    assert!(e.series_id(S, &a).is_some());
    let got = select(&e, &[eq("job", "a")], 0, i64::MAX);
    let mut want: Vec<Sample> = (0..12).map(|i| Sample::new(i * 1000, i as f64)).collect();
    want.insert(2, Sample::new(1500, 1.5));
    assert_eq!(got[0].samples, want);
    assert_eq!(
        e.label_values(S, "job", &[], 0, 3 * H).unwrap(),
        set(&["a", "b"])
    );
    assert_eq!(
        e.label_names(S, &[eq("job", "b")], 2 * H, 3 * H).unwrap(),
        set(&["__name__", "job"])
    );
    // The recovered last in-order timestamp keeps classifying replayed samples correctly.
    write(&e, 4, &a, samples(&[(11_000, 99.0), (20_000, 20.0)]));
    let got = select(&e, &[eq("job", "a")], 10_000, i64::MAX);
    assert_eq!(
        got[0].samples,
        samples(&[(10_000, 10.0), (11_000, 11.0), (20_000, 20.0)])
    );
    let st = e.stats(S);
    assert_eq!((st.applied_index, st.flushed_index, st.series), (4, 3, 2));
}

#[test]
fn replay_after_restart_matches_never_restarting() {
    let cmds = workload(21, 160);
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 9,
    };
    let reference = MemEngine::new(o.clone());
    for (i, c) in cmds.iter().enumerate() {
        reference.apply(S, i as u64 + 1, c).unwrap();
    }
    let want = reference.digest(S).unwrap();
    for crash_at in [10usize, 60, 99, 130] {
        let dir = tempfile::tempdir().unwrap();
        let flushed = {
            let e = open(dir.path(), o.clone());
            let mut flushed = 0;
            for (i, c) in cmds.iter().enumerate().take(crash_at) {
                e.apply(S, i as u64 + 1, c).unwrap();
                if i % 17 == 3 {
                    flushed = e.flush(S, b"m").unwrap();
                }
            }
            flushed
        };
        let e = open(dir.path(), o.clone());
        assert_eq!(e.applied_index(S), flushed);
        for (i, c) in cmds.iter().enumerate().skip(flushed as usize) {
            e.apply(S, i as u64 + 1, c).unwrap();
            if i % 23 == 0 {
                e.flush(S, b"m").unwrap();
            }
        }
        assert_eq!(
            e.digest(S).unwrap(),
            want,
            "crash after entry {crash_at}, flushed at {flushed}"
        );
        let got = select(&e, &[eq("__name__", "m")], i64::MIN, i64::MAX);
        assert_eq!(
            got,
            select(&reference, &[eq("__name__", "m")], i64::MIN, i64::MAX)
        );
        // And once more from a clean flush.
        let last = e.flush(S, b"end").unwrap();
        drop(e);
        let e = open(dir.path(), o.clone());
        assert_eq!(e.applied_index(S), last);
        assert_eq!(e.digest(S).unwrap(), want);
    }
}

#[test]
fn sealed_and_expired_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let l = up("a");
    {
        let e = open(dir.path(), opts());
        write(
            &e,
            1,
            &l,
            samples(&[(1000, 1.0), (2 * H + 1000, 2.0), (4 * H + 1000, 3.0)]),
        );
        e.apply(
            S,
            2,
            &Command::Seal {
                partition_start_ms: 2 * H,
            },
        )
        .unwrap();
        e.apply(S, 3, &Command::Expire { before_ms: 2 * H })
            .unwrap();
        let id = e.series_id(S, &l).unwrap();
        e.apply(
            S,
            4,
            &Command::Delete {
                series: vec![id],
                mint_ms: 4 * H + 600,
                maxt_ms: 4 * H + 700,
            },
        )
        .unwrap();
        e.flush(S, b"m").unwrap();
    }
    let e = open(dir.path(), opts());
    // The tombstone survived: the sample at 4h + 650 ms (an open partition) stays hidden.
    write(
        &e,
        5,
        &l,
        samples(&[
            (500, 9.0),
            (2 * H + 500, 9.0),
            (4 * H + 650, 7.0),
            (4 * H + 500, 2.5),
        ]),
    );
    let got = select(&e, &[eq("job", "a")], i64::MIN, i64::MAX);
    assert_eq!(
        got[0].samples,
        samples(&[(2 * H + 1000, 2.0), (4 * H + 500, 2.5), (4 * H + 1000, 3.0)])
    );
    assert_eq!(
        e.label_values(S, "job", &[], 2 * H, 3 * H).unwrap(),
        set(&["a"])
    );
    assert_eq!(e.label_values(S, "job", &[], 0, 1000).unwrap(), set(&[]));
}

#[test]
fn shards_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(dir.path(), opts());
        for shard in [1u32, 2, 700] {
            let cmd = Command::Write(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![up(&shard.to_string())],
                samples: vec![(SeriesRef::New(0), samples(&[(1000, f64::from(shard))]))],
            });
            e.apply(shard, 10 + u64::from(shard), &cmd).unwrap();
            e.flush(shard, &shard.to_be_bytes()).unwrap();
        }
    }
    let e = open(dir.path(), opts());
    for shard in [1u32, 2, 700] {
        assert_eq!(
            e.flushed_state(shard).unwrap(),
            Some((10 + u64::from(shard), shard.to_be_bytes().to_vec()))
        );
        let got: Vec<SeriesSamples> = e
            .select(shard, &[eq("__name__", "up")], 0, 2000)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("job"), Some(shard.to_string().as_str()));
    }
    assert_eq!(e.applied_index(3), 0);
}

#[test]
fn memory_per_series_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), opts());
    let n = 5000u32;
    let mut batch = WriteBatch::default();
    for i in 0..n {
        batch.new_series.push(labels(&[
            ("__name__", "node_cpu_seconds_total"),
            ("instance", &format!("10.0.{}.{}:9100", i / 250, i % 250)),
            ("job", "node"),
            ("mode", "idle"),
        ]));
        batch.samples.push((
            SeriesRef::New(i),
            (0..60)
                .map(|k| Sample::new(k * 15_000, (k * 7) as f64))
                .collect(),
        ));
    }
    e.apply(S, 1, &Command::Write(batch)).unwrap();
    e.flush(S, b"m").unwrap();
    let per_series = e.memory_bytes(S) / u64::from(n);
    println!("head memory: {per_series} bytes/series (60 samples each, after flush)");
    assert!(per_series < 1024, "{per_series} bytes per series");
}

/// Applies `cmds` (1-based indexes from `first`) to both engines.
fn apply_all(engines: &[&dyn Engine], first: u64, cmds: &[Command]) {
    for (i, c) in cmds.iter().enumerate() {
        for e in engines {
            e.apply(S, first + i as u64, c).unwrap();
        }
    }
}

/// Commands that fill partition 0 (some out of order) and 2 H, then seal partition 0.
fn sealing_workload() -> Vec<Command> {
    let batch = |series: &[(Labels, Vec<Sample>)]| {
        Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: series.iter().map(|(l, _)| l.clone()).collect(),
            samples: series
                .iter()
                .enumerate()
                .map(|(k, (_, s))| (SeriesRef::New(k as u32), s.clone()))
                .collect(),
        })
    };
    let a = sealed::counter_samples(5, 1000, 300);
    let b = sealed::counter_samples(6, 2000, 300);
    vec![
        batch(&[(up("a"), a[..150].to_vec()), (up("b"), b[..100].to_vec())]),
        batch(&[(up("a"), a[150..].to_vec()), (up("b"), b[100..].to_vec())]),
        batch(&[(
            up("a"),
            samples(&[(500, 0.5), (a[9].t, -9.0), (2 * H + 7, 2.0)]),
        )]),
        batch(&[(up("c"), samples(&[(2 * H + 9, 3.0)]))]),
        Command::Seal {
            partition_start_ms: 0,
        },
        batch(&[(up("a"), samples(&[(600, 0.6), (2 * H + 20, 2.5)]))]),
    ]
}

#[test]
fn sealed_partition_survives_reopen_and_replay() {
    let cmds = sealing_workload();
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    };
    let reference = MemEngine::new(o.clone());
    apply_all(&[&reference], 1, &cmds);
    let all = [eq("__name__", "up")];
    let want = select(&reference, &all, i64::MIN, i64::MAX);
    let digest = reference.digest(S).unwrap();
    // Flushed before and after the seal; reopened.
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(dir.path(), o.clone());
        apply_all(&[&e], 1, &cmds[..2]);
        e.flush(S, b"m").unwrap();
        apply_all(&[&e], 3, &cmds[2..]);
        e.flush(S, b"m").unwrap();
        sealed::assert_same(&select(&e, &all, i64::MIN, i64::MAX), &want);
    }
    let e = open(dir.path(), o.clone());
    sealed::assert_same(&select(&e, &all, i64::MIN, i64::MAX), &want);
    assert_eq!(e.digest(S).unwrap(), digest);
    drop(e);
    assert_partition_chunks(dir.path(), 0, 2);
    // A crash after the seal was applied but before it was flushed: the replay re-encodes.
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(dir.path(), o.clone());
        apply_all(&[&e], 1, &cmds[..4]);
        e.flush(S, b"m").unwrap();
        apply_all(&[&e], 5, &cmds[4..]);
    }
    {
        let e = open(dir.path(), o.clone());
        assert_eq!(e.applied_index(S), 4);
        apply_all(&[&e], 5, &cmds[4..]);
        sealed::assert_same(&select(&e, &all, i64::MIN, i64::MAX), &want);
        e.flush(S, b"m").unwrap();
        assert_eq!(e.digest(S).unwrap(), digest);
        e.compact().unwrap();
    }
    let e = open(dir.path(), o);
    sealed::assert_same(&select(&e, &all, i64::MIN, i64::MAX), &want);
    assert_eq!(e.digest(S).unwrap(), digest);
    drop(e);
    assert_partition_chunks(dir.path(), 0, 2);
}

/// Reads the chunks column family directly: partition `sealed_p` holds exactly one chunk per
/// series, each in the sealed encoding (2), for `sealed_n` series; other partitions hold XOR
/// chunks (1).
fn assert_partition_chunks(path: &std::path::Path, sealed_p: i64, sealed_n: usize) {
    let mut opts = rocksdb::Options::default();
    tidemark_storage::rocks::set_chunk_merge_operator(&mut opts);
    let names = rocksdb::DB::list_cf(&opts, path).unwrap();
    let db = rocksdb::DB::open_cf_for_read_only(&opts, path, &names, false).unwrap();
    let cf = db.cf_handle("chunks").unwrap();
    let mut in_sealed: Vec<u32> = Vec::new();
    let mut others = 0;
    for kv in db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
        let (k, v) = kv.unwrap();
        let p = (u64::from_be_bytes(k[5..13].try_into().unwrap()) ^ (1 << 63)) as i64;
        let id = u32::from_be_bytes(k[13..17].try_into().unwrap());
        if p == sealed_p {
            assert_eq!(v[0], 2, "sealed encoding in partition {p}");
            assert_eq!(k.len(), 25, "no out-of-order keys left in partition {p}");
            in_sealed.push(id);
        } else {
            assert_eq!(v[0], 1, "XOR encoding in partition {p}");
            others += 1;
        }
    }
    assert!(others > 0);
    let n = in_sealed.len();
    in_sealed.dedup();
    assert_eq!(in_sealed.len(), n, "one chunk per series");
    assert_eq!(n, sealed_n, "series with data in partition {sealed_p}");
}

/// Applies `cmds[from..to]` (entry i is log index i + 1).
fn apply_range(e: &dyn Engine, cmds: &[Command], from: usize, to: usize) {
    for (i, c) in cmds.iter().enumerate().take(to).skip(from) {
        e.apply(S, i as u64 + 1, c).unwrap();
    }
}

#[test]
fn a_shard_snapshot_moves_a_replica_to_another_engine() {
    let cmds = workload(33, 200);
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    };
    let reference = MemEngine::new(o.clone());
    apply_range(&reference, &cmds, 0, cmds.len());

    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(da.path(), o.clone());
    assert_eq!(
        a.export_shard(S, &mut Vec::new()).unwrap(),
        None,
        "never flushed"
    );
    apply_range(&a, &cmds, 0, 120);
    a.flush(S, b"at-120").unwrap();
    // Applied after the flush: not part of the snapshot, which is the flushed state only.
    apply_range(&a, &cmds, 120, 130);
    let mut snap = Vec::new();
    assert_eq!(
        a.export_shard(S, &mut snap).unwrap(),
        Some((120, b"at-120".to_vec()))
    );

    // The receiver holds other data of the same shard (a stale replica) and another shard.
    let b = open(db.path(), o.clone());
    apply_range(&b, &workload(34, 40), 0, 40);
    b.flush(S, b"stale").unwrap();
    let other = up("other-shard");
    b.apply(
        S + 1,
        1,
        &Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![other.clone()],
            samples: vec![(SeriesRef::New(0), samples(&[(1000, 1.0)]))],
        }),
    )
    .unwrap();
    b.flush(S + 1, b"other").unwrap();
    let other_digest = b.digest(S + 1).unwrap();

    // A damaged snapshot changes nothing.
    let mut bad = snap.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    assert!(b.import_shard(S, &mut bad.as_slice()).is_err());
    assert!(b.import_shard(S, &mut &snap[..snap.len() - 3]).is_err());
    assert!(
        b.import_shard(S + 1, &mut snap.as_slice()).is_err(),
        "wrong shard"
    );
    assert_eq!(b.flushed_state(S).unwrap(), Some((40, b"stale".to_vec())));

    assert_eq!(
        b.import_shard(S, &mut snap.as_slice()).unwrap(),
        (120, b"at-120".to_vec())
    );
    assert_eq!(b.applied_index(S), 120);
    assert_eq!(b.stats(S).head_samples, 0);
    assert_eq!(
        b.digest(S + 1).unwrap(),
        other_digest,
        "other shards untouched"
    );
    // Replaying the log after the snapshot gives the same shard as never moving it.
    apply_range(&b, &cmds, 120, cmds.len());
    apply_range(&a, &cmds, 130, cmds.len());
    let want = reference.digest(S).unwrap();
    assert_eq!(b.digest(S).unwrap(), want);
    assert_eq!(a.digest(S).unwrap(), want);
    assert_eq!(
        select(&b, &[eq("__name__", "m")], i64::MIN, i64::MAX),
        select(&reference, &[eq("__name__", "m")], i64::MIN, i64::MAX)
    );
    // And it survives a flush and a reopen.
    b.flush(S, b"end").unwrap();
    drop(b);
    let b = open(db.path(), o);
    assert_eq!(b.digest(S).unwrap(), want);
    assert_eq!(b.digest(S + 1).unwrap(), other_digest);
}

#[test]
fn a_dropped_shard_leaves_nothing_and_the_others_untouched() {
    let cmds = workload(35, 120);
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    };
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), o.clone());
    apply_range(&e, &cmds, 0, 80);
    e.flush(S, b"at-80").unwrap();
    apply_range(&e, &cmds, 80, cmds.len());
    for (i, c) in cmds.iter().enumerate().take(50) {
        e.apply(S + 1, i as u64 + 1, c).unwrap();
    }
    e.flush(S + 1, b"other").unwrap();
    let other_digest = e.digest(S + 1).unwrap();
    // What a shard never written hashes to.
    let empty = e.digest(S + 7).unwrap();
    assert_ne!(e.digest(S).unwrap(), empty);

    e.drop_shard(S).unwrap();
    let gone = |e: &RocksEngine| {
        assert_eq!(e.flushed_state(S).unwrap(), None);
        assert_eq!(e.applied_index(S), 0);
        assert_eq!(e.stats(S).series, 0);
        assert_eq!(e.digest(S).unwrap(), empty);
        assert!(select(e, &[eq("__name__", "m")], i64::MIN, i64::MAX).is_empty());
        assert_eq!(e.export_shard(S, &mut Vec::new()).unwrap(), None);
        assert_eq!(
            e.digest(S + 1).unwrap(),
            other_digest,
            "other shards untouched"
        );
    };
    gone(&e);
    // Durable: a reopen finds nothing of it either.
    drop(e);
    let e = open(dir.path(), o.clone());
    gone(&e);
    // The shard can be written again from index 1, as a new replica is.
    apply_range(&e, &cmds, 0, cmds.len());
    let reference = MemEngine::new(o);
    apply_range(&reference, &cmds, 0, cmds.len());
    assert_eq!(e.digest(S).unwrap(), reference.digest(S).unwrap());
}

#[test]
fn expiry_survives_reopen_and_gives_the_space_back() {
    use tidemark_storage::{ExpireScope, Tier};
    let dir = tempfile::tempdir().unwrap();
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 120,
    };
    let n_series: u64 = 200;
    let (digest, bytes_before) = {
        let e = open(dir.path(), o.clone());
        let mut index = 0;
        for i in 0..n_series {
            index += 1;
            let l = labels(&[("__name__", "m"), ("i", &i.to_string())]);
            let s: Vec<Sample> = (0..1440)
                .map(|k| Sample::new(k * 15_000, (k * i as i64) as f64))
                .collect();
            write(&e, index, &l, s);
        }
        for p in [0, 2 * H, 4 * H] {
            index += 1;
            e.apply(
                S,
                index,
                &Command::Seal {
                    partition_start_ms: p,
                },
            )
            .unwrap();
        }
        e.flush(S, b"m").unwrap();
        e.compact().unwrap();
        let bytes: u64 = e.partitions(S).unwrap().iter().map(|p| p.bytes).sum();
        assert!(bytes > 0);
        let expire = |index: u64, p: i64, scope: ExpireScope| {
            e.apply(
                S,
                index,
                &Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms: p,
                    scope,
                },
            )
            .unwrap();
        };
        expire(index + 1, 2 * H, ExpireScope::All);
        expire(
            index + 2,
            0,
            ExpireScope::Series((0..n_series as u32 / 2).collect()),
        );
        e.flush(S, b"m").unwrap();
        e.compact().unwrap();
        (e.digest(S).unwrap(), bytes)
    };
    let e = open(dir.path(), o);
    assert_eq!(
        e.digest(S).unwrap(),
        digest,
        "expiry is recovered as applied"
    );
    let info = e.partitions(S).unwrap();
    assert_eq!(
        info.iter()
            .map(|p| (p.start_ms, p.series, p.expired_series))
            .collect::<Vec<_>>(),
        vec![(0, n_series / 2, n_series / 2), (4 * H, n_series, 0)]
    );
    let bytes: u64 = info.iter().map(|p| p.bytes).sum();
    // A third of the data went whole and half of another third by series.
    assert!(
        bytes * 10 < bytes_before * 6,
        "{bytes} bytes on disk after expiry, {bytes_before} before"
    );
    let got = select(&e, &[eq("i", "1")], i64::MIN, i64::MAX);
    assert!(got.is_empty() || got[0].samples.iter().all(|s| s.t >= 4 * H));
    let got = select(&e, &[eq("i", "150")], i64::MIN, i64::MAX);
    assert_eq!(got[0].samples.len(), 480 + 480);
}

/// A hundred series `m{i=...}` of 4 h at 15 s, both of their partitions sealed (not yet
/// flushed); returns the last index applied.
pub(crate) fn hundred_series_sealed(e: &dyn Engine) -> u64 {
    let mut index = 0;
    for i in 0..100 {
        index += 1;
        let l = labels(&[("__name__", "m"), ("i", &i.to_string())]);
        let s: Vec<Sample> = (0..960)
            .map(|k| Sample::new(k * 15_000, (k * (i + 1)) as f64 * 0.37))
            .collect();
        write(e, index, &l, s);
    }
    for p in [0, 2 * H] {
        index += 1;
        e.apply(
            S,
            index,
            &Command::Seal {
                partition_start_ms: p,
            },
        )
        .unwrap();
    }
    index
}

#[test]
fn clean_tombstones_gives_the_space_of_deleted_series_back() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), opts());
    let mut index = hundred_series_sealed(&e);
    e.flush(S, b"m").unwrap();
    e.compact().unwrap();
    let bytes = |e: &RocksEngine| -> u64 { e.partitions(S).unwrap().iter().map(|p| p.bytes).sum() };
    let before = bytes(&e);
    let ids = e
        .matching_series(S, &[m(MatchOp::Regex, "i", "[0-7].*")], i64::MIN, i64::MAX)
        .unwrap();
    index += 1;
    e.apply(
        S,
        index,
        &Command::Delete {
            series: ids,
            mint_ms: i64::MIN,
            maxt_ms: i64::MAX,
        },
    )
    .unwrap();
    e.flush(S, b"m").unwrap();
    e.compact().unwrap();
    assert!(bytes(&e) * 10 > before * 9, "a delete alone frees nothing");
    let digest = e.digest(S).unwrap();
    index += 1;
    e.apply(S, index, &Command::CleanTombstones).unwrap();
    e.flush(S, b"m").unwrap();
    e.compact().unwrap();
    let after = bytes(&e);
    assert_eq!(e.digest(S).unwrap(), digest);
    assert!(
        after * 10 < before * 4,
        "{after} bytes after cleaning, {before} before"
    );
    // Reopened, the same.
    drop(e);
    let e = open(dir.path(), opts());
    assert_eq!(e.digest(S).unwrap(), digest);
    let got = select(&e, &[eq("__name__", "m")], i64::MIN, i64::MAX);
    assert_eq!(got.len(), 22, "i = 8, 9 and 80 to 99 are left");
}

/// An open chunk flushed many times: after each flush the head keeps only its tail, the store
/// completes it (merge records), and every read, a compaction, a reopen with replay and the
/// sealing of the partition give what an engine that never flushes gives.
#[test]
fn an_open_chunk_flushed_many_times_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 120,
    };
    let reference = MemEngine::new(o.clone());
    let series: Vec<Labels> = (0..50).map(|i| up(&format!("t{i}"))).collect();
    let mut rng = StdRng::seed_from_u64(22);
    // 10 rounds of 9 samples per series, 15 s apart with jitter, values from a random walk;
    // a flush after each round, so every chunk is flushed at several lengths.
    let mut cmds = Vec::new();
    let mut v = vec![0.0f64; series.len()];
    for round in 0..10i64 {
        let mut batch = WriteBatch::default();
        for (k, l) in series.iter().enumerate() {
            batch.new_series.push(l.clone());
            let s = (0..9i64)
                .map(|i| {
                    v[k] += rng.random_range(-1.0..1.0);
                    let t = (round * 9 + i) * 15_000 + rng.random_range(0..50);
                    Sample::new(t, v[k])
                })
                .collect();
            batch.samples.push((SeriesRef::New(k as u32), s));
        }
        cmds.push(Command::Write(batch));
    }
    let check = |e: &dyn Engine, what: &str| {
        for (lo, hi) in [
            (i64::MIN, i64::MAX),
            (600_000, 700_000),
            (1_300_000, i64::MAX),
        ] {
            assert_eq!(
                select(e, &[eq("__name__", "up")], lo, hi),
                select(&reference, &[eq("__name__", "up")], lo, hi),
                "{what}: [{lo}, {hi}]"
            );
        }
        assert_eq!(e.digest(S).unwrap(), reference.digest(S).unwrap(), "{what}");
    };
    {
        let e = open(dir.path(), o.clone());
        for (i, c) in cmds.iter().enumerate() {
            let index = i as u64 + 1;
            e.apply(S, index, c).unwrap();
            reference.apply(S, index, c).unwrap();
            e.flush(S, b"m").unwrap();
            // Each open chunk holds at most one byte of its encoding once flushed (in a buffer
            // with a 16-byte header), not the ~10-80 bytes its samples take.
            let held = e.memory_breakdown(S).open_chunks;
            assert!(held <= series.len() * 17, "{held} bytes in open chunks");
            check(&e, &format!("after flush {index}"));
        }
        e.compact().unwrap();
        check(&e, "after a compaction");
        // Appended after the last flush: lost with the process, replayed below.
        let extra = Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![series[0].clone()],
            samples: vec![(SeriesRef::New(0), samples(&[(90 * 15_000, 7.0)]))],
        });
        e.apply(S, 11, &extra).unwrap();
        reference.apply(S, 11, &extra).unwrap();
        check(&e, "with an unflushed tail");
        cmds.push(extra);
    }
    let e = open(dir.path(), o.clone());
    e.apply(S, 11, &cmds[10]).unwrap();
    check(&e, "after reopening and replaying");
    let seal = Command::Seal {
        partition_start_ms: 0,
    };
    e.apply(S, 12, &seal).unwrap();
    reference.apply(S, 12, &seal).unwrap();
    e.flush(S, b"m").unwrap();
    check(&e, "after sealing");
}
