//! When a rule group is evaluated: Prometheus' slotting (`rules/group.go`, `EvalTimestamp`).
//!
//! A group runs every `interval`, at a fixed offset into the interval derived from its
//! identity, so that the groups of a ruler spread over the interval instead of all querying at
//! once, and so that every leader the ruler group elects runs a group at the same instants.
//! The slots of a group are the instants `offset + k·interval` (`k` any integer).
//!
//! [`Schedule`] says, from the last iteration committed to the ruler's log and the clock, which
//! slot to run next and how many went by unrun; the runtime does the waiting and the running.

use xxhash_rust::xxh3::xxh3_64;

/// Where in its interval a group's slots fall, in ms from the interval's start (`0 ≤ offset <
/// interval`): XXH3-64 of `namespace`, `;` and `group`, modulo the interval.
///
/// Prometheus hashes the group's name and file as labels; the hash is ours, so the offsets
/// differ from Prometheus', but they are as stable (the same group and interval always land
/// in the same slot, on every node and across restarts) and as spread. `a;b` + `c` and `a` +
/// `b;c` share a key: they are only slotted alike. A non-positive interval counts as 1 ms.
pub fn group_offset_ms(namespace: &str, group: &str, interval_ms: i64) -> i64 {
    let interval_ms = interval_ms.max(1);
    let key = format!("{namespace};{group}");
    (xxh3_64(key.as_bytes()) % interval_ms as u64) as i64
}

/// The latest slot at or before `now_ms` (Prometheus' `EvalTimestamp`): the evaluation time of
/// the iteration due at `now_ms`. A non-positive interval counts as 1 ms.
pub fn eval_timestamp_ms(now_ms: i64, offset_ms: i64, interval_ms: i64) -> i64 {
    let interval_ms = interval_ms.max(1);
    // Align `now - offset` down to the interval, then add the offset back: the result is a
    // slot, and it is not after `now`. (`rem_euclid`, so that times before 1970 align down
    // too.)
    let shifted = now_ms - offset_ms;
    shifted - shifted.rem_euclid(interval_ms) + offset_ms
}

/// The first slot after `now_ms`: when the next iteration is due. A non-positive interval
/// counts as 1 ms.
pub fn next_eval_ms(now_ms: i64, offset_ms: i64, interval_ms: i64) -> i64 {
    eval_timestamp_ms(now_ms, offset_ms, interval_ms) + interval_ms.max(1)
}

/// How far back from its evaluation time an iteration queries: the evaluation time less the
/// group's `query_offset` (Prometheus' `rule_query_offset`), so that late samples are in.
pub fn query_timestamp_ms(eval_ms: i64, query_offset_ms: i64) -> i64 {
    eval_ms - query_offset_ms
}

/// One group's slots: its interval and its offset into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// How often the group runs, in ms (positive).
    pub interval_ms: i64,
    /// Where in the interval its slots fall, in ms ([`group_offset_ms`]).
    pub offset_ms: i64,
}

/// What a group's runtime does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Run the iteration of the slot `t_ms` now; `missed` slots between the last committed
    /// iteration and it went by without running (Prometheus'
    /// `prometheus_rule_group_iterations_missed_total` counts them).
    Run {
        /// The slot's time: the iteration's evaluation timestamp.
        t_ms: i64,
        /// Slots skipped since the last committed iteration.
        missed: u64,
    },
    /// Nothing to run before `until_ms`, the next slot.
    Wait {
        /// When to ask again.
        until_ms: i64,
    },
}

impl Schedule {
    /// The slots of group `group` in `namespace`, run every `interval_ms` (a non-positive
    /// interval counts as 1 ms).
    pub fn new(namespace: &str, group: &str, interval_ms: i64) -> Schedule {
        let interval_ms = interval_ms.max(1);
        Schedule {
            interval_ms,
            offset_ms: group_offset_ms(namespace, group, interval_ms),
        }
    }

    /// The latest slot at or before `now_ms`.
    pub fn eval_timestamp_ms(&self, now_ms: i64) -> i64 {
        eval_timestamp_ms(now_ms, self.offset_ms, self.interval_ms)
    }

    /// The first slot after `now_ms`.
    pub fn next_eval_ms(&self, now_ms: i64) -> i64 {
        next_eval_ms(now_ms, self.offset_ms, self.interval_ms)
    }

    /// What to do at `now_ms`, given the evaluation time of the last iteration committed
    /// (`None`: the group never ran).
    ///
    /// The iteration to run is always the latest slot at or before `now_ms`, as in Prometheus:
    /// a leader that finds the group behind (a failover, a long evaluation) runs the current
    /// slot and counts the slots in between as missed, rather than running them late. A
    /// group that never ran runs its current slot at once, with none missed. An iteration at
    /// or before the last committed one is never run again (so also not when a leader's clock
    /// is behind the one that committed it): the answer is then to wait for the first slot
    /// after it. The last iteration need not be on the current slots (the group's interval may
    /// have changed since): missed counts the current slots strictly between the two.
    pub fn due(&self, last_ms: Option<i64>, now_ms: i64) -> Due {
        let t_ms = self.eval_timestamp_ms(now_ms);
        let Some(last_ms) = last_ms else {
            return Due::Run { t_ms, missed: 0 };
        };
        if t_ms <= last_ms {
            return Due::Wait {
                until_ms: self.next_eval_ms(last_ms),
            };
        }
        // Slots s with last < s < t: t - interval, t - 2·interval, … while still after last.
        let missed = (t_ms - last_ms - 1) / self.interval_ms;
        Due::Run {
            t_ms,
            missed: missed as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn offset_is_stable_and_within_the_interval() {
        let a = group_offset_ms("ns", "group", MIN);
        assert_eq!(a, group_offset_ms("ns", "group", MIN));
        assert!((0..MIN).contains(&a));
        // Pinned: the offset is part of the ruler's behaviour across versions and nodes.
        let hash = xxh3_64(b"ns;group");
        assert_eq!(a, (hash % MIN as u64) as i64);
        assert_eq!(group_offset_ms("ns", "group", 1), 0);
        assert_eq!(group_offset_ms("ns", "group", 0), 0);
    }

    #[test]
    fn offsets_spread_over_the_interval() {
        let offsets: std::collections::HashSet<i64> = (0..100)
            .map(|i| group_offset_ms("ns", &format!("group-{i}"), MIN))
            .collect();
        assert!(offsets.len() > 95, "{} distinct offsets", offsets.len());
        assert_ne!(
            group_offset_ms("a", "b", MIN),
            group_offset_ms("b", "a", MIN)
        );
    }

    #[test]
    fn eval_timestamp_is_the_latest_slot_at_or_before_now() {
        let offset = 15_000;
        // On a slot: that slot.
        assert_eq!(
            eval_timestamp_ms(10 * MIN + offset, offset, MIN),
            10 * MIN + offset
        );
        // Just before a slot: the previous one.
        assert_eq!(
            eval_timestamp_ms(10 * MIN + offset - 1, offset, MIN),
            9 * MIN + offset
        );
        // Just after.
        assert_eq!(
            eval_timestamp_ms(10 * MIN + offset + 1, offset, MIN),
            10 * MIN + offset
        );
        // Before the offset in the interval: the previous interval's slot.
        assert_eq!(
            eval_timestamp_ms(10 * MIN + 5_000, offset, MIN),
            9 * MIN + offset
        );
        // Offset 0: aligned to the interval.
        assert_eq!(eval_timestamp_ms(10 * MIN + 59_999, 0, MIN), 10 * MIN);
        // Times before the epoch align down too.
        assert_eq!(eval_timestamp_ms(-1, 0, MIN), -MIN);
        assert_eq!(eval_timestamp_ms(-MIN + offset, offset, MIN), -MIN + offset);
    }

    #[test]
    fn eval_timestamp_matches_a_scan_of_the_slots() {
        for interval in [1, 7, 1_000, MIN] {
            for offset in [0, interval / 3, interval - 1] {
                for now in (-3 * interval..3 * interval).step_by((interval / 50).max(1) as usize) {
                    let t = eval_timestamp_ms(now, offset, interval);
                    assert!(t <= now && now - t < interval, "{now} {offset} {interval}");
                    assert_eq!((t - offset).rem_euclid(interval), 0);
                }
            }
        }
    }

    #[test]
    fn next_eval_is_the_first_slot_after_now() {
        let offset = 15_000;
        assert_eq!(
            next_eval_ms(10 * MIN + offset, offset, MIN),
            11 * MIN + offset
        );
        assert_eq!(
            next_eval_ms(10 * MIN + offset - 1, offset, MIN),
            10 * MIN + offset
        );
        assert_eq!(next_eval_ms(10 * MIN, 0, MIN), 11 * MIN);
    }

    #[test]
    fn query_timestamp_is_the_eval_time_less_the_offset() {
        assert_eq!(query_timestamp_ms(10 * MIN, 0), 10 * MIN);
        assert_eq!(query_timestamp_ms(10 * MIN, 30_000), 10 * MIN - 30_000);
    }

    fn schedule() -> Schedule {
        Schedule {
            interval_ms: MIN,
            offset_ms: 15_000,
        }
    }

    fn slot(k: i64) -> i64 {
        k * MIN + 15_000
    }

    #[test]
    fn new_uses_the_group_offset() {
        let s = Schedule::new("ns", "g", MIN);
        assert_eq!(s.offset_ms, group_offset_ms("ns", "g", MIN));
        assert_eq!(s.interval_ms, MIN);
        assert_eq!(
            s.eval_timestamp_ms(slot(3)),
            eval_timestamp_ms(slot(3), s.offset_ms, MIN)
        );
        assert_eq!(
            s.next_eval_ms(slot(3)),
            next_eval_ms(slot(3), s.offset_ms, MIN)
        );
        assert_eq!(Schedule::new("ns", "g", 0).interval_ms, 1);
    }

    #[test]
    fn a_group_that_never_ran_runs_its_current_slot() {
        assert_eq!(
            schedule().due(None, slot(10) + 20_000),
            Due::Run {
                t_ms: slot(10),
                missed: 0
            }
        );
    }

    #[test]
    fn the_next_slot_runs_with_none_missed() {
        assert_eq!(
            schedule().due(Some(slot(9)), slot(10)),
            Due::Run {
                t_ms: slot(10),
                missed: 0
            }
        );
        assert_eq!(
            schedule().due(Some(slot(9)), slot(10) + MIN - 1),
            Due::Run {
                t_ms: slot(10),
                missed: 0
            }
        );
    }

    #[test]
    fn a_leader_that_finds_the_group_behind_runs_the_current_slot_and_counts_the_missed() {
        // Last iteration T, now T + 5 intervals: run T + 5, four missed.
        assert_eq!(
            schedule().due(Some(slot(5)), slot(10)),
            Due::Run {
                t_ms: slot(10),
                missed: 4
            }
        );
        assert_eq!(
            schedule().due(Some(slot(5)), slot(10) + 30_000),
            Due::Run {
                t_ms: slot(10),
                missed: 4
            }
        );
    }

    #[test]
    fn a_committed_iteration_is_never_run_again() {
        // Now is the committed slot itself, or later within its interval.
        for now in [slot(10), slot(10) + 1, slot(11) - 1] {
            assert_eq!(
                schedule().due(Some(slot(10)), now),
                Due::Wait { until_ms: slot(11) }
            );
        }
        // A clock behind the leader that committed it.
        assert_eq!(
            schedule().due(Some(slot(10)), slot(7)),
            Due::Wait { until_ms: slot(11) }
        );
        // Once the wait is over, the next slot runs.
        assert_eq!(
            schedule().due(Some(slot(10)), slot(11)),
            Due::Run {
                t_ms: slot(11),
                missed: 0
            }
        );
    }

    #[test]
    fn a_last_iteration_off_the_current_slots_counts_the_slots_after_it() {
        // The interval changed: the last iteration was half-way between two current slots.
        let last = slot(5) + MIN / 2;
        assert_eq!(
            schedule().due(Some(last), slot(10)),
            Due::Run {
                t_ms: slot(10),
                missed: 4
            }
        );
        assert_eq!(
            schedule().due(Some(last), slot(6)),
            Due::Run {
                t_ms: slot(6),
                missed: 0
            }
        );
        // Off-slot and later than the current slot: wait for the slot after it.
        assert_eq!(
            schedule().due(Some(last), slot(5) + MIN - 1),
            Due::Wait { until_ms: slot(6) }
        );
    }
}
