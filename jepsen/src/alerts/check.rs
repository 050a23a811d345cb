//! The `alerts` checker: a plain function over the gauge writes, the notifications the fake
//! Alertmanager received and the times the nemesis disturbed the cluster.
//!
//! Every time is ms since the epoch: the nodes stamp evaluations, `startsAt` and `endsAt` with
//! the wall clock of the machine the harness runs on. The rule queries at its evaluation time
//! (no `query_offset`), through a read barrier on every shard (an evaluation whose read fails
//! keeps the rule's alerts as they were), so for episode `k`:
//!
//! - it may hold from `may_start` (the timestamp of its first 1 that may have been applied):
//!   no evaluation before `may_start` can see it, and none can fire before `may_start + for`;
//! - it surely holds in `[held_from, held_until)`: from the acknowledgement of its first 1
//!   (an evaluation at `ts >= held_from` runs after it and sees a 1 stamped before `ts`) to the
//!   timestamp of its first 0 that may have been applied (before that no 0 exists);
//! - it surely cleared at `cleared_at`, the acknowledgement of its first 0.
//!
//! The alert `{alertname="JepsenAlert", episode="k"}` is checked against that:
//!
//! - **duplicate starts**: it fires once per episode, so every notification carries one
//!   `startsAt` (its firing evaluation). A second value means the `for` clock or the firing
//!   was restarted: the state is replicated and committed before sending, and the condition
//!   never clears and comes back within an episode, so no leader change, restart or failed
//!   evaluation may cause one.
//! - **false resolved**: a notification with `endsAt` not after its arrival (Alertmanager takes
//!   it as resolved) whose `endsAt` lies in `[held_from, held_until)`. The ruler sends a
//!   resolved alert with `endsAt` = the evaluation that did not find the series, which cannot
//!   be in that interval; a firing alert has `endsAt` = its evaluation time + 4 x max(resend
//!   delay, interval) (8 s), so it arrives past it only if the iteration took that long from
//!   its evaluation time to its send (a pause lasts at most 4 s). Either way Alertmanager
//!   would show the alert resolved while it held: an anomaly under every fault.
//! - **firings outside the condition**: a `startsAt` before `may_start + for`, or at or after
//!   `cleared_at`.
//! - **phantom alerts**: a notification of no episode whose 1 may have been applied.
//! - **expected firings**: an episode that surely held, outside the disturbed times (every
//!   fault from its start to its heal plus [`RECOVERY_MS`], every membership step likewise),
//!   for pieces of at least two intervals adding up to `for` plus three intervals must have
//!   been notified as firing. The alert's pending state is committed, so the pieces need not
//!   be contiguous: a slot in the first sets `active_at`, and the last piece holds a slot
//!   `for` after it. The final episode, after healing, always must.
//! - **unresolved**: an episode that was notified firing and surely cleared must have been
//!   notified resolved by the end (resolved alerts are re-sent with every resend for 15 min).
//! - **expiries while held**: Alertmanager resolves an alert on its own at the `endsAt` of the
//!   last notification when no new one arrived before it. The ruler re-sends a firing alert
//!   every resend delay plus an interval and only after committing, so an expiry while the
//!   condition surely held means it committed nothing for 8 s - 3 s = 5 s: excused when a
//!   disturbed time overlaps the 8 s before it (a majority kill or a partition can cost that
//!   much), an anomaly otherwise.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{
    ALERT_NAME, AlertHistory, EPISODE_LABEL, EVAL_INTERVAL_MS, FOR_MS, GaugeWrite, Notification,
    VALID_FOR_MS,
};
use crate::history::{FaultEvent, Outcome};
use crate::membership::MemberStep;

/// Time after a fault is healed (or a membership step ends) that still counts as disturbed:
/// restarts, elections, the ruler's supervision tick and shard-map confirmation.
pub const RECOVERY_MS: i64 = 5_000;

/// One episode as the history shows it (times in ms since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EpisodeSummary {
    /// The episode.
    pub episode: u32,
    /// The final one, after healing.
    pub final_episode: bool,
    /// Timestamp of its first 1 that may have been applied.
    pub may_start_ms: Option<i64>,
    /// Acknowledgement of its first 1.
    pub held_from_ms: Option<i64>,
    /// Timestamp of its first 0 that may have been applied (`None`: none).
    pub held_until_ms: Option<i64>,
    /// Acknowledgement of its first 0.
    pub cleared_at_ms: Option<i64>,
    /// Time it surely held outside the disturbed times, in pieces of at least two intervals.
    pub undisturbed_ms: i64,
    /// Whether it had to be notified as firing.
    pub expected: bool,
    /// The `startsAt` of its first notification.
    pub fired_at_ms: Option<i64>,
    /// Notifications as firing.
    pub firing_notifications: usize,
    /// Notifications as resolved.
    pub resolved_notifications: usize,
}

/// An alert notified with more than one `startsAt`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateStart {
    /// The episode.
    pub episode: u32,
    /// Every `startsAt` it was notified with.
    pub starts_at_ms: Vec<i64>,
}

/// Alertmanager's view of an alert expiring (its last `endsAt` passed without a new
/// notification) while the episode surely held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expiry {
    /// The episode.
    pub episode: u32,
    /// When it expired (the last `endsAt`).
    pub at_ms: i64,
    /// Whether a disturbed time overlapped the [`VALID_FOR_MS`] before it.
    pub excused: bool,
}

/// The alerts checker's findings; `valid()` says whether the run passes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertCheck {
    /// Whether the workload ran.
    pub ran: bool,
    /// Whether the rule group was accepted.
    pub rules_uploaded: bool,
    /// Gauge writes by outcome: ok, failed, indeterminate.
    pub writes: (usize, usize, usize),
    /// Episodes, in order.
    pub episodes: Vec<EpisodeSummary>,
    /// Notifications received.
    pub notifications: usize,
    /// Of which firing / resolved.
    pub firing_notifications: usize,
    /// See `firing_notifications`.
    pub resolved_notifications: usize,
    /// Episodes notified as firing at least once.
    pub episodes_fired: usize,
    /// Episodes that had to be notified as firing.
    pub expected_firings: usize,
    /// Of those, the ones that were.
    pub expected_firings_notified: usize,
    /// Episodes that had to be notified as firing and were not.
    pub missed_firings: Vec<u32>,
    /// Alerts notified with several `startsAt`.
    pub duplicate_starts: Vec<DuplicateStart>,
    /// Resolved notifications while the episode surely held.
    pub false_resolved: Vec<Notification>,
    /// `(episode, startsAt)` of firings before `may_start + for` or after the episode cleared.
    pub firings_outside_condition: Vec<(u32, i64)>,
    /// Notifications of no episode that may have held.
    pub phantom_alerts: Vec<Notification>,
    /// Episodes notified firing, surely cleared, and never notified resolved.
    pub unresolved: Vec<u32>,
    /// Expiries in Alertmanager while the episode surely held.
    pub expiries: Vec<Expiry>,
    /// Requests the fake Alertmanager could not read.
    pub malformed: Vec<String>,
}

impl AlertCheck {
    /// True when no anomaly was found (or the workload did not run).
    pub fn valid(&self) -> bool {
        !self.ran
            || (self.rules_uploaded
                && self.missed_firings.is_empty()
                && self.duplicate_starts.is_empty()
                && self.false_resolved.is_empty()
                && self.firings_outside_condition.is_empty()
                && self.phantom_alerts.is_empty()
                && self.unresolved.is_empty()
                && self.expiries.iter().all(|e| e.excused)
                && self.malformed.is_empty())
    }

    /// Expiries while held that no disturbance excuses.
    pub fn unexcused_expiries(&self) -> usize {
        self.expiries.iter().filter(|e| !e.excused).count()
    }
}

/// The times the cluster was disturbed, ms since the run started: each fault from its start
/// to its heal (a kill to its restart, a pause to its resume, a removal to its re-add, a
/// network fault to the next heal of the network; one never healed to `end_ms`), and each
/// membership step, each extended by [`RECOVERY_MS`]; merged and sorted.
pub fn disturbed_intervals(
    events: &[FaultEvent],
    steps: &[MemberStep],
    end_ms: u64,
) -> Vec<(i64, i64)> {
    let mut open: BTreeMap<(u32, &'static str), u64> = BTreeMap::new();
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut sorted: Vec<&FaultEvent> = events.iter().collect();
    sorted.sort_by_key(|e| e.at_ms);
    let close = |start: u64, end: u64, out: &mut Vec<(i64, i64)>| {
        out.push((start as i64, end as i64 + RECOVERY_MS));
    };
    for e in sorted {
        let (kind, starts) = match (e.node, e.action.as_str()) {
            (0, "heal-network") => ("network", false),
            (0, _) => ("network", true),
            (_, "kill") => ("down", true),
            (_, "restart" | "heal-restart") => ("down", false),
            (_, "pause") => ("paused", true),
            (_, "resume" | "heal-resume") => ("paused", false),
            (_, "remove") => ("removed", true),
            (_, "re-add") => ("removed", false),
            _ => continue,
        };
        let key = (e.node, kind);
        if starts {
            open.entry(key).or_insert(e.at_ms);
        } else if let Some(start) = open.remove(&key) {
            close(start, e.at_ms, &mut out);
        }
    }
    for (_, start) in open {
        close(start, end_ms, &mut out);
    }
    for s in steps {
        close(s.at_ms, s.done_ms, &mut out);
    }
    merge(out)
}

fn merge(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The pieces of `[from, to)` outside `disturbed` (merged, sorted).
pub fn undisturbed_pieces(from: i64, to: i64, disturbed: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut pieces = Vec::new();
    let mut at = from;
    for &(a, b) in disturbed {
        if b <= at || a >= to {
            continue;
        }
        if a > at {
            pieces.push((at, a));
        }
        at = at.max(b);
    }
    if at < to {
        pieces.push((at, to));
    }
    pieces
}

fn summarize(episode: u32, writes: &[&GaugeWrite], final_episode: bool) -> EpisodeSummary {
    let may_apply = |w: &&&GaugeWrite| w.outcome != Outcome::Fail;
    let ok = |w: &&&GaugeWrite| w.outcome == Outcome::Ok;
    let of = |v: u8| writes.iter().filter(move |w| w.value == v);
    EpisodeSummary {
        episode,
        final_episode,
        may_start_ms: of(1).filter(may_apply).map(|w| w.t_ms).min(),
        held_from_ms: of(1).filter(ok).map(|w| w.complete_epoch_ms).min(),
        held_until_ms: of(0).filter(may_apply).map(|w| w.t_ms).min(),
        cleared_at_ms: of(0).filter(ok).map(|w| w.complete_epoch_ms).min(),
        ..Default::default()
    }
}

/// Checks the alerts workload: `notes` are the notifications received, `disturbed` the
/// disturbed times in ms since the epoch (see [`disturbed_intervals`]), `end_ms` when the run
/// was checked (ms since the epoch).
pub fn check_alerts(
    h: &AlertHistory,
    notes: &[Notification],
    malformed: &[String],
    disturbed: &[(i64, i64)],
    end_ms: i64,
) -> AlertCheck {
    let mut r = AlertCheck {
        ran: true,
        rules_uploaded: h.uploaded(),
        notifications: notes.len(),
        malformed: malformed.to_vec(),
        ..Default::default()
    };
    for w in &h.writes {
        match w.outcome {
            Outcome::Ok => r.writes.0 += 1,
            Outcome::Fail => r.writes.1 += 1,
            Outcome::Indeterminate => r.writes.2 += 1,
        }
    }
    let mut by_episode: BTreeMap<u32, Vec<&GaugeWrite>> = BTreeMap::new();
    for w in &h.writes {
        by_episode.entry(w.episode).or_default().push(w);
    }
    let mut notes_of: BTreeMap<u32, Vec<&Notification>> = BTreeMap::new();
    for n in notes {
        if n.is_resolved() {
            r.resolved_notifications += 1;
        } else {
            r.firing_notifications += 1;
        }
        let episode = n
            .labels
            .get(EPISODE_LABEL)
            .and_then(|e| e.parse::<u32>().ok());
        let known = n.labels.get("alertname").map(String::as_str) == Some(ALERT_NAME)
            && n.labels.len() == 2;
        match episode {
            Some(e) if known && by_episode.contains_key(&e) => {
                notes_of.entry(e).or_default().push(n)
            }
            _ => r.phantom_alerts.push(n.clone()),
        }
    }
    let needed_ms = FOR_MS + 3 * EVAL_INTERVAL_MS;
    for (&episode, writes) in &by_episode {
        let mut s = summarize(episode, writes, h.final_episode == Some(episode));
        let mut ns: Vec<&Notification> = notes_of.remove(&episode).unwrap_or_default();
        ns.sort_by_key(|n| n.received_ms);
        let Some(may_start) = s.may_start_ms else {
            // Its 1 was never applied: nothing may be notified.
            r.phantom_alerts.extend(ns.into_iter().cloned());
            r.episodes.push(s);
            continue;
        };
        let held = s
            .held_from_ms
            .map(|from| (from, s.held_until_ms.unwrap_or(end_ms)))
            .filter(|(from, until)| from < until);
        if let Some((from, until)) = held {
            s.undisturbed_ms = undisturbed_pieces(from, until, disturbed)
                .into_iter()
                .map(|(a, b)| b - a)
                .filter(|&len| len >= 2 * EVAL_INTERVAL_MS)
                .sum();
            s.expected = s.final_episode || s.undisturbed_ms >= needed_ms;
        }
        s.firing_notifications = ns.iter().filter(|n| !n.is_resolved()).count();
        s.resolved_notifications = ns.len() - s.firing_notifications;
        s.fired_at_ms = ns.first().map(|n| n.starts_at_ms);
        let starts: BTreeSet<i64> = ns.iter().map(|n| n.starts_at_ms).collect();
        if starts.len() > 1 {
            r.duplicate_starts.push(DuplicateStart {
                episode,
                starts_at_ms: starts.iter().copied().collect(),
            });
        }
        for &start in &starts {
            let early = start < may_start + FOR_MS;
            let late = s.cleared_at_ms.is_some_and(|c| start >= c);
            if early || late {
                r.firings_outside_condition.push((episode, start));
            }
        }
        let holds = |t: i64| held.is_some_and(|(from, until)| from <= t && t < until);
        for n in &ns {
            if n.is_resolved() && holds(n.ends_at_ms) {
                r.false_resolved.push((*n).clone());
            }
        }
        if s.firing_notifications > 0 {
            r.episodes_fired += 1;
            if s.cleared_at_ms.is_some() && s.resolved_notifications == 0 {
                r.unresolved.push(episode);
            }
        }
        if s.expected {
            r.expected_firings += 1;
            if s.firing_notifications > 0 {
                r.expected_firings_notified += 1;
            } else {
                r.missed_firings.push(episode);
            }
        }
        // Alertmanager's view: valid until the last `endsAt`, unless a new one came first.
        let mut valid_until: Option<i64> = None;
        let expiry = |at: i64, r: &mut AlertCheck| {
            if holds(at) {
                let window = (at - VALID_FOR_MS, at);
                let excused = disturbed
                    .iter()
                    .any(|&(a, b)| a <= window.1 && b >= window.0);
                r.expiries.push(Expiry {
                    episode,
                    at_ms: at,
                    excused,
                });
            }
        };
        for n in &ns {
            if let Some(v) = valid_until
                && n.received_ms > v
            {
                expiry(v, &mut r);
            }
            valid_until = (!n.is_resolved()).then_some(n.ends_at_ms);
        }
        if let Some(v) = valid_until
            && v < end_ms
        {
            expiry(v, &mut r);
        }
        r.episodes.push(s);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::RuleUpload;

    const T0: i64 = 1_700_000_000_000;

    fn write(episode: u32, value: u8, t: i64, acked: i64, outcome: Outcome) -> GaugeWrite {
        GaugeWrite {
            episode,
            value,
            t_ms: T0 + t,
            node: 1,
            invoke_ms: t as u64,
            complete_ms: acked as u64,
            complete_epoch_ms: T0 + acked,
            outcome,
            detail: String::new(),
        }
    }

    /// Episode 1: 1 written at 0 (acked at 10), 0 written at 10 000 (acked at 10 010).
    fn history() -> AlertHistory {
        AlertHistory {
            uploads: vec![RuleUpload {
                node: 1,
                invoke_ms: 0,
                complete_ms: 1,
                accepted: true,
                detail: "202".into(),
            }],
            writes: vec![
                write(1, 1, 0, 10, Outcome::Ok),
                write(1, 0, 10_000, 10_010, Outcome::Ok),
            ],
            final_episode: None,
        }
    }

    fn note(episode: &str, received: i64, starts: i64, ends: i64) -> Notification {
        Notification {
            received_ms: T0 + received,
            from: "10.0.0.1".into(),
            labels: BTreeMap::from([
                ("alertname".to_string(), ALERT_NAME.to_string()),
                (EPISODE_LABEL.to_string(), episode.to_string()),
            ]),
            starts_at_ms: T0 + starts,
            ends_at_ms: T0 + ends,
        }
    }

    /// A firing sent at evaluation `ts` (starts at 3 000), and its resends.
    fn firing(ts: i64) -> Notification {
        note("1", ts + 5, 3_000, ts + VALID_FOR_MS)
    }

    fn check(notes: &[Notification], disturbed: &[(i64, i64)]) -> AlertCheck {
        let disturbed: Vec<(i64, i64)> = disturbed.iter().map(|(a, b)| (T0 + a, T0 + b)).collect();
        check_alerts(&history(), notes, &[], &disturbed, T0 + 60_000)
    }

    #[test]
    fn a_fired_resent_and_resolved_episode_passes() {
        let notes = [
            firing(3_000),
            firing(6_000),
            firing(9_000),
            note("1", 11_005, 3_000, 11_000),
        ];
        let r = check(&notes, &[]);
        assert!(r.valid(), "{r:?}");
        assert_eq!((r.expected_firings, r.expected_firings_notified), (1, 1));
        assert_eq!((r.firing_notifications, r.resolved_notifications), (3, 1));
        assert_eq!(r.episodes[0].fired_at_ms, Some(T0 + 3_000));
    }

    #[test]
    fn an_undisturbed_episode_that_never_fired_is_missed() {
        let r = check(&[], &[]);
        assert_eq!(r.missed_firings, vec![1]);
        assert!(!r.valid());
        // Disturbed all along: nothing was expected.
        let r = check(&[], &[(-1_000, 20_000)]);
        assert!(r.valid(), "{r:?}");
        assert_eq!(r.expected_firings, 0);
        // Two undisturbed pieces of 2.5 s add up to `for` + 3 intervals: expected.
        let r = check(&[], &[(2_510, 7_500)]);
        assert_eq!(r.episodes[0].undisturbed_ms, 5_000);
        assert_eq!(r.missed_firings, vec![1]);
        // Pieces shorter than two intervals do not count.
        let r = check(&[], &[(1_500, 3_000), (4_500, 6_000), (7_500, 9_000)]);
        assert_eq!(r.episodes[0].undisturbed_ms, 0);
        assert!(r.valid());
    }

    #[test]
    fn a_second_start_is_a_duplicate() {
        let notes = [
            firing(3_000),
            note("1", 6_005, 6_000, 14_000),
            note("1", 11_005, 6_000, 11_000),
        ];
        let r = check(&notes, &[]);
        assert_eq!(
            r.duplicate_starts,
            vec![DuplicateStart {
                episode: 1,
                starts_at_ms: vec![T0 + 3_000, T0 + 6_000]
            }]
        );
        assert!(!r.valid());
    }

    #[test]
    fn a_resolve_while_the_condition_surely_held_is_false() {
        let early = note("1", 5_005, 3_000, 5_000);
        let r = check(
            &[
                firing(3_000),
                early.clone(),
                note("1", 11_005, 3_000, 11_000),
            ],
            &[],
        );
        assert_eq!(r.false_resolved, vec![early]);
        assert!(!r.valid());
        // At the first 0's timestamp the condition may have cleared.
        let r = check(&[firing(3_000), note("1", 10_005, 3_000, 10_000)], &[]);
        assert!(r.false_resolved.is_empty(), "{r:?}");
    }

    #[test]
    fn firing_before_for_or_after_clearing_is_outside_the_condition() {
        let r = check(
            &[
                note("1", 1_005, 1_000, 9_000),
                note("1", 11_005, 1_000, 11_000),
            ],
            &[],
        );
        assert_eq!(r.firings_outside_condition, vec![(1, T0 + 1_000)]);
        let r = check(&[note("1", 10_505, 10_500, 18_500)], &[]);
        assert_eq!(r.firings_outside_condition, vec![(1, T0 + 10_500)]);
        assert!(!r.valid());
    }

    #[test]
    fn alerts_of_no_episode_are_phantoms() {
        let r = check(
            &[
                firing(3_000),
                note("7", 4_000, 3_000, 12_000),
                note("1", 11_005, 3_000, 11_000),
            ],
            &[],
        );
        assert_eq!(r.phantom_alerts.len(), 1);
        assert!(!r.valid());
        // An episode whose 1 definitely failed never held.
        let mut h = history();
        h.writes[0].outcome = Outcome::Fail;
        let r = check_alerts(&h, &[firing(3_000)], &[], &[], T0 + 60_000);
        assert_eq!(r.phantom_alerts.len(), 1);
    }

    #[test]
    fn a_fired_episode_must_be_resolved() {
        let r = check(&[firing(3_000), firing(6_000), firing(9_000)], &[]);
        assert_eq!(r.unresolved, vec![1]);
        assert!(!r.valid());
    }

    #[test]
    fn a_silence_longer_than_endsat_expires_the_alert() {
        // Sent at 3 000 (valid until 11 000), nothing more before the condition clears at 10 000:
        // no expiry while held.
        let resolved = note("1", 11_005, 3_000, 11_000);
        assert!(
            check(&[firing(3_000), resolved.clone()], &[])
                .expiries
                .is_empty()
        );
        // With a longer episode, an expiry at 11 000, excused only by a disturbance.
        let mut h = history();
        h.writes[1] = write(1, 0, 20_000, 20_010, Outcome::Ok);
        let late = note("1", 20_105, 3_000, 20_100);
        let notes = [firing(3_000), firing(12_000), late];
        let r = check_alerts(&h, &notes, &[], &[], T0 + 60_000);
        assert_eq!(
            r.expiries,
            vec![Expiry {
                episode: 1,
                at_ms: T0 + 11_000,
                excused: false
            }]
        );
        assert!(!r.valid());
        let r = check_alerts(&h, &notes, &[], &[(T0 + 4_000, T0 + 9_000)], T0 + 60_000);
        assert!(r.expiries[0].excused);
        assert!(r.valid(), "{r:?}");
    }

    #[test]
    fn disturbances_pair_faults_with_their_heals() {
        let ev = |at_ms, node, action: &str| FaultEvent {
            at_ms,
            node,
            action: action.into(),
        };
        let events = [
            ev(1_000, 1, "kill"),
            ev(2_000, 2, "pause"),
            ev(3_000, 1, "restart"),
            ev(4_000, 2, "resume"),
            ev(20_000, 0, "partition [1] | [2, 3]"),
            ev(22_000, 0, "heal-network"),
            ev(40_000, 3, "kill"),
        ];
        let d = disturbed_intervals(&events, &[], 50_000);
        assert_eq!(d, vec![(1_000, 9_000), (20_000, 27_000), (40_000, 55_000)]);
    }
}
