//! The notifier's state driven by commands, as the ruler group applies them: Alertmanager's
//! timing (group_wait, group_interval, repeat_interval), the notification log's decisions,
//! silences, inhibition, time intervals, routing with `continue`, and the outbox's
//! at-least-once bookkeeping.

use std::collections::BTreeMap;

use tidemark_storage::Labels;

use super::*;
use crate::notify::config::parse;
use crate::notify::matcher::parse_matchers;

const S: i64 = 1_000;
const M: i64 = 60 * S;
/// A start far from the epoch, so that times read like real ones.
const T0: i64 = 1_800_000_000_000;

const CONFIG: &str = r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
    - matchers: ['team="db"']
      receiver: db
      group_by: ['...']
      mute_time_intervals: [weekends]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
receivers:
  - name: team
    webhook_configs: [{url: 'http://team.example/hook'}]
  - name: pager
    webhook_configs: [{url: 'http://pager.example/hook', send_resolved: false}]
  - name: db
    webhook_configs: [{url: 'http://db.example/hook'}]
time_intervals:
  - name: weekends
    time_intervals: [{weekdays: ['saturday', 'sunday']}]
"#;

/// Sets the configuration `yaml` (which must be valid) at `at`, as the API would.
fn set_config(s: &mut NotifierState, at: i64, yaml: &str) {
    let config = parse(yaml).expect("the test configuration is valid");
    s.apply(&NotifierCommand::SetConfig {
        now_ms: at,
        config: Some(Box::new(StoredConfig {
            yaml: yaml.into(),
            config,
            template_files: BTreeMap::new(),
            source: ConfigSource::Api { by: "test".into() },
            set_at_ms: at,
        })),
    });
}

fn state() -> NotifierState {
    let mut s = NotifierState::default();
    set_config(&mut s, T0, CONFIG);
    s
}

/// An alert as Prometheus sends one: started at `start`, ending 4 minutes after `at` unless
/// `resolved_at` is given.
fn alert(labels: &[(&str, &str)], start: i64, at: i64, resolved_at: Option<i64>) -> Alert {
    Alert {
        labels: Labels::from_pairs(labels),
        annotations: BTreeMap::new(),
        starts_at_ms: start,
        ends_at_ms: resolved_at.unwrap_or(at + 4 * M),
        generator_url: String::new(),
        updated_at_ms: at,
        timeout: false,
    }
}

fn put(s: &mut NotifierState, at: i64, alerts: Vec<Alert>) {
    s.apply(&NotifierCommand::PutAlerts { now_ms: at, alerts });
}

fn tick(s: &mut NotifierState, at: i64) -> Vec<Notification> {
    let before = s.next_id;
    s.apply(&NotifierCommand::Tick { now_ms: at });
    s.outbox.range(before..).map(|(_, n)| n.clone()).collect()
}

fn deliver(s: &mut NotifierState, at: i64, sent: &[Notification]) {
    s.apply(&NotifierCommand::Delivered {
        now_ms: at,
        ids: sent.iter().map(|n| n.id).collect(),
    });
}

/// (receiver, alertnames with their status) of each notification.
fn summary(sent: &[Notification], at: i64) -> Vec<(String, Vec<String>)> {
    sent.iter()
        .map(|n| {
            let alerts = n
                .alerts
                .iter()
                .map(|a| {
                    let name = a.labels.get("alertname").unwrap_or("").to_string();
                    if a.resolved_at(at) {
                        format!("{name}:resolved")
                    } else {
                        name
                    }
                })
                .collect();
            (n.nflog.receiver.clone(), alerts)
        })
        .collect()
}

fn names(v: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    v.iter()
        .map(|(r, a)| (r.to_string(), a.iter().map(|s| s.to_string()).collect()))
        .collect()
}

#[test]
fn a_group_waits_then_notifies_at_group_intervals_and_repeats() {
    let mut s = state();
    put(
        &mut s,
        T0,
        vec![alert(&[("alertname", "Down"), ("i", "1")], T0, T0, None)],
    );
    assert_eq!(s.next_flush_ms(), Some(T0 + 30 * S));
    assert!(tick(&mut s, T0 + 29 * S).is_empty(), "group_wait not over");
    let sent = tick(&mut s, T0 + 30 * S);
    assert_eq!(summary(&sent, T0 + 30 * S), names(&[("team", &["Down"])]));
    assert_eq!(sent[0].nflog.group_key, r#"{}:{alertname="Down"}"#);
    deliver(&mut s, T0 + 31 * S, &sent);

    // A second alert of the group waits for the group interval, then both go.
    put(
        &mut s,
        T0 + M,
        vec![alert(
            &[("alertname", "Down"), ("i", "2")],
            T0 + M,
            T0 + M,
            None,
        )],
    );
    assert!(tick(&mut s, T0 + 2 * M).is_empty());
    let at = T0 + 30 * S + 5 * M;
    put(
        &mut s,
        at,
        vec![
            alert(&[("alertname", "Down"), ("i", "1")], T0, at, None),
            alert(&[("alertname", "Down"), ("i", "2")], T0 + M, at, None),
        ],
    );
    let sent = tick(&mut s, at);
    assert_eq!(summary(&sent, at), names(&[("team", &["Down", "Down"])]));
    deliver(&mut s, at, &sent);

    // Nothing changes: nothing is sent until the repeat interval has passed (the alerts are
    // kept firing by their sender).
    let mut t = at;
    let mut repeats = Vec::new();
    while t < at + 4 * 3_600_000 + 10 * M {
        t += 5 * M;
        put(
            &mut s,
            t,
            vec![
                alert(&[("alertname", "Down"), ("i", "1")], T0, t, None),
                alert(&[("alertname", "Down"), ("i", "2")], T0 + M, t, None),
            ],
        );
        let sent = tick(&mut s, t);
        deliver(&mut s, t, &sent);
        repeats.extend(sent.iter().map(|_| t - at));
    }
    assert_eq!(
        repeats,
        [4 * 3_600_000 + 5 * M],
        "one repeat, at the first flush after 4h"
    );
}

#[test]
fn a_resolution_is_sent_once_and_the_group_goes_when_empty() {
    let mut s = state();
    put(
        &mut s,
        T0,
        vec![alert(&[("alertname", "Down")], T0, T0, None)],
    );
    let sent = tick(&mut s, T0 + 30 * S);
    deliver(&mut s, T0 + 31 * S, &sent);
    let end = T0 + 2 * M;
    put(
        &mut s,
        end,
        vec![alert(&[("alertname", "Down")], T0, end, Some(end))],
    );
    let at = T0 + 30 * S + 5 * M;
    let sent = tick(&mut s, at);
    assert_eq!(summary(&sent, at), names(&[("team", &["Down:resolved"])]));
    deliver(&mut s, at, &sent);
    assert!(s.groups.is_empty(), "an empty group goes");
    assert!(tick(&mut s, at + 5 * M).is_empty());
    // The resolved alert, in no group, is forgotten.
    assert!(s.alerts.is_empty());
}

#[test]
fn an_alert_that_started_long_ago_skips_group_wait() {
    let mut s = state();
    put(
        &mut s,
        T0,
        vec![alert(&[("alertname", "Old")], T0 - 10 * M, T0, None)],
    );
    assert_eq!(tick(&mut s, T0).len(), 1);
}

#[test]
fn routes_with_continue_notify_every_receiver_and_send_resolved_is_per_integration() {
    let mut s = state();
    // `continue` on the first route: the next sibling is tried too (the root, whose
    // children matched, is not taken).
    let page = [("alertname", "Burn"), ("severity", "page"), ("team", "db")];
    put(&mut s, T0, vec![alert(&page, T0, T0, None)]);
    let sent = tick(&mut s, T0 + 30 * S);
    assert_eq!(
        summary(&sent, T0 + 30 * S),
        names(&[("pager", &["Burn"]), ("db", &["Burn"])])
    );
    deliver(&mut s, T0 + 30 * S, &sent);
    let end = T0 + M;
    put(&mut s, end, vec![alert(&page, T0, end, Some(end))]);
    let at = T0 + 30 * S + 5 * M;
    let sent = tick(&mut s, at);
    // The pager does not send resolutions: its log is cleared without a notification.
    assert_eq!(summary(&sent, at), names(&[("db", &["Burn:resolved"])]));
    assert!(
        s.nflog
            .iter()
            .any(|(k, e)| k.receiver == "pager" && e.firing.is_empty())
    );
}

#[test]
fn silences_mute_while_active_and_their_end_lets_the_alert_through() {
    let mut s = state();
    let silence = Silence {
        id: "s1".into(),
        matchers: parse_matchers(r#"alertname="Down""#).unwrap().0,
        starts_at_ms: T0,
        ends_at_ms: T0 + 10 * M,
        updated_at_ms: 0,
        created_by: "ops".into(),
        comment: "maintenance".into(),
        annotations: BTreeMap::new(),
    };
    s.apply(&NotifierCommand::SetSilence {
        now_ms: T0,
        silence,
        new_id: "unused".into(),
    });
    put(
        &mut s,
        T0,
        vec![alert(&[("alertname", "Down")], T0, T0, None)],
    );
    assert!(tick(&mut s, T0 + 30 * S).is_empty());
    let mut t = T0 + 30 * S;
    let mut first = None;
    while first.is_none() && t < T0 + 30 * M {
        t += 5 * M;
        put(
            &mut s,
            t,
            vec![alert(&[("alertname", "Down")], T0, t, None)],
        );
        if !tick(&mut s, t).is_empty() {
            first = Some(t);
        }
    }
    assert_eq!(
        first,
        Some(T0 + 30 * S + 10 * M),
        "the first flush after the silence ends"
    );
    // Expiring is idempotent and keeps the silence for its retention.
    s.apply(&NotifierCommand::ExpireSilence {
        now_ms: t,
        id: "s1".into(),
        by: "ops".into(),
    });
    assert_eq!(s.silences["s1"].ends_at_ms, T0 + 10 * M);
}

#[test]
fn a_firing_critical_alert_inhibits_the_warning_of_the_same_name() {
    let mut s = state();
    put(
        &mut s,
        T0,
        vec![
            alert(
                &[
                    ("alertname", "Disk"),
                    ("severity", "warning"),
                    ("host", "a"),
                ],
                T0,
                T0,
                None,
            ),
            alert(
                &[
                    ("alertname", "Disk"),
                    ("severity", "critical"),
                    ("host", "b"),
                ],
                T0,
                T0,
                None,
            ),
            alert(
                &[("alertname", "Cpu"), ("severity", "warning")],
                T0,
                T0,
                None,
            ),
        ],
    );
    let sent = tick(&mut s, T0 + 30 * S);
    let mut got: Vec<String> = sent
        .iter()
        .flat_map(|n| n.alerts.iter())
        .map(|a| {
            format!(
                "{}/{}",
                a.labels.get("alertname").unwrap(),
                a.labels.get("severity").unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, ["Cpu/warning", "Disk/critical"]);
}

#[test]
fn a_mute_time_interval_holds_notifications_back() {
    let mut s = state();
    // T0 is a Friday at 08:00 UTC: noon the next day is a Saturday.
    let saturday = T0 + 28 * 3_600_000;
    put(
        &mut s,
        saturday,
        vec![alert(
            &[("alertname", "Slow"), ("team", "db")],
            saturday,
            saturday,
            None,
        )],
    );
    assert!(
        tick(&mut s, saturday + 30 * S).is_empty(),
        "muted at weekends"
    );
    let monday = saturday + 2 * 24 * 3_600_000;
    put(
        &mut s,
        monday,
        vec![alert(
            &[("alertname", "Slow"), ("team", "db")],
            saturday,
            monday,
            None,
        )],
    );
    let sent = tick(&mut s, monday);
    assert_eq!(summary(&sent, monday), names(&[("db", &["Slow"])]));
    // group_by ['...']: the group is the alert's whole label set.
    assert_eq!(
        sent[0].nflog.group_key,
        r#"{}/{team="db"}:{alertname="Slow", team="db"}"#
    );
}

#[test]
fn an_undelivered_notification_is_replaced_by_the_next_flush_and_delivered_once() {
    let mut s = state();
    put(
        &mut s,
        T0,
        vec![alert(&[("alertname", "Down")], T0, T0, None)],
    );
    let first = tick(&mut s, T0 + 30 * S);
    s.apply(&NotifierCommand::Failed {
        now_ms: T0 + 31 * S,
        id: first[0].id,
        error: "connection refused".into(),
        retry_at_ms: T0 + 33 * S,
    });
    assert_eq!(s.outbox[&first[0].id].attempts, 1);
    assert_eq!(s.pending().count(), 1);
    // A second alert joins the group before the first notification is delivered.
    let at = T0 + 30 * S + 5 * M;
    put(
        &mut s,
        at,
        vec![
            alert(&[("alertname", "Down")], T0, at, None),
            alert(&[("alertname", "Down"), ("i", "2")], at, at, None),
        ],
    );
    let second = tick(&mut s, at);
    assert_eq!(
        second.len(),
        1,
        "the newer state replaces the undelivered one"
    );
    assert!(matches!(
        s.outbox[&first[0].id].delivery,
        Delivery::Superseded { by, .. } if by == second[0].id
    ));
    assert_eq!(
        s.pending().map(|n| n.id).collect::<Vec<_>>(),
        [second[0].id]
    );
    deliver(&mut s, at + S, &second);
    // A deposed leader's late report of the same delivery is counted, not applied twice.
    deliver(&mut s, at + 2 * S, &second);
    assert_eq!((s.totals.delivered, s.totals.delivered_again), (1, 1));
    assert_eq!(s.pending().count(), 0);
    s.apply(&NotifierCommand::GaveUp {
        now_ms: at + 3 * S,
        id: second[0].id,
        error: "late".into(),
    });
    assert_eq!(
        s.totals.given_up, 0,
        "a delivered notification is not given up"
    );
}

#[test]
fn alerts_posted_again_merge_and_replicas_that_apply_the_same_commands_agree() {
    let cmds = |s: &mut NotifierState| {
        put(s, T0, vec![alert(&[("alertname", "A")], T0, T0, None)]);
        put(
            s,
            T0 + M,
            vec![alert(&[("alertname", "A")], T0 + 30 * S, T0 + M, None)],
        );
        tick(s, T0 + 2 * M);
    };
    let (mut a, mut b) = (state(), state());
    cmds(&mut a);
    cmds(&mut b);
    assert_eq!(a, b);
    let held = a.alerts.values().next().unwrap();
    assert_eq!(held.starts_at_ms, T0, "the earliest start is kept");
    assert_eq!(held.ends_at_ms, T0 + 5 * M);
}

#[test]
fn the_clock_never_goes_back_and_a_new_configuration_regroups() {
    let mut s = state();
    put(&mut s, T0, vec![alert(&[("alertname", "A")], T0, T0, None)]);
    s.apply(&NotifierCommand::Tick { now_ms: T0 - M });
    assert_eq!(s.now_ms, T0);
    set_config(
        &mut s,
        T0 + S,
        "route: {receiver: x, group_wait: 1m}\nreceivers: [{name: x}]",
    );
    let groups: Vec<&AggrGroup> = s.groups.values().collect();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        (groups[0].receiver.as_str(), groups[0].next_flush_ms),
        ("x", T0 + S + M)
    );
    // A receiver without integrations notifies nobody.
    assert!(tick(&mut s, T0 + 2 * M).is_empty());
}

#[test]
fn a_resolution_is_not_lost_when_its_notification_is_replaced_before_delivery() {
    let mut s = state();
    let a = |name: &str, at: i64, end: Option<i64>| {
        alert(&[("alertname", "Db"), ("i", name)], T0, at, end)
    };
    put(&mut s, T0, vec![a("1", T0, None), a("2", T0, None)]);
    let first = tick(&mut s, T0 + 30 * S);
    deliver(&mut s, T0 + 30 * S, &first);
    // Alert 2 resolves; the notification of it fails (the receiver is down).
    let t = T0 + 2 * M;
    put(&mut s, t, vec![a("1", t, None), a("2", t, Some(t))]);
    let at = T0 + 30 * S + 5 * M;
    put(&mut s, at, vec![a("1", at, None)]);
    let resolving = tick(&mut s, at);
    assert_eq!(
        summary(&resolving, at),
        names(&[("team", &["Db", "Db:resolved"])])
    );
    // A third alert joins before it is delivered: the new notification carries the
    // resolution of 2 along with 1 and 3.
    let at2 = at + 5 * M;
    put(&mut s, at2, vec![a("1", at2, None), a("3", at2, None)]);
    let replacing = tick(&mut s, at2);
    assert_eq!(
        summary(&replacing, at2),
        names(&[("team", &["Db", "Db:resolved", "Db"])])
    );
    assert!(matches!(
        s.outbox[&resolving[0].id].delivery,
        Delivery::Superseded { .. }
    ));
}

#[test]
fn alerts_are_ordered_as_alertmanager_orders_them_and_firing_ones_carry_no_end() {
    let mut s = state();
    put(
        &mut s,
        T0,
        vec![
            alert(
                &[("alertname", "X"), ("job", "b"), ("instance", "1")],
                T0,
                T0,
                None,
            ),
            alert(&[("alertname", "X"), ("instance", "0")], T0, T0, None),
            alert(
                &[("alertname", "X"), ("job", "a"), ("instance", "9")],
                T0,
                T0,
                None,
            ),
            alert(
                &[("alertname", "X"), ("job", "a"), ("instance", "2")],
                T0,
                T0,
                None,
            ),
        ],
    );
    let sent = tick(&mut s, T0 + 30 * S);
    let order: Vec<(Option<&str>, Option<&str>)> = sent[0]
        .alerts
        .iter()
        .map(|a| (a.labels.get("job"), a.labels.get("instance")))
        .collect();
    assert_eq!(
        order,
        [
            (Some("a"), Some("2")),
            (Some("a"), Some("9")),
            (Some("b"), Some("1")),
            (None, Some("0"))
        ]
    );
    // Sent much later (the receiver was down), the alerts still say firing.
    assert!(
        sent[0]
            .alerts
            .iter()
            .all(|a| !a.resolved_at(T0 + 24 * 3_600_000))
    );
}

#[test]
fn nested_routes_of_identical_siblings_have_their_own_groups() {
    let yaml = r#"
route:
  receiver: a
  group_wait: 1s
  routes:
    - matchers: ['team="x"']
      receiver: a
      continue: true
      routes: [{matchers: ['sev="page"'], receiver: a}]
    - matchers: ['team="x"']
      receiver: b
      routes: [{matchers: ['sev="page"'], receiver: b}]
receivers:
  - {name: a, webhook_configs: [{url: 'http://a.example/'}]}
  - {name: b, webhook_configs: [{url: 'http://b.example/'}]}
"#;
    let mut s = NotifierState::default();
    set_config(&mut s, T0, yaml);
    put(
        &mut s,
        T0,
        vec![alert(
            &[("alertname", "P"), ("team", "x"), ("sev", "page")],
            T0,
            T0,
            None,
        )],
    );
    let ids: Vec<&str> = s.groups.keys().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            r#"{}/{team="x"}/0/{sev="page"}/0"#,
            r#"{}/{team="x"}/1/{sev="page"}/0"#
        ]
    );
    let sent = tick(&mut s, T0 + S);
    let receivers: Vec<&str> = sent.iter().map(|n| n.nflog.receiver.as_str()).collect();
    assert_eq!(receivers, ["a", "b"]);
}

#[test]
fn a_flush_does_not_queue_what_is_already_on_its_way() {
    let mut s = state();
    put(&mut s, T0, vec![alert(&[("alertname", "Q")], T0, T0, None)]);
    let first = tick(&mut s, T0 + 30 * S);
    assert_eq!(first.len(), 1);
    // Not delivered yet at the next flush, nothing changed: no second notification.
    let at = T0 + 30 * S + 5 * M;
    put(&mut s, at, vec![alert(&[("alertname", "Q")], T0, at, None)]);
    assert!(tick(&mut s, at).is_empty());
    assert_eq!(s.pending().count(), 1);
}

#[test]
fn a_restamped_command_carries_the_leaders_time() {
    // A follower an hour ahead received the post: the leader's time replaces its own, and the
    // end it gave an alert posted without one moves with it.
    let follower = T0 + 60 * M;
    let mut posted = alert(
        &[("alertname", "Skew")],
        follower,
        follower,
        Some(follower + 5 * M),
    );
    posted.timeout = true;
    let cmd = NotifierCommand::PutAlerts {
        now_ms: follower,
        alerts: vec![posted],
    }
    .restamped(T0);
    let NotifierCommand::PutAlerts { now_ms, alerts } = &cmd else {
        unreachable!()
    };
    assert_eq!(*now_ms, T0);
    assert_eq!(
        (alerts[0].updated_at_ms, alerts[0].ends_at_ms),
        (T0, T0 + 5 * M)
    );
    let mut s = state();
    s.apply(&cmd);
    assert_eq!(s.now_ms, T0, "the notifier's clock did not jump");
}

#[test]
fn an_alert_resolving_while_its_firing_notification_waits_is_notified_resolved() {
    // The jepsen workload's finding: the receiver is down when the alert fires, the alert
    // resolves before the firing notification is delivered; the receiver must not be left
    // paged.
    let mut s = state();
    put(
        &mut s,
        T0,
        vec![alert(&[("alertname", "Flap")], T0, T0, None)],
    );
    let firing = tick(&mut s, T0 + 30 * S);
    assert_eq!(firing.len(), 1);
    let end = T0 + M;
    put(
        &mut s,
        end,
        vec![alert(&[("alertname", "Flap")], T0, end, Some(end))],
    );
    let at = T0 + 30 * S + 5 * M;
    let resolving = tick(&mut s, at);
    assert_eq!(
        summary(&resolving, at),
        names(&[("team", &["Flap:resolved"])])
    );
    assert!(s.groups.is_empty());
    // The firing one, already in flight, is delivered after all; the resolution still goes.
    deliver(&mut s, at + S, &firing);
    assert_eq!(
        s.pending().map(|n| n.id).collect::<Vec<_>>(),
        [resolving[0].id]
    );
    deliver(&mut s, at + 2 * S, &resolving);
    assert!(s.nflog.values().all(|e| e.firing.is_empty()));
}
