//! Element-wise math functions on instant vectors (`abs`, `round`, `clamp`, trigonometry, ...).

use promql_parser::parser::Call;

use super::{scalar_arg, vector_arg};
use crate::error::QueryError;
use crate::eval::numeric::{go_max, go_min};
use crate::eval::series::merge_same_labels;
use crate::eval::{Evaluator, Series, drop_name};

/// The function of one float for element-wise functions without parameters.
fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

/// The optional scalar argument `i` at every step, `default` when absent.
fn optional_arg(
    ev: &Evaluator<'_>,
    c: &Call,
    i: usize,
    default: f64,
    ts: &[i64],
) -> Result<Vec<f64>, QueryError> {
    if c.args.args.len() > i {
        scalar_arg(ev, c, i, ts)
    } else {
        Ok(vec![default; ts.len()])
    }
}

/// An element-wise function, some with per-step parameters.
#[derive(Clone, Copy)]
enum Op {
    Simple(fn(f64) -> f64),
    /// `round(v, to_nearest)`.
    Round,
    /// `clamp(v, min, max)`: nothing when max < min (NaN bounds clamp to NaN).
    Clamp,
    ClampMin,
    ClampMax,
}

impl Op {
    /// The function of `v` with the step's parameters `a` and `b`.
    fn apply(self, v: f64, a: f64, b: f64) -> Option<f64> {
        Some(match self {
            Op::Simple(f) => f(v),
            Op::Round => {
                let inv = 1.0 / a;
                (v * inv + 0.5).floor() / inv
            }
            Op::Clamp if b < a => return None,
            Op::Clamp => go_max(a, go_min(b, v)),
            Op::ClampMin => go_max(a, v),
            Op::ClampMax => go_min(a, v),
        })
    }
}

/// Evaluates an element-wise math function; the metric name is dropped.
pub(crate) fn eval_math(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    let name = c.func.name;
    let op = match (simple(name), name) {
        (Some(f), _) => Op::Simple(f),
        (None, "round") => Op::Round,
        (None, "clamp") => Op::Clamp,
        (None, "clamp_min") => Op::ClampMin,
        (None, "clamp_max") => Op::ClampMax,
        (None, other) => return Err(QueryError::not_implemented(format!("function {other}"))),
    };
    let none = || vec![0.0; ts.len()];
    let (a, b) = match op {
        Op::Simple(_) => (none(), none()),
        Op::Round => (optional_arg(ev, c, 1, 1.0, ts)?, none()),
        Op::Clamp => (scalar_arg(ev, c, 1, ts)?, scalar_arg(ev, c, 2, ts)?),
        Op::ClampMin | Op::ClampMax => (scalar_arg(ev, c, 1, ts)?, none()),
    };
    let mut out = vector_arg(ev, c, 0, ts)?;
    for s in &mut out {
        s.labels = drop_name(std::mem::take(&mut s.labels));
        for (step, x) in s.values.iter_mut().enumerate() {
            if let Some(v) = *x {
                *x = op.apply(v, a[step], b[step]);
            }
        }
    }
    merge_same_labels(out)
}
