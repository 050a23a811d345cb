//! Binary operators: arithmetic, comparison and set operators between scalars and vectors, with
//! Prometheus' vector matching (`on`, `ignoring`, `group_left`, `group_right`).

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels};

use super::{Elem, Evaluator, Val, check_unique, drop_name};
use crate::error::QueryError;

/// Applies an arithmetic or comparison operator; `None` for set operators. For comparisons the
/// result is `(lhs, keep)`.
pub(crate) fn apply_op(op: &str, l: f64, r: f64) -> Option<(f64, bool)> {
    Some(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => return None,
    })
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Evaluates a binary expression at `t_ms`.
pub(crate) fn eval_binary(
    ev: &Evaluator<'_>,
    b: &BinaryExpr,
    t_ms: i64,
) -> Result<Val, QueryError> {
    let op = b.op.to_string();
    let op = op.as_str();
    let return_bool = b.return_bool();
    let lhs = ev.eval(&b.lhs, t_ms)?;
    let rhs = ev.eval(&b.rhs, t_ms)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = apply_op(op, l, r).ok_or_else(|| invalid_operands(op))?;
            if is_comparison(op) {
                Ok(Val::Scalar(if keep { 1.0 } else { 0.0 }))
            } else {
                Ok(Val::Scalar(v))
            }
        }
        (Val::Vector(l), Val::Scalar(r)) => vector_scalar(op, l, r, false, return_bool),
        (Val::Scalar(l), Val::Vector(r)) => vector_scalar(op, r, l, true, return_bool),
        (Val::Vector(l), Val::Vector(r)) => {
            let out = match op {
                "and" => and_unless(b, l, r, true),
                "unless" => and_unless(b, l, r, false),
                "or" => or(b, l, r),
                _ => vector_vector(b, op, return_bool, l, r)?,
            };
            Ok(Val::Vector(out))
        }
        _ => Err(invalid_operands(op)),
    }
}

fn invalid_operands(op: &str) -> QueryError {
    QueryError::bad_data(format!("invalid operand types for binary operator {op:?}"))
}

fn vector_scalar(
    op: &str,
    vec: Vec<Elem>,
    s: f64,
    swap: bool,
    return_bool: bool,
) -> Result<Val, QueryError> {
    let comparison = is_comparison(op);
    let mut out = Vec::with_capacity(vec.len());
    for e in vec {
        let (l, r) = if swap { (s, e.v) } else { (e.v, s) };
        let (mut v, keep) = apply_op(op, l, r).ok_or_else(|| invalid_operands(op))?;
        if comparison && swap {
            v = r;
        }
        if return_bool {
            out.push(Elem {
                labels: drop_name(e.labels),
                v: if keep { 1.0 } else { 0.0 },
            });
        } else if keep {
            let labels = if comparison {
                e.labels
            } else {
                drop_name(e.labels)
            };
            out.push(Elem { labels, v });
        }
    }
    check_unique(&out)?;
    Ok(Val::Vector(out))
}

/// The matching signature: the labels that decide which elements match.
fn signature(labels: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        // on(...)/ignoring(...) select labels exactly as by(...)/without(...) group them.
        Some(_) => super::aggregate::group_labels(labels, matching),
        None => Labels::from_sorted(
            labels
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .cloned()
                .collect(),
        ),
    }
}

fn and_unless(b: &BinaryExpr, l: Vec<Elem>, r: Vec<Elem>, and: bool) -> Vec<Elem> {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
    let rsigs: HashSet<Labels> = r.iter().map(|e| signature(&e.labels, &matching)).collect();
    l.into_iter()
        .filter(|e| rsigs.contains(&signature(&e.labels, &matching)) == and)
        .collect()
}

fn or(b: &BinaryExpr, l: Vec<Elem>, r: Vec<Elem>) -> Vec<Elem> {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
    let lsigs: HashSet<Labels> = l.iter().map(|e| signature(&e.labels, &matching)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|e| !lsigs.contains(&signature(&e.labels, &matching))),
    );
    out
}

/// Go's `labels.String()`: `{a="b", c="d"}`.
fn labels_string(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn vector_vector(
    b: &BinaryExpr,
    op: &str,
    return_bool: bool,
    lhs: Vec<Elem>,
    rhs: Vec<Elem>,
) -> Result<Vec<Elem>, QueryError> {
    let modifier = b.modifier.clone().unwrap_or_default();
    let matching = modifier.matching.clone();
    let (card_many_to_one, card_one_to_many) = match &modifier.card {
        VectorMatchCardinality::ManyToOne(_) => (true, false),
        VectorMatchCardinality::OneToMany(_) => (false, true),
        _ => (false, false),
    };
    let include: Vec<String> = modifier
        .card
        .labels()
        .map(|l| l.labels.clone())
        .unwrap_or_default();
    let one_to_one = !card_many_to_one && !card_one_to_many;
    // The "many" side goes left, the "one" side right.
    let (lhs, rhs) = if card_one_to_many {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    let mut right_sigs: HashMap<Labels, &Elem> = HashMap::with_capacity(rhs.len());
    for e in &rhs {
        let sig = signature(&e.labels, &matching);
        if let Some(dup) = right_sigs.get(&sig) {
            let side = if card_one_to_many { "left" } else { "right" };
            return Err(QueryError::execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                labels_string(&sig),
                labels_string(&e.labels),
                labels_string(&dup.labels)
            )));
        }
        right_sigs.insert(sig, e);
    }
    let drop = !is_comparison(op) || return_bool;
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for e in &lhs {
        let sig = signature(&e.labels, &matching);
        let Some(r) = right_sigs.get(&sig) else {
            continue;
        };
        let (fl, fr) = if card_one_to_many {
            (r.v, e.v)
        } else {
            (e.v, r.v)
        };
        let (mut v, keep) = apply_op(op, fl, fr).ok_or_else(|| invalid_operands(op))?;
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let metric = result_metric(&e.labels, &r.labels, drop, one_to_one, &matching, &include);
        let entry = matched.get_mut(&sig);
        if one_to_one {
            if entry.is_some() {
                return Err(QueryError::execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            matched.insert(sig, HashSet::new());
        } else {
            let set = match entry {
                Some(s) => s,
                None => matched.entry(sig).or_default(),
            };
            if !set.insert(metric.clone()) {
                return Err(QueryError::execution(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                ));
            }
        }
        out.push(Elem { labels: metric, v });
    }
    check_unique(&out)?;
    Ok(out)
}

fn result_metric(
    lhs: &Labels,
    rhs: &Labels,
    drop: bool,
    one_to_one: bool,
    matching: &Option<LabelModifier>,
    include: &[String],
) -> Labels {
    let mut v: Vec<Label> = lhs
        .iter()
        .filter(|l| !(drop && l.name == METRIC_NAME))
        .cloned()
        .collect();
    if one_to_one {
        match matching {
            Some(LabelModifier::Include(names)) => {
                v.retain(|l| names.labels.iter().any(|n| n == &l.name))
            }
            Some(LabelModifier::Exclude(names)) => {
                v.retain(|l| !names.labels.iter().any(|n| n == &l.name))
            }
            None => {}
        }
    }
    for name in include {
        v.retain(|l| &l.name != name);
        if let Some(val) = rhs.get(name) {
            v.push(Label::new(name.clone(), val));
        }
    }
    Labels::new(v)
}
