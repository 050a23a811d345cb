//! Function calls: argument evaluation and dispatch to the function families.

mod histogram;
mod labels;
mod math;
mod native;
pub(crate) mod range;
mod range_fn;
mod range_hist;
pub(crate) mod rolled;
mod time;

use promql_parser::parser::{Call, Expr};
use tidemark_storage::Labels;

use super::series::{floats_only, merge_same_labels, present_per_step};
use super::{Evaluator, Series, Val, drop_name};
use crate::error::QueryError;
use crate::partial::{Plan, eval_partial, needs_whole};

/// Whether a call argument is a range vector, parentheses skipped.
fn is_range_arg(e: &Expr) -> bool {
    match e {
        Expr::MatrixSelector(_) | Expr::Subquery(_) => true,
        Expr::Paren(p) => is_range_arg(&p.expr),
        _ => false,
    }
}

/// The matrix selector `e` is, parentheses skipped.
pub(crate) fn matrix_selector(e: &Expr) -> Option<&promql_parser::parser::MatrixSelector> {
    match e {
        Expr::MatrixSelector(ms) => Some(ms),
        Expr::Paren(p) => matrix_selector(&p.expr),
        _ => None,
    }
}

/// Whether call `c` streams its argument `arg` from the querier when evaluated (a range
/// function over a matrix selector), so that `prepare` need not load it.
pub(crate) fn streams_range_arg(_c: &Call, arg: &Expr) -> bool {
    matrix_selector(arg).is_some()
}

/// Argument `i` of `c` as a scalar: its value per step.
pub(crate) fn scalar_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    ts: &[i64],
) -> Result<Vec<f64>, QueryError> {
    match ev.eval(&c.args.args[i], ts)? {
        Val::Scalar(v) => Ok(v),
        _ => Err(QueryError::bad_data(format!(
            "argument {i} of {} must be a scalar",
            c.func.name
        ))),
    }
}

/// Argument `i` of `c` as a string.
pub(crate) fn string_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    ts: &[i64],
) -> Result<String, QueryError> {
    match ev.eval(&c.args.args[i], ts)? {
        Val::String(s) => Ok(s),
        _ => Err(QueryError::bad_data(format!(
            "argument {i} of {} must be a string",
            c.func.name
        ))),
    }
}

/// Argument `i` of `c` as an instant vector of floats: its histogram elements drop, as they do
/// in every function that does not take them.
pub(crate) fn vector_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    mixed_vector_arg(ev, c, i, ts).map(floats_only)
}

/// Argument `i` of `c` as an instant vector, floats and histograms.
pub(crate) fn mixed_vector_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    match ev.eval(&c.args.args[i], ts)? {
        Val::Vector(v) => Ok(v),
        _ => Err(QueryError::bad_data(format!(
            "argument {i} of {} must be an instant vector",
            c.func.name
        ))),
    }
}

/// Evaluates a function call at every time of `ts`.
pub(crate) fn eval_call<'e>(
    ev: &'e Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Val<'e>, QueryError> {
    let name = c.func.name;
    if let Some(i) = c.args.args.iter().position(|a| is_range_arg(a)) {
        if let Some(plan) = Plan::of_call(c) {
            // Series with native histograms are evaluated whole (their parts cannot keep them).
            match eval_partial(ev, &plan, ts) {
                Err(e) if needs_whole(&e) => {}
                other => return other.map(Val::Vector),
            }
        }
        return Ok(Val::Vector(range::eval_range_function(ev, c, i, ts)?));
    }
    if let Some(f) = native::per_histogram_function(name) {
        return Ok(Val::Vector(native::per_histogram(ev, c, ts, f)?));
    }
    let out = match name {
        "time" => return Ok(Val::Scalar(ts.iter().map(|&t| t as f64 / 1000.0).collect())),
        "pi" => return Ok(Val::Scalar(vec![std::f64::consts::PI; ts.len()])),
        "scalar" => {
            let v = vector_arg(ev, c, 0, ts)?;
            return Ok(Val::Scalar(
                (0..ts.len())
                    .map(|step| {
                        let mut present = v.iter().filter_map(|s| s.values[step]);
                        match (present.next(), present.next()) {
                            (Some(x), None) => x,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ));
        }
        "vector" => {
            let v = scalar_arg(ev, c, 0, ts)?;
            vec![Series::new(
                Labels::default(),
                v.into_iter().map(Some).collect(),
            )]
        }
        "absent" => {
            let v = mixed_vector_arg(ev, c, 0, ts)?;
            absent(&c.args.args[0], &v, ts.len())
        }
        "sort" | "sort_desc" => {
            let mut v = vector_arg(ev, c, 0, ts)?;
            let desc = name == "sort_desc";
            // Only an instant query's order shows; a range result is sorted by labels.
            let key = |s: &Series| s.values.first().copied().flatten().unwrap_or(f64::NAN);
            v.sort_by(|a, b| {
                let (a, b) = (key(a), key(b));
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
                    _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
                }
            });
            v
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = mixed_vector_arg(ev, c, 0, ts)?;
            let mut names = Vec::new();
            for i in 1..c.args.args.len() {
                names.push(string_arg(ev, c, i, ts)?);
            }
            labels::sort_by_label(&mut v, &names, name == "sort_by_label_desc");
            v
        }
        "label_replace" => labels::label_replace(ev, c, ts)?,
        "label_join" => labels::label_join(ev, c, ts)?,
        "timestamp" => timestamp(ev, c, ts)?,
        "histogram_quantile" => histogram::histogram_quantile(ev, c, ts)?,
        "histogram_fraction" => histogram::histogram_fraction(ev, c, ts)?,
        "year" | "month" | "day_of_month" | "day_of_year" | "day_of_week" | "hour" | "minute"
        | "days_in_month" => time::date_function(ev, c, ts)?,
        _ => math::eval_math(ev, c, ts)?,
    };
    Ok(Val::Vector(out))
}

/// `absent(v)` (and `absent_over_time`): 1 at the steps where `v` has no element, with the
/// labels of the argument's equality matchers.
pub(crate) fn absent(arg: &Expr, v: &[Series], steps: usize) -> Vec<Series> {
    let values: Vec<Option<f64>> = present_per_step(v, steps)
        .into_iter()
        .map(|p| (!p).then_some(1.0))
        .collect();
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    vec![Series::new(labels::absent_labels(arg), values)]
}

/// `timestamp(v)`: the time of each sample in seconds; for a plain selector the sample's own
/// time, otherwise the evaluation time.
fn timestamp(ev: &Evaluator<'_>, c: &Call, ts: &[i64]) -> Result<Vec<Series>, QueryError> {
    let mut arg: &Expr = &c.args.args[0];
    while let Expr::Paren(p) = arg {
        arg = &p.expr;
    }
    let mut out = match arg {
        Expr::VectorSelector(vs) => ev.instant_selector(vs, ts, true)?,
        _ => {
            let mut v = mixed_vector_arg(ev, c, 0, ts)?;
            for s in &mut v {
                for (step, &t) in ts.iter().enumerate() {
                    if s.has_value(step) {
                        s.values[step] = Some(t as f64 / 1000.0);
                    }
                }
                s.hists = Vec::new();
            }
            v
        }
    };
    for s in &mut out {
        s.labels = drop_name(std::mem::take(&mut s.labels));
    }
    merge_same_labels(out)
}
