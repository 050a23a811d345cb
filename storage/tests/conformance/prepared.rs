//! Flushes whose encoding work was prepared entries earlier, as a node's state machine prepares
//! it while applies go on (`Engine::prepare_flush`, then `Engine::flush_prepared`): whatever
//! applied in between (writes that cut chunks, seals, backfills into sealed partitions, deletes,
//! expiry, tombstone cleaning, another flush), reads and digests are those of never flushing.

use super::flush::workload;
use super::*;
use tidemark_storage::{Flushed, LateSeals, PreparedFlush};

/// The flush workload with backfills into older partitions and tombstone cleaning mixed in.
pub(crate) fn interleaved_workload(seed: u64, n: usize) -> Vec<Command> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cmds = Vec::new();
    let mut newest = 0;
    for (i, c) in workload(seed, n).into_iter().enumerate() {
        if let Command::Write(b) = &c {
            let last = b.samples.iter().filter_map(|(_, s)| s.last()).map(|s| s.t);
            newest = last.fold(newest, i64::max);
        }
        cmds.push(c);
        if i % 17 == 16 && newest > 4 * H {
            // Ids up to 40 exist by now or are ignored alike by every engine.
            let t = newest - rng.random_range(2 * H..4 * H);
            let samples = (0..3)
                .map(|k| {
                    let v = f64::from(rng.random_range(0..4u8));
                    (
                        SeriesRef::Id(rng.random_range(0..40)),
                        vec![Sample::new(t + k, v)],
                    )
                })
                .collect();
            cmds.push(Command::Backfill(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![],
                samples,
            }));
        }
        if i % 45 == 44 {
            cmds.push(Command::CleanTombstones);
        }
    }
    cmds
}

/// Applies `cmds` to `a` (never flushed) and to `b`, which prepares a flush at random points and
/// finishes it zero to four entries later, sometimes with a whole flush in between (two flushes
/// of one shard running at once), half of the time handing late seals back to be prepared;
/// digests are compared every 40 entries. Returns how many preparations were handed back.
pub(crate) fn apply_with_prepared_flushes(
    a: &dyn Engine,
    b: &dyn Engine,
    cmds: &[Command],
) -> usize {
    let mut rng = StdRng::seed_from_u64(cmds.len() as u64);
    let mut pending: Option<(PreparedFlush, u32)> = None;
    let mut handed_back = 0;
    for (i, c) in cmds.iter().enumerate() {
        let index = i as u64 + 1;
        a.apply(S, index, c).unwrap();
        b.apply(S, index, c).unwrap();
        pending = match pending.take() {
            None if rng.random_bool(0.3) => {
                Some((b.prepare_flush(S, None).unwrap(), rng.random_range(0..5)))
            }
            None => None,
            Some((p, 0)) => {
                let late = if rng.random_bool(0.5) {
                    LateSeals::Return
                } else {
                    LateSeals::Encode
                };
                match b.flush_prepared(S, p, &index.to_be_bytes(), late).unwrap() {
                    Flushed::Index(flushed) => {
                        assert_eq!(flushed, index);
                        None
                    }
                    Flushed::Unprepared(p) => {
                        assert_eq!(late, LateSeals::Return);
                        handed_back += 1;
                        let p = b.prepare_flush(S, Some(p)).unwrap();
                        Some((p, rng.random_range(0..3)))
                    }
                }
            }
            Some((p, k)) => {
                if rng.random_bool(0.1) {
                    b.flush(S, &index.to_be_bytes()).unwrap();
                }
                Some((p, k - 1))
            }
        };
        if i % 40 == 39 {
            assert_eq!(
                a.digest(S).unwrap(),
                b.digest(S).unwrap(),
                "after entry {index}"
            );
        }
    }
    if let Some((p, _)) = pending {
        b.flush_prepared(S, p, b"end", LateSeals::Encode).unwrap();
    }
    handed_back
}

pub(crate) fn prepared_flushes_interleaved_with_applies(f: &mut dyn Factory) {
    let mut handed_back = 0;
    for seed in [41, 42, 43] {
        let cmds = interleaved_workload(seed, 220);
        let o = EngineOptions {
            partition_ms: 2 * H,
            chunk_samples_max: 7,
        };
        let (a, b) = (f.make(o.clone()), f.make(o));
        handed_back += apply_with_prepared_flushes(&*a, &*b, &cmds);
        assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap(), "seed {seed}");
        let all = [eq("__name__", "m")];
        let got = select(&*b, &all, i64::MIN, i64::MAX);
        assert_eq!(select(&*a, &all, i64::MIN, i64::MAX), got, "seed {seed}");
        assert!(!got.is_empty());
    }
    assert!(
        handed_back > 0,
        "no seal came between a preparation and its flush"
    );
}

#[cfg(feature = "rocksdb")]
fn rocks(dir: &std::path::Path, o: EngineOptions) -> tidemark_storage::RocksEngine {
    let e = tidemark_storage::RocksEngine::open(dir, o).expect("open");
    e.set_shared_time_columns(true);
    e
}

/// After prepared flushes, a reopened `RocksEngine` replaying the log from its last flush's
/// index holds what never flushing holds: each flush persisted the head and the index it
/// covers together.
#[cfg(feature = "rocksdb")]
#[test]
fn prepared_flushes_recover_by_replay() {
    let cmds = interleaved_workload(44, 220);
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    };
    let reference = MemEngine::new(o.clone());
    let dir = tempfile::tempdir().unwrap();
    let b = rocks(dir.path(), o.clone());
    apply_with_prepared_flushes(&reference, &b, &cmds);
    drop(b);
    let b = rocks(dir.path(), o);
    let (flushed, _) = b.flushed_state(S).unwrap().expect("flushed");
    assert!(flushed > 0 && flushed <= cmds.len() as u64);
    for (i, c) in cmds.iter().enumerate().skip(flushed as usize) {
        b.apply(S, i as u64 + 1, c).unwrap();
    }
    assert_eq!(b.digest(S).unwrap(), reference.digest(S).unwrap());
    let all = [eq("__name__", "m")];
    assert_eq!(
        select(&b, &all, i64::MIN, i64::MAX),
        select(&reference, &all, i64::MIN, i64::MAX)
    );
}

/// Work prepared on a shard that a snapshot then replaced is not installed in the new shard,
/// even where that one has the same partition to seal and fewer backfills counted: neither by
/// the flush it is handed to nor by a preparation it is handed to.
#[cfg(feature = "rocksdb")]
#[test]
fn work_prepared_before_a_snapshot_install_is_dropped() {
    stale_preparation_after_a_snapshot(|b, stale| {
        b.flush_prepared(S, stale, b"after", LateSeals::Encode)
            .unwrap()
    });
    stale_preparation_after_a_snapshot(|b, stale| {
        let p = b.prepare_flush(S, Some(stale)).unwrap();
        b.flush_prepared(S, p, b"after", LateSeals::Return).unwrap()
    });
}

/// A replica prepares a flush, then a snapshot replaces its shard; `finish` flushes with that
/// preparation, which must be found stale.
#[cfg(feature = "rocksdb")]
fn stale_preparation_after_a_snapshot(
    finish: impl Fn(&tidemark_storage::RocksEngine, PreparedFlush) -> Flushed,
) {
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    };
    let seal = Command::Seal {
        partition_start_ms: 0,
    };
    let backfill = |v: f64| {
        Command::Backfill(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![],
            samples: vec![(SeriesRef::Id(0), samples(&[(5000 + v as i64, v)]))],
        })
    };
    // The snapshot's source: series `a` with partition 0 sealed and flushed.
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = rocks(da.path(), o.clone());
    write(
        &a,
        1,
        &up("a"),
        samples(&[(1000, 1.0), (2 * H + 1000, 2.0)]),
    );
    a.apply(S, 2, &seal).unwrap();
    a.flush(S, b"a").unwrap();
    let mut snap = Vec::new();
    a.export_shard(S, &mut snap).unwrap().expect("flushed");
    // A stale replica with another series, never flushed (so that its counts of flushes and
    // deletes are the new shard's), its partition 0 backfilled three times since its seal: the
    // prepared work seals partition 0 from that data.
    let b = rocks(db.path(), o);
    write(
        &b,
        1,
        &up("stale"),
        samples(&[(1000, 7.0), (2 * H + 1000, 8.0)]),
    );
    b.apply(S, 2, &seal).unwrap();
    for (i, v) in [10.0, 11.0, 12.0].into_iter().enumerate() {
        b.apply(S, 3 + i as u64, &backfill(v)).unwrap();
    }
    let stale = b.prepare_flush(S, None).unwrap();
    b.import_shard(S, &mut snap.as_slice()).unwrap();
    // One backfill into partition 0 on both: it is to be sealed again on `b` too.
    a.apply(S, 3, &backfill(20.0)).unwrap();
    b.apply(S, 3, &backfill(20.0)).unwrap();
    assert!(matches!(finish(&b, stale), Flushed::Index(3)));
    assert_eq!(b.digest(S).unwrap(), a.digest(S).unwrap());
    assert_eq!(
        select(&b, &[eq("job", "a")], 0, 4 * H)[0].samples,
        samples(&[(1000, 1.0), (5020, 20.0), (2 * H + 1000, 2.0)])
    );
    assert!(select(&b, &[eq("job", "stale")], 0, 4 * H).is_empty());
}

/// A partition prepared before a `Delete` is sealed again with the deleted samples left out:
/// the prepared encoding still holds them, and a `CleanTombstones` after the delete asks for
/// their space back.
#[cfg(feature = "rocksdb")]
#[test]
fn a_delete_after_the_preparation_has_the_partition_sealed_again() {
    let run = |delete: bool| -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let e = rocks(dir.path(), opts());
        let mut index = super::rocks_recovery::hundred_series_sealed(&e);
        let prepared = e.prepare_flush(S, None).unwrap();
        if delete {
            let all = [eq("__name__", "m")];
            let ids = e.matching_series(S, &all, i64::MIN, i64::MAX).unwrap();
            let cmds = [
                Command::Delete {
                    series: ids,
                    mint_ms: i64::MIN,
                    maxt_ms: i64::MAX,
                },
                Command::CleanTombstones,
            ];
            for c in &cmds {
                index += 1;
                e.apply(S, index, c).unwrap();
            }
        }
        let flushed = e.flush_prepared(S, prepared, b"m", LateSeals::Encode);
        assert!(matches!(flushed.unwrap(), Flushed::Index(i) if i == index));
        e.compact().unwrap();
        e.partitions(S).unwrap().iter().map(|p| p.bytes).sum()
    };
    let (kept, deleted) = (run(false), run(true));
    assert!(
        deleted * 10 < kept,
        "{deleted} bytes with every series deleted, {kept} without"
    );
}

/// Work prepared before another flush of the shard finished is not trusted: that flush may have
/// written it already, and what it was computed from may have changed since (here a backfill
/// the other flush sealed, then a tombstone cleaning that has the partition sealed again).
#[test]
fn work_prepared_before_another_flush_is_dropped() {
    let o = EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    };
    let mut engines: Vec<Box<dyn Engine>> = vec![Box::new(MemEngine::new(o.clone()))];
    #[cfg(feature = "rocksdb")]
    let dir = tempfile::tempdir().unwrap();
    #[cfg(feature = "rocksdb")]
    engines.push(Box::new(rocks(dir.path(), o.clone())));
    for e in engines {
        let reference = MemEngine::new(o.clone());
        let cmds = [
            Command::Write(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![up("a")],
                samples: vec![(
                    SeriesRef::New(0),
                    samples(&[(1000, 1.0), (2 * H + 1000, 2.0)]),
                )],
            }),
            Command::Seal {
                partition_start_ms: 0,
            },
            Command::Delete {
                series: vec![0],
                mint_ms: 500,
                maxt_ms: 600,
            },
        ];
        for (i, c) in cmds.iter().enumerate() {
            e.apply(S, i as u64 + 1, c).unwrap();
            reference.apply(S, i as u64 + 1, c).unwrap();
        }
        let stale = e.prepare_flush(S, None).unwrap();
        let late = [
            Command::Backfill(WriteBatch {
                histograms: Vec::new(),
                new_series: vec![],
                samples: vec![(SeriesRef::Id(0), samples(&[(5000, 5.0)]))],
            }),
            Command::CleanTombstones,
        ];
        e.apply(S, 4, &late[0]).unwrap();
        e.flush(S, b"other").unwrap();
        e.apply(S, 5, &late[1]).unwrap();
        for (i, c) in late.iter().enumerate() {
            reference.apply(S, i as u64 + 4, c).unwrap();
        }
        e.flush_prepared(S, stale, b"stale", LateSeals::Encode)
            .unwrap();
        assert_eq!(e.digest(S).unwrap(), reference.digest(S).unwrap());
        assert_eq!(
            select(&*e, &[eq("job", "a")], 0, 4 * H)[0].samples,
            samples(&[(1000, 1.0), (5000, 5.0), (2 * H + 1000, 2.0)])
        );
    }
}
