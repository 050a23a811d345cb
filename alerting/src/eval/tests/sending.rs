//! What is sent and when: resend delay, `endsAt`, labels, `generatorURL`, and sending while
//! the rule fails (the deliberate difference from Prometheus).

use super::*;

#[test]
fn resend_delay_and_valid_until() {
    let mut h = Harness::new(vec![alert_rule("Down", "up == 0", 0)]);
    h.set("up == 0", vec![up("a")]);
    assert_eq!(h.run(0).to_send.len(), 1);
    assert_eq!(h.alerts(0)[0].last_sent_at_ms, Some(0));
    assert_eq!(h.alerts(0)[0].valid_until_ms, Some(4 * MIN));
    assert!(
        h.run(MIN).to_send.is_empty(),
        "sent + delay is not before now"
    );
    let it = h.run(2 * MIN);
    assert_eq!(it.to_send.len(), 1);
    assert_eq!(it.to_send[0].ends_at_ms, 6 * MIN);
    assert_eq!(it.to_send[0].starts_at_ms, 0);

    // An interval longer than the resend delay sets the validity.
    h.interval_ms = 5 * MIN;
    let it = h.run(10 * MIN);
    assert_eq!(it.to_send[0].ends_at_ms, 10 * MIN + 20 * MIN);
}

#[test]
fn outgoing_alert_labels_annotations_and_generator_url() {
    let mut rule = alert_rule("Down", "up{job=\"node\"} == 0", 0);
    rule.labels = BTreeMap::from([("severity".into(), "page".into())]);
    rule.annotations = BTreeMap::from([("summary".into(), "instance down".into())]);
    let mut h = Harness::new(vec![rule]);
    h.external_labels = BTreeMap::from([
        ("cluster".into(), "eu".into()),
        ("severity".into(), "external".into()),
    ]);
    h.set("up{job=\"node\"} == 0", vec![up("a")]);
    let it = h.run(0);
    let sent = &it.to_send[0];
    assert_eq!(
        sent.labels,
        ls(&[
            ("alertname", "Down"),
            ("cluster", "eu"),
            ("instance", "a"),
            ("severity", "page"),
        ]),
        "external labels added, the alert's own win"
    );
    assert_eq!(sent.annotations["summary"], "instance down");
    assert_eq!(
        sent.generator_url,
        "http://ruler:9090/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0&g0.tab=1"
    );
    // The committed alert has no external labels.
    assert_eq!(h.alerts(0)[0].labels.get("cluster"), None);
}

#[test]
fn query_escape_is_gos() {
    assert_eq!(
        alerting::query_escape("rate(x_total[5m]) > 0.5 ~*/é"),
        "rate%28x_total%5B5m%5D%29+%3E+0.5+~%2A%2F%C3%A9"
    );
}

#[test]
fn failed_evaluation_keeps_state_and_still_resends() {
    let mut h = Harness::new(vec![
        alert_rule("Down", "up == 0", 0),
        alert_rule("Slow", "slow", 5 * MIN),
    ]);
    h.set("up == 0", vec![up("a")]);
    h.set("slow", vec![(ls(&[("x", "1")]), 1.0)]);
    h.run(0);
    let before = h.state.rules.clone();

    h.fail("up == 0", "query timed out");
    h.fail("slow", "query timed out");
    let it = h.run(MIN);
    let r = &h.state.rules[0];
    assert_eq!(
        (r.health, r.last_error.as_str()),
        (Health::Err, "query timed out")
    );
    assert_eq!(r.last_evaluation_ms, Some(MIN));
    assert_eq!(r.alerts, before[0].alerts, "not advanced, and not due yet");
    assert_eq!(h.state.rules[1].alerts, before[1].alerts);
    assert_eq!(h.state.failed_evaluations, 2);
    assert!(it.samples.is_empty(), "no samples and no staleness markers");
    assert!(it.to_send.is_empty());

    // Still failing: the firing alert is re-sent with a fresh endsAt (Prometheus would not).
    let it = h.run(2 * MIN);
    assert_eq!(it.to_send.len(), 1);
    assert_eq!(it.to_send[0].ends_at_ms, 6 * MIN);
    assert_eq!(h.alerts(0)[0].state, AlertState::Firing);
    // The pending alert does not advance while its rule fails, even past `for`.
    h.run(6 * MIN);
    assert_eq!(h.alerts(1)[0].state, AlertState::Pending);

    // Recovered without the series: resolved, and the memo from before the failures marks
    // its series stale.
    h.set("up == 0", vec![]);
    let it = h.run(7 * MIN);
    assert_eq!(h.alerts(0)[0].resolved_at_ms, Some(7 * MIN));
    assert_eq!(it.to_send[0].ends_at_ms, 7 * MIN);
    assert_eq!(
        stale_series(&it),
        vec![alerts_series("firing", "a"), for_state_series("a")]
    );
    assert_eq!(h.state.failed_evaluations, 2 + 2 + 2 + 1);
}
