//! Binary operators: arithmetic, comparison and set operators between scalars and vectors, with
//! Prometheus' vector matching (`on`, `ignoring`, `group_left`, `group_right`).
//!
//! Matching signatures are computed once per series; values are then combined step by step.

mod elements;
mod matching;

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier};
use tidemark_storage::Labels;
use tidemark_storage::model::METRIC_NAME;

use super::series::{merge_same_labels, present_per_step};
use super::{Evaluator, Series, Val, drop_name, positions};
use crate::error::QueryError;
use elements::{Dropped, Elem, Out};

/// An arithmetic or comparison operator on two floats: the value and, for comparisons, whether
/// the element is kept.
pub(crate) type OpFn = fn(f64, f64) -> (f64, bool);

/// The function of an arithmetic or comparison operator; `None` for set operators.
pub(crate) fn op_fn(op: &str) -> Option<OpFn> {
    Some(match op {
        "+" => |l, r| (l + r, true),
        "-" => |l, r| (l - r, true),
        "*" => |l, r| (l * r, true),
        "/" => |l, r| (l / r, true),
        "%" => |l, r| (l % r, true),
        "^" => |l: f64, r| (l.powf(r), true),
        "atan2" => |l: f64, r| (l.atan2(r), true),
        "==" => |l, r| (l, l == r),
        "!=" => |l, r| (l, l != r),
        ">" => |l, r| (l, l > r),
        "<" => |l, r| (l, l < r),
        ">=" => |l, r| (l, l >= r),
        "<=" => |l, r| (l, l <= r),
        _ => return None,
    })
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Evaluates a binary expression at every time of `ts`.
pub(crate) fn eval_binary<'e>(
    ev: &'e Evaluator<'_>,
    b: &BinaryExpr,
    ts: &[i64],
) -> Result<Val<'e>, QueryError> {
    let op = b.op.to_string();
    let op = op.as_str();
    let lhs = ev.eval(&b.lhs, ts)?;
    let rhs = ev.eval(&b.rhs, ts)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let f = op_fn(op).ok_or_else(|| invalid_operands(op))?;
            let comparison = is_comparison(op);
            Ok(Val::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&l, &r)| match f(l, r) {
                        (_, keep) if comparison => f64::from(u8::from(keep)),
                        (v, _) => v,
                    })
                    .collect(),
            ))
        }
        (Val::Vector(l), Val::Scalar(r)) => vector_scalar(ev, b, l, &r, false),
        (Val::Scalar(l), Val::Vector(r)) => vector_scalar(ev, b, r, &l, true),
        (Val::Vector(l), Val::Vector(r)) => {
            let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
            let out = match op {
                "and" | "unless" | "or" => set_operation(op, &matching, l, r, ts.len())?,
                _ => matching::vector_vector(ev, b, op, l, r, ts.len())?,
            };
            Ok(Val::Vector(out))
        }
        _ => Err(invalid_operands(op)),
    }
}

fn invalid_operands(op: &str) -> QueryError {
    QueryError::bad_data(format!("invalid operand types for binary operator {op:?}"))
}

/// A vector and a scalar (one value per step); `swap` when the scalar is on the left.
fn vector_scalar(
    ev: &Evaluator<'_>,
    b: &BinaryExpr,
    vec: Vec<Series>,
    scalar: &[f64],
    swap: bool,
) -> Result<Val<'static>, QueryError> {
    let op = b.op.to_string();
    let op = op.as_str();
    let return_bool = b.return_bool();
    let f = op_fn(op).ok_or_else(|| invalid_operands(op))?;
    let comparison = is_comparison(op);
    let drop = !comparison || return_bool;
    let mut out = Vec::with_capacity(vec.len());
    for mut s in vec {
        histograms_with_scalar(ev, b, f, &mut s, scalar, swap);
        for (x, &sv) in s.values.iter_mut().zip(scalar) {
            let Some(xv) = *x else { continue };
            let (l, r) = if swap { (sv, xv) } else { (xv, sv) };
            let (mut v, keep) = f(l, r);
            // A comparison keeps the vector's value, whichever side it is on.
            if comparison && swap {
                v = r;
            }
            *x = if return_bool {
                Some(f64::from(u8::from(keep)))
            } else {
                keep.then_some(v)
            };
        }
        if drop {
            s.labels = drop_name(s.labels);
        }
        out.push(s);
    }
    let out = if drop {
        merge_same_labels(out)?
    } else {
        out.retain(|s| !s.is_empty());
        out
    };
    Ok(Val::Vector(out))
}

/// The histogram elements of `s` with the scalar: each becomes the result (a histogram, or a
/// float for `bool`) or goes, with its annotation.
fn histograms_with_scalar(
    ev: &Evaluator<'_>,
    b: &BinaryExpr,
    f: OpFn,
    s: &mut Series,
    scalar: &[f64],
    swap: bool,
) {
    let op = b.op.to_string();
    let return_bool = b.return_bool();
    for (step, &sv) in scalar.iter().enumerate().take(s.hists.len()) {
        let Some(h) = s.hists[step].take() else {
            continue;
        };
        let (x, y) = (Elem::Hist(&h), Elem::Float(sv));
        let (l, r) = if swap { (y, x) } else { (x, y) };
        match elements::binop(&op, f, l, r) {
            Err(dropped) => note(ev, b, dropped),
            Ok((_, keep)) if return_bool => s.values[step] = Some(f64::from(u8::from(keep))),
            Ok((_, false)) => {}
            Ok((Out::Hist(h), true)) => s.hists[step] = Some(h),
            Ok((Out::Float(v), true)) => s.values[step] = Some(v),
        }
    }
}

/// Adds the annotation of an element binary expression `b` dropped.
fn note(ev: &Evaluator<'_>, b: &BinaryExpr, dropped: Dropped) {
    let addr = positions::binary_addr(b);
    match dropped {
        Dropped::Info(m) => ev.info(ev.at_node(m, addr)),
        Dropped::Warning(m) => ev.warn(ev.at_node(m, addr)),
    }
}

/// The matching signature: the labels that decide which elements match.
pub(crate) fn signature(labels: &Labels, matching: &Option<LabelModifier>) -> Labels {
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

/// Signature ids of the series of both sides: equal ids for equal signatures.
pub(crate) struct Signatures {
    pub lhs: Vec<usize>,
    pub rhs: Vec<usize>,
    /// The signature of every id.
    pub labels: Vec<Labels>,
}

impl Signatures {
    pub fn new(lhs: &[Series], rhs: &[Series], matching: &Option<LabelModifier>) -> Self {
        let mut ids: HashMap<Labels, usize> = HashMap::new();
        let mut labels = Vec::new();
        let mut intern = |s: &Series| {
            *ids.entry(signature(&s.labels, matching))
                .or_insert_with_key(|sig| {
                    labels.push(sig.clone());
                    labels.len() - 1
                })
        };
        let lhs = lhs.iter().map(&mut intern).collect();
        let rhs = rhs.iter().map(&mut intern).collect();
        Signatures { lhs, rhs, labels }
    }

    /// Per signature id, whether a series of `side` with it has a value, per step.
    fn presence(&self, side: &[Series], sigs: &[usize], steps: usize) -> Vec<Vec<bool>> {
        let mut out = vec![Vec::new(); self.labels.len()];
        for (s, &sig) in side.iter().zip(sigs) {
            let p = &mut out[sig];
            if p.is_empty() {
                p.resize(steps, false);
            }
            for (step, a) in p.iter_mut().enumerate() {
                *a |= s.has_value(step);
            }
        }
        out
    }
}

/// `and`, `or`, `unless`: elements selected by whether an element with the same signature
/// exists on the other side at the same step.
fn set_operation(
    op: &str,
    matching: &Option<LabelModifier>,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    let sigs = Signatures::new(&lhs, &rhs, matching);
    let present_in = |p: &[Vec<bool>], sig: usize, step: usize| p[sig].get(step) == Some(&true);
    let filter = |mut side: Vec<Series>, side_sigs: &[usize], p: &[Vec<bool>], keep: bool| {
        for (s, &sig) in side.iter_mut().zip(side_sigs) {
            for step in 0..s.values.len() {
                if s.has_value(step) && present_in(p, sig, step) != keep {
                    s.values[step] = None;
                    if let Some(h) = s.hists.get_mut(step) {
                        *h = None;
                    }
                }
            }
        }
        side.retain(|s| !s.is_empty());
        side
    };
    Ok(match op {
        "and" | "unless" => {
            let p = sigs.presence(&rhs, &sigs.rhs, steps);
            filter(lhs, &sigs.lhs, &p, op == "and")
        }
        _ => {
            let p = sigs.presence(&lhs, &sigs.lhs, steps);
            let mut out = lhs;
            out.extend(filter(rhs, &sigs.rhs, &p, false));
            merge_same_labels(out)?
        }
    })
}

/// Whether both sides have an element, per step (nothing matches at other steps).
pub(crate) fn both_present(lhs: &[Series], rhs: &[Series], steps: usize) -> Vec<bool> {
    present_per_step(lhs, steps)
        .into_iter()
        .zip(present_per_step(rhs, steps))
        .map(|(l, r)| l && r)
        .collect()
}
