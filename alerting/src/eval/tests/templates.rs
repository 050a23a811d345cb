//! Label and annotation templates, expanded through the template engine.

use super::*;

#[test]
fn failed_template_expands_to_the_error_text() {
    // A template the engine cannot expand, whether or not it has landed.
    let mut rule = alert_rule("Down", "up == 0", 0);
    rule.annotations = BTreeMap::from([("summary".into(), "{{ .Nope".into())]);
    let mut h = Harness::new(vec![rule]);
    h.set("up == 0", vec![up("a")]);
    h.run(0);
    let summary = &h.alerts(0)[0].annotations["summary"];
    assert!(
        summary.starts_with("<error expanding template: ") && summary.ends_with('>'),
        "{summary}"
    );
    assert_eq!(h.state.rules[0].health, Health::Ok, "not a rule error");
}

#[test]
fn templated_labels_and_annotations() {
    let mut rule = alert_rule("Down", "up == 0", 0);
    rule.labels = BTreeMap::from([("where".into(), "{{ $labels.instance }}-x".into())]);
    rule.annotations = BTreeMap::from([
        ("value".into(), "{{ $value }}".into()),
        ("url".into(), "{{ $externalURL }}".into()),
        ("cluster".into(), "{{ $externalLabels.cluster }}".into()),
    ]);
    let mut h = Harness::new(vec![rule]);
    h.external_labels = BTreeMap::from([("cluster".into(), "eu".into())]);
    h.set(
        "up == 0",
        vec![(ls(&[("__name__", "up"), ("instance", "a")]), 3.0)],
    );
    h.run(0);
    let a = &h.alerts(0)[0];
    assert_eq!(a.labels.get("where"), Some("a-x"));
    assert_eq!(a.annotations["value"], "3");
    assert_eq!(a.annotations["url"], "http://ruler:9090");
    assert_eq!(a.annotations["cluster"], "eu");
}

#[test]
fn templated_label_distinguishes_alerts() {
    // Two series that differ only in `__name__` become one label set, unless a templated
    // label tells them apart.
    let mut rule = alert_rule("Down", "x", 0);
    rule.labels = BTreeMap::from([("metric".into(), "{{ $labels.__name__ }}".into())]);
    let mut h = Harness::new(vec![rule]);
    h.set(
        "x",
        vec![
            (ls(&[("__name__", "a")]), 1.0),
            (ls(&[("__name__", "b")]), 1.0),
        ],
    );
    h.run(0);
    assert_eq!(h.state.rules[0].health, Health::Ok);
    let metrics: Vec<_> = h.alerts(0).iter().map(|a| a.labels.get("metric")).collect();
    assert_eq!(metrics, vec![Some("a"), Some("b")]);
}
