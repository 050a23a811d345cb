//! Runs parsed script commands against the engine and compares results like Prometheus'
//! promqltest does (values equal within a relative 1e-6, NaN equals NaN).

use regex::Regex;
use tidemark_query::{PromqlEngine, QueryError, QueryResult, Value};
use tidemark_storage::model::is_stale_nan;
use tidemark_storage::{Labels, Sample};

use super::script::{Command, Eval, EvalKind, Matching};
use super::vec_querier::VecQuerier;

/// Relative tolerance of value comparisons.
const EPSILON: f64 = 1e-6;

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
    let mut store = VecQuerier::default();
    let mut out = Vec::new();
    let mut histogram_names: Vec<String> = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                store.clear();
                histogram_names.clear();
            }
            Command::Load {
                step_ms,
                series,
                histogram_names: names,
            } => {
                histogram_names.extend(names.iter().cloned());
                for (labels, values) in series {
                    let samples: Vec<Sample> = values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Sample::new(i as i64 * step_ms, v)))
                        .collect();
                    store.add(labels.clone(), samples);
                }
            }
            Command::Eval(e) => {
                let error = run_eval(&engine, &store, e).err();
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

fn run_eval(engine: &PromqlEngine, store: &VecQuerier, e: &Eval) -> Result<(), String> {
    if let Some(u) = &e.unsupported {
        return Err(format!("unsupported expectation: {u}"));
    }
    let res = match e.kind {
        EvalKind::Instant { t_ms } => engine.instant(store, &e.expr, t_ms),
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => engine.range(store, &e.expr, start_ms, end_ms, step_ms),
    };
    let res = match (res, &e.expect.fail) {
        (Err(err), Some(m)) => {
            return if matches(m, &err.message) {
                Ok(())
            } else {
                Err(format!("expected error {m:?}, got {:?}", err.message))
            };
        }
        (Err(err), None) => {
            return Err(format!(
                "unexpected error ({:?}): {}",
                err.kind, err.message
            ));
        }
        (Ok(_), Some(m)) => return Err(format!("expected error {m:?}, query succeeded")),
        (Ok(r), None) => r,
    };
    check_annotations(e, &res)?;
    compare(e, &res.value)?;
    // Like Prometheus' runner: an instant eval must give the same result as the middle step of
    // a range query around it.
    if let EvalKind::Instant { t_ms } = e.kind
        && !e.expect.ordered
        && !e.expr.contains("start()")
        && !e.expr.contains("end()")
        && matches!(res.value, Value::Vector(_) | Value::Scalar { .. })
    {
        let r = engine
            .range(store, &e.expr, t_ms - 60_000, t_ms + 60_000, 60_000)
            .map_err(|err: QueryError| format!("range mode: unexpected error: {}", err.message))?;
        let Value::Matrix(m) = r.value else {
            return Err("range mode: not a matrix".into());
        };
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
        compare(e, &v).map_err(|err| format!("range mode: {err}"))?;
    }
    Ok(())
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
