//! Instant vectors over steps ([`Series`]) and the label-set rules every operator applies to its
//! output.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels};

use crate::error::QueryError;
use crate::histogram::Hist;

/// One series of an instant vector evaluated at every step: its value per step, `None` at
/// steps where the vector has no element with these labels. A step's element is a float
/// (`values`) or a native histogram (`hists`), never both.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
    /// The histogram per step; empty (no allocation) for a series without any, else as long
    /// as `values`.
    pub hists: Vec<Option<Arc<Hist>>>,
}

impl Series {
    pub fn new(labels: Labels, values: Vec<Option<f64>>) -> Self {
        Series {
            labels,
            values,
            hists: Vec::new(),
        }
    }

    /// Whether the series has no value at any step.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none) && self.hists.iter().all(Option::is_none)
    }

    /// Number of steps with a value.
    pub fn points(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
            + self.hists.iter().filter(|h| h.is_some()).count()
    }

    /// The histogram at `step`, if the element there is one.
    pub fn hist(&self, step: usize) -> Option<&Arc<Hist>> {
        self.hists.get(step).and_then(Option::as_ref)
    }

    /// Whether the element at `step` is a float or a histogram.
    pub fn has_value(&self, step: usize) -> bool {
        self.values[step].is_some() || self.hist(step).is_some()
    }
}

/// The float elements of `vec` only: what operators that do not take native histograms see
/// (Prometheus drops histogram elements there). Series left without values go.
pub(crate) fn floats_only(mut vec: Vec<Series>) -> Vec<Series> {
    if vec.iter().all(|s| s.hists.is_empty()) {
        return vec;
    }
    for s in &mut vec {
        s.hists = Vec::new();
    }
    vec.retain(|s| !s.is_empty());
    vec
}

/// Whether any series has a value, per step.
pub(crate) fn present_per_step(vec: &[Series], steps: usize) -> Vec<bool> {
    let mut any = vec![false; steps];
    for s in vec {
        for (step, a) in any.iter_mut().enumerate().take(s.values.len()) {
            *a |= s.has_value(step);
        }
    }
    any
}

/// The error Prometheus raises when two elements of one vector have the same labels.
pub(crate) fn same_labelset() -> QueryError {
    QueryError::execution("vector cannot contain metrics with the same labelset")
}

/// Prometheus' `Matrix.ContainsSameLabelset` for operations that map whole series (range-vector
/// functions, unary minus, `label_replace`): two series with equal labels are an error even when
/// they have values at different steps.
pub(crate) fn check_distinct_labels(vec: &[Series]) -> Result<(), QueryError> {
    if vec.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(vec.len());
    for s in vec {
        if !seen.insert(&s.labels) {
            return Err(same_labelset());
        }
    }
    Ok(())
}

/// Assembles step-wise results the way Prometheus' `rangeEval` does: series with equal labels
/// become one (first appearance keeps its place), and two values for the same labels at the
/// same step are an error. Series without any value are dropped.
pub(crate) fn merge_same_labels(vec: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    let mut out: Vec<Series> = Vec::with_capacity(vec.len());
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(vec.len());
    for s in vec {
        if s.is_empty() {
            continue;
        }
        match index.entry(s.labels.clone()) {
            Entry::Vacant(e) => {
                let labels = e.key().clone();
                e.insert(out.len());
                out.push(Series {
                    labels,
                    values: s.values,
                    hists: s.hists,
                });
            }
            Entry::Occupied(e) => {
                let into = &mut out[*e.get()];
                for step in 0..into.values.len() {
                    if !s.has_value(step) {
                        continue;
                    }
                    if into.has_value(step) {
                        return Err(same_labelset());
                    }
                    into.values[step] = s.values[step];
                    if let Some(h) = s.hist(step) {
                        if into.hists.is_empty() {
                            into.hists = vec![None; into.values.len()];
                        }
                        into.hists[step] = Some(h.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The labels without the metric name.
pub(crate) fn drop_name(labels: Labels) -> Labels {
    if labels.get(METRIC_NAME).is_none() {
        return labels;
    }
    Labels::from_sorted(
        labels
            .into_vec()
            .into_iter()
            .filter(|l| l.name != METRIC_NAME)
            .collect(),
    )
}

/// The labels with `name` set to `value` (removed when `value` is empty).
pub(crate) fn set_label(labels: Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = labels
        .into_vec()
        .into_iter()
        .filter(|l| l.name != name)
        .collect();
    if !value.is_empty() {
        v.push(Label::new(name, value));
    }
    Labels::new(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str, values: &[Option<f64>]) -> Series {
        Series::new(Labels::from_pairs(&[("a", name)]), values.to_vec())
    }

    #[test]
    fn merging_joins_disjoint_steps_and_rejects_overlaps() {
        let merged = merge_same_labels(vec![
            s("x", &[Some(1.0), None]),
            s("y", &[None, None]),
            s("x", &[None, Some(2.0)]),
        ])
        .unwrap();
        assert_eq!(merged, vec![s("x", &[Some(1.0), Some(2.0)])]);
        let err = merge_same_labels(vec![s("x", &[Some(1.0)]), s("x", &[Some(2.0)])]);
        assert!(err.is_err());
        assert!(
            check_distinct_labels(&[s("x", &[Some(1.0), None]), s("x", &[None, Some(1.0)])])
                .is_err()
        );
    }
}
