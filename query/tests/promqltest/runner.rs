//! Runs parsed script commands against the engine and compares results like Prometheus'
//! promqltest does (values equal within a relative 1e-6, NaN equals NaN).

use promql_parser::parser::Expr;
use regex::Regex;
use tidemark_query::histogram::{Hist, HistogramPoint};
use tidemark_query::{MatrixSeries, Point, PromqlEngine, Querier, QueryError, QueryResult, Value};
use tidemark_storage::model::is_stale_nan;
use tidemark_storage::{Labels, Sample};

use super::at_modifier::at_modifier_cases;
use super::script::{Command, Eval, EvalKind, Matching, ScriptPoint, SeqValue};
use super::store::{Loaded, Store};

/// Relative tolerance of value comparisons.
const EPSILON: f64 = 1e-6;
/// Half-width and step of the range query an instant eval is re-run as.
const RANGE_MODE_STEP_MS: i64 = 60_000;

/// The outcome of one eval.
pub struct Outcome {
    pub line: usize,
    pub text: String,
    pub error: Option<String>,
}

/// Runs all commands of a script; one outcome per eval.
pub fn run(cmds: &[Command]) -> Vec<Outcome> {
    let engine = PromqlEngine::default();
    let mut store = Store::default();
    let mut out = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => store = Store::default(),
            Command::Load {
                step_ms,
                series,
                with_nhcb,
            } => {
                // A series defined twice in one block takes its last definition, as in
                // Prometheus' runner (which keys a block's series by their labels).
                let mut defs: Vec<Loaded> = Vec::new();
                for (labels, values) in series {
                    let def = points_at(labels.clone(), values, 0, *step_ms);
                    match defs.iter_mut().find(|d| &d.labels == labels) {
                        Some(d) => *d = def,
                        None => defs.push(def),
                    }
                }
                if *with_nhcb {
                    match super::nhcb::convert(&defs) {
                        Ok(native) => defs.extend(native),
                        Err(e) => panic!("load_with_nhcb: {e}"),
                    }
                }
                store.load(&defs);
            }
            Command::Eval(e) => {
                let error = run_eval(&engine, &store.querier(), e).err();
                out.push(Outcome {
                    line: e.line,
                    text: e.text.clone(),
                    error,
                });
            }
        }
    }
    out
}

/// A script's values of one series as points at `start_ms`, `start_ms + step_ms`, ...
fn points_at(labels: Labels, values: &[SeqValue], start_ms: i64, step_ms: i64) -> Loaded {
    let mut out = Loaded {
        labels,
        samples: Vec::new(),
        histograms: Vec::new(),
    };
    for (i, v) in values.iter().enumerate() {
        let t = start_ms + i as i64 * step_ms;
        match v {
            None => {}
            Some(ScriptPoint::Float(v)) => out.samples.push(Sample::new(t, *v)),
            Some(ScriptPoint::Histogram(h)) => {
                out.histograms.push(HistogramPoint { t, h: h.clone() })
            }
        }
    }
    out
}

fn matches(m: &Matching, s: &str) -> bool {
    match m {
        Matching::Any => true,
        Matching::Msg(x) => x == s,
        Matching::Regex(r) => Regex::new(r).map(|r| r.is_match(s)).unwrap_or(false),
    }
}

/// Checks a query's outcome against an eval's failure expectation: `Ok(None)` when the error
/// was expected, `Ok(Some(result))` to go on comparing.
fn check_failure(
    e: &Eval,
    res: Result<QueryResult, QueryError>,
) -> Result<Option<QueryResult>, String> {
    match (res, &e.expect.fail) {
        (Err(err), Some(m)) if matches(m, &err.message) => Ok(None),
        (Err(err), Some(m)) => Err(format!("expected error {m:?}, got {:?}", err.message)),
        (Err(err), None) => Err(format!(
            "unexpected error ({:?}): {}",
            err.kind, err.message
        )),
        (Ok(_), Some(m)) => Err(format!("expected error {m:?}, query succeeded")),
        (Ok(r), None) => Ok(Some(r)),
    }
}

fn run_eval(engine: &PromqlEngine, q: &dyn Querier, e: &Eval) -> Result<(), String> {
    if let Some(u) = &e.unsupported {
        return Err(format!("unsupported expectation: {u}"));
    }
    let ast = match promql_parser::parser::parse(&e.expr) {
        Ok(ast) => ast,
        Err(msg) => {
            // Parse errors are query errors like any other.
            let err = QueryError::bad_data(msg);
            return check_failure(e, Err(err)).map(|_| ());
        }
    };
    match e.kind {
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let res = engine.range_expr(q, &ast, start_ms, end_ms, step_ms);
            let Some(res) = check_failure(e, res)? else {
                return Ok(());
            };
            check_annotations(e, &res)?;
            compare(e, &res.value)
        }
        EvalKind::Instant { t_ms } => {
            // Like Prometheus' runner: the query as written, then its `@` variants.
            run_instant(engine, q, e, &ast, t_ms)?;
            if let Some((pinned, times)) = at_modifier_cases(&ast, t_ms) {
                for at_ms in times {
                    run_instant(engine, q, e, &pinned, at_ms)
                        .map_err(|err| format!("with @ {t_ms}ms evaluated at {at_ms}ms: {err}"))?;
                }
            }
            Ok(())
        }
    }
}

/// One instant query of an instant eval, then the same query as a range query around it
/// (Prometheus' `runInstantQuery`): the middle step must give the same result.
fn run_instant(
    engine: &PromqlEngine,
    q: &dyn Querier,
    e: &Eval,
    ast: &Expr,
    t_ms: i64,
) -> Result<(), String> {
    let Some(res) = check_failure(e, engine.instant_expr(q, ast, t_ms))? else {
        return Ok(());
    };
    check_annotations(e, &res)?;
    compare(e, &res.value)?;
    let r = engine
        .range_expr(
            q,
            ast,
            t_ms - RANGE_MODE_STEP_MS,
            t_ms + RANGE_MODE_STEP_MS,
            RANGE_MODE_STEP_MS,
        )
        .map_err(|err| format!("range mode: unexpected error: {}", err.message))?;
    if e.expect.ordered {
        // Range results are sorted by labels: an expected order cannot be checked.
        return Ok(());
    }
    let Value::Matrix(m) = r.value else {
        return Err("range mode: not a matrix".into());
    };
    if m.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("range mode: matrix not sorted by labels".into());
    }
    let mut vec = Vec::new();
    for s in m {
        if let Some(f) = s.floats.iter().find(|x| x.t == t_ms) {
            vec.push((s.labels, Point::Float(*f)));
        } else if let Some(h) = s.histograms.iter().find(|x| x.t == t_ms) {
            vec.push((s.labels, Point::Histogram(h.clone())));
        }
    }
    let v = match res.value {
        Value::Scalar { .. } => Value::Scalar {
            t: t_ms,
            v: vec.first().and_then(|x| x.1.float()).unwrap_or(f64::NAN),
        },
        _ => Value::Vector(vec),
    };
    compare(e, &v).map_err(|err| format!("range mode: {err}"))
}

fn check_annotations(e: &Eval, res: &QueryResult) -> Result<(), String> {
    for (kind, expected, got, none) in [
        ("warn", &e.expect.warn, &res.warnings, e.expect.no_warn),
        ("info", &e.expect.info, &res.infos, e.expect.no_info),
    ] {
        if none && !got.is_empty() {
            return Err(format!("expected no {kind} annotations, got {got:?}"));
        }
        for m in expected {
            if !got.iter().any(|g| matches(m, g)) {
                return Err(format!("expected {kind} annotation {m:?}, got {got:?}"));
            }
        }
        if expected.iter().any(|m| !matches!(m, Matching::Any)) {
            for g in got.iter() {
                if !expected.iter().any(|m| matches(m, g)) {
                    return Err(format!("unexpected {kind} annotation {g:?}"));
                }
            }
        }
    }
    Ok(())
}

fn equal(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < EPSILON * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn compare(e: &Eval, got: &Value) -> Result<(), String> {
    match got {
        Value::Scalar { v, .. } => {
            let Some(exp) = e.scalar else {
                return Err(format!("got scalar {v}, expected a vector"));
            };
            if !equal(exp, *v) {
                return Err(format!("expected scalar {exp}, got {v}"));
            }
            Ok(())
        }
        Value::String { s, .. } => Err(format!("got string {s:?}")),
        Value::Vector(vec) => {
            if e.scalar.is_some() {
                return Err(format!("expected a scalar, got vector {vec:?}"));
            }
            if vec.len() != e.series.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    e.series.len(),
                    vec.len(),
                    show(vec)
                ));
            }
            for (i, (labels, values)) in e.series.iter().enumerate() {
                let Some(pos) = vec.iter().position(|(l, _)| l == labels) else {
                    return Err(format!("missing series {labels}; got {}", show(vec)));
                };
                if e.expect.ordered && pos != i {
                    return Err(format!("series {labels} at position {pos}, expected {i}"));
                }
                let same = match (values.first().cloned().flatten(), &vec[pos].1) {
                    (Some(ScriptPoint::Float(exp)), Point::Float(got)) => equal(exp, got.v),
                    (Some(ScriptPoint::Histogram(exp)), Point::Histogram(got)) => {
                        equal_hist(&exp, &got.h)
                    }
                    _ => false,
                };
                if !same {
                    return Err(format!(
                        "series {labels}: expected {:?}, got {:?}",
                        values.first(),
                        vec[pos].1
                    ));
                }
            }
            Ok(())
        }
        Value::Matrix(m) => {
            if e.scalar.is_some() {
                return Err("expected a scalar, got a matrix".into());
            }
            let (start, step) = match e.kind {
                EvalKind::Range {
                    start_ms, step_ms, ..
                } => (start_ms, step_ms),
                EvalKind::Instant { .. } => {
                    return Err("instant evals with range-vector results are not compared".into());
                }
            };
            if m.len() != e.series.len() {
                let got: Vec<String> = m.iter().map(|s| s.labels.to_string()).collect();
                return Err(format!(
                    "expected {} series, got {}: {got:?}",
                    e.series.len(),
                    m.len()
                ));
            }
            for (labels, values) in &e.series {
                let Some(got) = m.iter().find(|s| &s.labels == labels) else {
                    let got: Vec<String> = m.iter().map(|s| s.labels.to_string()).collect();
                    return Err(format!("missing series {labels}; got {got:?}"));
                };
                let exp = points_at(labels.clone(), values, start, step);
                if !same_series(&exp, got) {
                    return Err(format!(
                        "series {labels}: expected {:?} {:?}, got {:?} {:?}",
                        exp.samples, exp.histograms, got.floats, got.histograms
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Whether a matrix series holds the expected points, floats and histograms.
fn same_series(exp: &Loaded, got: &MatrixSeries) -> bool {
    exp.samples.len() == got.floats.len()
        && exp
            .samples
            .iter()
            .zip(&got.floats)
            .all(|(a, b)| a.t == b.t && equal(a.v, b.v))
        && exp.histograms.len() == got.histograms.len()
        && exp
            .histograms
            .iter()
            .zip(&got.histograms)
            .all(|(a, b)| a.t == b.t && equal_hist(&a.h, &b.h))
}

/// Histograms compared as Prometheus' runner does: empty buckets ignored, counts, sums and
/// bucket counts within the tolerance, layout and thresholds exact.
fn equal_hist(a: &Hist, b: &Hist) -> bool {
    let (a, b) = (a.without_empty_buckets(), b.without_empty_buckets());
    let same_buckets = |x: &[tidemark_query::histogram::Bucket],
                        y: &[tidemark_query::histogram::Bucket]| {
        x.len() == y.len()
            && x.iter()
                .zip(y)
                .all(|(p, q)| p.index == q.index && equal(p.count, q.count))
    };
    a.schema == b.schema
        && equal(a.count, b.count)
        && equal(a.sum, b.sum)
        && (!a.uses_custom_buckets() || a.custom_values == b.custom_values)
        && a.zero_threshold == b.zero_threshold
        && equal(a.zero_count, b.zero_count)
        && same_buckets(&a.positive, &b.positive)
        && same_buckets(&a.negative, &b.negative)
}

fn show(vec: &[(Labels, Point)]) -> String {
    let parts: Vec<String> = vec
        .iter()
        .map(|(l, p)| match p {
            Point::Float(s) => format!("{l} {}", s.v),
            Point::Histogram(h) => format!("{l} {:?}", h.h),
        })
        .collect();
    parts.join(", ")
}
