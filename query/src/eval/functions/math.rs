//! Element-wise math functions on instant vectors (`abs`, `round`, `clamp`, trigonometry, ...).

use promql_parser::parser::Call;

use super::{scalar_arg, vector_arg};
use crate::error::QueryError;
use crate::eval::numeric::{go_max, go_min};
use crate::eval::{Elem, Evaluator, drop_name};

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

/// Evaluates an element-wise math function; the metric name is dropped.
pub(crate) fn eval_math(ev: &Evaluator<'_>, c: &Call, t_ms: i64) -> Result<Vec<Elem>, QueryError> {
    let name = c.func.name;
    let f: Box<dyn Fn(f64) -> f64> = if let Some(f) = simple(name) {
        Box::new(f)
    } else {
        match name {
            "round" => {
                let to_nearest = if c.args.args.len() > 1 {
                    scalar_arg(ev, c, 1, t_ms)?
                } else {
                    1.0
                };
                let inv = 1.0 / to_nearest;
                Box::new(move |v: f64| (v * inv + 0.5).floor() / inv)
            }
            "clamp" => {
                let min = scalar_arg(ev, c, 1, t_ms)?;
                let max = scalar_arg(ev, c, 2, t_ms)?;
                if max < min {
                    return Ok(Vec::new());
                }
                Box::new(move |v: f64| go_max(min, go_min(max, v)))
            }
            "clamp_min" => {
                let min = scalar_arg(ev, c, 1, t_ms)?;
                Box::new(move |v: f64| go_max(min, v))
            }
            "clamp_max" => {
                let max = scalar_arg(ev, c, 1, t_ms)?;
                Box::new(move |v: f64| go_min(max, v))
            }
            other => return Err(QueryError::not_implemented(format!("function {other}"))),
        }
    };
    Ok(vector_arg(ev, c, 0, t_ms)?
        .into_iter()
        .map(|e| Elem {
            labels: drop_name(e.labels),
            v: f(e.v),
        })
        .collect())
}
