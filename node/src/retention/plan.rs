//! What retention proposes for one shard: the policy resolved into matcher sets, and the
//! commands due at a time, chosen from the shard's partitions (no I/O: the series of a
//! partition come through a closure, so the choice is tested on plain data).
//!
//! In order, each run proposes:
//! 1. `RollUp` of every complete day (the raw partition holding its end is sealed) not yet
//!    rolled up into a tier some series keep, skipping the series whose policy keeps no such
//!    tier;
//! 2. `ExpirePartition` of raw partitions past the raw retention of their series, once every
//!    day that reads them is rolled up into the tiers those series keep (raw data is the only
//!    source of rollups);
//! 3. `ExpirePartition` of rollup partitions past their tier's retention;
//! 4. with the disk budget exceeded, the oldest sealed raw partition whose days are rolled up.
//!
//! A partition is due for a series once its end is at least the series' retention of its tier
//! before now. The first override whose selector matches a series decides its retention, the
//! default the rest. A partition due for every series it holds goes whole; one due for some
//! names them.

use std::collections::{BTreeMap, BTreeSet};

use tidemark_api::retention::{RetentionPolicy, TierKeep};
use tidemark_query::syntax::SyntaxLimits;
use tidemark_storage::tier::ROLLUP_UNIT_MS;
use tidemark_storage::{Command, ExpireScope, Matcher, PartitionInfo, SeriesId, Tier};

/// One override: the matcher sets of its selector (a series matching any set matches) and the
/// retention it gives.
#[derive(Clone, Debug)]
pub struct Class {
    pub sets: Vec<Vec<Matcher>>,
    pub keep: TierKeep,
}

/// A policy with its selectors parsed, ready to plan with.
#[derive(Clone, Debug)]
pub struct ResolvedPolicy {
    pub default: TierKeep,
    pub overrides: Vec<Class>,
    pub disk_budget_bytes: Option<u64>,
}

impl ResolvedPolicy {
    /// Parses the selectors of `p` (after its own checks). `Err` says which override is wrong.
    pub fn resolve(p: &RetentionPolicy) -> Result<Self, String> {
        p.check()?;
        let limits = SyntaxLimits::default();
        let overrides = p
            .overrides
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let sets = crate::selector::parse(&o.matcher, &limits)
                    .map_err(|e| format!("overrides[{i}] match: {e}"))?;
                Ok(Class {
                    sets,
                    keep: p.override_keep(o),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(ResolvedPolicy {
            default: p.default_keep(),
            overrides,
            disk_budget_bytes: p.disk_budget.map(|b| b.0),
        })
    }

    /// The retention of `tier` of every class, the default's first.
    fn keeps(&self, tier: Tier) -> impl Iterator<Item = i64> + '_ {
        std::iter::once(keep_of(&self.default, tier))
            .chain(self.overrides.iter().map(move |c| keep_of(&c.keep, tier)))
    }

    /// The longest retention of `tier` any class has (0: no series keeps the tier).
    fn longest(&self, tier: Tier) -> i64 {
        self.keeps(tier).max().unwrap_or(0)
    }

    /// How far back anything is kept, in any tier: how old a backfilled sample may be.
    pub fn longest_kept(&self) -> i64 {
        Tier::ALL
            .into_iter()
            .map(|t| self.longest(t))
            .max()
            .unwrap_or(0)
    }
}

/// How long `keep` keeps `tier`, in milliseconds (0: not kept).
pub fn keep_of(keep: &TierKeep, tier: Tier) -> i64 {
    match tier {
        Tier::Raw => keep.raw_ms,
        Tier::Rollup1m => keep.rollup_1m_ms,
        Tier::Rollup1h => keep.rollup_1h_ms,
    }
}

/// What one run may propose at most: each command is one Raft entry and one flush's worth of
/// range deletes or rollups, and later turns take the rest.
pub const RETENTION_COMMANDS_PER_RUN_MAX: usize = 64;

/// Days a shard may have rolled up but not computed: the flush computes and writes them at once
/// (the shard's writes wait for that write), so a backlog (a year of data seen for the first
/// time) is rolled up a few days per flush.
pub const PENDING_ROLLUPS_MAX: usize = 16;

/// What the planner knows of a shard.
pub struct ShardView<'a> {
    /// Every partition holding data, in every tier, oldest first per tier.
    pub partitions: &'a [PartitionInfo],
    /// The days rolled up, per rollup tier.
    pub rolled: &'a BTreeMap<Tier, BTreeSet<i64>>,
    /// The partitions of each rollup tier retention dropped whole (never rolled into again).
    pub closed: &'a BTreeMap<Tier, BTreeSet<i64>>,
    /// The width of a raw partition.
    pub raw_partition_ms: i64,
    /// Days rolled up but not computed yet.
    pub pending_rollups: usize,
}

impl ShardView<'_> {
    fn raw(&self) -> impl Iterator<Item = &PartitionInfo> {
        self.partitions.iter().filter(|p| p.tier == Tier::Raw)
    }

    fn raw_partition_of(&self, t: i64) -> i64 {
        let w = self.raw_partition_ms.max(1);
        t.div_euclid(w) * w
    }

    /// The raw partitions a day's windows read (as `Shard::raw_partitions_of_unit`).
    fn reads(&self, day: i64, p: i64) -> bool {
        self.raw_partition_of(day - 1) <= p && p <= self.raw_partition_of(day + ROLLUP_UNIT_MS)
    }

    /// Whether raw data with windows in day `day` exists.
    fn day_has_data(&self, day: i64) -> bool {
        let (lo, hi) = (
            self.raw_partition_of(day),
            self.raw_partition_of(day + ROLLUP_UNIT_MS),
        );
        self.raw().any(|p| p.start_ms >= lo && p.start_ms <= hi)
    }

    /// Whether every day with data that reads raw partition `p` is rolled up into `tier`.
    fn rolled_around(&self, tier: Tier, p: &PartitionInfo) -> bool {
        let first = (p.start_ms - ROLLUP_UNIT_MS).div_euclid(ROLLUP_UNIT_MS) * ROLLUP_UNIT_MS;
        let rolled = self.rolled.get(&tier);
        (0..4)
            .map(|i| first + i * ROLLUP_UNIT_MS)
            .filter(|d| self.reads(*d, p.start_ms) && self.day_has_data(*d))
            .all(|d| rolled.is_some_and(|r| r.contains(&d)))
    }
}

/// The commands due at `now_ms` for the shard `view` describes. `series_of(tier, p, sets)`
/// lists the series of partition `p` of `tier` matching any of `sets` (every series for an
/// empty list), less those already dropped, ascending. With `over_budget`, the oldest sealed
/// raw partition whose days are rolled up goes whole as well when nothing else goes whole.
pub fn plan<E>(
    policy: &ResolvedPolicy,
    now_ms: i64,
    view: &ShardView<'_>,
    over_budget: bool,
    mut series_of: impl FnMut(Tier, i64, &[Vec<Matcher>]) -> Result<Vec<SeriesId>, E>,
) -> Result<Vec<Command>, E> {
    let mut out = Vec::new();
    plan_rollups(policy, now_ms, view, &mut out, &mut series_of)?;
    let mut whole_planned = false;
    for tier in Tier::ALL {
        whole_planned |= plan_expiry(policy, now_ms, view, tier, &mut out, &mut series_of)?;
    }
    if over_budget && !whole_planned && out.len() < RETENTION_COMMANDS_PER_RUN_MAX {
        let rolled = |p: &PartitionInfo| {
            [Tier::Rollup1m, Tier::Rollup1h]
                .iter()
                .all(|t| policy.longest(*t) == 0 || view.rolled_around(*t, p))
        };
        if let Some(p) = view.raw().find(|p| p.sealed && rolled(p)) {
            out.push(Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: p.start_ms,
                scope: ExpireScope::All,
            });
        }
    }
    Ok(out)
}

/// 1. `RollUp` of the complete days not yet rolled up.
fn plan_rollups<E>(
    policy: &ResolvedPolicy,
    now_ms: i64,
    view: &ShardView<'_>,
    out: &mut Vec<Command>,
    series_of: &mut impl FnMut(Tier, i64, &[Vec<Matcher>]) -> Result<Vec<SeriesId>, E>,
) -> Result<(), E> {
    let (Some(oldest), Some(newest)) = (
        view.raw().map(|p| p.start_ms).min(),
        view.raw().map(|p| p.start_ms).max(),
    ) else {
        return Ok(());
    };
    // Days whose last window's end is in a sealed partition: no sample can enter them any more.
    let first_open = view
        .raw()
        .filter(|p| !p.sealed)
        .map(|p| p.start_ms)
        .min()
        .unwrap_or(i64::MAX);
    // From the day before the oldest data: its last window ends at midnight, inclusive.
    let mut day = (oldest - 1).div_euclid(ROLLUP_UNIT_MS) * ROLLUP_UNIT_MS;
    let mut pending = view.pending_rollups;
    while day <= newest && view.raw_partition_of(day + ROLLUP_UNIT_MS) < first_open {
        if out.len() >= RETENTION_COMMANDS_PER_RUN_MAX || pending >= PENDING_ROLLUPS_MAX {
            return Ok(());
        }
        for tier in [Tier::Rollup1m, Tier::Rollup1h] {
            let longest = policy.longest(tier);
            let done = view.rolled.get(&tier).is_some_and(|r| r.contains(&day));
            // Its tier partition is past every retention of the tier, or was dropped already.
            let partition = tier.partition_of(day);
            let width = tier.partition_ms().unwrap_or(ROLLUP_UNIT_MS);
            let expired = partition + width <= now_ms.saturating_sub(longest)
                || view
                    .closed
                    .get(&tier)
                    .is_some_and(|c| c.contains(&partition));
            if longest == 0 || done || expired || !view.day_has_data(day) {
                continue;
            }
            // Series whose class keeps no such tier are skipped.
            let mut skip: BTreeSet<SeriesId> = BTreeSet::new();
            for p in view.raw().filter(|p| view.reads(day, p.start_ms)) {
                let (_, off) = classify(policy, p.start_ms, &|k| keep_of(k, tier) == 0, |s| {
                    series_of(Tier::Raw, p.start_ms, s)
                })?;
                skip.extend(off);
            }
            out.push(Command::RollUp {
                tier,
                unit_start_ms: day,
                skip: skip.into_iter().collect(),
            });
            pending += 1;
        }
        day += ROLLUP_UNIT_MS;
    }
    Ok(())
}

/// 2. and 3. The expiry of `tier`'s partitions; whether one goes whole.
fn plan_expiry<E>(
    policy: &ResolvedPolicy,
    now_ms: i64,
    view: &ShardView<'_>,
    tier: Tier,
    out: &mut Vec<Command>,
    series_of: &mut impl FnMut(Tier, i64, &[Vec<Matcher>]) -> Result<Vec<SeriesId>, E>,
) -> Result<bool, E> {
    let due = |end_ms: i64, keep_ms: i64| end_ms <= now_ms.saturating_sub(keep_ms);
    let shortest = policy.keeps(tier).min().unwrap_or(0);
    let mut whole_planned = false;
    for p in view.partitions.iter().filter(|p| p.tier == tier) {
        if out.len() >= RETENTION_COMMANDS_PER_RUN_MAX || !due(p.end_ms, shortest) {
            // Partitions come oldest first: no later one is due either.
            break;
        }
        // A raw partition goes (for a class) once its retention passed and every day reading
        // it is rolled up into the tiers the class keeps past it.
        let ready = |k: &TierKeep| {
            due(p.end_ms, keep_of(k, tier))
                && (tier != Tier::Raw
                    || [Tier::Rollup1m, Tier::Rollup1h].iter().all(|t| {
                        let keep = keep_of(k, *t);
                        keep == 0 || due(p.end_ms, keep) || view.rolled_around(*t, p)
                    }))
        };
        let whole = |out: &mut Vec<Command>| {
            out.push(Command::ExpirePartition {
                tier,
                partition_start_ms: p.start_ms,
                scope: ExpireScope::All,
            })
        };
        if tier != Tier::Raw {
            // A rollup partition's series are known only for its days computed so far (a day
            // rolled up but pending has none yet): it goes whole only once every class's
            // retention of the tier passed, and a class's series alone otherwise.
            if due(p.end_ms, policy.longest(tier)) {
                whole(out);
                whole_planned = true;
                continue;
            }
            if p.series > 0 {
                let (_, drop) = classify(policy, p.start_ms, &ready, |s| {
                    series_of(tier, p.start_ms, s)
                })?;
                if !drop.is_empty() {
                    out.push(Command::ExpirePartition {
                        tier,
                        partition_start_ms: p.start_ms,
                        scope: ExpireScope::Series(drop),
                    });
                }
            }
            continue;
        }
        if p.series == 0 {
            whole(out);
            whole_planned = true;
            continue;
        }
        let (all, drop) = classify(policy, p.start_ms, &ready, |s| {
            series_of(tier, p.start_ms, s)
        })?;
        if drop.len() == all.len() {
            whole(out);
            whole_planned = true;
        } else if !drop.is_empty() {
            out.push(Command::ExpirePartition {
                tier,
                partition_start_ms: p.start_ms,
                scope: ExpireScope::Series(drop),
            });
        }
    }
    Ok(whole_planned)
}

/// The series of partition `p` (ascending) and those whose class satisfies `pick` (first
/// matching override, else the default), ascending.
fn classify<E>(
    policy: &ResolvedPolicy,
    p: i64,
    pick: &dyn Fn(&TierKeep) -> bool,
    mut series_of: impl FnMut(&[Vec<Matcher>]) -> Result<Vec<SeriesId>, E>,
) -> Result<(Vec<SeriesId>, Vec<SeriesId>), E> {
    let _ = p;
    let all = series_of(&[])?;
    let mut rest: BTreeSet<SeriesId> = all.iter().copied().collect();
    let mut picked: Vec<SeriesId> = Vec::new();
    for class in &policy.overrides {
        if rest.is_empty() {
            break;
        }
        let matched: Vec<SeriesId> = series_of(&class.sets)?
            .into_iter()
            .filter(|id| rest.remove(id))
            .collect();
        if pick(&class.keep) {
            picked.extend(matched);
        }
    }
    if pick(&policy.default) {
        picked.extend(rest);
    }
    picked.sort_unstable();
    Ok((all, picked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tidemark_api::retention::RetentionOverride;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    fn policy(raw_days: i64, overrides: &[(&str, i64)]) -> ResolvedPolicy {
        let zero = Some(tidemark_api::duration::Duration(0));
        ResolvedPolicy::resolve(&RetentionPolicy {
            raw: Some(tidemark_api::duration::Duration(raw_days * D)),
            rollup_1m: zero,
            rollup_1h: zero,
            overrides: overrides
                .iter()
                .map(|(m, days)| RetentionOverride {
                    matcher: m.to_string(),
                    raw: Some(tidemark_api::duration::Duration(days * D)),
                    ..Default::default()
                })
                .collect(),
            disk_budget: None,
        })
        .unwrap()
    }

    fn partition(day: i64, series: u64) -> PartitionInfo {
        PartitionInfo {
            tier: Tier::Raw,
            start_ms: day * D,
            end_ms: (day + 1) * D,
            sealed: true,
            series,
            expired_series: 0,
            bytes: 0,
        }
    }

    /// Series 0..3 are `node_x`, 3..6 `debug_x`, 6..10 `app_x`, in every partition.
    fn series_of(p: i64, sets: &[Vec<Matcher>]) -> Result<Vec<SeriesId>, String> {
        let _ = p;
        let names: BTreeMap<SeriesId, &str> = (0..10)
            .map(|i| {
                let n = match i {
                    0..3 => "node_x",
                    3..6 => "debug_x",
                    _ => "app_x",
                };
                (i, n)
            })
            .collect();
        Ok(names
            .iter()
            .filter(|(_, n)| {
                let l = tidemark_storage::Labels::from_pairs(&[("__name__", n)]);
                sets.is_empty()
                    || sets
                        .iter()
                        .any(|set| set.iter().all(|m| m.matches_labels(&l)))
            })
            .map(|(id, _)| *id)
            .collect())
    }

    fn scopes(cmds: &[Command]) -> Vec<(i64, Option<Vec<SeriesId>>)> {
        cmds.iter()
            .map(|c| match c {
                Command::ExpirePartition {
                    partition_start_ms,
                    scope,
                    ..
                } => (
                    partition_start_ms / D,
                    match scope {
                        ExpireScope::All => None,
                        ExpireScope::Series(s) => Some(s.clone()),
                    },
                ),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn plan_days(
        p: &ResolvedPolicy,
        now: i64,
        parts: &[PartitionInfo],
        over_budget: bool,
    ) -> Vec<Command> {
        let rolled = BTreeMap::new();
        let view = ShardView {
            partitions: parts,
            rolled: &rolled,
            closed: &rolled,
            raw_partition_ms: D,
            pending_rollups: 0,
        };
        plan(p, now, &view, over_budget, |_, p, s| series_of(p, s)).unwrap()
    }

    #[test]
    fn per_metric_retention_first_match_wins() {
        // node_* 30d, debug_* 2d, the rest 7d; an override after debug_* naming it again is
        // never reached.
        let p = policy(
            7,
            &[
                (r#"{__name__=~"node_.*"}"#, 30),
                (r#"{__name__=~"debug_.*"}"#, 2),
                (r#"{__name__=~"debug_x|app_x"}"#, 60),
            ],
        );
        let now = 100 * D;
        let parts: Vec<PartitionInfo> = [60, 80, 92, 95, 97, 99].map(|d| partition(d, 10)).into();
        let got = scopes(&plan_days(&p, now, &parts, false));
        assert_eq!(
            got,
            vec![
                (60, Some(vec![0, 1, 2, 3, 4, 5])), // 39 days: all but app_x (kept 60d)
                (80, Some(vec![3, 4, 5])),          // 19 days: debug_x only
                (92, Some(vec![3, 4, 5])),          // 8 days
                (95, Some(vec![3, 4, 5])),          // 5 days: debug_x only
                (97, Some(vec![3, 4, 5])),          // ends 2 days ago: debug_x only
            ]
        );
        // A partition whose series already went (0 left) is removed whole.
        let got = scopes(&plan_days(&p, now, &[partition(97, 0)], false));
        assert_eq!(got, vec![(97, None)]);
    }

    #[test]
    fn nothing_is_due_before_its_time_and_the_budget_takes_the_oldest() {
        let p = policy(7, &[]);
        let now = 100 * D;
        let parts: Vec<PartitionInfo> = [95, 96, 99].map(|d| partition(d, 10)).into();
        assert!(plan_days(&p, now, &parts, false).is_empty());
        let got = scopes(&plan_days(&p, now, &parts, true));
        assert_eq!(got, vec![(95, None)]);
        // With rollup tiers kept, raw data waits for its days to be rolled up: none are, so
        // only rollups are proposed, for the days with data: 94 (its last window ends at
        // 95 D), 95, 96, 98 and 99 (day 97's windows end in (97 D, 98 D], where nothing is).
        let tiered = ResolvedPolicy::resolve(&RetentionPolicy {
            raw: Some(tidemark_api::duration::Duration(D)),
            ..Default::default()
        })
        .unwrap();
        let got = plan_days(&tiered, now, &parts, false);
        assert!(
            got.iter().all(|c| matches!(c, Command::RollUp { .. })),
            "{got:?}"
        );
        assert_eq!(got.len(), 2 * 5, "five days, both tiers");
    }

    /// Raw 2d, 1m 30d, 1h 1y over 2-hour partitions: complete days are rolled up first, raw
    /// data goes only once the days reading it are rolled up, and `*_info` is never rolled up.
    #[test]
    fn raw_data_waits_for_its_rollups() {
        let p = ResolvedPolicy::resolve(&RetentionPolicy {
            raw: Some(tidemark_api::duration::Duration(2 * D)),
            overrides: vec![RetentionOverride {
                matcher: r#"{__name__="app_x"}"#.into(),
                rollup_1m: Some(tidemark_api::duration::Duration(0)),
                rollup_1h: Some(tidemark_api::duration::Duration(0)),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
        // Days 10 to 14; the last partition (14 D + 22 h) is still open.
        let parts: Vec<PartitionInfo> = (0..60)
            .map(|i| PartitionInfo {
                tier: Tier::Raw,
                start_ms: 10 * D + i * 2 * H,
                end_ms: 10 * D + (i + 1) * 2 * H,
                sealed: i < 59,
                series: 10,
                expired_series: 0,
                bytes: 0,
            })
            .collect();
        let now = 15 * D;
        let mut rolled: BTreeMap<Tier, BTreeSet<i64>> = BTreeMap::new();
        let run = |rolled: &BTreeMap<Tier, BTreeSet<i64>>| {
            let closed = BTreeMap::new();
            let view = ShardView {
                partitions: &parts,
                rolled,
                closed: &closed,
                raw_partition_ms: 2 * H,
                pending_rollups: 0,
            };
            plan(&p, now, &view, false, |_, p, s| series_of(p, s)).unwrap()
        };
        let first = run(&rolled);
        let rollups: Vec<(Tier, i64, Vec<u32>)> = first
            .iter()
            .filter_map(|c| match c {
                Command::RollUp {
                    tier,
                    unit_start_ms,
                    skip,
                } => Some((*tier, unit_start_ms / D, skip.clone())),
                _ => None,
            })
            .collect();
        // Days 9 (its last window ends at 10 D) to 13 are complete (day 14 ends in the open
        // partition); app_x is skipped.
        let app: Vec<u32> = (6..10).collect();
        let want: Vec<(Tier, i64, Vec<u32>)> = (9..14)
            .flat_map(|d| {
                [
                    (Tier::Rollup1m, d, app.clone()),
                    (Tier::Rollup1h, d, app.clone()),
                ]
            })
            .collect();
        assert_eq!(rollups, want);
        // Nothing rolled up yet: only app_x (no rollups kept) may lose raw data.
        assert!(
            first.iter().all(|c| matches!(
                c,
                Command::RollUp { .. }
                    | Command::ExpirePartition {
                        scope: ExpireScope::Series(_),
                        ..
                    }
            )),
            "{first:?}"
        );
        for (tier, d, _) in &want {
            rolled.entry(*tier).or_default().insert(d * D);
        }
        let second = run(&rolled);
        let expired: Vec<i64> = second
            .iter()
            .filter_map(|c| match c {
                Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms,
                    scope: ExpireScope::All,
                } => Some(*partition_start_ms),
                _ => None,
            })
            .collect();
        // Raw partitions ending by day 13 go; the last one of day 12 is read by day 13 (rolled).
        assert_eq!(
            expired,
            (0..36).map(|i| 10 * D + i * 2 * H).collect::<Vec<_>>()
        );
        assert!(!second.iter().any(|c| matches!(c, Command::RollUp { .. })));
    }

    /// A rollup partition whose days are rolled up but not computed yet lists no series: it
    /// must not go whole because a class keeps no such tier (the others' windows would go
    /// with it); it goes whole once every class's retention of the tier passed.
    #[test]
    fn a_rollup_partition_goes_whole_only_when_every_class_is_due() {
        let p = ResolvedPolicy::resolve(&RetentionPolicy {
            raw: Some(tidemark_api::duration::Duration(2 * D)),
            overrides: vec![RetentionOverride {
                matcher: r#"{__name__="debug_x"}"#.into(),
                rollup_1m: Some(tidemark_api::duration::Duration(0)),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap();
        let rollup = |day: i64, series: u64| PartitionInfo {
            tier: Tier::Rollup1m,
            start_ms: day * D,
            end_ms: (day + 1) * D,
            sealed: true,
            series,
            expired_series: 0,
            bytes: 0,
        };
        let now = 15 * D;
        let rolled = BTreeMap::new();
        let run = |parts: &[PartitionInfo], now: i64| {
            let view = ShardView {
                partitions: parts,
                rolled: &rolled,
                closed: &rolled,
                raw_partition_ms: 2 * H,
                pending_rollups: 0,
            };
            plan(&p, now, &view, false, |_, p, s| series_of(p, s)).unwrap()
        };
        // Pending (no series yet): nothing; computed: debug_x's series alone.
        assert!(run(&[rollup(10, 0)], now).is_empty());
        assert_eq!(
            scopes(&run(&[rollup(10, 10)], now)),
            vec![(10, Some(vec![3, 4, 5]))]
        );
        // Past the default's 30 days: whole.
        assert_eq!(scopes(&run(&[rollup(10, 0)], 45 * D)), vec![(10, None)]);
    }

    /// A backlog is rolled up a few days at a time: no more than `PENDING_ROLLUPS_MAX` days
    /// wait to be computed, and none are proposed while that many wait.
    #[test]
    fn a_backlog_of_days_is_rolled_up_a_few_at_a_time() {
        let p = ResolvedPolicy::resolve(&RetentionPolicy::default()).unwrap();
        // Forty sealed days, then an open partition.
        let parts: Vec<PartitionInfo> = (0..40 * 12 + 1)
            .map(|i| PartitionInfo {
                tier: Tier::Raw,
                start_ms: 10 * D + i * 2 * H,
                end_ms: 10 * D + (i + 1) * 2 * H,
                sealed: i < 40 * 12,
                series: 10,
                expired_series: 0,
                bytes: 0,
            })
            .collect();
        let rolled = BTreeMap::new();
        let run = |pending: usize| {
            let view = ShardView {
                partitions: &parts,
                rolled: &rolled,
                closed: &rolled,
                raw_partition_ms: 2 * H,
                pending_rollups: pending,
            };
            plan(&p, 51 * D, &view, false, |_, p, s| series_of(p, s)).unwrap()
        };
        let count = |cmds: &[Command]| {
            cmds.iter()
                .filter(|c| matches!(c, Command::RollUp { .. }))
                .count()
        };
        assert_eq!(count(&run(0)), PENDING_ROLLUPS_MAX);
        assert_eq!(count(&run(PENDING_ROLLUPS_MAX - 2)), 2);
        assert_eq!(count(&run(PENDING_ROLLUPS_MAX)), 0);
    }

    #[test]
    fn a_bad_selector_is_named() {
        let e = ResolvedPolicy::resolve(&RetentionPolicy {
            overrides: vec![RetentionOverride {
                matcher: "rate(x[5m])".into(),
                raw: Some(tidemark_api::duration::Duration(D)),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("overrides[0]"), "{e}");
    }
}
