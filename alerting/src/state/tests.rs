//! The alert state machine on its own (Prometheus 3.5 `AlertingRule.Eval` after the query,
//! `Alert.needsSending`, `sendAlerts`).

use super::*;

const MIN: i64 = 60_000;

fn labels(instance: &str) -> Labels {
    Labels::from_pairs(&[("alertname", "A"), ("instance", instance)])
}

fn found(instances: &[&str]) -> BTreeMap<Labels, Observation> {
    instances
        .iter()
        .map(|i| {
            let seen = Observation {
                annotations: BTreeMap::new(),
                value: 1.0,
            };
            (labels(i), seen)
        })
        .collect()
}

fn at(ts_ms: i64, for_ms: i64) -> Transition {
    Transition {
        ts_ms,
        for_ms,
        keep_firing_for_ms: 0,
        limit: 0,
    }
}

fn alert(state: AlertState) -> Alert {
    let mut a = Alert::pending(labels("a"), BTreeMap::new(), 1.0, 0);
    a.state = state;
    a
}

#[test]
fn rule_state_is_the_most_severe() {
    let mut r = RuleState::new("A{}");
    assert_eq!(r.state(), AlertState::Inactive);
    assert_eq!(r.state().as_str(), "inactive");
    r.alerts = vec![alert(AlertState::Inactive), alert(AlertState::Pending)];
    assert_eq!(r.state(), AlertState::Pending);
    r.alerts.push(alert(AlertState::Firing));
    assert_eq!(r.state(), AlertState::Firing);
    assert_eq!(r.active_alerts().count(), 2);
    assert_eq!(r.firing_alerts().count(), 1);
}

#[test]
fn group_helpers() {
    let mut firing = RuleState::new("A{}");
    firing.health = Health::Ok;
    firing.alerts = vec![alert(AlertState::Firing), alert(AlertState::Inactive)];
    let mut pending = RuleState::new("B{}");
    pending.health = Health::Ok;
    pending.alerts = vec![alert(AlertState::Pending)];
    let mut g = GroupState {
        rules: vec![firing, pending],
        ..GroupState::default()
    };
    assert_eq!(g.firing_alerts().count(), 1);
    assert_eq!(g.active_alerts().count(), 2);
    assert_eq!(g.rule("B{}").map(|r| r.alerts.len()), Some(1));
    assert!(g.rule("C{}").is_none());
    assert_eq!(g.health(), Health::Ok);
    g.rules[1].health = Health::Err;
    assert_eq!(g.health(), Health::Err);
    g.rules[1].health = Health::Unknown;
    assert_eq!(g.health(), Health::Unknown);
}

#[test]
fn alerts_stay_in_label_order() {
    let mut r = RuleState::new("A{}");
    r.advance(found(&["c", "a", "b"]), &at(0, MIN)).unwrap();
    let order: Vec<_> = r.alerts.iter().map(|a| a.labels.get("instance")).collect();
    assert_eq!(order, vec![Some("a"), Some("b"), Some("c")]);
}

#[test]
fn pending_fires_once_active_for_long_enough() {
    let mut r = RuleState::new("A{}");
    r.advance(found(&["a"]), &at(0, 2 * MIN)).unwrap();
    r.advance(found(&["a"]), &at(2 * MIN - 1, 2 * MIN)).unwrap();
    assert_eq!(r.alerts[0].state, AlertState::Pending);
    r.advance(found(&["a"]), &at(2 * MIN, 2 * MIN)).unwrap();
    assert_eq!(r.alerts[0].state, AlertState::Firing);
    assert_eq!(r.alerts[0].fired_at_ms, Some(2 * MIN));
}

#[test]
fn keep_firing_since_is_set_on_first_miss_only() {
    let mut r = RuleState::new("A{}");
    let hold = Transition {
        keep_firing_for_ms: 3 * MIN,
        ..at(0, 0)
    };
    r.advance(found(&["a"]), &hold).unwrap();
    for t in 1..=3 {
        let step = Transition {
            ts_ms: t * MIN,
            ..hold
        };
        r.advance(found(&[]), &step).unwrap();
        assert_eq!(r.alerts[0].keep_firing_since_ms, Some(MIN));
    }
    assert_eq!(r.alerts[0].state, AlertState::Firing);
    let step = Transition {
        ts_ms: 4 * MIN,
        ..hold
    };
    r.advance(found(&[]), &step).unwrap();
    assert_eq!(r.alerts[0].state, AlertState::Inactive);
}

#[test]
fn keep_firing_for_does_not_hold_pending_alerts() {
    let mut r = RuleState::new("A{}");
    let hold = Transition {
        keep_firing_for_ms: 10 * MIN,
        ..at(0, 5 * MIN)
    };
    r.advance(found(&["a"]), &hold).unwrap();
    let step = Transition { ts_ms: MIN, ..hold };
    r.advance(found(&[]), &step).unwrap();
    assert!(r.alerts.is_empty());
}

#[test]
fn limit_counts_pending_and_firing_not_resolved() {
    let mut r = RuleState::new("A{}");
    let limited = Transition {
        limit: 2,
        ..at(0, 0)
    };
    r.advance(found(&["a", "b"]), &limited).unwrap();
    // a resolves, c is new: 2 active, 1 resolved.
    let next = Transition {
        ts_ms: MIN,
        ..limited
    };
    r.advance(found(&["b", "c"]), &next).unwrap();
    assert_eq!(r.alerts.len(), 3);
    let next = Transition {
        ts_ms: 2 * MIN,
        ..limited
    };
    assert_eq!(
        r.advance(found(&["a", "b", "c"]), &next),
        Err("exceeded limit of 2 with 3 alerts".into())
    );
    assert!(r.alerts.is_empty());
}

#[test]
fn needs_sending() {
    let pending = alert(AlertState::Pending);
    assert!(!pending.needs_sending(10 * MIN, MIN));

    let mut firing = alert(AlertState::Firing);
    assert!(firing.needs_sending(0, MIN), "never sent");
    firing.last_sent_at_ms = Some(0);
    assert!(!firing.needs_sending(MIN, MIN));
    assert!(firing.needs_sending(MIN + 1, MIN));

    let mut resolved = alert(AlertState::Inactive);
    resolved.resolved_at_ms = Some(MIN);
    resolved.last_sent_at_ms = Some(MIN - 1);
    assert!(resolved.needs_sending(MIN, MIN), "resolved since last sent");
    resolved.last_sent_at_ms = Some(MIN);
    assert!(!resolved.needs_sending(MIN + 1, MIN));
    assert!(resolved.needs_sending(2 * MIN + 1, MIN));
}

#[test]
fn take_due_marks_sent_and_sets_valid_until() {
    let mut r = RuleState::new("A{}");
    r.alerts = vec![alert(AlertState::Pending), alert(AlertState::Firing)];
    let due = r.take_due(MIN, MIN, 2 * MIN);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].last_sent_at_ms, Some(MIN));
    assert_eq!(due[0].valid_until_ms, Some(MIN + 8 * MIN));
    assert_eq!(due[0].ends_at_ms(), Some(9 * MIN));
    assert_eq!(r.alerts[1].last_sent_at_ms, Some(MIN));
    assert_eq!(r.alerts[0].last_sent_at_ms, None);
    assert!(r.take_due(2 * MIN, MIN, 2 * MIN).is_empty());
}

#[test]
fn state_round_trips_through_serde() {
    let mut r = RuleState::new("A{}");
    r.advance(found(&["a"]), &at(0, 0)).unwrap();
    r.take_due(0, MIN, MIN);
    let g = GroupState {
        rules: vec![r],
        iterations: 1,
        ..GroupState::default()
    };
    let json = serde_json::to_string(&g).unwrap();
    assert_eq!(serde_json::from_str::<GroupState>(&json).unwrap(), g);
}
