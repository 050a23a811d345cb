//! Recording rules and staleness markers.

use super::*;

#[test]
fn recording_rule_labels() {
    let mut rule = record_rule("job:up:sum", "sum by (job) (up)");
    rule.labels = BTreeMap::from([("team".into(), "db".into()), ("env".into(), String::new())]);
    let mut h = Harness::new(vec![rule]);
    h.group.labels = BTreeMap::from([("team".into(), "infra".into()), ("dc".into(), "1".into())]);
    h.query_offset_ms = 10_000;
    h.set(
        "sum by (job) (up)",
        vec![(ls(&[("__name__", "x"), ("job", "n"), ("env", "prod")]), 3.0)],
    );
    let it = h.run(MIN);
    assert_eq!(
        it.samples,
        vec![(
            ls(&[
                ("__name__", "job:up:sum"),
                ("dc", "1"),
                ("job", "n"),
                ("team", "db")
            ]),
            Sample::new(MIN - 10_000, 3.0)
        )]
    );
    assert_eq!(h.state.rules[0].health, Health::Ok);
    assert!(h.state.rules[0].alerts.is_empty());
    assert!(it.to_send.is_empty());
}

#[test]
fn recording_rule_scalar_result() {
    let mut h = Harness::new(vec![record_rule("answer", "42")]);
    h.set("42", vec![(Labels::default(), 42.0)]);
    let it = h.run(0);
    assert_eq!(
        it.samples,
        vec![(ls(&[("__name__", "answer")]), Sample::new(0, 42.0))]
    );
}

#[test]
fn recording_rule_duplicates_and_limit() {
    let mut h = Harness::new(vec![record_rule("r", "x")]);
    h.set(
        "x",
        vec![
            (ls(&[("__name__", "a")]), 1.0),
            (ls(&[("__name__", "b")]), 2.0),
        ],
    );
    let it = h.run(0);
    assert_eq!(
        h.state.rules[0].last_error,
        "vector contains metrics with the same labelset after applying rule labels"
    );
    assert!(it.samples.is_empty());

    h.group.limit = 2;
    h.set(
        "x",
        vec![
            (ls(&[("i", "1")]), 1.0),
            (ls(&[("i", "2")]), 1.0),
            (ls(&[("i", "3")]), 1.0),
        ],
    );
    h.run(MIN);
    assert_eq!(
        h.state.rules[0].last_error,
        "exceeded limit of 2 with 3 series"
    );
    assert_eq!(h.state.failed_evaluations, 2);

    h.group.limit = 3;
    let it = h.run(2 * MIN);
    assert_eq!(h.state.rules[0].health, Health::Ok);
    assert_eq!(h.state.rules[0].last_error, "");
    assert_eq!(it.samples.len(), 3);
}

#[test]
fn staleness_markers_for_series_no_longer_returned() {
    let mut h = Harness::new(vec![record_rule("r", "x")]);
    h.query_offset_ms = 5_000;
    h.set(
        "x",
        vec![(ls(&[("i", "1")]), 1.0), (ls(&[("i", "2")]), 1.0)],
    );
    h.run(0);
    assert_eq!(h.memo.series("r{}").map(|s| s.len()), Some(2));

    h.set("x", vec![(ls(&[("i", "2")]), 1.0)]);
    let it = h.run(MIN);
    let stale: Vec<_> = it
        .samples
        .iter()
        .filter(|(_, s)| is_stale_nan(s.v))
        .collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].0, ls(&[("__name__", "r"), ("i", "1")]));
    assert_eq!(stale[0].1.t, MIN - 5_000);
    assert_eq!(
        stale[0].1.v.to_bits(),
        tidemark_storage::model::STALE_NAN_BITS
    );

    // Marked once only.
    let it = h.run(2 * MIN);
    assert!(stale_series(&it).is_empty());
}

#[test]
fn new_leader_with_an_empty_memo_writes_no_markers() {
    let mut h = Harness::new(vec![record_rule("r", "x")]);
    h.set("x", vec![(ls(&[("i", "1")]), 1.0)]);
    h.run(0);
    h.memo = SeriesMemo::new();
    h.set("x", vec![]);
    let it = h.run(MIN);
    assert!(it.samples.is_empty());
    assert!(h.memo.is_empty());
}

#[test]
fn removed_rule_series_go_stale() {
    let mut h = Harness::new(vec![record_rule("r", "x"), record_rule("s", "y")]);
    h.set("x", vec![(ls(&[("i", "1")]), 1.0)]);
    h.set("y", vec![(ls(&[("i", "1")]), 1.0)]);
    h.run(0);
    h.group.rules.remove(0);
    let it = h.run(MIN);
    assert_eq!(
        stale_series(&it),
        vec![ls(&[("__name__", "r"), ("i", "1")])]
    );
    assert_eq!(h.state.rules.len(), 1);
    assert_eq!(h.state.rules[0].identity, "s{}");
}

#[test]
fn no_marker_for_a_series_another_rule_writes_now() {
    // A changed identity with the same output: the old rule's series is not marked stale.
    let mut h = Harness::new(vec![record_rule("r", "x")]);
    h.set(
        "x",
        vec![(ls(&[("i", "1")]), 1.0), (ls(&[("i", "2")]), 1.0)],
    );
    h.run(0);
    h.group.rules[0].labels = BTreeMap::from([("env".into(), String::new())]);
    h.set("x", vec![(ls(&[("i", "1")]), 1.0)]);
    let it = h.run(MIN);
    assert_eq!(h.state.rules[0].identity, "r{env=\"\"}");
    assert_eq!(
        stale_series(&it),
        vec![ls(&[("__name__", "r"), ("i", "2")])]
    );
}
