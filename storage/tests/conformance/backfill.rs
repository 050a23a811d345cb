//! Backfill: samples for sealed partitions, accepted when the leader allows them
//! (`check_append`'s `backfill_from_ms`), are read at once, sealed again with every series of
//! the partition at the next flush, and recompute the rolled-up days they fall in; every engine
//! agrees whatever its flush timing.

use super::*;
use crate::rollup::{DAY, M, roll};
use tidemark_storage::Tier;
use tidemark_storage::rollup::windows;

/// A day of series `a` every minute from `DAY`, its partitions sealed; returns the next index.
fn sealed_day(e: &dyn Engine) -> u64 {
    let s: Vec<Sample> = (1..=24 * 60)
        .map(|i| Sample::new(DAY + i * M, i as f64))
        .collect();
    write(e, 1, &up("a"), s);
    let mut index = 1;
    for p in 0..12 {
        index += 1;
        e.apply(
            S,
            index,
            &Command::Seal {
                partition_start_ms: DAY + p * 2 * H,
            },
        )
        .unwrap();
    }
    index
}

/// The late samples: a new series in the first partition, and values between `a`'s samples.
/// First as a `Write`, which drops them (a sample a leader checked before a `Seal`
/// committed), then as the `Backfill` a leader proposes for them.
fn backfill(e: &dyn Engine, mut index: u64) -> u64 {
    let a = e.series_id(S, &up("a")).expect("a");
    let b_samples: Vec<Sample> = (1..=30)
        .map(|i| Sample::new(DAY + i * M, 100.0 + i as f64))
        .collect();
    let a_samples: Vec<Sample> = (0..10)
        .map(|i| Sample::new(DAY + 3 * H + i * M + 30_000, -1.0))
        .collect();
    let before = everything(e);
    index += 1;
    let write = WriteBatch {
        histograms: Vec::new(),
        new_series: vec![up("b")],
        samples: vec![
            (SeriesRef::New(0), b_samples.clone()),
            (SeriesRef::Id(a), a_samples.clone()),
        ],
    };
    e.apply(S, index, &Command::Write(write)).unwrap();
    assert_eq!(
        everything(e),
        before,
        "a Write drops samples for sealed partitions"
    );
    let b = e.series_id(S, &up("b")).expect("b");
    index += 1;
    let backfill = WriteBatch {
        histograms: Vec::new(),
        new_series: vec![],
        samples: vec![(SeriesRef::Id(b), b_samples), (SeriesRef::Id(a), a_samples)],
    };
    e.apply(S, index, &Command::Backfill(backfill)).unwrap();
    index
}

fn everything(e: &dyn Engine) -> Vec<SeriesSamples> {
    select(e, &[eq("__name__", "up")], 0, 3 * DAY)
}

pub(crate) fn backfill_into_sealed_partitions(f: &mut dyn Factory) {
    // The leader's check: too old unless backfill reaches back that far.
    let e = f.make(opts());
    let index = sealed_day(&*e);
    e.flush(S, b"").unwrap();
    let late = [Sample::new(DAY + 5 * M + 1, 1.0)];
    let id = e.series_id(S, &up("a"));
    assert_eq!(e.check_append(S, id, &late, 10 * M, i64::MAX).too_old, 1);
    let c = e.check_append(S, id, &late, 10 * M, 0);
    assert_eq!((c.accepted.len(), c.backfill.len(), c.too_old), (0, 1, 0));

    // Read at once, before any flush re-seals the partitions.
    let index = backfill(&*e, index);
    let got = everything(&*e);
    assert_eq!(names(&got), vec![r#"up{job="a"}"#, r#"up{job="b"}"#]);
    assert_eq!(got[0].samples.len(), 24 * 60 + 10);
    assert_eq!(got[1].samples.len(), 30);
    assert_eq!(
        e.series(S, &[eq("job", "b")], DAY, DAY + H).unwrap().len(),
        1,
        "the new series is in the sealed partition's postings"
    );
    // The same after the flush that seals them again, and against an engine that flushed at
    // other times.
    e.flush(S, b"").unwrap();
    assert_eq!(everything(&*e), got);
    let other = f.make(opts());
    let i2 = sealed_day(&*other);
    backfill(&*other, i2);
    other.flush(S, b"").unwrap();
    assert_eq!(everything(&*other), got);
    assert_eq!(e.digest(S).unwrap(), other.digest(S).unwrap());
    let _ = index;
}

pub(crate) fn backfill_recomputes_rolled_up_days(f: &mut dyn Factory) {
    for flush_between in [false, true] {
        let e = f.make(opts());
        let mut index = sealed_day(&*e);
        index += 1;
        roll(&*e, index, Tier::Rollup1m, DAY, vec![]);
        if flush_between {
            e.flush(S, b"").unwrap();
        }
        backfill(&*e, index);
        if flush_between {
            e.flush(S, b"").unwrap();
        }
        let want: Vec<(Labels, Vec<tidemark_storage::rollup::Window>)> = everything(&*e)
            .into_iter()
            .map(|s| (s.labels, windows(&s.samples, M, DAY, 2 * DAY)))
            .collect();
        let got: Vec<(Labels, Vec<tidemark_storage::rollup::Window>)> = e
            .select_windows(S, Tier::Rollup1m, &[eq("__name__", "up")], DAY, 2 * DAY)
            .unwrap()
            .into_iter()
            .map(|s| (s.labels, s.windows))
            .collect();
        assert_eq!(got, want, "flush between: {flush_between}");
        assert_eq!(got[1].1.len(), 30, "b's windows");
        // Once retention dropped part of the day's raw data, its windows could not be
        // computed again: a backfill there is refused, and elsewhere still accepted.
        let index = backfill_index(&*e);
        e.apply(
            S,
            index + 1,
            &Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: DAY,
                scope: tidemark_storage::ExpireScope::All,
            },
        )
        .unwrap();
        let a = e.series_id(S, &up("a"));
        let late = [Sample::new(DAY + 5 * H + 30_000, 1.0)];
        assert_eq!(e.check_append(S, a, &late, 10 * M, 0).too_old, 1);
        let next_day = [Sample::new(2 * DAY + 5 * H + 30_000, 1.0)];
        assert_eq!(e.check_append(S, a, &next_day, 10 * M, 0).too_old, 0);
    }
}

/// The last log index `e` applied.
fn backfill_index(e: &dyn Engine) -> u64 {
    e.applied_index(S)
}

/// A late sample in a rolled-up day where its partition never had data (so it is not sealed
/// and the sample comes in a plain `Write`) has the day computed again all the same.
pub(crate) fn a_late_sample_in_a_gap_of_a_rolled_day_is_rolled_up(f: &mut dyn Factory) {
    let e = f.make(opts());
    let edges: Vec<Sample> = (1..=60)
        .map(|i| Sample::new(DAY + i * M, 1.0))
        .chain((1..=60).map(|i| Sample::new(2 * DAY - 2 * H + i * M, 1.0)))
        .collect();
    write(&*e, 1, &up("a"), edges);
    let mut index = 1;
    for p in [DAY, 2 * DAY - 2 * H] {
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
    index += 1;
    roll(&*e, index, Tier::Rollup1m, DAY, vec![]);
    e.flush(S, b"").unwrap();
    write(
        &*e,
        index + 1,
        &up("a"),
        vec![Sample::new(DAY + 10 * H + 30_000, 5.0)],
    );
    e.flush(S, b"").unwrap();
    let got = e
        .select_windows(S, Tier::Rollup1m, &[eq("__name__", "up")], DAY, 2 * DAY)
        .unwrap();
    assert_eq!(got[0].windows.len(), 121, "the gap's sample has its window");
}

/// What a query reads of the tiers (`select_rolled`): the windows of the days whose raw data
/// expired, up to the raw floor, whether the rollups were computed by a flush before the
/// expiry or by the expiry itself, and after a flush.
pub(crate) fn select_rolled_stands_for_expired_raw_data(f: &mut dyn Factory) {
    for flush_before_expiry in [false, true] {
        let e = f.make(opts());
        let index = sealed_day(&*e);
        roll(&*e, index + 1, Tier::Rollup1m, DAY, vec![]);
        if flush_before_expiry {
            e.flush(S, b"").unwrap();
        }
        for (i, p) in (0..6).map(|i| DAY + i * 2 * H).enumerate() {
            e.apply(
                S,
                index + 2 + i as u64,
                &Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms: p,
                    scope: tidemark_storage::ExpireScope::All,
                },
            )
            .unwrap();
        }
        for flushed in [false, true] {
            if flushed {
                e.flush(S, b"").unwrap();
            }
            let got = e
                .select_rolled(
                    S,
                    &[eq("__name__", "up")],
                    0,
                    3 * DAY,
                    tidemark_storage::TierChoice::Stitched,
                )
                .unwrap();
            let why = format!("flush before expiry {flush_before_expiry}, flushed {flushed}");
            assert_eq!(got.len(), 1, "{why}");
            assert_eq!(got[0].raw_floor_ms, DAY + 12 * H, "{why}");
            assert_eq!(got[0].windows.len(), 12 * 60, "{why}");
        }
    }
}
