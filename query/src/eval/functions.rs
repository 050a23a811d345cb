//! Function calls: argument evaluation and dispatch to the function families.

mod histogram;
mod labels;
mod math;
mod range;
mod time;

use promql_parser::parser::{Call, Expr};

use super::{Elem, Evaluator, Val, check_unique};
use crate::error::QueryError;

/// The first argument of a call that is a range vector, skipping parentheses.
fn is_range_arg(e: &Expr) -> bool {
    match e {
        Expr::MatrixSelector(_) | Expr::Subquery(_) => true,
        Expr::Paren(p) => is_range_arg(&p.expr),
        _ => false,
    }
}

/// Evaluates argument `i` of `c` as a scalar.
pub(crate) fn scalar_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    t_ms: i64,
) -> Result<f64, QueryError> {
    match ev.eval(&c.args.args[i], t_ms)? {
        Val::Scalar(v) => Ok(v),
        _ => Err(QueryError::bad_data(format!(
            "argument {i} of {} must be a scalar",
            c.func.name
        ))),
    }
}

/// Evaluates argument `i` of `c` as a string.
pub(crate) fn string_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    t_ms: i64,
) -> Result<String, QueryError> {
    match ev.eval(&c.args.args[i], t_ms)? {
        Val::String(s) => Ok(s),
        _ => Err(QueryError::bad_data(format!(
            "argument {i} of {} must be a string",
            c.func.name
        ))),
    }
}

/// Evaluates argument `i` of `c` as an instant vector.
pub(crate) fn vector_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    t_ms: i64,
) -> Result<Vec<Elem>, QueryError> {
    match ev.eval(&c.args.args[i], t_ms)? {
        Val::Vector(v) => Ok(v),
        _ => Err(QueryError::bad_data(format!(
            "argument {i} of {} must be an instant vector",
            c.func.name
        ))),
    }
}

/// Evaluates a function call at `t_ms`.
pub(crate) fn eval_call(ev: &Evaluator<'_>, c: &Call, t_ms: i64) -> Result<Val, QueryError> {
    let name = c.func.name;
    if let Some(i) = c.args.args.iter().position(|a| is_range_arg(a)) {
        let out = range::eval_range_function(ev, c, i, t_ms)?;
        check_unique(&out)?;
        return Ok(Val::Vector(out));
    }
    let out = match name {
        "time" => return Ok(Val::Scalar(t_ms as f64 / 1000.0)),
        "pi" => return Ok(Val::Scalar(std::f64::consts::PI)),
        "scalar" => {
            let v = vector_arg(ev, c, 0, t_ms)?;
            return Ok(Val::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }));
        }
        "vector" => {
            let v = scalar_arg(ev, c, 0, t_ms)?;
            vec![Elem {
                labels: Default::default(),
                v,
            }]
        }
        "absent" => {
            let v = vector_arg(ev, c, 0, t_ms)?;
            if v.is_empty() {
                vec![Elem {
                    labels: labels::absent_labels(&c.args.args[0]),
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "sort" | "sort_desc" => {
            let mut v = vector_arg(ev, c, 0, t_ms)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if desc => b.v.partial_cmp(&a.v).unwrap_or(std::cmp::Ordering::Equal),
                _ => a.v.partial_cmp(&b.v).unwrap_or(std::cmp::Ordering::Equal),
            });
            return Ok(Val::Vector(v));
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = vector_arg(ev, c, 0, t_ms)?;
            let mut names = Vec::new();
            for i in 1..c.args.args.len() {
                names.push(string_arg(ev, c, i, t_ms)?);
            }
            labels::sort_by_label(&mut v, &names, name == "sort_by_label_desc");
            return Ok(Val::Vector(v));
        }
        "label_replace" => labels::label_replace(ev, c, t_ms)?,
        "label_join" => labels::label_join(ev, c, t_ms)?,
        "timestamp" => timestamp(ev, c, t_ms)?,
        "histogram_quantile" => histogram::histogram_quantile(ev, c, t_ms)?,
        "year" | "month" | "day_of_month" | "day_of_year" | "day_of_week" | "hour" | "minute"
        | "days_in_month" => time::date_function(ev, c, t_ms)?,
        _ => math::eval_math(ev, c, t_ms)?,
    };
    check_unique(&out)?;
    Ok(Val::Vector(out))
}

/// `timestamp(v)`: the time of each sample in seconds; for a plain selector the sample's own
/// time, otherwise the evaluation time.
fn timestamp(ev: &Evaluator<'_>, c: &Call, t_ms: i64) -> Result<Vec<Elem>, QueryError> {
    let mut arg: &Expr = &c.args.args[0];
    while let Expr::Paren(p) = arg {
        arg = &p.expr;
    }
    if let Expr::VectorSelector(vs) = arg {
        let end = ev.window_end(&vs.at, &vs.offset, t_ms);
        return Ok(ev
            .data
            .instant(vs, end, ev.limits.lookback_delta_ms)
            .into_iter()
            .map(|(labels, s)| Elem {
                labels: super::drop_name(labels),
                v: s.t as f64 / 1000.0,
            })
            .collect());
    }
    Ok(vector_arg(ev, c, 0, t_ms)?
        .into_iter()
        .map(|e| Elem {
            labels: super::drop_name(e.labels),
            v: t_ms as f64 / 1000.0,
        })
        .collect())
}
