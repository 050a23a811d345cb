//! Runs parsed script commands against the engine and compares results like Prometheus'
//! promqltest does (values equal within a relative 1e-6, NaN equals NaN).

use promql_parser::parser::Expr;
use regex::Regex;
use tidemark_query::{PromqlEngine, Querier, QueryError, QueryResult, Value};
use tidemark_storage::model::is_stale_nan;
use tidemark_storage::{Labels, Sample};

use super::at_modifier::at_modifier_cases;
use super::script::{Command, Eval, EvalKind, Matching};
use super::store::Store;

/// Relative tolerance of value comparisons.
const EPSILON: f64 = 1e-6;
/// Half-width and step of the range query an instant eval is re-run as.
const RANGE_MODE_STEP_MS: i64 = 60_000;

/// The outcome of one eval.
pub struct Outcome {
    pub line: usize,
    pub text: String,
    pub error: Option<String>,
    /// Whether the query may read series that have native-histogram samples (loaded as gaps).
    pub touches_histograms: bool,
}

/// Runs all commands of a script; one outcome per eval.
pub fn run(cmds: &[Command]) -> Vec<Outcome> {
    let engine = PromqlEngine::default();
    let mut store = Store::default();
    let mut out = Vec::new();
    let mut histogram_names: Vec<String> = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                store = Store::default();
                histogram_names.clear();
            }
            Command::Load {
                step_ms,
                series,
                histogram_names: names,
            } => {
                histogram_names.extend(names.iter().cloned());
                // A series defined twice in one block takes its last definition, as in
                // Prometheus' runner (which keys a block's series by their labels).
                let mut defs: Vec<(Labels, Vec<Sample>)> = Vec::new();
                for (labels, values) in series {
                    let samples = values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Sample::new(i as i64 * step_ms, v)))
                        .collect();
                    match defs.iter_mut().find(|(l, _)| l == labels) {
                        Some(def) => def.1 = samples,
                        None => defs.push((labels.clone(), samples)),
                    }
                }
                store.load(&defs);
            }
            Command::Eval(e) => {
                let error = run_eval(&engine, &store.querier(), e).err();
                let touches_histograms = histogram_names.iter().any(|n| {
                    e.expr.contains(n.as_str())
                        || e.expr.contains("{") && !n.is_empty()
                        || n.is_empty()
                });
                out.push(Outcome {
                    line: e.line,
                    text: e.text.clone(),
                    error,
                    touches_histograms,
                });
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
    if m.windows(2).any(|w| w[0].0 > w[1].0) {
        return Err("range mode: matrix not sorted by labels".into());
    }
    let mut vec = Vec::new();
    for (labels, samples) in m {
        if let Some(s) = samples.iter().find(|s| s.t == t_ms) {
            vec.push((labels, *s));
        }
    }
    let v = match res.value {
        Value::Scalar { .. } => Value::Scalar {
            t: t_ms,
            v: vec.first().map(|x| x.1.v).unwrap_or(f64::NAN),
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
                let exp = values.first().copied().flatten().unwrap_or(f64::NAN);
                if !equal(exp, vec[pos].1.v) {
                    return Err(format!(
                        "series {labels}: expected {exp}, got {}",
                        vec[pos].1.v
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
                let got: Vec<String> = m.iter().map(|(l, _)| l.to_string()).collect();
                return Err(format!(
                    "expected {} series, got {}: {got:?}",
                    e.series.len(),
                    m.len()
                ));
            }
            for (labels, values) in &e.series {
                let Some((_, samples)) = m.iter().find(|(l, _)| l == labels) else {
                    let got: Vec<String> = m.iter().map(|(l, _)| l.to_string()).collect();
                    return Err(format!("missing series {labels}; got {got:?}"));
                };
                let exp: Vec<Sample> = values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| Sample::new(start + i as i64 * step, v)))
                    .collect();
                if exp.len() != samples.len()
                    || exp
                        .iter()
                        .zip(samples)
                        .any(|(a, b)| a.t != b.t || !equal(a.v, b.v))
                {
                    return Err(format!(
                        "series {labels}: expected {exp:?}, got {samples:?}"
                    ));
                }
            }
            Ok(())
        }
    }
}

fn show(vec: &[(Labels, Sample)]) -> String {
    let parts: Vec<String> = vec.iter().map(|(l, s)| format!("{l} {}", s.v)).collect();
    parts.join(", ")
}
