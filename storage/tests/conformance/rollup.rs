//! Rollups (`Command::RollUp`): a day's windows read from a tier are the windows of its raw
//! samples, before and after the flush computes them, after the raw data expires, and (RocksDB)
//! after a reopen; every engine agrees whatever its flush timing.

use super::*;
use tidemark_storage::rollup::windows;
use tidemark_storage::{ExpireScope, SeriesWindows, Tier};

pub(crate) const DAY: i64 = 24 * H;
pub(crate) const M: i64 = 60_000;

/// Two days of three counters every 15 s from `DAY`, with a reset and a stale marker.
fn two_days(e: &dyn Engine) -> u64 {
    let mut index = 0;
    for (j, job) in ["a", "b", "c"].into_iter().enumerate() {
        let mut v = 0.0;
        let s: Vec<Sample> = (0..2 * DAY / 15_000)
            .map(|i| {
                let t = DAY + i * 15_000 + j as i64 * 1_000;
                v = if i == 3000 { 1.0 } else { v + (i % 7) as f64 };
                let v = if i == 5000 {
                    f64::from_bits(tidemark_storage::model::STALE_NAN_BITS)
                } else {
                    v
                };
                Sample::new(t, v)
            })
            .collect();
        index += 1;
        write(e, index, &up(job), s);
    }
    for p in (0..24).map(|i| DAY + i * 2 * H) {
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

pub(crate) fn roll(e: &dyn Engine, index: u64, tier: Tier, unit: i64, skip: Vec<u32>) {
    e.apply(
        S,
        index,
        &Command::RollUp {
            tier,
            unit_start_ms: unit,
            skip,
        },
    )
    .unwrap();
}

/// The windows of the first day computed straight from what a select returns.
fn expected(e: &dyn Engine, tier: Tier) -> Vec<SeriesWindows> {
    let res = tier.resolution_ms().unwrap();
    select(e, &[eq("__name__", "up")], 0, 3 * DAY)
        .into_iter()
        .map(|s| SeriesWindows {
            labels: s.labels,
            windows: windows(&s.samples, res, DAY, 2 * DAY),
        })
        .collect()
}

fn tier_windows(e: &dyn Engine, tier: Tier) -> Vec<SeriesWindows> {
    e.select_windows(S, tier, &[eq("__name__", "up")], DAY, 2 * DAY)
        .unwrap()
}

pub(crate) fn rollups_are_the_windows_of_the_raw_data(f: &mut dyn Factory) {
    for expire_before_flush in [false, true] {
        let e = f.make(opts());
        let mut index = two_days(&*e);
        let want_1m = expected(&*e, Tier::Rollup1m);
        let want_1h = expected(&*e, Tier::Rollup1h);
        assert_eq!(want_1m.len(), 3);
        assert!(want_1m.iter().all(|s| s.windows.len() == 1440));
        assert!(want_1h.iter().all(|s| s.windows.len() == 24));
        for tier in [Tier::Rollup1m, Tier::Rollup1h] {
            index += 1;
            roll(&*e, index, tier, DAY, vec![]);
        }
        assert_eq!(e.rolled_units(S, Tier::Rollup1m), vec![DAY]);
        // Pending: read from the raw data.
        assert_eq!(tier_windows(&*e, Tier::Rollup1m), want_1m);
        assert_eq!(tier_windows(&*e, Tier::Rollup1h), want_1h);
        if !expire_before_flush {
            e.flush(S, b"m").unwrap();
            assert_eq!(tier_windows(&*e, Tier::Rollup1m), want_1m);
        }
        // The day's raw data goes (and the partition before it, which held nothing).
        for p in (0..13).map(|i| DAY + i * 2 * H) {
            index += 1;
            e.apply(
                S,
                index,
                &Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms: p,
                    scope: ExpireScope::All,
                },
            )
            .unwrap();
        }
        e.flush(S, b"m").unwrap();
        assert!(select(&*e, &[eq("__name__", "up")], 0, 2 * DAY - 1).is_empty());
        assert_eq!(
            tier_windows(&*e, Tier::Rollup1m),
            want_1m,
            "expire_before_flush={expire_before_flush}"
        );
        assert_eq!(tier_windows(&*e, Tier::Rollup1h), want_1h);
        // A narrower range takes the windows ending in it.
        let some = e
            .select_windows(
                S,
                Tier::Rollup1h,
                &[eq("job", "a")],
                DAY + 2 * H,
                DAY + 4 * H,
            )
            .unwrap();
        assert_eq!(
            some[0].windows.iter().map(|w| w.end_ms).collect::<Vec<_>>(),
            vec![DAY + 2 * H, DAY + 3 * H, DAY + 4 * H]
        );
        let parts = e.partitions(S).unwrap();
        assert!(
            parts
                .iter()
                .any(|p| p.tier == Tier::Rollup1m && p.start_ms == DAY && p.series == 3),
            "{parts:?}"
        );
    }
}

pub(crate) fn rollup_digests_ignore_flush_timing(f: &mut dyn Factory) {
    let a = f.make(opts());
    let b = f.make(opts());
    let mut index = 0;
    for e in [&a, &b] {
        index = two_days(&**e);
    }
    b.flush(S, b"m").unwrap();
    let cmds: Vec<Command> = std::iter::once(Command::RollUp {
        tier: Tier::Rollup1m,
        unit_start_ms: DAY,
        skip: vec![2],
    })
    .chain((0..13).map(|i| Command::ExpirePartition {
        tier: Tier::Raw,
        partition_start_ms: DAY + i * 2 * H,
        scope: ExpireScope::All,
    }))
    .chain(std::iter::once(Command::Delete {
        series: vec![0],
        mint_ms: DAY + 30 * M,
        maxt_ms: DAY + 40 * M,
    }))
    .collect();
    for (i, c) in cmds.iter().enumerate() {
        for e in [&a, &b] {
            e.apply(S, index + 1 + i as u64, c).unwrap();
        }
        if i % 3 == 0 {
            b.flush(S, b"m").unwrap();
        }
        assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap(), "after {c:?}");
    }
    b.flush(S, b"m").unwrap();
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
    let ws = tier_windows(&*b, Tier::Rollup1m);
    assert_eq!(ws.len(), 2, "series 2 was skipped");
    assert_eq!(ws, tier_windows(&*a, Tier::Rollup1m));
    // The delete hid the windows it touches: 11 minutes of job a's day.
    assert_eq!(ws[0].windows.len(), 1440 - 11);
}

/// RocksDB: the computed rollups and the rolled days outlive a reopen, with the raw data gone.
#[cfg(feature = "rocksdb")]
#[test]
fn rollups_survive_a_reopen_after_their_raw_data_expired() {
    let dir = tempfile::tempdir().unwrap();
    let open = || tidemark_storage::RocksEngine::open(dir.path(), opts()).unwrap();
    let (want, digest) = {
        let e = open();
        let mut index = two_days(&e);
        let want = expected(&e, Tier::Rollup1h);
        index += 1;
        roll(&e, index, Tier::Rollup1h, DAY, vec![]);
        e.flush(S, b"m").unwrap();
        for p in (0..13).map(|i| DAY + i * 2 * H) {
            index += 1;
            e.apply(
                S,
                index,
                &Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms: p,
                    scope: ExpireScope::All,
                },
            )
            .unwrap();
        }
        e.flush(S, b"m").unwrap();
        (want, e.digest(S).unwrap())
    };
    let e = open();
    assert_eq!(e.rolled_units(S, Tier::Rollup1h), vec![DAY]);
    assert_eq!(tier_windows(&e, Tier::Rollup1h), want);
    assert_eq!(e.digest(S).unwrap(), digest);
}

/// A delete or a late sample in the raw data a pending day reads gives every replica the same
/// windows, whether its flush computed the day before the change or after it: with the raw
/// data whole, partly expired outside the day's span, and partly expired inside it (then the
/// day cannot be computed again, so it is computed before the change applies).
pub(crate) fn deletes_and_rollups_agree_across_flush_timing(f: &mut dyn Factory) {
    // Series 1 expired from no partition, from one before the day's raw span, from the
    // partition before the day (which holds the first window's jump).
    for expired_from in [None, Some(DAY + 2 * H), Some(2 * DAY - 2 * H)] {
        // Job a's samples in the ten minutes before the day and at its start (the first
        // window's jump), or a late sample of job a in the day's first window.
        let deleted = Command::Delete {
            series: vec![0],
            mint_ms: 2 * DAY - 10 * M,
            maxt_ms: 2 * DAY,
        };
        let late = Command::Backfill(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![],
            samples: vec![(SeriesRef::Id(0), vec![Sample::new(2 * DAY + 7_500, 1e9)])],
        });
        for change in [deleted, late] {
            let case = format!("expired_from={expired_from:?} change={change:?}");
            let a = f.make(opts());
            let b = f.make(opts());
            let mut index = 0;
            for e in [&a, &b] {
                index = two_days(&**e);
            }
            let mut cmds = Vec::new();
            if let Some(p) = expired_from {
                cmds.push(Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms: p,
                    scope: ExpireScope::Series(vec![1]),
                });
            }
            cmds.push(Command::RollUp {
                tier: Tier::Rollup1m,
                unit_start_ms: 2 * DAY,
                skip: vec![],
            });
            cmds.push(change);
            // Replica a computes the day before the change, b after it.
            let last = cmds.len() - 1;
            for (i, c) in cmds.iter().enumerate() {
                if i == last {
                    a.flush(S, b"m").unwrap();
                }
                index += 1;
                a.apply(S, index, c).unwrap();
                b.apply(S, index, c).unwrap();
            }
            b.flush(S, b"m").unwrap();
            a.flush(S, b"m").unwrap();
            let read = |e: &dyn Engine| {
                e.select_windows(S, Tier::Rollup1m, &[], 2 * DAY, 3 * DAY)
                    .unwrap()
            };
            assert_eq!(read(&*a), read(&*b), "{case}");
            assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap(), "{case}");
        }
    }
}

/// A day rolled up again after part of its raw data expired keeps its windows; a day whose
/// tier partition was dropped is not rolled into it again.
pub(crate) fn rolled_days_are_not_rebuilt_from_less(f: &mut dyn Factory) {
    let e = f.make(opts());
    let mut index = two_days(&*e);
    index += 1;
    roll(&*e, index, Tier::Rollup1m, DAY, vec![]);
    e.flush(S, b"m").unwrap();
    let before = tier_windows(&*e, Tier::Rollup1m);
    for p in (1..7).map(|i| DAY + i * 2 * H) {
        index += 1;
        e.apply(
            S,
            index,
            &Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: p,
                scope: ExpireScope::All,
            },
        )
        .unwrap();
    }
    index += 1;
    roll(&*e, index, Tier::Rollup1m, DAY, vec![]);
    e.flush(S, b"m").unwrap();
    assert_eq!(tier_windows(&*e, Tier::Rollup1m), before);
    // The tier partition goes; rolling the day up again puts nothing back.
    index += 1;
    e.apply(
        S,
        index,
        &Command::ExpirePartition {
            tier: Tier::Rollup1m,
            partition_start_ms: DAY,
            scope: ExpireScope::All,
        },
    )
    .unwrap();
    assert_eq!(e.closed_partitions(S, Tier::Rollup1m), vec![DAY]);
    index += 1;
    roll(&*e, index, Tier::Rollup1m, DAY, vec![]);
    e.flush(S, b"m").unwrap();
    assert!(e.rolled_units(S, Tier::Rollup1m).is_empty());
    assert!(tier_windows(&*e, Tier::Rollup1m).is_empty());
}
