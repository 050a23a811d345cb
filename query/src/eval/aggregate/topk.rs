//! `topk` and `bottomk`: per group and step, the k largest (smallest) elements, which keep
//! their labels.

use std::cmp::Ordering;

use promql_parser::parser::LabelModifier;

use super::{Groups, group_labels};
use crate::error::QueryError;
use crate::eval::numeric::cmp_nan_first;
use crate::eval::{Evaluator, Series};

/// A float as Go's `%v` prints it: exponent form (`1e+100`) from 1e21 up and below 1e-4.
fn go_float(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-4..1e21).contains(&a) {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        v.to_string()
    }
}

/// k as an integer, with Prometheus' errors for NaN and values beyond int64.
fn k_of(k: f64, op: &str) -> Result<i64, QueryError> {
    if k.is_nan() {
        return Err(QueryError::execution(format!(
            "Parameter value is NaN for {op}"
        )));
    }
    if k > i64::MAX as f64 || k < i64::MIN as f64 {
        return Err(QueryError::execution(format!(
            "Scalar value {} overflows int64",
            go_float(k)
        )));
    }
    Ok(k as i64)
}

/// Evaluates `topk` (`top`) or `bottomk` with `k` per step. In a one-step (instant) result the
/// groups come in order of first appearance, each sorted (descending for topk).
pub(crate) fn topk(
    ev: &Evaluator<'_>,
    input: &[Series],
    modifier: &Option<LabelModifier>,
    k: &[f64],
    top: bool,
) -> Result<Vec<Series>, QueryError> {
    let op = if top { "topk" } else { "bottomk" };
    let groups = Groups::new(input, |l| group_labels(l, modifier));
    let members = groups.members();
    // Output series by input series, in order of first selection.
    let mut out_of: Vec<Option<usize>> = vec![None; input.len()];
    let mut out: Vec<Series> = Vec::new();
    let mut present: Vec<(f64, usize)> = Vec::new();
    // NaN always last; then descending for topk, ascending for bottomk; ties in input order.
    let order = |x: &(f64, usize), y: &(f64, usize)| {
        let by_value = match (x.0.is_nan(), y.0.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if top => cmp_nan_first(y.0, x.0),
            _ => cmp_nan_first(x.0, y.0),
        };
        by_value.then(x.1.cmp(&y.1))
    };
    for (step, &k_step) in k.iter().enumerate() {
        ev.check_deadline()?;
        // Prometheus checks k only when there is something to select from.
        if input.iter().all(|s| s.values[step].is_none()) {
            continue;
        }
        let k_step = k_of(k_step, op)?;
        if k_step < 1 {
            continue;
        }
        for group in &members {
            present.clear();
            present.extend(
                group
                    .iter()
                    .filter_map(|&i| input[i].values[step].map(|v| (v, i))),
            );
            let keep = k_step.min(present.len() as i64) as usize;
            if keep == 0 {
                continue;
            }
            if keep < present.len() {
                present.select_nth_unstable_by(keep - 1, order);
                present.truncate(keep);
            }
            present.sort_unstable_by(order);
            for &(v, i) in &present {
                let o = *out_of[i].get_or_insert_with(|| {
                    out.push(Series::new(input[i].labels.clone(), vec![None; k.len()]));
                    out.len() - 1
                });
                out[o].values[step] = Some(v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::go_float;

    #[test]
    fn go_float_matches_go_percent_v() {
        assert_eq!(go_float(1e100), "1e+100");
        assert_eq!(go_float(-9.3e18), "-9300000000000000000");
        assert_eq!(go_float(2.5e-7), "2.5e-07");
        assert_eq!(go_float(42.0), "42");
    }
}
