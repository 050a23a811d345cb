//! The group around its rules: state carried by identity, bookkeeping and timings.

use super::*;

#[test]
fn state_follows_identity_when_rules_are_reordered() {
    let mut h = Harness::new(vec![
        alert_rule("Down", "up == 0", 0),
        alert_rule("Slow", "slow", 0),
    ]);
    h.set("up == 0", vec![up("a")]);
    h.set("slow", vec![(ls(&[("x", "1")]), 1.0)]);
    h.run(0);

    h.group.rules.swap(0, 1);
    let it = h.run(MIN);
    assert_eq!(h.state.rules[0].identity, "Slow{}");
    assert_eq!(h.alerts(0)[0].labels.get("alertname"), Some("Slow"));
    assert_eq!(h.alerts(1)[0].labels.get("alertname"), Some("Down"));
    assert_eq!(h.alerts(1)[0].active_at_ms, 0);
    assert!(stale_series(&it).is_empty());
}

#[test]
fn renamed_rule_starts_over_and_the_old_series_go_stale() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 0)]);
    h.set("up == 0", vec![up("a")]);
    h.run(0);

    h.group.rules[0].alert = Some("Gone".into());
    let it = h.run(MIN);
    let a = &h.alerts(0)[0];
    assert_eq!(h.state.rules[0].identity, "Gone{}");
    assert_eq!(
        (a.active_at_ms, a.labels.get("alertname")),
        (MIN, Some("Gone"))
    );
    assert_eq!(h.state.rules.len(), 1);
    assert_eq!(
        stale_series(&it),
        vec![alerts_series("firing", "a"), for_state_series("a")]
    );
}

#[test]
fn rules_with_the_same_identity_take_prior_states_in_order() {
    let mut h = Harness::new(vec![alert_rule("Dup", "a", 0), alert_rule("Dup", "b", 0)]);
    h.set("a", vec![(ls(&[("s", "a")]), 1.0)]);
    h.run(0);
    h.set("b", vec![(ls(&[("s", "b")]), 1.0)]);
    h.run(MIN);
    assert_eq!(h.alerts(0)[0].active_at_ms, 0);
    assert_eq!(h.alerts(1)[0].active_at_ms, MIN);
}

#[test]
fn changed_rule_labels_change_identity() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 0)]);
    h.set("up == 0", vec![up("a")]);
    h.run(0);
    h.group.rules[0].labels = BTreeMap::from([("sev".into(), "1".into())]);
    h.run(MIN);
    assert_eq!(h.state.rules[0].identity, "Down{sev=\"1\"}");
    assert_eq!(h.alerts(0)[0].active_at_ms, MIN);
}

#[test]
fn group_and_rule_bookkeeping() {
    let mut h = Harness::new(vec![record_rule("r", "x"), alert_rule("A", "y", 0)]);
    h.state.missed_iterations = 3;
    h.run(0);
    h.run(MIN);
    let s = &h.state;
    assert_eq!(s.iterations, 2);
    assert_eq!(s.missed_iterations, 3);
    assert_eq!(s.last_evaluation_ms, Some(MIN));
    assert_eq!(s.health(), Health::Ok);
    // The fake clock advances 0.25 s per read: start, 2 per rule, end.
    assert_eq!(s.evaluation_seconds, 1.25);
    for r in &s.rules {
        assert_eq!(r.evaluation_seconds, 0.25);
        assert_eq!(r.last_evaluation_ms, Some(MIN));
        assert_eq!((r.health, r.last_error.as_str()), (Health::Ok, ""));
    }
}
