//! Partial aggregation against the whole-vector evaluation on the same data.
//!
//! `agg(f(x) * 1)` is not partial (a binary operation sits between the aggregation and the
//! selector), so the engine evaluates it whole: every input series at every step, then the
//! fold. Its result must equal `agg(f(x))`, which each shard folds on its own.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tidemark_storage::model::{METRIC_NAME, STALE_NAN_BITS};
use tidemark_storage::{
    Command, Engine, Labels, Matcher, MemEngine, Sample, SeriesRef, ShardId, WriteBatch,
};

use crate::eval::functions::matrix_selector;
use crate::querier::QuerySeriesIter;
use crate::{EngineQuerier, PromqlEngine, Querier, QueryError, Value};

use super::{Partial, PartialRequest};

const SHARDS: u32 = 4;
const STEP_MS: i64 = 15_000;
const END_MS: i64 = 2 * 3_600_000;

/// Counters (with resets), gauges (with NaN, huge values and stale markers) over 4 shards.
fn engine() -> Arc<MemEngine> {
    engine_split(None)
}

/// [`engine`]'s data; with `Some(b)`, as two shard-map versions would leave it: samples before
/// `b` in shard `hash % 4`, the rest in shard `hash % 7` (shards 0 to 6).
fn engine_split(boundary: Option<i64>) -> Arc<MemEngine> {
    let engine = Arc::new(MemEngine::default());
    let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    for i in 0..60 {
        let (job, instance, code) = (
            format!("job{}", i % 3),
            format!("i{i}"),
            ["200", "500"][i % 2],
        );
        let mut total = 0.0;
        let counter = (0..=END_MS / STEP_MS)
            .map(|k| {
                total = if k % 97 == (i as i64) {
                    0.0
                } else {
                    total + (next() * 10.0).floor()
                };
                Sample::new(k * STEP_MS, total)
            })
            .collect();
        series.push((
            Labels::from_pairs(&[
                (METRIC_NAME, "http_requests_total"),
                ("job", &job),
                ("instance", &instance),
                ("code", code),
            ]),
            counter,
        ));
        let gauge = (0..=END_MS / STEP_MS)
            .filter(|k| (k + i as i64) % 11 != 0)
            .map(|k| {
                let v = match (k + i as i64) % 53 {
                    0 => f64::NAN,
                    1 if i == 5 => f64::from_bits(STALE_NAN_BITS),
                    2 if i == 7 => 1e300,
                    _ => next() * 100.0 - 20.0,
                };
                Sample::new(k * STEP_MS, v)
            })
            .collect();
        series.push((
            Labels::from_pairs(&[
                (METRIC_NAME, "temp"),
                ("job", &job),
                ("instance", &instance),
            ]),
            gauge,
        ));
    }
    let b = boundary.unwrap_or(i64::MAX);
    let shards = if boundary.is_some() {
        SPLIT_SHARDS
    } else {
        SHARDS
    };
    for shard in 0..shards {
        let mut batch = WriteBatch::default();
        for (labels, samples) in &series {
            let part: Vec<Sample> = samples
                .iter()
                .filter(|s| {
                    let version_shards = if s.t < b { SHARDS } else { SPLIT_SHARDS };
                    labels.shard(version_shards) == shard
                })
                .copied()
                .collect();
            if !part.is_empty() {
                batch.new_series.push(labels.clone());
                let k = batch.new_series.len() as u32 - 1;
                batch.samples.push((SeriesRef::New(k), part));
            }
        }
        let cmd = Command::Write(batch);
        engine.apply(shard as ShardId, 1, &cmd).expect("apply");
    }
    engine
}

/// Shards of the second shard-map version of [`engine_split`].
const SPLIT_SHARDS: u32 = 7;

fn querier(engine: &Arc<MemEngine>) -> EngineQuerier {
    let engine: Arc<dyn Engine> = engine.clone();
    EngineQuerier::new(engine, (0..SHARDS).collect())
}

/// Series per label set (name dropped: `* 1` drops it) and their points.
type Points = Vec<(Labels, Vec<(i64, f64)>)>;

fn points(v: Value) -> Points {
    let mut out: Points = match v {
        Value::Vector(v) => v
            .into_iter()
            .map(|(l, p)| (l, vec![(p.t(), p.float().expect("a float"))]))
            .collect(),
        Value::Matrix(m) => m
            .into_iter()
            .map(|s| (s.labels, s.floats.into_iter().map(|x| (x.t, x.v)).collect()))
            .collect(),
        other => panic!("not a vector or matrix: {other:?}"),
    };
    for (l, _) in &mut out {
        *l = crate::eval::drop_name(std::mem::take(l));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn assert_same(query: &str, got: Points, want: Points) {
    assert_eq!(
        got.iter().map(|s| &s.0).collect::<Vec<_>>(),
        want.iter().map(|s| &s.0).collect::<Vec<_>>(),
        "{query}: label sets"
    );
    for ((labels, g), (_, w)) in got.iter().zip(&want) {
        assert_eq!(g.len(), w.len(), "{query} {labels:?}: points");
        for (&(tg, vg), &(tw, vw)) in g.iter().zip(w) {
            assert!(
                tg == tw && close(vg, vw),
                "{query} {labels:?} at {tg}: {vg} vs {vw}"
            );
        }
    }
}

/// What the aggregations of [`pairs`] aggregate, as `(partial, whole)` pairs of queries.
fn inners() -> [(&'static str, &'static str); 11] {
    [
        ("http_requests_total", "http_requests_total * 1"),
        ("temp", "temp * 1"),
        (
            "rate(http_requests_total[5m])",
            "rate(http_requests_total[5m]) * 1",
        ),
        (
            "increase(http_requests_total[10m] offset 5m)",
            "increase(http_requests_total[10m] offset 5m) * 1",
        ),
        (
            "irate(http_requests_total[1m])",
            "irate(http_requests_total[1m]) * 1",
        ),
        ("avg_over_time(temp[5m])", "avg_over_time(temp[5m]) * 1"),
        (
            "max_over_time(temp[3m] @ 3600)",
            "max_over_time(temp[3m] @ 3600) * 1",
        ),
        (
            "quantile_over_time(0.9, temp[10m])",
            "quantile_over_time(0.9, temp[10m]) * 1",
        ),
        ("last_over_time(temp[1m])", "last_over_time(temp[1m]) * 1"),
        ("deriv(temp[5m])", "deriv(temp[5m]) * 1"),
        // Not a counter: an info annotation pointing at the argument.
        ("rate(temp[5m])", "rate(temp[5m]) * 1"),
    ]
}

/// Aggregations over the shards, as `(partial, whole)` pairs of queries.
fn pairs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let inners = inners();
    let aggs = [
        "sum", "avg", "count", "group", "min", "max", "stddev", "stdvar",
    ];
    let grouping = ["", " by (job)", " without (instance)", " by (job, code)"];
    for (i, (p, w)) in inners.iter().enumerate() {
        for (j, agg) in aggs.iter().enumerate() {
            let g = grouping[(i + j) % grouping.len()];
            out.push((format!("{agg}{g} ({p})"), format!("{agg}{g} ({w})")));
        }
        for (k, op) in [(3, "topk"), (2, "bottomk")] {
            let g = grouping[(i + k) % grouping.len()];
            out.push((format!("{op}{g} ({k}, {p})"), format!("{op}{g} ({k}, {w})")));
        }
    }
    out
}

#[test]
fn partial_aggregation_equals_whole_evaluation() {
    let engine = engine();
    let q = querier(&engine);
    let e = PromqlEngine::default();
    let mut checked = 0;
    for (partial, whole) in pairs() {
        for t in [600_000, 3_600_000, END_MS] {
            let got = e
                .instant(&q, &partial, t)
                .unwrap_or_else(|e| panic!("{partial}: {e}"));
            let want = e
                .instant(&q, &whole, t)
                .unwrap_or_else(|e| panic!("{whole}: {e}"));
            assert_same(&partial, points(got.value), points(want.value));
            assert_eq!(got.infos, want.infos, "{partial}: infos");
        }
        let got = e.range(&q, &partial, 0, END_MS, 60_000).expect("range");
        let want = e.range(&q, &whole, 0, END_MS, 60_000).expect("range");
        assert_eq!(got.infos, want.infos, "{partial}: infos");
        assert_eq!(
            got.samples.total_queryable, want.samples.total_queryable,
            "{partial}: samples"
        );
        assert_same(&partial, points(got.value), points(want.value));
        checked += 1;
    }
    assert_eq!(checked, 110);
}

/// A range function's result series and annotations at the times of `ts`: computed by the
/// shards and merged (`parts`), or from the whole vector.
fn range_function(
    q: &dyn Querier,
    query: &str,
    ts: &[i64],
    parts: bool,
) -> Result<(Vec<crate::eval::Series>, crate::eval::Annotations), QueryError> {
    let ast = promql_parser::parser::parse(query).expect("parses");
    let promql_parser::parser::Expr::Call(c) = &ast else {
        panic!("{query}: not a call");
    };
    let limits = crate::engine::QueryLimits::default();
    let ev = crate::eval::Evaluator::new(&limits, q, ts[0], ts[ts.len() - 1]);
    let out = if parts {
        let plan = super::Plan::of_call(c).unwrap_or_else(|| panic!("{query}: not partial"));
        super::eval_partial(&ev, &plan, ts)?
    } else {
        let arg = c
            .args
            .args
            .iter()
            .position(|a| matrix_selector(a).is_some());
        crate::eval::functions::range::eval_range_function(&ev, c, arg.expect("a range"), ts)?
    };
    Ok((out, ev.annotations.take()))
}

#[test]
fn range_functions_computed_by_parts_equal_the_whole_vector() {
    let engine = engine();
    let q = querier(&engine);
    let mut checked = 0;
    let calls = inners()
        .map(|(p, _)| p)
        .into_iter()
        .filter(|p| p.contains('('))
        .chain([
            "predict_linear(temp[30m], 4 * 3600)",
            "resets(http_requests_total[1h])",
        ]);
    for query in calls {
        for ts in [
            vec![600_000],
            vec![END_MS],
            (0..=END_MS).step_by(60_000).collect::<Vec<_>>(),
        ] {
            let (got, got_notes) = range_function(&q, query, &ts, true).expect("parts");
            let (want, want_notes) = range_function(&q, query, &ts, false).expect("whole");
            assert!(!want.is_empty(), "{query}: nothing to compare");
            // Bit for bit: each series is computed by the same code, only elsewhere.
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{query}");
            assert_eq!(got_notes.infos, want_notes.infos, "{query}: infos");
            assert_eq!(got_notes.warnings, want_notes.warnings, "{query}: warnings");
        }
        checked += 1;
    }
    assert_eq!(checked, 11);
}

#[test]
fn two_series_with_one_label_set_in_two_shards_are_an_error_as_in_the_whole_vector() {
    // `a{x}` and `b{x}` in different shards: their rates both lose the name, which only the
    // union of the parts shows.
    let engine = Arc::new(MemEngine::default());
    let x = (0..100)
        .map(|i| i.to_string())
        .find(|x| {
            let shard = |name| Labels::from_pairs(&[(METRIC_NAME, name), ("x", x)]).shard(SHARDS);
            shard("a") != shard("b")
        })
        .expect("two shards");
    for name in ["a", "b"] {
        let labels = Labels::from_pairs(&[(METRIC_NAME, name), ("x", &x)]);
        let mut batch = WriteBatch::default();
        batch.new_series.push(labels.clone());
        let samples = (0..20)
            .map(|k| Sample::new(k * STEP_MS, k as f64))
            .collect();
        batch.samples.push((SeriesRef::New(0), samples));
        engine
            .apply(labels.shard(SHARDS) as ShardId, 1, &Command::Write(batch))
            .expect("apply");
    }
    let q = querier(&engine);
    let ts = [240_000];
    let query = r#"rate({__name__=~"a|b"}[5m])"#;
    let got = range_function(&q, query, &ts, true).expect_err("parts");
    let want = range_function(&q, query, &ts, false).expect_err("whole");
    assert_eq!(got.message, want.message);
    assert!(got.message.contains("same labelset"), "{got}");
    // One metric alone is fine.
    let (one, _) = range_function(&q, "rate(a[5m])", &ts, true).expect("one");
    assert_eq!(one.len(), 1);
}

/// A querier that records the partial requests the engine makes of it.
struct Counting {
    inner: EngineQuerier,
    calls: AtomicUsize,
}

impl Querier for Counting {
    fn select(&self, m: &[Matcher], a: i64, b: i64) -> Result<QuerySeriesIter<'_>, QueryError> {
        self.inner.select(m, a, b)
    }
    fn series(&self, m: &[Matcher], a: i64, b: i64) -> Result<Vec<Labels>, QueryError> {
        self.inner.series(m, a, b)
    }
    fn label_names(&self, m: &[Matcher], a: i64, b: i64) -> Result<BTreeSet<String>, QueryError> {
        self.inner.label_names(m, a, b)
    }
    fn label_values(
        &self,
        n: &str,
        m: &[Matcher],
        a: i64,
        b: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        self.inner.label_values(n, m, a, b)
    }
    fn aggregate(&self, req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.aggregate(req)
    }
}

#[test]
fn only_what_the_shards_can_compute_is_asked_of_them() {
    let engine = engine();
    let q = Counting {
        inner: querier(&engine),
        calls: AtomicUsize::new(0),
    };
    let e = PromqlEngine::default();
    let asked = |query: &str| {
        let before = q.calls.load(Ordering::SeqCst);
        e.instant(&q, query, 3_600_000)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        q.calls.load(Ordering::SeqCst) - before
    };
    assert_eq!(asked("sum by (job) (rate(http_requests_total[5m]))"), 1);
    assert_eq!(asked("topk(2, temp) + on() group_left sum(temp)"), 2);
    assert_eq!(asked("max(last_over_time({__name__=~\"temp|x\"}[5m]))"), 1);
    // Not a partial aggregation: a name dropped from series of several metrics (the rate is
    // computed by the shards, the sum of their series here), a quantile, a parameter that is
    // not a literal, a value out of range that draws a warning.
    assert_eq!(asked("sum(rate({__name__=~\"http.*\"}[5m]))"), 1);
    assert_eq!(asked("quantile(0.5, temp)"), 0);
    assert_eq!(asked("topk(scalar(vector(2)), temp)"), 0);
    assert_eq!(asked("sum(quantile_over_time(2, temp[5m]))"), 0);
    assert_eq!(asked("sum(temp * 2)"), 0);
    // Range functions on their own, with constant parameters; not over a subquery, nor with a
    // parameter that is a query.
    assert_eq!(asked("rate(http_requests_total[5m]) / 2"), 1);
    assert_eq!(asked("predict_linear(temp[1h], 4 * 3600)"), 1);
    assert_eq!(asked("quantile_over_time(0.5 + 0.25, temp[1h])"), 1);
    assert_eq!(asked("quantile_over_time(1 + 1, temp[1h])"), 0);
    assert_eq!(asked("predict_linear(temp[1h], scalar(temp))"), 0);
    assert_eq!(asked("rate(http_requests_total[5m:1m])"), 0);
    assert_eq!(asked("absent_over_time(temp[5m])"), 0);
    assert_eq!(asked("temp"), 0);
    // What a cluster asks only of nodes that compute range functions' series.
    let req = |expr: &str| PartialRequest {
        expr: expr.to_string(),
        steps: vec![0],
        query_start_ms: 0,
        query_end_ms: 0,
        lookback_delta_ms: 300_000,
        data_range_ms: (0, 0),
        samples_max: 1,
        series_max: 1,
        timeout_ms: 0,
    };
    assert!(req("sum by (job) (rate(x[5m]))").is_aggregation());
    assert!(req("(topk(2, x))").is_aggregation());
    assert!(!req("rate(x[5m])").is_aggregation());
    assert!(!req("predict_linear(x[5m], 4 * 3600)").is_aggregation());
}

#[test]
fn limits_hold_over_the_sum_of_the_parts() {
    let engine = engine();
    let q = querier(&engine);
    let query = "sum(rate(http_requests_total[1h]))";
    let all = PromqlEngine::default()
        .instant(&q, query, END_MS)
        .expect("query");
    let read = all.samples.peak;
    // Each shard stays within the limit; together they exceed it.
    let mut limited = PromqlEngine::default();
    limited.limits.samples_max = (read as usize) / 2;
    let err = limited
        .instant(&q, query, END_MS)
        .expect_err("over the limit");
    assert!(err.message.contains("too many samples"), "{err}");
    limited.limits.samples_max = 1_000_000;
    limited.limits.series_max = 40;
    let err = limited
        .instant(&q, query, END_MS)
        .expect_err("over the series limit");
    assert!(err.message.contains("too many series"), "{err}");
}

#[test]
fn an_aggregation_survives_its_round_trip_as_text() {
    // The request carries the aggregation as PromQL: what the shard parses back must be the
    // same query, escapes, modifiers and all.
    for q in [
        r#"sum by (job) (rate(http_requests_total{code=~"5\\d\\d|x\"y",job!="a\\b"}[5m] offset -1m @ start()))"#,
        r#"topk without (instance) (2, last_over_time(temp{instance=~".+"}[90s] @ end()))"#,
        r#"count(temp offset 1h30m)"#,
        r#"stddev(quantile_over_time(0.25, temp[1h:5m]))"#,
        r#"predict_linear(temp{job=~"a|b"}[1h] offset 5m, -(4 * 3600) / 2)"#,
    ] {
        let ast = promql_parser::parser::parse(q).expect("parses");
        let text = ast.to_string();
        let again = promql_parser::parser::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            format!("{again:?}"),
            format!("{ast:?}"),
            "{q} printed as {text}"
        );
    }
}

/// A series split between two shards at a shard-map boundary reads as one: plain selectors,
/// range vectors and every aggregation of [`pairs`] equal the unsplit data's, at instants on
/// both sides of the boundary, across it and over a range that spans it.
#[test]
fn series_split_at_a_shard_map_boundary_read_as_one() {
    const B: i64 = 3_600_000;
    let whole = engine();
    let whole_q = querier(&whole);
    let split = engine_split(Some(B));
    let engine_dyn: Arc<dyn Engine> = split.clone();
    let split_q = crate::SplitSeriesQuerier::new(
        EngineQuerier::new(engine_dyn.clone(), (0..SPLIT_SHARDS).collect()),
        vec![B],
        usize::MAX,
    );
    // The data really is split: some series have samples in two shards.
    let m = [Matcher::equal("__name__", "temp")];
    let in_shards: usize = (0..SPLIT_SHARDS)
        .map(|s| {
            EngineQuerier::new(engine_dyn.clone(), vec![s])
                .series(&m, 0, END_MS)
                .unwrap()
                .len()
        })
        .sum();
    assert!(in_shards > 60, "only {in_shards} parts of 60 temp series");
    let e = PromqlEngine::default();
    let mut queries: Vec<String> = pairs().into_iter().map(|(p, _)| p).collect();
    queries.extend(
        [
            "temp",
            "http_requests_total[10m]",
            "rate(http_requests_total[20m])",
        ]
        .map(String::from),
    );
    for query in &queries {
        // Before, just after and long after the boundary (windows within one version and
        // across it).
        for t in [1_800_000, B + 60_000, END_MS] {
            let got = e.instant(&split_q, query, t).expect("split");
            let want = e.instant(&whole_q, query, t).expect("whole");
            assert_same(query, points(got.value), points(want.value));
        }
        let got = e.range(&split_q, query, 0, END_MS, 60_000);
        let want = e.range(&whole_q, query, 0, END_MS, 60_000);
        match (got, want) {
            (Ok(got), Ok(want)) => assert_same(query, points(got.value), points(want.value)),
            // A range vector is no range query's result, split or not.
            (Err(g), Err(w)) => assert_eq!(g.message, w.message),
            (g, w) => panic!("{query}: {g:?} vs {w:?}"),
        }
    }
    assert_eq!(
        split_q.series(&m, 0, END_MS).unwrap(),
        whole_q.series(&m, 0, END_MS).unwrap()
    );
    // Parts compute an aggregation only when it reads within one version.
    let req = |lo: i64, hi: i64| PartialRequest {
        expr: "sum(temp)".into(),
        steps: vec![hi],
        query_start_ms: hi,
        query_end_ms: hi,
        lookback_delta_ms: 300_000,
        data_range_ms: (lo, hi),
        samples_max: u64::MAX,
        series_max: u64::MAX,
        timeout_ms: 0,
    };
    assert!(split_q.aggregate(&req(B - 300_000, B)).unwrap().is_none());
    assert!(split_q.aggregate(&req(B, B + 300_000)).unwrap().is_some());
    assert!(split_q.aggregate(&req(0, B - 1)).unwrap().is_some());
    // Gathering a split select counts its samples against the limit.
    let limited = crate::SplitSeriesQuerier::new(
        EngineQuerier::new(engine_dyn, (0..SPLIT_SHARDS).collect()),
        vec![B],
        100,
    );
    let err = limited.select(&m, 0, END_MS).err().expect("over the limit");
    assert!(err.message.contains("too many samples"), "{err}");
}

#[test]
fn parts_folded_at_once_come_back_in_the_queriers_order() {
    // `evaluate_each` folds the shards on several threads: each part must still be its own
    // shard's, in the order the queriers were given.
    let engine = engine();
    let engine_dyn: Arc<dyn Engine> = engine.clone();
    let shards: Vec<EngineQuerier> = (0..SHARDS)
        .rev()
        .map(|s| EngineQuerier::new(engine_dyn.clone(), vec![s]))
        .collect();
    let queriers: Vec<&dyn Querier> = shards.iter().map(|q| q as &dyn Querier).collect();
    let req = PartialRequest {
        expr: "sum by (job) (rate(http_requests_total[5m]))".to_string(),
        steps: (1..=20).map(|i| i * 300_000).collect(),
        query_start_ms: 300_000,
        query_end_ms: 6_000_000,
        lookback_delta_ms: 300_000,
        data_range_ms: (0, 6_000_000),
        samples_max: 1_000_000,
        series_max: 1_000,
        timeout_ms: 0,
    };
    let together = super::evaluate_each(&queriers, &req).expect("parts");
    assert_eq!(together.len(), shards.len());
    let mut distinct = BTreeSet::new();
    for (part, querier) in together.iter().zip(&queriers) {
        let alone = super::evaluate_each(&[*querier], &req).expect("one part");
        let (part, alone) = (format!("{part:?}"), format!("{:?}", alone[0]));
        assert_eq!(part, alone);
        distinct.insert(part);
    }
    // The shards hold different series: parts in the wrong order would not match.
    assert_eq!(distinct.len(), shards.len());
}

#[test]
fn a_deeply_nested_parameter_is_folded_on_a_stack_deep_enough() {
    // The parts run on threads of their own: a parameter nested thousands of levels deep must
    // not overflow their stacks (it is a constant, so the call is computed by the parts).
    let engine = engine();
    let q = querier(&engine);
    let depth = 4_000;
    let param = format!("{}60{}", "(".repeat(depth), ")".repeat(depth));
    for query in [
        format!("predict_linear(temp[5m], {param})"),
        format!("sum(predict_linear(temp[5m], {param}))"),
    ] {
        let got = crate::syntax::stack::on_small_stack(|| {
            PromqlEngine::default().instant(&q, &query, 3_600_000)
        })
        .unwrap_or_else(|e| panic!("{}: {e}", &query[..30]));
        assert!(
            matches!(&got.value, Value::Vector(v) if !v.is_empty()),
            "{:?}",
            got.value
        );
    }
}
