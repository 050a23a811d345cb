//! Rollups under a random log: writes over five days, seals, `RollUp`s (some days again),
//! raw expiry (per series and whole partitions, before and after a day's rollup), deletes and
//! late backfills. Two replicas that flush at different times hold the same windows and
//! digests at every checkpoint, whichever order the day's computation and the change took.

use super::*;
use crate::rollup::{DAY, M};
use tidemark_storage::{ExpireScope, SeriesWindows, Tier};

const SERIES: u32 = 6;
const DAYS: i64 = 5;

/// The random log: an hour of samples per `Write` (every 5 min per series), the partition two
/// hours back sealed, the day before last rolled up once it ended, and at random one of the
/// changes that touch a rolled day's raw data.
fn rollup_log(seed: u64) -> Vec<Command> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cmds = Vec::new();
    let mut rolled: Vec<i64> = Vec::new();
    for hour in 0..DAYS * 24 {
        let from = DAY + hour * H;
        let mut batch = WriteBatch::default();
        for s in 0..SERIES {
            let list: Vec<Sample> = (0..12)
                .map(|k| {
                    let t = from + k * 5 * M + i64::from(s) * 1_000;
                    Sample::new(t, (hour * 12 + k) as f64 * f64::from(s + 1))
                })
                .collect();
            let r = if hour == 0 {
                batch.new_series.push(up(&s.to_string()));
                SeriesRef::New(s)
            } else {
                SeriesRef::Id(s)
            };
            batch.samples.push((r, list));
        }
        cmds.push(Command::Write(batch));
        if hour % 2 == 1 && hour >= 3 {
            cmds.push(Command::Seal {
                partition_start_ms: from - 3 * H,
            });
        }
        // The day that ended three hours ago is rolled up.
        if hour % 24 == 3 && hour > 24 {
            let day = from - 3 * H - DAY;
            assert_eq!(day.rem_euclid(DAY), 0);
            let tier = either_tier(&mut rng);
            // Some of its raw data gone first (a per-metric retention), at times in the
            // partition before it, which holds the first window's jump.
            if rng.random_bool(0.5) {
                cmds.push(Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms: day - 2 * H + rng.random_range(0..3) * 2 * H,
                    scope: ExpireScope::Series(vec![rng.random_range(0..SERIES)]),
                });
            }
            cmds.push(Command::RollUp {
                tier,
                unit_start_ms: day,
                skip: vec![],
            });
            rolled.push(day);
            // Changes while it is still pending on some replica.
            for _ in 0..rng.random_range(1..4) {
                let t = day - H + rng.random_range(0..3 * H);
                let kind = rng.random_range(0..2);
                cmds.push(change(&mut rng, t, &rolled, kind));
            }
        }
        if hour >= 30 && rng.random_bool(0.35) {
            // A change into the past: anywhere from two days back to now.
            let t = from - rng.random_range(0..2 * DAY);
            let kind = rng.random_range(0..if hour > 3 * 24 { 5 } else { 3 });
            cmds.push(change(&mut rng, t, &rolled, kind));
        }
    }
    cmds
}

/// A change into the past at about `t`, by `kind`: 0 a delete, 1 a late sample, 2 a series
/// expired from a partition, 3 an old partition expired whole, 4 a rolled day rolled up again.
fn change(rng: &mut StdRng, t: i64, rolled: &[i64], kind: u32) -> Command {
    let t = t - t.rem_euclid(1_000);
    let series = rng.random_range(0..SERIES);
    match kind {
        0 => Command::Delete {
            series: vec![series],
            mint_ms: t,
            maxt_ms: t + rng.random_range(0..3 * H),
        },
        1 => Command::Backfill(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![],
            samples: vec![(
                SeriesRef::Id(series),
                vec![Sample::new(
                    t + 2_500,
                    f64::from(rng.random_range(0..1000u16)),
                )],
            )],
        }),
        2 => Command::ExpirePartition {
            tier: Tier::Raw,
            partition_start_ms: t - t.rem_euclid(2 * H),
            scope: ExpireScope::Series(vec![series]),
        },
        3 => Command::ExpirePartition {
            tier: Tier::Raw,
            partition_start_ms: DAY + rng.random_range(0..12) * 2 * H,
            scope: ExpireScope::All,
        },
        // As the leader proposes after late samples, into either tier.
        _ => Command::RollUp {
            tier: either_tier(rng),
            unit_start_ms: rolled[rng.random_range(0..rolled.len())],
            skip: vec![],
        },
    }
}

/// One of the two rollup tiers, at even odds.
fn either_tier(rng: &mut StdRng) -> Tier {
    if rng.random_bool(0.5) {
        Tier::Rollup1m
    } else {
        Tier::Rollup1h
    }
}

fn everything_rolled(e: &dyn Engine) -> Vec<Vec<SeriesWindows>> {
    [Tier::Rollup1m, Tier::Rollup1h]
        .into_iter()
        .map(|t| e.select_windows(S, t, &[], 0, (DAYS + 2) * DAY).unwrap())
        .collect()
}

/// The first series whose windows differ, and its first differing window (a failure prints
/// that, not five days of windows).
fn first_difference(a: &[Vec<SeriesWindows>], b: &[Vec<SeriesWindows>]) -> String {
    for (tier, (ta, tb)) in a.iter().zip(b).enumerate() {
        if ta.len() != tb.len() {
            return format!("tier {tier}: {} series against {}", ta.len(), tb.len());
        }
        for (sa, sb) in ta.iter().zip(tb) {
            if sa == sb {
                continue;
            }
            let at = sa.windows.iter().zip(&sb.windows).position(|(x, y)| x != y);
            return match at {
                Some(i) => format!(
                    "tier {tier}, {}: {:?} against {:?}",
                    sa.labels, sa.windows[i], sb.windows[i]
                ),
                None => format!(
                    "tier {tier}, {}: {} windows against {}",
                    sa.labels,
                    sa.windows.len(),
                    sb.windows.len()
                ),
            };
        }
    }
    "none".to_string()
}

pub(crate) fn rollups_agree_under_a_random_log(f: &mut dyn Factory) {
    let mut rolled_windows = 0;
    for seed in 1..=6 {
        let cmds = rollup_log(seed);
        let (a, b) = (f.make(opts()), f.make(opts()));
        let mut rng = StdRng::seed_from_u64(seed + 100);
        for (i, c) in cmds.iter().enumerate() {
            let index = i as u64 + 1;
            for e in [&a, &b] {
                e.apply(S, index, c).unwrap();
                if rng.random_bool(0.3) {
                    e.flush(S, &index.to_be_bytes()).unwrap();
                }
            }
            if i % 25 == 24 || i + 1 == cmds.len() {
                a.flush(S, b"m").unwrap();
                b.flush(S, b"m").unwrap();
                let case = format!("seed {seed}, after entry {index} ({c:?})");
                let (wa, wb) = (everything_rolled(&*a), everything_rolled(&*b));
                assert!(wa == wb, "{case}: {}", first_difference(&wa, &wb));
                assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap(), "{case}");
            }
        }
        rolled_windows += everything_rolled(&*a)
            .iter()
            .flatten()
            .map(|s| s.windows.len())
            .sum::<usize>();
    }
    assert!(rolled_windows > 0, "the log rolled nothing up");
}
