//! What retention proposes for one shard: the policy resolved into matcher sets, and the
//! commands due at a time, chosen from the shard's partitions (no I/O: the series of a
//! partition come through a closure, so the choice is tested on plain data).
//!
//! A raw partition is due for a series once its end is at least the series' raw retention
//! before now. The first override whose selector matches a series decides its retention, the
//! default the rest. A partition due for every series it holds goes whole; one due for some
//! names them. Until rollups are computed, raw samples are the only copy of the past, so raw
//! data is kept as long as the longest tier a series keeps (see `raw_keep_ms`).

use tidemark_api::retention::{RetentionPolicy, TierKeep};
use tidemark_query::syntax::SyntaxLimits;
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

    /// The raw retention of every class, the default's first.
    fn raw_keeps(&self) -> impl Iterator<Item = i64> + '_ {
        std::iter::once(raw_keep_ms(&self.default))
            .chain(self.overrides.iter().map(|c| raw_keep_ms(&c.keep)))
    }
}

/// How long raw samples of a series are kept. Rollups are not computed yet, so raw data is
/// the only copy of the past: it stays as long as the longest tier the series keeps (a policy
/// of raw 7d and 1h rollups for 1y keeps raw samples a year for now).
pub fn raw_keep_ms(keep: &TierKeep) -> i64 {
    keep.longest_ms()
}

/// What one run may propose at most: each command is one Raft entry and one flush's worth of
/// range deletes, and later runs take the rest.
pub const RETENTION_COMMANDS_PER_RUN_MAX: usize = 64;

/// The commands due at `now_ms` for a shard whose partitions are `partitions`. `series_of(p,
/// sets)` lists the series of raw partition `p` matching any of `sets` (every series for an
/// empty list), less those already dropped, ascending. With `over_budget`, the oldest sealed
/// raw partition goes whole as well when nothing else goes whole.
pub fn plan<E>(
    policy: &ResolvedPolicy,
    now_ms: i64,
    partitions: &[PartitionInfo],
    over_budget: bool,
    mut series_of: impl FnMut(i64, &[Vec<Matcher>]) -> Result<Vec<SeriesId>, E>,
) -> Result<Vec<Command>, E> {
    let (shortest, longest) = policy
        .raw_keeps()
        .fold((i64::MAX, i64::MIN), |(lo, hi), k| (lo.min(k), hi.max(k)));
    let due = |end_ms: i64, keep_ms: i64| end_ms <= now_ms.saturating_sub(keep_ms);
    let mut out = Vec::new();
    let mut whole_planned = false;
    for p in partitions.iter().filter(|p| p.tier == Tier::Raw) {
        if out.len() >= RETENTION_COMMANDS_PER_RUN_MAX {
            break;
        }
        if !due(p.end_ms, shortest) {
            // Partitions come oldest first: no later one is due either.
            break;
        }
        let whole = |out: &mut Vec<Command>| {
            out.push(Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: p.start_ms,
                scope: ExpireScope::All,
            })
        };
        if due(p.end_ms, longest) || p.series == 0 {
            whole(&mut out);
            whole_planned = true;
            continue;
        }
        let all = series_of(p.start_ms, &[])?;
        let mut rest: std::collections::BTreeSet<SeriesId> = all.iter().copied().collect();
        let mut drop: Vec<SeriesId> = Vec::new();
        for class in &policy.overrides {
            if rest.is_empty() {
                break;
            }
            let matched: Vec<SeriesId> = series_of(p.start_ms, &class.sets)?
                .into_iter()
                .filter(|id| rest.remove(id))
                .collect();
            if due(p.end_ms, raw_keep_ms(&class.keep)) {
                drop.extend(matched);
            }
        }
        if due(p.end_ms, raw_keep_ms(&policy.default)) {
            drop.extend(rest);
        }
        drop.sort_unstable();
        if all.is_empty() || drop.len() == all.len() {
            whole(&mut out);
            whole_planned = true;
        } else if !drop.is_empty() {
            out.push(Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: p.start_ms,
                scope: ExpireScope::Series(drop),
            });
        }
    }
    if over_budget && !whole_planned && out.len() < RETENTION_COMMANDS_PER_RUN_MAX {
        let planned_whole = |start: i64| {
            out.iter().any(|c| {
                matches!(c, Command::ExpirePartition { partition_start_ms, scope: ExpireScope::All, .. } if *partition_start_ms == start)
            })
        };
        if let Some(p) = partitions
            .iter()
            .find(|p| p.tier == Tier::Raw && p.sealed && !planned_whole(p.start_ms))
        {
            out.push(Command::ExpirePartition {
                tier: Tier::Raw,
                partition_start_ms: p.start_ms,
                scope: ExpireScope::All,
            });
        }
    }
    Ok(out)
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
        let got = scopes(&plan(&p, now, &parts, false, series_of).unwrap());
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
        let got = scopes(&plan(&p, now, &[partition(97, 0)], false, series_of).unwrap());
        assert_eq!(got, vec![(97, None)]);
    }

    #[test]
    fn nothing_is_due_before_its_time_and_the_budget_takes_the_oldest() {
        let p = policy(7, &[]);
        let now = 100 * D;
        let parts: Vec<PartitionInfo> = [95, 96, 99].map(|d| partition(d, 10)).into();
        assert!(plan(&p, now, &parts, false, series_of).unwrap().is_empty());
        let got = scopes(&plan(&p, now, &parts, true, series_of).unwrap());
        assert_eq!(got, vec![(95, None)]);
        // Rollup tiers keep raw samples as long as they last, for now.
        let long = ResolvedPolicy::resolve(&RetentionPolicy {
            raw: Some(tidemark_api::duration::Duration(D)),
            ..Default::default()
        })
        .unwrap();
        assert!(
            plan(&long, now, &parts, false, series_of)
                .unwrap()
                .is_empty()
        );
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
