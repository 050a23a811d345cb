//! The `notifier` checker: a plain function over the workload's history (configuration,
//! silences, alert posts), the requests the webhook receivers got, the disturbed times and the
//! members' notifier status at the end. Times are ms since the epoch (the harness and the
//! nodes share one clock).
//!
//! For episode `k`:
//!
//! - it is **silenced** when a silence attempt was acknowledged (they all come before the
//!   alert's first post); **maybe silenced** when none was but one was indeterminate (it is
//!   then left out of properties 1 to 3);
//! - it **surely fires** in the notifier from the acknowledgement of its first firing post to
//!   the invocation of its first resolving post that may have been applied (no post carries
//!   an earlier end, and no firing post's end passes during a run);
//! - it is **expected** when it surely fired for [`FLUSH_WINDOW_MS`] in one piece outside the
//!   disturbed times (each fault from its start to its heal, and each membership step, plus
//!   the recovery time of the `alerts` checker): its group then flushed while it fired, so a
//!   firing notification for it is in the outbox, which the leaders retry until delivered.
//!   The final episode (after healing) always is.
//!
//! Properties, per webhook receiver (each is an integration of its own, with its own
//! notification log and retries):
//!
//! 1. **firing delivered**: every expected, not silenced episode is delivered firing (a request
//!    containing it as `firing` answered 2xx) by the bound, [`HEAL_WINDOW_MS`] after the
//!    run's final heal (the receivers stop failing at the time limit, before it);
//! 2. **resolved delivered**: every not silenced episode whose resolving post was
//!    acknowledged, and that was expected or delivered firing to the receiver, is delivered
//!    resolved after its first resolving post was invoked, by the bound; and the last delivery
//!    to the receiver says resolved (a firing one after it leaves the receiver paging for an
//!    alert that resolved);
//! 3. **silences hold**: no request containing a silenced episode reaches a receiver at all
//!    (whatever its answer: the notifier must not send it);
//! 4. **duplicates** (counted, not a failure): deliveries per receiver, group key and message
//!    `status` beyond the first, per 100 deliveries;
//! 5. **nothing left**: on every member at the end, `givenUp` is empty and no notification is
//!    `pending` (the run waits up to the bound for that).
//!
//! Besides: **phantom alerts** (an alert of no episode, or of one whose every firing post
//! definitely failed) and **malformed requests** (not a webhook message v4) are anomalies.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    ALERT_PREFIX, EPISODE_LABEL, HEAL_WINDOW_MS, NodeStatus, NotifierHistory, PostKind,
    WORKLOAD_LABEL, WebhookRequest,
};
use crate::alerts::undisturbed_pieces;
use crate::history::Outcome;

/// How long an episode must surely fire, in one undisturbed piece, to be expected: its
/// group's `group_wait` (1 s), the leader's tick (200 ms), a commit, and margin.
pub const FLUSH_WINDOW_MS: i64 = 4_000;

/// Whether an episode was silenced before its alert was first posted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SilenceState {
    /// No silence, or every attempt definitely failed.
    #[default]
    None,
    /// A silence was acknowledged before the first post.
    Acked,
    /// No acknowledgement, but an attempt may have been applied.
    Maybe,
}

/// What the checker needs.
pub struct CheckInput<'a> {
    /// What the workload did.
    pub history: &'a NotifierHistory,
    /// Every request the receivers got.
    pub requests: &'a [WebhookRequest],
    /// The receivers' names.
    pub receivers: &'a [String],
    /// The disturbed times, ms since the epoch (`crate::alerts::disturbed_intervals`).
    pub disturbed: &'a [(i64, i64)],
    /// The run's final heal, ms since the epoch.
    pub heal_ms: i64,
    /// The run's start, ms since the epoch: the violations give times from it (`t+1234`).
    pub origin_ms: i64,
    /// The members' notifier status at the end.
    pub statuses: &'a [NodeStatus],
}

/// Deliveries of one episode to one receiver.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deliveries {
    /// Requests containing it answered 2xx with it firing.
    pub firing: usize,
    /// ... with it resolved.
    pub resolved: usize,
    /// Requests containing it that failed (500 or hang).
    pub failed: usize,
    /// Arrival of the first firing delivery.
    pub first_firing_ms: Option<i64>,
}

/// One episode as the history shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EpisodeSummary {
    /// The episode.
    pub episode: u32,
    /// The final one, after healing.
    pub final_episode: bool,
    /// Its silence.
    pub silence: SilenceState,
    /// Firing posts: ok, failed, indeterminate.
    pub firing_posts: (usize, usize, usize),
    /// Invocation of the first firing post.
    pub first_post_ms: Option<i64>,
    /// Acknowledgement of the first firing post.
    pub fired_ack_ms: Option<i64>,
    /// Invocation of the first resolving post that may have been applied.
    pub resolve_from_ms: Option<i64>,
    /// Acknowledgement of the first resolving post.
    pub resolved_ack_ms: Option<i64>,
    /// The longest piece of the surely-firing time outside the disturbed times.
    pub undisturbed_ms: i64,
    /// Whether it had to be delivered firing.
    pub expected: bool,
    /// Its deliveries per receiver.
    pub deliveries: BTreeMap<String, Deliveries>,
}

/// A property that did not hold for one episode at one receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// The episode (0: none).
    pub episode: u32,
    /// The receiver (or node, for the end status).
    pub receiver: String,
    /// What was seen.
    pub detail: String,
}

/// The checker's findings; `valid()` says whether the run passes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotifierCheck {
    /// Whether the workload ran.
    pub ran: bool,
    /// Whether the configuration was acknowledged.
    pub configured: bool,
    /// Attempts to set it.
    pub config_attempts: usize,
    /// Firing posts: ok, failed, indeterminate.
    pub firing_posts: (usize, usize, usize),
    /// Resolving posts: ok, failed, indeterminate.
    pub resolve_posts: (usize, usize, usize),
    /// Silence attempts: ok, failed, indeterminate.
    pub silence_posts: (usize, usize, usize),
    /// The episodes.
    pub episodes: Vec<EpisodeSummary>,
    /// Requests the receivers got.
    pub requests: usize,
    /// Of which answered 2xx (deliveries), 500, and left hanging.
    pub answers: (usize, usize, usize),
    /// Deliveries with the message's status firing / resolved.
    pub deliveries_firing: usize,
    /// See `deliveries_firing`.
    pub deliveries_resolved: usize,
    /// (episode, receiver) pairs that had to be delivered firing.
    pub expected_firings: usize,
    /// Of those, the ones that were, by the bound.
    pub expected_firings_delivered: usize,
    /// (episode, receiver) pairs of every episode whose firing post was acknowledged and
    /// that was not silenced (expected or not).
    pub acked_firings: usize,
    /// Of those, the ones delivered firing by the bound.
    pub acked_firings_delivered: usize,
    /// The others (not a failure: the notifier may have had no leader to flush the group
    /// for as long as the episode fired, and then nothing is sent, as in Alertmanager).
    pub unrequired_misses: Vec<Violation>,
    /// Property 1: expected and not delivered firing by the bound.
    pub undelivered_firing: Vec<Violation>,
    /// Property 2: resolved, and not delivered resolved by the bound.
    pub unresolved: Vec<Violation>,
    /// Property 2: delivered resolved, then firing again as the last word.
    pub firing_after_resolved: Vec<Violation>,
    /// Property 3: requests carrying a silenced episode.
    pub silenced_sent: Vec<Violation>,
    /// Property 4: deliveries per (receiver, group key, status) beyond the first.
    pub duplicates: usize,
    /// Property 5: members whose status could not be read, or shows give-ups or pending
    /// notifications at the end.
    pub status_violations: Vec<Violation>,
    /// Alerts of no episode that may have fired.
    pub phantom_alerts: Vec<Violation>,
    /// Requests that were not webhook messages v4.
    pub malformed: Vec<String>,
    /// The bound, ms since the epoch.
    pub deadline_ms: i64,
}

impl NotifierCheck {
    /// True when no anomaly was found (or the workload did not run).
    pub fn valid(&self) -> bool {
        !self.ran
            || (self.configured
                && self.undelivered_firing.is_empty()
                && self.unresolved.is_empty()
                && self.firing_after_resolved.is_empty()
                && self.silenced_sent.is_empty()
                && self.status_violations.is_empty()
                && self.phantom_alerts.is_empty()
                && self.malformed.is_empty())
    }

    /// Deliveries (requests answered 2xx).
    pub fn deliveries(&self) -> usize {
        self.answers.0
    }

    /// Duplicates per 100 deliveries.
    pub fn duplicates_per_100(&self) -> f64 {
        if self.answers.0 == 0 {
            0.0
        } else {
            self.duplicates as f64 * 100.0 / self.answers.0 as f64
        }
    }
}

fn count(outcomes: impl Iterator<Item = Outcome>) -> (usize, usize, usize) {
    let mut c = (0, 0, 0);
    for o in outcomes {
        match o {
            Outcome::Ok => c.0 += 1,
            Outcome::Fail => c.1 += 1,
            Outcome::Indeterminate => c.2 += 1,
        }
    }
    c
}

/// The episode an alert of the workload belongs to, if it is one of its alerts.
fn episode_of(labels: &BTreeMap<String, String>) -> Option<u32> {
    let k: u32 = labels.get(EPISODE_LABEL)?.parse().ok()?;
    let ours = labels.get(WORKLOAD_LABEL.0).map(String::as_str) == Some(WORKLOAD_LABEL.1)
        && labels.get("alertname") == Some(&format!("{ALERT_PREFIX}{k}"))
        && labels.len() == 3;
    ours.then_some(k)
}

/// One alert of one request, as the properties read it.
struct Seen<'a> {
    request: &'a WebhookRequest,
    firing: bool,
}

fn summarize(
    episode: u32,
    h: &NotifierHistory,
    disturbed: &[(i64, i64)],
    end_ms: i64,
) -> EpisodeSummary {
    let posts = |kind: PostKind| {
        h.posts
            .iter()
            .filter(move |p| p.episode == episode && p.kind == kind)
    };
    let first_post_ms = posts(PostKind::Firing).map(|p| p.invoke_ms).min();
    let silences: Vec<_> = h.silences.iter().filter(|s| s.episode == episode).collect();
    let acked_before_first_post = silences
        .iter()
        .any(|s| s.outcome == Outcome::Ok && first_post_ms.is_none_or(|f| s.complete_ms <= f));
    let silence = if acked_before_first_post {
        SilenceState::Acked
    } else if silences.iter().any(|s| s.outcome != Outcome::Fail) {
        SilenceState::Maybe
    } else {
        SilenceState::None
    };
    let fired_ack_ms = posts(PostKind::Firing)
        .filter(|p| p.outcome == Outcome::Ok)
        .map(|p| p.complete_ms)
        .min();
    let resolve_from_ms = posts(PostKind::Resolve)
        .filter(|p| p.outcome != Outcome::Fail)
        .map(|p| p.invoke_ms)
        .min();
    let resolved_ack_ms = posts(PostKind::Resolve)
        .filter(|p| p.outcome == Outcome::Ok)
        .map(|p| p.complete_ms)
        .min();
    let final_episode = h.final_episode == Some(episode);
    let undisturbed_ms = fired_ack_ms
        .map(|from| {
            undisturbed_pieces(from, resolve_from_ms.unwrap_or(end_ms), disturbed)
                .into_iter()
                .map(|(a, b)| b - a)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    EpisodeSummary {
        episode,
        final_episode,
        silence,
        firing_posts: count(posts(PostKind::Firing).map(|p| p.outcome)),
        first_post_ms,
        fired_ack_ms,
        resolve_from_ms,
        resolved_ack_ms,
        undisturbed_ms,
        expected: silence == SilenceState::None
            && fired_ack_ms.is_some()
            && (final_episode || undisturbed_ms >= FLUSH_WINDOW_MS),
        deliveries: BTreeMap::new(),
    }
}

/// Checks the `notifier` workload.
pub fn check_notifier(input: &CheckInput<'_>) -> NotifierCheck {
    let h = input.history;
    let deadline_ms = input.heal_ms + HEAL_WINDOW_MS;
    let at = |t: i64| format!("t+{}", t - input.origin_ms);
    let mut r = NotifierCheck {
        ran: true,
        configured: h.configured(),
        config_attempts: h.configs.len(),
        firing_posts: count(
            h.posts
                .iter()
                .filter(|p| p.kind == PostKind::Firing)
                .map(|p| p.outcome),
        ),
        resolve_posts: count(
            h.posts
                .iter()
                .filter(|p| p.kind == PostKind::Resolve)
                .map(|p| p.outcome),
        ),
        silence_posts: count(h.silences.iter().map(|s| s.outcome)),
        requests: input.requests.len(),
        deadline_ms,
        ..Default::default()
    };
    let mut numbers: Vec<u32> = h.episodes.iter().map(|e| e.episode).collect();
    numbers.extend(h.posts.iter().map(|p| p.episode));
    numbers.sort_unstable();
    numbers.dedup();
    let mut episodes: BTreeMap<u32, EpisodeSummary> = numbers
        .iter()
        .map(|&k| (k, summarize(k, h, input.disturbed, deadline_ms)))
        .collect();

    // Every alert of every request, by episode and receiver, in arrival order.
    let mut seen: BTreeMap<(u32, &str), Vec<Seen<'_>>> = BTreeMap::new();
    let mut per_key: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    let mut requests: Vec<&WebhookRequest> = input.requests.iter().collect();
    requests.sort_by_key(|q| q.arrival_ms);
    for req in requests {
        match req.answer {
            super::Answer::Ok => r.answers.0 += 1,
            super::Answer::Error => r.answers.1 += 1,
            super::Answer::Hang => r.answers.2 += 1,
        }
        if let Some(why) = &req.malformed {
            r.malformed
                .push(format!("{} at {}: {why}", req.receiver, at(req.arrival_ms)));
            continue;
        }
        if req.delivered() {
            match req.status.as_str() {
                "firing" => r.deliveries_firing += 1,
                _ => r.deliveries_resolved += 1,
            }
            *per_key
                .entry((&req.receiver, &req.group_key, &req.status))
                .or_default() += 1;
        }
        for a in &req.alerts {
            let episode = episode_of(&a.labels);
            let known = episode.and_then(|k| episodes.get(&k));
            let may_have_fired = known.is_some_and(|e| e.firing_posts.0 + e.firing_posts.2 > 0);
            match episode {
                Some(k) if may_have_fired => {
                    seen.entry((k, &req.receiver)).or_default().push(Seen {
                        request: req,
                        firing: a.status == "firing",
                    })
                }
                _ => r.phantom_alerts.push(Violation {
                    episode: episode.unwrap_or(0),
                    receiver: req.receiver.clone(),
                    detail: format!("{:?} ({}) at {}", a.labels, a.status, at(req.arrival_ms)),
                }),
            }
        }
    }
    r.duplicates = per_key.values().map(|n| n - 1).sum();

    for (&k, e) in episodes.iter_mut() {
        for receiver in input.receivers {
            let list: &[Seen<'_>] = seen.get(&(k, receiver.as_str())).map_or(&[], |v| v);
            let delivered: Vec<&Seen<'_>> = list.iter().filter(|s| s.request.delivered()).collect();
            let d = Deliveries {
                firing: delivered.iter().filter(|s| s.firing).count(),
                resolved: delivered.iter().filter(|s| !s.firing).count(),
                failed: list.len() - delivered.len(),
                first_firing_ms: delivered
                    .iter()
                    .find(|s| s.firing)
                    .map(|s| s.request.arrival_ms),
            };
            let violation = |detail: String| Violation {
                episode: k,
                receiver: receiver.clone(),
                detail,
            };
            // Property 3.
            if e.silence == SilenceState::Acked {
                for s in list {
                    r.silenced_sent.push(violation(format!(
                        "sent {} at {} (answer {:?}) though silenced",
                        if s.firing { "firing" } else { "resolved" },
                        at(s.request.arrival_ms),
                        s.request.answer
                    )));
                }
            }
            // Property 1.
            let delivered_in_time = d.first_firing_ms.is_some_and(|t| t <= deadline_ms);
            let miss = || match d.first_firing_ms {
                Some(t) => format!(
                    "first delivered firing at {}, {} ms after the bound",
                    at(t),
                    t - deadline_ms
                ),
                None => format!(
                    "never delivered firing ({} failed requests); fired acked at {}, resolve from {}, undisturbed {} ms",
                    d.failed,
                    e.fired_ack_ms.map_or("-".into(), at),
                    e.resolve_from_ms.map_or("-".into(), at),
                    e.undisturbed_ms
                ),
            };
            if e.silence == SilenceState::None && e.fired_ack_ms.is_some() {
                r.acked_firings += 1;
                if delivered_in_time {
                    r.acked_firings_delivered += 1;
                } else if !e.expected {
                    r.unrequired_misses.push(violation(miss()));
                }
            }
            if e.expected {
                r.expected_firings += 1;
                if delivered_in_time {
                    r.expected_firings_delivered += 1;
                } else {
                    r.undelivered_firing.push(violation(miss()));
                }
            }
            // Property 2.
            if e.silence == SilenceState::None
                && let (Some(resolve_from), Some(_)) = (e.resolve_from_ms, e.resolved_ack_ms)
                && (e.expected || d.firing > 0)
            {
                let resolved_after = delivered.iter().any(|s| {
                    !s.firing
                        && s.request.arrival_ms >= resolve_from
                        && s.request.arrival_ms <= deadline_ms
                });
                let timeline: Vec<String> = delivered
                    .iter()
                    .map(|s| {
                        format!(
                            "{} at {}",
                            if s.firing { "firing" } else { "resolved" },
                            at(s.request.arrival_ms)
                        )
                    })
                    .collect();
                // A firing post that timed out may be applied after the resolution and
                // revive the alert: say how many there were.
                let indeterminate = e.firing_posts.2;
                if !resolved_after {
                    r.unresolved.push(violation(format!(
                        "resolve posted from {} (acked at {}), never delivered resolved after it; deliveries: [{}]; failed requests: {}; indeterminate firing posts: {indeterminate}",
                        at(resolve_from),
                        e.resolved_ack_ms.map_or("-".into(), at),
                        timeline.join(", "),
                        d.failed,
                    )));
                } else if delivered.last().is_some_and(|s| s.firing) {
                    r.firing_after_resolved.push(violation(format!(
                        "delivered resolved, then firing last; deliveries: [{}]; indeterminate firing posts: {indeterminate}",
                        timeline.join(", ")
                    )));
                }
            }
            e.deliveries.insert(receiver.clone(), d);
        }
    }
    // Property 5.
    for s in input.statuses {
        let node = format!("node {}", s.node);
        let violation = |detail: String| Violation {
            episode: 0,
            receiver: node.clone(),
            detail,
        };
        if let Some(e) = &s.error {
            r.status_violations
                .push(violation(format!("no notifier status: {e}")));
            continue;
        }
        if !s.given_up.is_empty() {
            r.status_violations.push(violation(format!(
                "{} given up: {}",
                s.given_up.len(),
                serde_json::Value::Array(s.given_up.clone())
            )));
        }
        if !s.pending.is_empty() {
            r.status_violations.push(violation(format!(
                "{} pending: {}",
                s.pending.len(),
                serde_json::Value::Array(s.pending.clone())
            )));
        }
    }
    r.episodes = episodes.into_values().collect();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifier::{
        AlertPost, Answer, ConfigSet, EpisodePlan, ReceivedAlert, SilencePost, alert_name,
    };

    const T0: i64 = 1_700_000_000_000;
    const HOOKS: [&str; 2] = ["hook-a", "hook-b"];

    fn post(episode: u32, kind: PostKind, at: i64, outcome: Outcome) -> AlertPost {
        AlertPost {
            episode,
            kind,
            node: 1,
            invoke_ms: T0 + at,
            complete_ms: T0 + at + 10,
            starts_at_ms: T0,
            ends_at_ms: T0 + at + 240_000,
            outcome,
            detail: String::new(),
        }
    }

    /// Episode `k` fires from `from` (acked 10 ms later, re-posted every second) and is
    /// resolved at `to` (acked).
    fn episode(h: &mut NotifierHistory, k: u32, from: i64, to: i64) {
        h.episodes.push(EpisodePlan {
            episode: k,
            silenced: false,
            hold_ms: (to - from) as u64,
            final_episode: false,
        });
        let mut t = from;
        while t < to {
            h.posts.push(post(k, PostKind::Firing, t, Outcome::Ok));
            t += 1_000;
        }
        h.posts.push(post(k, PostKind::Resolve, to, Outcome::Ok));
    }

    fn history() -> NotifierHistory {
        let mut h = NotifierHistory {
            configs: vec![ConfigSet {
                node: 1,
                invoke_ms: 0,
                complete_ms: 5,
                outcome: Outcome::Ok,
                detail: "200".into(),
            }],
            ..Default::default()
        };
        episode(&mut h, 1, 0, 10_000);
        h
    }

    fn request(hook: &str, k: u32, firing: bool, at: i64, answer: Answer) -> WebhookRequest {
        let status = if firing { "firing" } else { "resolved" };
        WebhookRequest {
            receiver: hook.into(),
            arrival_ms: T0 + at,
            from: "10.0.0.1".into(),
            answer,
            group_key: format!(
                "{{}}/{{jepsen=\"notifier\"}}:{{alertname=\"{}\"}}",
                alert_name(k)
            ),
            status: status.into(),
            alerts: vec![ReceivedAlert {
                labels: BTreeMap::from([
                    ("alertname".to_string(), alert_name(k)),
                    (EPISODE_LABEL.to_string(), k.to_string()),
                    ("jepsen".to_string(), "notifier".to_string()),
                ]),
                status: status.into(),
                fingerprint: format!("{k:016x}"),
            }],
            malformed: None,
        }
    }

    /// Episode 1 delivered firing at 1.2 s and resolved at 11 s to both receivers.
    fn delivered_both() -> Vec<WebhookRequest> {
        HOOKS
            .iter()
            .flat_map(|hk| {
                [
                    request(hk, 1, true, 1_200, Answer::Ok),
                    request(hk, 1, false, 11_000, Answer::Ok),
                ]
            })
            .collect()
    }

    fn status(node: u32) -> NodeStatus {
        NodeStatus {
            node,
            error: None,
            configured: true,
            pending: vec![],
            given_up: vec![],
            totals: serde_json::Value::Null,
        }
    }

    fn check(
        h: &NotifierHistory,
        requests: &[WebhookRequest],
        disturbed: &[(i64, i64)],
    ) -> NotifierCheck {
        let receivers: Vec<String> = HOOKS.iter().map(|s| s.to_string()).collect();
        let disturbed: Vec<(i64, i64)> = disturbed.iter().map(|(a, b)| (T0 + a, T0 + b)).collect();
        check_notifier(&CheckInput {
            history: h,
            requests,
            receivers: &receivers,
            disturbed: &disturbed,
            heal_ms: T0 + 20_000,
            origin_ms: T0,
            statuses: &[status(1), status(2)],
        })
    }

    #[test]
    fn a_delivered_and_resolved_episode_passes() {
        let r = check(&history(), &delivered_both(), &[]);
        assert!(r.valid(), "{r:#?}");
        assert_eq!((r.expected_firings, r.expected_firings_delivered), (2, 2));
        assert_eq!((r.deliveries_firing, r.deliveries_resolved), (2, 2));
        assert_eq!(r.duplicates, 0);
        let e = &r.episodes[0];
        assert!(e.expected);
        assert_eq!(e.undisturbed_ms, 10_000 - 10);
        assert_eq!(e.deliveries["hook-a"].first_firing_ms, Some(T0 + 1_200));
    }

    #[test]
    fn a_missing_firing_is_a_violation_unless_disturbed() {
        // hook-b only ever answered 500.
        let mut reqs = delivered_both();
        reqs.retain(|q| q.receiver == "hook-a");
        reqs.push(request("hook-b", 1, true, 1_200, Answer::Error));
        let r = check(&history(), &reqs, &[]);
        assert_eq!(r.undelivered_firing.len(), 1, "{r:#?}");
        assert_eq!(r.undelivered_firing[0].receiver, "hook-b");
        assert!(r.undelivered_firing[0].detail.contains("1 failed"));
        assert!(!r.valid());
        // Disturbed all along but for 3 s: nothing was required of hook-b.
        let r = check(&history(), &reqs, &[(-1_000, 3_000), (6_000, 12_000)]);
        assert!(!r.episodes[0].expected);
        assert!(r.valid(), "{r:#?}");
        // ... but the miss is reported.
        assert_eq!((r.acked_firings, r.acked_firings_delivered), (2, 1));
        assert_eq!(r.unrequired_misses.len(), 1);
        // A delivery after the bound is late.
        let mut late = reqs.clone();
        late.push(request("hook-b", 1, true, 85_000, Answer::Ok));
        late.push(request("hook-b", 1, false, 85_100, Answer::Ok));
        let r = check(&history(), &late, &[]);
        assert!(
            r.undelivered_firing[0].detail.contains("after the bound"),
            "{r:#?}"
        );
        assert!(r.unresolved.len() == 1, "{r:#?}");
    }

    #[test]
    fn a_firing_page_must_be_followed_by_a_resolved_one() {
        // Not expected (disturbed), but delivered firing to hook-a: it must be resolved there.
        let reqs = vec![request("hook-a", 1, true, 9_500, Answer::Ok)];
        let r = check(&history(), &reqs, &[(-1_000, 30_000)]);
        assert_eq!(r.unresolved.len(), 1, "{r:#?}");
        assert_eq!(r.unresolved[0].receiver, "hook-a");
        // A resolved delivery before the resolving post does not count; a firing one after
        // the resolved one leaves the receiver paging.
        let reqs = vec![
            request("hook-a", 1, false, 5_000, Answer::Ok),
            request("hook-a", 1, true, 9_500, Answer::Ok),
            request("hook-a", 1, false, 10_500, Answer::Ok),
            request("hook-a", 1, true, 12_000, Answer::Ok),
        ];
        let r = check(&history(), &reqs, &[(-1_000, 30_000)]);
        assert!(r.unresolved.is_empty(), "{r:#?}");
        assert_eq!(r.firing_after_resolved.len(), 1);
        assert!(!r.valid());
    }

    #[test]
    fn a_silenced_episode_must_never_be_sent() {
        let mut h = history();
        episode(&mut h, 2, 12_000, 15_000);
        h.episodes[1].silenced = true;
        h.silences.push(SilencePost {
            episode: 2,
            node: 2,
            invoke_ms: T0 + 11_800,
            complete_ms: T0 + 11_900,
            outcome: Outcome::Ok,
            detail: "200".into(),
        });
        let r = check(&h, &delivered_both(), &[]);
        assert!(r.valid(), "{r:#?}");
        assert_eq!(r.episodes[1].silence, SilenceState::Acked);
        assert!(!r.episodes[1].expected);
        let mut reqs = delivered_both();
        reqs.push(request("hook-b", 2, true, 13_200, Answer::Hang));
        let r = check(&h, &reqs, &[]);
        assert_eq!(r.silenced_sent.len(), 1, "{r:#?}");
        assert!(!r.valid());
        // An indeterminate silence: nothing is required, nothing forbidden.
        h.silences[0].outcome = Outcome::Indeterminate;
        let r = check(&h, &reqs, &[]);
        assert_eq!(r.episodes[1].silence, SilenceState::Maybe);
        assert!(r.valid(), "{r:#?}");
    }

    #[test]
    fn duplicates_are_counted_per_group_key_and_status() {
        let mut reqs = delivered_both();
        reqs.push(request("hook-a", 1, true, 1_300, Answer::Ok));
        reqs.push(request("hook-a", 1, true, 1_400, Answer::Ok));
        reqs.push(request("hook-b", 1, false, 11_100, Answer::Ok));
        // Failed attempts are no deliveries.
        reqs.push(request("hook-b", 1, false, 11_050, Answer::Error));
        let r = check(&history(), &reqs, &[]);
        assert!(r.valid(), "{r:#?}");
        assert_eq!(r.duplicates, 3);
        assert_eq!(r.deliveries(), 7);
        assert!((r.duplicates_per_100() - 300.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn phantoms_malformed_requests_and_leftovers_fail() {
        let mut reqs = delivered_both();
        reqs.push(request("hook-a", 9, true, 2_000, Answer::Ok));
        let mut bad = request("hook-b", 1, true, 2_000, Answer::Error);
        bad.alerts.clear();
        bad.malformed = Some("EOF".into());
        reqs.push(bad);
        let r = check(&history(), &reqs, &[]);
        assert_eq!(r.phantom_alerts.len(), 1);
        assert_eq!(r.malformed.len(), 1);
        assert!(!r.valid());
        let receivers: Vec<String> = HOOKS.iter().map(|s| s.to_string()).collect();
        let mut left = status(3);
        left.pending.push(serde_json::json!({"id": 4}));
        let mut gone = status(4);
        gone.error = Some("connection refused".into());
        let r = check_notifier(&CheckInput {
            history: &history(),
            requests: &delivered_both(),
            receivers: &receivers,
            disturbed: &[],
            heal_ms: T0 + 20_000,
            origin_ms: T0,
            statuses: &[status(1), left, gone],
        });
        assert_eq!(r.status_violations.len(), 2, "{r:#?}");
        assert!(!r.valid());
    }
}
