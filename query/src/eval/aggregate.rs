//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...) with `by`/`without`.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels};

use super::numeric::{cmp_nan_first, format_float, kahan_sum_inc, quantile};
use super::{Elem, Evaluator, Val};
use crate::error::QueryError;

/// The labels of the group an element belongs to.
pub(crate) fn group_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    let v: Vec<Label> = match modifier {
        Some(LabelModifier::Include(names)) => labels
            .iter()
            .filter(|l| names.labels.iter().any(|n| n == &l.name))
            .cloned()
            .collect(),
        Some(LabelModifier::Exclude(names)) => labels
            .iter()
            .filter(|l| l.name != METRIC_NAME && !names.labels.iter().any(|n| n == &l.name))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    Labels::from_sorted(v)
}

/// Groups elements in order of first appearance.
fn group(vec: Vec<Elem>, modifier: &Option<LabelModifier>) -> Vec<(Labels, Vec<Elem>)> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<Elem>)> = Vec::new();
    for e in vec {
        let g = group_labels(&e.labels, modifier);
        match index.get(&g) {
            Some(&i) => groups[i].1.push(e),
            None => {
                index.insert(g.clone(), groups.len());
                groups.push((g, vec![e]));
            }
        }
    }
    groups
}

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

fn scalar_param(ev: &Evaluator<'_>, a: &AggregateExpr, t_ms: i64) -> Result<f64, QueryError> {
    match a.param.as_ref().map(|p| ev.eval(p, t_ms)).transpose()? {
        Some(Val::Scalar(v)) => Ok(v),
        _ => Err(QueryError::bad_data(
            "aggregation parameter must be a scalar",
        )),
    }
}

/// Evaluates an aggregation at `t_ms`.
pub(crate) fn eval_aggregate(
    ev: &Evaluator<'_>,
    a: &AggregateExpr,
    t_ms: i64,
) -> Result<Val, QueryError> {
    let op = a.op.to_string();
    let Val::Vector(input) = ev.eval(&a.expr, t_ms)? else {
        return Err(QueryError::bad_data(
            "aggregation operand must be an instant vector",
        ));
    };
    let out = match op.as_str() {
        // Prometheus checks k only when there is something to select from.
        "topk" | "bottomk" if input.is_empty() => Vec::new(),
        "topk" | "bottomk" => {
            let k = scalar_param(ev, a, t_ms)?;
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
            let k = k as i64;
            if k < 1 {
                return Ok(Val::Vector(Vec::new()));
            }
            let top = op == "topk";
            let mut out = Vec::new();
            for (_, mut members) in group(input, &a.modifier) {
                // Descending for topk, ascending for bottomk; NaN always last.
                members.sort_by(|x, y| match (x.v.is_nan(), y.v.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => cmp_nan_first(y.v, x.v),
                    _ => cmp_nan_first(x.v, y.v),
                });
                members.truncate(k.min(members.len() as i64) as usize);
                out.extend(members);
            }
            out
        }
        "limitk" | "limit_ratio" => {
            return Err(QueryError::not_implemented(format!("aggregation {op}")));
        }
        "count_values" => {
            let label = match a.param.as_ref().map(|p| ev.eval(p, t_ms)).transpose()? {
                Some(Val::String(s)) => s,
                _ => {
                    return Err(QueryError::bad_data(
                        "count_values parameter must be a string",
                    ));
                }
            };
            if !valid_label_name(&label) {
                return Err(QueryError::execution(format!(
                    "invalid label name {label:?}"
                )));
            }
            let mut counts: Vec<(Labels, f64)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for e in input {
                let g = group_labels(&e.labels, &a.modifier);
                let mut v: Vec<Label> = g
                    .into_vec()
                    .into_iter()
                    .filter(|l| l.name != label)
                    .collect();
                v.push(Label::new(label.clone(), format_float(e.v)));
                let l = Labels::new(v);
                match index.get(&l) {
                    Some(&i) => counts[i].1 += 1.0,
                    None => {
                        index.insert(l.clone(), counts.len());
                        counts.push((l, 1.0));
                    }
                }
            }
            counts
                .into_iter()
                .map(|(labels, v)| Elem { labels, v })
                .collect()
        }
        _ => {
            let q = if op == "quantile" {
                Some(scalar_param(ev, a, t_ms)?)
            } else {
                None
            };
            if let Some(q) = q
                && !(0.0..=1.0).contains(&q)
            {
                ev.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}",
                    format_float(q)
                ));
            }
            let mut out = Vec::new();
            for (labels, members) in group(input, &a.modifier) {
                let values: Vec<f64> = members.iter().map(|e| e.v).collect();
                let v = reduce(&op, values, q)?;
                out.push(Elem { labels, v });
            }
            out
        }
    };
    Ok(Val::Vector(out))
}

/// Reduces one group's values with a simple aggregation.
fn reduce(op: &str, mut values: Vec<f64>, q: Option<f64>) -> Result<f64, QueryError> {
    let n = values.len() as f64;
    Ok(match op {
        "sum" => {
            let (mut s, mut c) = (0.0, 0.0);
            for v in &values {
                (s, c) = kahan_sum_inc(*v, s, c);
            }
            s + c
        }
        "avg" => avg(&values),
        "count" => n,
        "group" => 1.0,
        "min" => values
            .iter()
            .skip(1)
            .fold(values[0], |m, &v| if m > v || m.is_nan() { v } else { m }),
        "max" => values
            .iter()
            .skip(1)
            .fold(values[0], |m, &v| if m < v || m.is_nan() { v } else { m }),
        "stddev" => stdvar(&values).sqrt(),
        "stdvar" => stdvar(&values),
        "quantile" => quantile(q.unwrap_or(f64::NAN), &mut values),
        other => return Err(QueryError::not_implemented(format!("aggregation {other}"))),
    })
}

/// Mean with Kahan summation, falling back to an incremental mean when the sum overflows.
pub(crate) fn avg(values: &[f64]) -> f64 {
    let (mut sum, mut mean, mut count, mut c) = (0.0, 0.0, 0.0, 0.0);
    let mut incremental = false;
    for &v in values {
        count += 1.0;
        if !incremental {
            let (ns, nc) = kahan_sum_inc(v, sum, c);
            if count == 1.0 || !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// Population variance (Welford with Kahan compensation).
pub(crate) fn stdvar(values: &[f64]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Whether `s` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`; Prometheus 3 allows UTF-8 but
/// count_values still rejects the empty name).
pub(crate) fn valid_label_name(s: &str) -> bool {
    !s.is_empty() && std::str::from_utf8(s.as_bytes()).is_ok()
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
