//! The alert state machine driven through `evaluate`: pending, firing, resolved, `for`,
//! `keep_firing_for`, retention, labels, `limit`, and the `ALERTS` samples.

use super::*;

#[test]
fn pending_then_firing_then_resolved_with_for() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 2 * MIN)]);
    h.set("up == 0", vec![up("a")]);

    let it = h.run(0);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(a.labels, ls(&[("alertname", "Down"), ("instance", "a")]));
    assert_eq!(a.active_at_ms, 0);
    assert!(it.to_send.is_empty(), "pending alerts are never sent");
    assert_eq!(h.state.rules[0].state(), AlertState::Pending);

    let it = h.run(MIN);
    assert_eq!(h.alerts(0)[0].state, AlertState::Pending);
    assert!(it.to_send.is_empty());

    let it = h.run(2 * MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!((a.active_at_ms, a.fired_at_ms), (0, Some(2 * MIN)));
    assert_eq!(it.to_send.len(), 1);
    assert_eq!(it.to_send[0].starts_at_ms, 2 * MIN);
    assert_eq!(it.to_send[0].ends_at_ms, 2 * MIN + 4 * MIN);
    assert_eq!(h.state.firing_alerts().count(), 1);
    // The pending series went stale when the alert fired.
    assert_eq!(stale_series(&it), vec![alerts_series("pending", "a")]);

    h.set("up == 0", vec![]);
    let it = h.run(3 * MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Inactive);
    assert_eq!(a.resolved_at_ms, Some(3 * MIN));
    assert_eq!(h.state.rules[0].state(), AlertState::Inactive);
    assert_eq!(h.state.active_alerts().count(), 0);
    assert_eq!(it.to_send.len(), 1, "resolved alerts are sent at once");
    assert_eq!(it.to_send[0].starts_at_ms, 2 * MIN);
    assert_eq!(it.to_send[0].ends_at_ms, 3 * MIN);
    assert!(samples_of(&it, "ALERTS").iter().all(|s| is_stale_nan(s.2)));
    assert_eq!(
        stale_series(&it),
        vec![alerts_series("firing", "a"), for_state_series("a")]
    );
}

#[test]
fn for_zero_fires_at_first_evaluation() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 0)]);
    h.set("up == 0", vec![up("a")]);
    let it = h.run(5 * MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.fired_at_ms, Some(5 * MIN));
    assert_eq!(it.to_send.len(), 1);
    assert_eq!(
        samples_of(&it, "ALERTS"),
        vec![(alerts_series("firing", "a"), 5 * MIN, 1.0)]
    );
}

#[test]
fn flapping_pending_alert_is_dropped_and_restarts() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 5 * MIN)]);
    h.set("up == 0", vec![up("a")]);
    h.run(0);
    h.run(MIN);
    assert_eq!(h.alerts(0)[0].active_at_ms, 0);

    h.set("up == 0", vec![]);
    let it = h.run(2 * MIN);
    assert!(
        h.alerts(0).is_empty(),
        "a pending alert not returned is dropped"
    );
    assert!(it.to_send.is_empty(), "and never sent");

    h.set("up == 0", vec![up("a")]);
    h.run(3 * MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(a.active_at_ms, 3 * MIN, "the `for` clock restarts");
    h.run(7 * MIN);
    assert_eq!(h.alerts(0)[0].state, AlertState::Pending);
    h.run(8 * MIN);
    assert_eq!(h.alerts(0)[0].state, AlertState::Firing);
}

#[test]
fn keep_firing_for_holds_a_cleared_alert() {
    let mut rule = alert_rule("Down", "up == 0", 0);
    rule.keep_firing_for = Some(PromDuration(2 * MIN));
    let mut h = Harness::new(vec![rule]);
    h.set("up == 0", vec![up("a")]);
    h.run(0);

    h.set("up == 0", vec![]);
    let it = h.run(MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.keep_firing_since_ms, Some(MIN));
    assert_eq!(
        samples_of(&it, "ALERTS").len(),
        1,
        "still written while held"
    );
    assert!(stale_series(&it).is_empty());

    // Returned again: the hold is reset.
    h.set("up == 0", vec![up("a")]);
    h.run(2 * MIN);
    assert_eq!(h.alerts(0)[0].keep_firing_since_ms, None);
    assert_eq!(h.alerts(0)[0].active_at_ms, 0);

    h.set("up == 0", vec![]);
    h.run(3 * MIN);
    h.run(4 * MIN);
    assert_eq!(h.alerts(0)[0].state, AlertState::Firing, "held 1 m < 2 m");
    let it = h.run(5 * MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Inactive, "held 2 m: resolves");
    assert_eq!(a.resolved_at_ms, Some(5 * MIN));
    assert_eq!(it.to_send[0].ends_at_ms, 5 * MIN);
}

#[test]
fn resolved_alert_is_kept_15_minutes_and_resent() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 0)]);
    h.set("up == 0", vec![up("a")]);
    h.run(0);
    h.set("up == 0", vec![]);
    let it = h.run(MIN);
    assert_eq!(it.to_send.len(), 1);
    assert_eq!(it.to_send[0].ends_at_ms, MIN);

    // Re-sent as resolved every time the resend delay has passed.
    assert!(
        h.run(2 * MIN).to_send.is_empty(),
        "1 m since sent: not more"
    );
    let it = h.run(3 * MIN);
    assert_eq!(it.to_send.len(), 1);
    assert_eq!(it.to_send[0].ends_at_ms, MIN, "ends at its resolution");

    h.run(16 * MIN);
    assert_eq!(h.alerts(0).len(), 1, "kept 15 m after resolving");
    let it = h.run(16 * MIN + 1);
    assert!(h.alerts(0).is_empty(), "dropped after 15 m");
    assert!(it.to_send.is_empty());
}

#[test]
fn resolved_alert_returned_again_starts_over() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", MIN)]);
    h.set("up == 0", vec![up("a")]);
    h.run(0);
    h.run(MIN);
    h.set("up == 0", vec![]);
    h.run(2 * MIN);
    h.set("up == 0", vec![up("a")]);
    h.run(3 * MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!((a.active_at_ms, a.resolved_at_ms), (3 * MIN, None));
}

#[test]
fn existing_alert_keeps_active_at_and_takes_new_value_and_annotations() {
    let mut rule = alert_rule("High", "load > 1", 10 * MIN);
    rule.annotations = BTreeMap::from([("a".into(), "x".into())]);
    let mut h = Harness::new(vec![rule]);
    h.set("load > 1", vec![(ls(&[("__name__", "load")]), 2.0)]);
    h.run(0);
    h.group.rules[0].annotations = BTreeMap::from([("a".into(), "y".into())]);
    h.set("load > 1", vec![(ls(&[("__name__", "load")]), 3.0)]);
    h.run(MIN);
    let a = &h.alerts(0)[0];
    assert_eq!((a.active_at_ms, a.value), (0, 3.0));
    assert_eq!(a.annotations["a"], "y");
    assert_eq!(a.labels, ls(&[("alertname", "High")]), "`__name__` dropped");
}

#[test]
fn group_and_rule_labels_on_alerts() {
    let mut rule = alert_rule("Down", "up == 0", 0);
    rule.labels = BTreeMap::from([
        ("team".into(), "db".into()),
        ("instance".into(), String::new()),
    ]);
    let mut h = Harness::new(vec![rule]);
    h.group.labels = BTreeMap::from([
        ("team".into(), "infra".into()),
        ("region".into(), "eu".into()),
    ]);
    h.set("up == 0", vec![up("a")]);
    let it = h.run(0);
    let want = ls(&[("alertname", "Down"), ("region", "eu"), ("team", "db")]);
    assert_eq!(
        h.alerts(0)[0].labels,
        want,
        "rule labels win; empty removes"
    );
    assert_eq!(
        samples_of(&it, "ALERTS")[0].0,
        ls(&[
            ("__name__", "ALERTS"),
            ("alertname", "Down"),
            ("alertstate", "firing"),
            ("region", "eu"),
            ("team", "db"),
        ])
    );
}

#[test]
fn duplicate_alert_label_sets_fail_the_rule() {
    let mut h = Harness::new(vec![alert_rule("Down", "x", 0)]);
    h.set(
        "x",
        vec![
            (ls(&[("__name__", "a"), ("i", "1")]), 1.0),
            (ls(&[("__name__", "b"), ("i", "1")]), 1.0),
        ],
    );
    let it = h.run(0);
    let r = &h.state.rules[0];
    assert_eq!(r.health, Health::Err);
    assert_eq!(
        r.last_error,
        "vector contains metrics with the same labelset after applying alert labels"
    );
    assert!(r.alerts.is_empty());
    assert!(it.samples.is_empty());
}

#[test]
fn limit_exceeded_drops_the_rules_alerts() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 0)]);
    h.group.limit = 1;
    h.set("up == 0", vec![up("a")]);
    assert_eq!(h.run(0).to_send.len(), 1);
    h.set("up == 0", vec![up("a"), up("b")]);
    let it = h.run(MIN);
    let r = &h.state.rules[0];
    assert_eq!(r.health, Health::Err);
    assert_eq!(r.last_error, "exceeded limit of 1 with 2 alerts");
    assert!(r.alerts.is_empty(), "all dropped, as Prometheus does");
    assert!(it.to_send.is_empty());
    assert!(samples_of(&it, "ALERTS").is_empty());
    assert_eq!(h.state.failed_evaluations, 1);

    // Back under the limit: a new alert.
    h.set("up == 0", vec![up("a")]);
    let it = h.run(2 * MIN);
    assert_eq!(h.state.rules[0].health, Health::Ok);
    assert_eq!(h.alerts(0)[0].active_at_ms, 2 * MIN);
    assert_eq!(it.to_send.len(), 1);
}

#[test]
fn limit_counts_alerts_held_by_keep_firing_for() {
    let mut rule = alert_rule("Down", "up == 0", 0);
    rule.keep_firing_for = Some(PromDuration(10 * MIN));
    let mut h = Harness::new(vec![rule]);
    h.group.limit = 1;
    h.set("up == 0", vec![up("a")]);
    h.run(0);
    h.set("up == 0", vec![up("b")]);
    h.run(MIN);
    assert_eq!(
        h.state.rules[0].last_error,
        "exceeded limit of 1 with 2 alerts"
    );
}

#[test]
fn alerts_samples_and_query_offset() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 2 * MIN)]);
    h.query_offset_ms = 30_000;
    h.set("up == 0", vec![up("a")]);
    let ts = 1_700_000_000_500;
    let it = h.run(ts);
    assert_eq!(
        h.query.calls.borrow().as_slice(),
        &[("up == 0".to_owned(), ts - 30_000)]
    );
    assert_eq!(
        samples_of(&it, "ALERTS"),
        vec![(alerts_series("pending", "a"), ts - 30_000, 1.0)]
    );
    assert_eq!(
        samples_of(&it, "ALERTS_FOR_STATE"),
        vec![(for_state_series("a"), ts - 30_000, 1_700_000_000.0)],
        "active_at in whole seconds"
    );
    assert_eq!(
        h.alerts(0)[0].active_at_ms,
        ts,
        "state uses the evaluation time"
    );
}
