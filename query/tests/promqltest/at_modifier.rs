//! The `@` variants of an instant eval, as Prometheus' runner derives them
//! (`promql/promqltest/test.go`, `atModifierTestCases`, v3.5): every selector and subquery
//! without an `@` timestamp gets `@ <eval time>` (selectors inside a subquery are left alone),
//! and the query is re-run at several other evaluation times, where it must give the same result.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr};

/// Functions whose result depends on the evaluation time even when their arguments do not
/// (Prometheus' `AtModifierUnsafeFunctions`): queries calling them get no `@` variants.
const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// The `@`-pinned copy of `expr` and the evaluation times to run it at, or `None` when the
/// expression calls a time-dependent function.
pub fn at_modifier_cases(expr: &Expr, t_ms: i64) -> Option<(Expr, Vec<i64>)> {
    let mut pinned = expr.clone();
    if pin(&mut pinned, t_ms) {
        return None;
    }
    let times = if t_ms == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t_ms, 0, t_ms / 5, t_ms, 10 * t_ms]
    };
    Some((pinned, times))
}

/// `t_ms` as the parser's timestamp type.
fn system_time(t_ms: i64) -> SystemTime {
    let d = Duration::from_millis(t_ms.unsigned_abs());
    if t_ms >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// Sets `@ t_ms` where Prometheus' runner does; returns whether an unsafe function was seen.
/// `@ start()` and `@ end()` count as unset, as in Prometheus (where they are not a timestamp
/// until the query is prepared).
fn pin(expr: &mut Expr, t_ms: i64) -> bool {
    let at = |a: &mut Option<AtModifier>| {
        if !matches!(a, Some(AtModifier::At(_))) {
            *a = Some(AtModifier::At(system_time(t_ms)));
        }
    };
    match expr {
        Expr::VectorSelector(vs) => {
            at(&mut vs.at);
            false
        }
        Expr::MatrixSelector(ms) => {
            at(&mut ms.vs.at);
            false
        }
        // Whatever is inside a subquery keeps its timestamps.
        Expr::Subquery(sq) => {
            at(&mut sq.at);
            false
        }
        Expr::Aggregate(a) => {
            let p = a.param.as_mut().is_some_and(|p| pin(p, t_ms));
            pin(&mut a.expr, t_ms) || p
        }
        Expr::Unary(u) => pin(&mut u.expr, t_ms),
        Expr::Binary(b) => {
            let l = pin(&mut b.lhs, t_ms);
            pin(&mut b.rhs, t_ms) || l
        }
        Expr::Paren(p) => pin(&mut p.expr, t_ms),
        Expr::Call(c) => {
            let mut unsafe_fn = AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name);
            for a in &mut c.args.args {
                unsafe_fn |= pin(a, t_ms);
            }
            unsafe_fn
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}
