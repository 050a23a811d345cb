//! Engine tests over a fixed in-memory querier.

use std::collections::BTreeSet;

use tidemark_storage::model::STALE_NAN_BITS;
use tidemark_storage::{Matcher, SeriesSamples};

use super::*;
use crate::error::QueryErrorKind;
use crate::querier::QuerySeriesIter;
use crate::syntax::stack::on_small_stack;

/// A querier over fixed series.
struct Fixed(Vec<(Labels, Vec<Sample>)>);

impl Querier for Fixed {
    fn select(
        &self,
        m: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        let out: Vec<Result<SeriesSamples, QueryError>> = self
            .0
            .iter()
            .filter(|(l, _)| m.iter().all(|x| x.matches_labels(l)))
            .map(|(l, s)| {
                Ok(SeriesSamples {
                    histograms: Vec::new(),
                    labels: l.clone(),
                    samples: s
                        .iter()
                        .filter(|x| x.t >= mint && x.t <= maxt)
                        .copied()
                        .collect(),
                })
            })
            .collect();
        Ok(Box::new(out.into_iter()))
    }
    fn series(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Labels>, QueryError> {
        Ok(Vec::new())
    }
    fn label_names(&self, _: &[Matcher], _: i64, _: i64) -> Result<BTreeSet<String>, QueryError> {
        Ok(BTreeSet::new())
    }
    fn label_values(
        &self,
        _: &str,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        Ok(BTreeSet::new())
    }
}

fn series(pairs: &[(&str, &str)], points: &[(i64, f64)]) -> (Labels, Vec<Sample>) {
    (
        Labels::from_pairs(pairs),
        points.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    )
}

fn vector(r: QueryResult) -> Vec<(Labels, f64)> {
    match r.value {
        Value::Vector(v) => v
            .into_iter()
            .map(|(l, p)| (l, p.float().expect("a float")))
            .collect(),
        other => panic!("not a vector: {other:?}"),
    }
}

#[test]
fn lookback_is_left_open_and_stale_markers_hide_series() {
    let q = Fixed(vec![
        series(&[("__name__", "a")], &[(0, 1.0)]),
        series(
            &[("__name__", "b")],
            &[(0, 1.0), (10_000, f64::from_bits(STALE_NAN_BITS))],
        ),
    ]);
    let e = PromqlEngine::default();
    // At 5m the sample at 0 is exactly lookback old: outside the left-open window.
    assert_eq!(vector(e.instant(&q, "a", 299_999).unwrap()).len(), 1);
    assert!(vector(e.instant(&q, "a", 300_000).unwrap()).is_empty());
    // The stale marker hides b from 10 s on, but not before.
    assert_eq!(vector(e.instant(&q, "b", 5_000).unwrap()).len(), 1);
    assert!(vector(e.instant(&q, "b", 10_000).unwrap()).is_empty());
}

#[test]
fn many_to_many_matching_is_an_error() {
    let q = Fixed(vec![
        series(&[("__name__", "a"), ("job", "x"), ("i", "1")], &[(0, 1.0)]),
        series(&[("__name__", "a"), ("job", "x"), ("i", "2")], &[(0, 2.0)]),
        series(&[("__name__", "b"), ("job", "x"), ("i", "1")], &[(0, 3.0)]),
        series(&[("__name__", "b"), ("job", "x"), ("i", "2")], &[(0, 4.0)]),
    ]);
    let e = PromqlEngine::default();
    let err = e.instant(&q, "a + on(job) b", 0).unwrap_err();
    assert_eq!(err.kind, QueryErrorKind::Execution);
    assert!(
        err.message.contains("many-to-many matching not allowed"),
        "{}",
        err.message
    );
    let err = e.instant(&q, "a + on(job) group_left b", 0).unwrap_err();
    assert!(
        err.message.contains("found duplicate series"),
        "{}",
        err.message
    );
    // One-to-one on all labels but the name works and drops the name.
    let v = vector(e.instant(&q, "a + b", 0).unwrap());
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|(l, _)| l.metric_name().is_none()));
    // Dropping the name of two series with otherwise equal labels collides.
    let err = e.instant(&q, "-{i=\"1\"}", 0).unwrap_err();
    assert_eq!(
        err.message,
        "vector cannot contain metrics with the same labelset"
    );
}

#[test]
fn limits_and_parse_errors() {
    let q = Fixed(vec![series(
        &[("__name__", "a")],
        &[(0, 1.0), (1_000, 2.0), (2_000, 3.0)],
    )]);
    let e = PromqlEngine::new(QueryLimits {
        samples_max: 2,
        ..QueryLimits::default()
    });
    let err = e.instant(&q, "sum_over_time(a[1m])", 2_000).unwrap_err();
    assert_eq!(err.kind, QueryErrorKind::Execution);
    assert!(err.message.contains("too many samples"));
    let e = PromqlEngine::default();
    let err = e.range(&q, "a", 0, 11_001_000, 1_000).unwrap_err();
    assert_eq!(err.kind, QueryErrorKind::BadData);
    assert!(
        err.message
            .starts_with("exceeded maximum resolution of 11,000 points")
    );
    assert!(e.range(&q, "a", 0, 11_000_000, 1_000).is_ok());
    assert_eq!(
        e.instant(&q, "sum(", 0).unwrap_err().kind,
        QueryErrorKind::BadData
    );
}

#[test]
fn range_query_steps_and_rate() {
    let points: Vec<(i64, f64)> = (0..=10).map(|i| (i * 15_000, i as f64 * 15.0)).collect();
    let q = Fixed(vec![series(&[("__name__", "c_total")], &points)]);
    let e = PromqlEngine::default();
    let r = e
        .range(&q, "rate(c_total[1m])", 60_000, 150_000, 30_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("not a matrix")
    };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].floats.len(), 4);
    for s in &m[0].floats {
        assert!((s.v - 1.0).abs() < 1e-9, "{s:?}");
    }
}

/// A querier that takes `delay` to answer each select.
struct Slow(Fixed, std::time::Duration);

impl Querier for Slow {
    fn select(
        &self,
        m: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        std::thread::sleep(self.1);
        self.0.select(m, mint, maxt)
    }
    fn series(&self, m: &[Matcher], a: i64, b: i64) -> Result<Vec<Labels>, QueryError> {
        self.0.series(m, a, b)
    }
    fn label_names(&self, m: &[Matcher], a: i64, b: i64) -> Result<BTreeSet<String>, QueryError> {
        self.0.label_names(m, a, b)
    }
    fn label_values(
        &self,
        n: &str,
        m: &[Matcher],
        a: i64,
        b: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        self.0.label_values(n, m, a, b)
    }
}

#[test]
fn series_and_time_limits_are_enforced() {
    let q = Fixed(vec![
        series(&[("__name__", "a"), ("i", "1")], &[(0, 1.0)]),
        series(&[("__name__", "a"), ("i", "2")], &[(0, 2.0)]),
    ]);
    let e = PromqlEngine::new(QueryLimits {
        series_max: 1,
        ..QueryLimits::default()
    });
    let err = e.instant(&q, "sum(a)", 0).unwrap_err();
    assert_eq!(err.kind, QueryErrorKind::Execution);
    assert!(err.message.contains("too many series"), "{}", err.message);
    assert_eq!(vector(e.instant(&q, "a{i=\"1\"}", 0).unwrap()).len(), 1);

    let slow = Slow(q, std::time::Duration::from_millis(20));
    let e = PromqlEngine::new(QueryLimits {
        timeout_ms: 5,
        ..QueryLimits::default()
    });
    let err = e.range(&slow, "a + a", 0, 60_000, 1_000).unwrap_err();
    assert_eq!(err.kind, QueryErrorKind::Timeout);
    assert!(err.message.contains("timed out"), "{}", err.message);
}

#[test]
fn equal_labels_merge_by_step_but_not_for_whole_series_functions() {
    // a and b differ only by name and never have a value at the same step.
    let q = Fixed(vec![
        series(&[("__name__", "a"), ("i", "1")], &[(0, 1.0)]),
        series(&[("__name__", "b"), ("i", "1")], &[(600_000, 2.0)]),
    ]);
    let e = PromqlEngine::default();
    // Step-wise operators (Prometheus' rangeEval) merge them into one series.
    let r = e
        .range(&q, "{__name__=~\"a|b\"} * 1", 0, 600_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("not a matrix")
    };
    assert_eq!(m.len(), 1);
    // a is seen for 5 steps (the 5m lookback is left-open), b at the last one.
    assert_eq!(m[0].floats.len(), 5 + 1);
    // Whole-series operators (range functions, unary minus) reject equal labels outright.
    for expr in [
        "-{__name__=~\"a|b\"}",
        "last_over_time({__name__=~\"a|b\"}[1m]) * 1",
        "count_over_time({__name__=~\"a|b\"}[1m])",
    ] {
        let err = e.range(&q, expr, 0, 600_000, 60_000);
        if expr.starts_with("last_over_time") {
            // last_over_time keeps the name: no collision.
            assert!(err.is_ok(), "{expr}");
            continue;
        }
        let err = err.unwrap_err();
        assert_eq!(
            err.message, "vector cannot contain metrics with the same labelset",
            "{expr}"
        );
    }
}

#[test]
fn range_results_match_instant_results_at_every_step() {
    let points: Vec<(i64, f64)> = (0..40)
        .map(|i| (i * 15_000, if i == 20 { 3.0 } else { i as f64 * 7.5 }))
        .collect();
    let q = Fixed(vec![
        series(&[("__name__", "c_total"), ("j", "x")], &points),
        series(&[("__name__", "c_total"), ("j", "y")], &points[5..30]),
    ]);
    let e = PromqlEngine::default();
    for expr in [
        "rate(c_total[1m])",
        "sum by (j) (increase(c_total[2m])) / on(j) group_left c_total",
        "max_over_time(c_total[1m:20s])",
        "topk(1, c_total)",
        "c_total offset 30s > 50",
        "c_total @ 300 + on(j) c_total",
    ] {
        let r = e.range(&q, expr, 0, 600_000, 45_000).unwrap();
        let Value::Matrix(m) = r.value else {
            panic!("not a matrix")
        };
        for t in (0..=600_000).step_by(45_000) {
            let mut want = vector(e.instant(&q, expr, t).unwrap());
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let got: Vec<(Labels, f64)> = m
                .iter()
                .filter_map(|s| {
                    let x = s.floats.iter().find(|x| x.t == t)?;
                    Some((s.labels.clone(), x.v))
                })
                .collect();
            assert_eq!(got, want, "{expr} at {t}");
        }
    }
}

#[test]
fn count_values_sets_the_value_label_before_grouping() {
    let q = Fixed(vec![
        series(&[("__name__", "x"), ("i", "1"), ("j", "a")], &[(0, 1.0)]),
        series(&[("__name__", "x"), ("i", "2"), ("j", "a")], &[(0, 1.0)]),
        series(&[("__name__", "x"), ("i", "3"), ("j", "b")], &[(0, 2.0)]),
    ]);
    let e = PromqlEngine::default();
    let sorted = |expr: &str| {
        let mut v = vector(e.instant(&q, expr, 0).unwrap());
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let l = Labels::from_pairs;
    assert_eq!(
        sorted("count_values(\"v\", x)"),
        vec![(l(&[("v", "1")]), 2.0), (l(&[("v", "2")]), 1.0)]
    );
    assert_eq!(
        sorted("count_values by (j) (\"j\", x)"),
        vec![(l(&[("j", "1")]), 2.0), (l(&[("j", "2")]), 1.0)]
    );
    // `without` the value label itself drops it again.
    assert_eq!(
        sorted("count_values without (i, j) (\"i\", x)"),
        vec![(l(&[]), 3.0)]
    );
}

#[test]
fn a_request_timeout_lowers_the_engine_timeout_but_never_raises_it() {
    let engine = PromqlEngine::new(QueryLimits {
        timeout_ms: 10_000,
        ..QueryLimits::default()
    });
    assert_eq!(engine.with_timeout_ms(500).limits.timeout_ms, 500);
    assert_eq!(engine.with_timeout_ms(60_000).limits.timeout_ms, 10_000);
    let unlimited = PromqlEngine::new(QueryLimits {
        timeout_ms: 0,
        ..QueryLimits::default()
    });
    assert_eq!(unlimited.with_timeout_ms(500).limits.timeout_ms, 500);
}

/// `totalQueryableSamples` counts as Prometheus does: a selector one per series and step with a
/// sample, a range function each window's samples, a subquery argument only the windows read
/// from it, and a subquery that is the whole query its inner evaluation.
#[test]
fn counts_queryable_samples_like_prometheus() {
    // Two series sampled every 10 s from 10 s to 600 s.
    let points: Vec<(i64, f64)> = (1..=60).map(|i| (i * 10_000, i as f64)).collect();
    let q = Fixed(vec![
        series(&[("__name__", "m"), ("i", "1")], &points),
        series(&[("__name__", "m"), ("i", "2")], &points),
    ]);
    let engine = PromqlEngine::default();
    let counts = |r: QueryResult| (r.samples.total_queryable, r.samples.per_step);
    // Instant selector: one per series.
    assert_eq!(counts(engine.instant(&q, "m", 300_000).unwrap()).0, 2);
    // A 1m window holds 6 samples per series.
    assert_eq!(
        counts(engine.instant(&q, "rate(m[1m])", 300_000).unwrap()).0,
        12
    );
    // Range query: per step; the step at 0 s finds nothing.
    let (total, per_step) = counts(engine.range(&q, "sum(m)", 0, 120_000, 60_000).unwrap());
    assert_eq!(per_step, vec![(0, 0), (60_000, 2), (120_000, 2)]);
    assert_eq!(total, 4);
    // A function over a subquery counts the subquery's points in its window (5 inner steps of
    // 1m in (0, 300 s], 2 series), not what the inner selector read.
    assert_eq!(
        counts(
            engine
                .instant(&q, "max_over_time(m[5m:1m])", 300_000)
                .unwrap()
        )
        .0,
        10
    );
    // A subquery on its own counts its inner evaluation: 5 steps x 2 series x 6 samples.
    assert_eq!(
        counts(engine.instant(&q, "rate(m[1m])[5m:1m]", 300_000).unwrap()).0,
        60
    );
    // A matrix selector on its own counts its window.
    assert_eq!(counts(engine.instant(&q, "m[1m]", 300_000).unwrap()).0, 12);
}

/// Expressions of every shape, as deep as the default limit allows, are evaluated to the
/// right value (on a small stack: the engine grows its own), and one level more is refused.
#[test]
fn deepest_accepted_queries_are_evaluated() {
    let q = Fixed(vec![series(&[("__name__", "x")], &[(0, 1.0)])]);
    let e = PromqlEngine::default();
    let d = e.limits.max_depth;
    let nest = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    // (query, its value at t=0), each with a text bound of exactly the limit.
    let shapes = [
        (nest("(", "1", ")", d - 2), 1.0),
        (nest("-", "x", "", d - 2), 1.0),
        (nest("abs(", "-x", ")", d - 3), 1.0),
        (vec!["x"; d - 1].join(" + "), (d - 1) as f64),
        (vec!["1"; d - 1].join(" ^ "), 1.0),
        (nest("sum(", "x", ")", d - 2), 1.0),
        (nest("topk(1, ", "x", ")", d - 2), 1.0),
        // A call and a subquery per level: `max_over_time(...[1s:1s])`.
        (nest("max_over_time(", "x", "[1s:1s])", (d - 3) / 2), 1.0),
    ];
    for (query, want) in &shapes {
        let short = &query[..query.len().min(24)];
        let got = on_small_stack(|| e.instant(&q, query, 0));
        let got = got.unwrap_or_else(|err| panic!("{short}: {err}"));
        let v = match got.value {
            Value::Scalar { v, .. } => v,
            Value::Vector(v) => v[0].1.float().expect("a float"),
            other => panic!("{short}: {other:?}"),
        };
        assert_eq!(v, *want, "{short}");
        let deeper = format!("((({query})))");
        let err = e.instant(&q, &deeper, 0).unwrap_err();
        assert!(err.message.contains("query.max_depth"), "{short}: {err}");
        let err = e.range(&q, &deeper, 0, 60_000, 15_000).unwrap_err();
        assert!(err.message.contains("query.max_depth"), "{short}: {err}");
    }
}
