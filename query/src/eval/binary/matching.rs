//! Arithmetic and comparison between two vectors: one-to-one and many-to-one matching
//! (`group_left`/`group_right`), with Prometheus' errors for ambiguous matches.
//!
//! Prometheus checks a step at a time; here each check runs over all steps and the error of
//! the earliest step wins (at one step, duplicates on the "one" side are found first).

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels};

use super::elements::{self, Elem, Out};
use super::{Signatures, both_present, invalid_operands, is_comparison, note, op_fn};
use crate::error::QueryError;
use crate::eval::series::merge_same_labels;
use crate::eval::{Evaluator, Series};

/// The first error found and the step it belongs to.
#[derive(Default)]
struct FirstError(Option<(usize, QueryError)>);

impl FirstError {
    fn offer(&mut self, step: usize, err: impl FnOnce() -> QueryError) {
        if self.0.as_ref().is_none_or(|(s, _)| step < *s) {
            self.0 = Some((step, err()));
        }
    }
}

/// Go's `labels.String()`: `{a="b", c="d"}`.
fn labels_string(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// How the two sides match.
struct Matching {
    matching: Option<LabelModifier>,
    one_to_one: bool,
    /// Labels copied from the "one" side (`group_left(a, b)`).
    include: Vec<String>,
    /// Whether the result drops the metric name (arithmetic, or comparison with `bool`).
    drop_name: bool,
}

/// Evaluates `lhs op rhs` for arithmetic and comparison operators.
pub(crate) fn vector_vector(
    ev: &Evaluator<'_>,
    b: &BinaryExpr,
    op: &str,
    lhs: Vec<Series>,
    rhs: Vec<Series>,
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    let f = op_fn(op).ok_or_else(|| invalid_operands(op))?;
    let comparison = is_comparison(op);
    let modifier = b.modifier.clone().unwrap_or_default();
    let return_bool = modifier.return_bool;
    let swapped = matches!(modifier.card, VectorMatchCardinality::OneToMany(_));
    let m = Matching {
        one_to_one: matches!(
            modifier.card,
            VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany
        ),
        include: modifier
            .card
            .labels()
            .map(|l| l.labels.clone())
            .unwrap_or_default(),
        matching: modifier.matching,
        drop_name: !comparison || return_bool,
    };
    // Nothing matches at a step where either side is empty.
    let active = both_present(&lhs, &rhs, steps);
    // The "many" side goes left, the "one" side right.
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let sigs = Signatures::new(&many, &one, &m.matching);
    let mut one_by_sig: Vec<Vec<usize>> = vec![Vec::new(); sigs.labels.len()];
    for (i, &sig) in sigs.rhs.iter().enumerate() {
        one_by_sig[sig].push(i);
    }
    let mut first_error = FirstError::default();
    check_one_side_unique(
        &one,
        &one_by_sig,
        &sigs.labels,
        &active,
        swapped,
        &mut first_error,
    );
    // One output series per pair of a "many" series and the "one" series it matched.
    let mut outs: Vec<Series> = Vec::new();
    let mut out_sig: Vec<usize> = Vec::new();
    // The outputs of the current "many" series, by "one" series (usually just one).
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (li, l) in many.iter().enumerate() {
        pairs.clear();
        if li.is_multiple_of(1024) {
            ev.check_deadline()?;
        }
        let sig = sigs.lhs[li];
        let members = &one_by_sig[sig];
        if members.is_empty() {
            continue;
        }
        for (step, &active) in active.iter().enumerate() {
            let (Some(lv), true) = (element(l, step), active) else {
                continue;
            };
            let Some((ri, rv)) = members
                .iter()
                .find_map(|&ri| element(&one[ri], step).map(|rv| (ri, rv)))
            else {
                continue;
            };
            let (el, er) = if swapped { (rv, lv) } else { (lv, rv) };
            let v = match elements::binop(op, f, el, er) {
                Err(dropped) => {
                    note(ev, b, dropped);
                    continue;
                }
                Ok((_, keep)) if return_bool => Out::Float(f64::from(u8::from(keep))),
                Ok((_, false)) => continue,
                Ok((v, true)) => v,
            };
            let o = match pairs.iter().find(|(r, _)| *r == ri) {
                Some(&(_, o)) => o,
                None => {
                    let labels = result_metric(&l.labels, &one[ri].labels, &m);
                    outs.push(Series::new(labels, vec![None; steps]));
                    out_sig.push(sig);
                    pairs.push((ri, outs.len() - 1));
                    outs.len() - 1
                }
            };
            match v {
                Out::Float(v) => outs[o].values[step] = Some(v),
                Out::Hist(h) => {
                    if outs[o].hists.is_empty() {
                        outs[o].hists = vec![None; steps];
                    }
                    outs[o].hists[step] = Some(h);
                }
            }
        }
    }
    check_unique_matches(&outs, &out_sig, m.one_to_one, &mut first_error);
    if let Some((_, err)) = first_error.0 {
        return Err(err);
    }
    ev.check_points(outs.len(), steps)?;
    merge_same_labels(outs)
}

/// The element of `s` at `step`, if any.
fn element(s: &Series, step: usize) -> Option<Elem<'_>> {
    match (s.values[step], s.hist(step)) {
        (_, Some(h)) => Some(Elem::Hist(h)),
        (Some(v), None) => Some(Elem::Float(v)),
        (None, None) => None,
    }
}

/// Two elements of the "one" side with the same signature at a step where something could
/// match: Prometheus' many-to-many error, with the pair it found first.
fn check_one_side_unique(
    one: &[Series],
    one_by_sig: &[Vec<usize>],
    sig_labels: &[Labels],
    active: &[bool],
    swapped: bool,
    first_error: &mut FirstError,
) {
    for (sig, members) in one_by_sig.iter().enumerate() {
        if members.len() < 2 {
            continue;
        }
        for (step, _) in active.iter().enumerate().filter(|(_, a)| **a) {
            let mut present = members.iter().filter(|&&i| one[i].has_value(step));
            let (Some(&first), Some(&second)) = (present.next(), present.next()) else {
                continue;
            };
            let side = if swapped { "left" } else { "right" };
            first_error.offer(step, || {
                QueryError::execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    labels_string(&sig_labels[sig]),
                    labels_string(&one[second].labels),
                    labels_string(&one[first].labels)
                ))
            });
            break;
        }
    }
}

/// Results of one signature at one step must be unique: one-to-one matching allows one result
/// per signature, many-to-one one result per signature and label set.
fn check_unique_matches(
    outs: &[Series],
    out_sig: &[usize],
    one_to_one: bool,
    first_error: &mut FirstError,
) {
    let mut by_sig: HashMap<usize, Vec<usize>> = HashMap::new();
    for (o, &sig) in out_sig.iter().enumerate() {
        by_sig.entry(sig).or_default().push(o);
    }
    for mut members in by_sig.into_values().filter(|m| m.len() > 1) {
        // The outputs that must not meet at a step: all of the signature (one-to-one), or
        // those with equal labels (many-to-one).
        let runs: Vec<&[usize]> = if one_to_one {
            vec![members.as_slice()]
        } else {
            members.sort_by(|a, b| outs[*a].labels.cmp(&outs[*b].labels));
            members
                .chunk_by(|a, b| outs[*a].labels == outs[*b].labels)
                .collect()
        };
        for run in runs.into_iter().filter(|r| r.len() > 1) {
            let steps = outs[run[0]].values.len();
            let clash = (0..steps).find(|&step| {
                run.iter()
                    .filter(|&&o| outs[o].has_value(step))
                    .nth(1)
                    .is_some()
            });
            if let Some(step) = clash {
                first_error.offer(step, || {
                    QueryError::execution(if one_to_one {
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                    } else {
                        "multiple matches for labels: grouping labels must ensure unique matches"
                    })
                });
            }
        }
    }
}

/// The labels of a result element: the "many" side's labels (without the metric name when
/// `drop_name`), reduced to the matching labels for one-to-one `on`/`ignoring`, plus the
/// `group_x` labels taken from the "one" side.
fn result_metric(lhs: &Labels, rhs: &Labels, m: &Matching) -> Labels {
    let mut v: Vec<Label> = lhs
        .iter()
        .filter(|l| !(m.drop_name && l.name == METRIC_NAME))
        .cloned()
        .collect();
    if m.one_to_one {
        match &m.matching {
            Some(LabelModifier::Include(names)) => {
                v.retain(|l| names.labels.iter().any(|n| n == &l.name))
            }
            Some(LabelModifier::Exclude(names)) => {
                v.retain(|l| !names.labels.iter().any(|n| n == &l.name))
            }
            None => {}
        }
    }
    for name in &m.include {
        v.retain(|l| &l.name != name);
        if let Some(val) = rhs.get(name) {
            v.push(Label::new(name.clone(), val));
        }
    }
    Labels::new(v)
}
