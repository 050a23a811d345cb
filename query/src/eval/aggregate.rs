//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...) with `by`/`without`.
//!
//! The group of every input series is computed once (labels do not change between steps); the
//! values are then folded per group and step.

mod histograms;
mod limit;
pub(crate) mod topk;

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels};

use super::numeric::{format_float, kahan_sum_inc, quantile};
use super::{Evaluator, Series, Val};
use crate::error::QueryError;
use crate::eval::positions;
use crate::partial::{Plan, eval_partial, needs_whole};

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

/// Groups of a vector: the group index of every series, and each group's labels in order of
/// first appearance.
pub(crate) struct Groups {
    pub of_series: Vec<usize>,
    pub labels: Vec<Labels>,
}

impl Groups {
    /// Groups `input` by `key`, which gives the labels of the group a series belongs to.
    pub fn new(input: &[Series], key: impl Fn(&Labels) -> Labels) -> Self {
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut labels = Vec::new();
        let of_series = input
            .iter()
            .map(|s| {
                let g = key(&s.labels);
                *index.entry(g).or_insert_with_key(|g| {
                    labels.push(g.clone());
                    labels.len() - 1
                })
            })
            .collect();
        Groups { of_series, labels }
    }

    /// The input series of every group, in input order.
    pub fn members(&self) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.labels.len()];
        for (i, &g) in self.of_series.iter().enumerate() {
            members[g].push(i);
        }
        members
    }
}

/// Evaluates an aggregation at every time of `ts`.
pub(crate) fn eval_aggregate(
    ev: &Evaluator<'_>,
    a: &AggregateExpr,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    if let Some(plan) = Plan::of(a) {
        // Series with native histograms are aggregated whole (parts fold floats only).
        match eval_partial(ev, &plan, ts) {
            Err(e) if needs_whole(&e) => {}
            other => return other,
        }
    }
    let op = a.op.to_string();
    match op.as_str() {
        "topk" | "bottomk" => {
            let k = scalar_param(ev, a, ts)?;
            let input = ev.eval_mixed_vector(&a.expr, ts)?;
            if input.iter().any(|s| !s.hists.is_empty()) {
                ev.info(ev.at_node(
                    format!("PromQL info: ignored histogram in {op} aggregation"),
                    positions::aggregate_addr(a),
                ));
            }
            let input = super::series::floats_only(input);
            topk::topk(ev, &input, &a.modifier, &k, op == "topk")
        }
        "limitk" => {
            let k = scalar_param(ev, a, ts)?;
            let input = ev.eval_mixed_vector(&a.expr, ts)?;
            limit::limitk(ev, &input, &a.modifier, &k)
        }
        "limit_ratio" => {
            let r = scalar_param(ev, a, ts)?;
            let input = ev.eval_mixed_vector(&a.expr, ts)?;
            limit::limit_ratio(ev, a, &input, &r)
        }
        "count_values" => {
            let label = match a.param.as_ref().map(|p| ev.eval(p, ts)).transpose()? {
                Some(Val::String(s)) => s,
                _ => {
                    return Err(QueryError::bad_data(
                        "count_values parameter must be a string",
                    ));
                }
            };
            if label.is_empty() {
                return Err(QueryError::execution(format!(
                    "invalid label name {label:?}"
                )));
            }
            let input = ev.eval_mixed_vector(&a.expr, ts)?;
            count_values(ev, &input, &a.modifier, &label, ts.len())
        }
        _ => {
            let simple = Simple::parse(&op)?;
            let q = if simple == Simple::Quantile {
                let q = scalar_param(ev, a, ts)?;
                if let Some(bad) = q.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                    ev.warn(ev.at_arg(
                        format!(
                            "PromQL warning: quantile value should be between 0 and 1, got {}",
                            format_float(*bad)
                        ),
                        positions::aggregate_addr(a),
                        0,
                    ));
                }
                q
            } else {
                Vec::new()
            };
            let input = ev.eval_mixed_vector(&a.expr, ts)?;
            if input.iter().any(|s| !s.hists.is_empty()) {
                return histograms::aggregate_mixed(ev, a, &input, simple, &q, ts.len());
            }
            aggregate_simple(ev, &input, &a.modifier, simple, &q, ts.len())
        }
    }
}

/// The aggregation's scalar parameter at every step.
fn scalar_param(ev: &Evaluator<'_>, a: &AggregateExpr, ts: &[i64]) -> Result<Vec<f64>, QueryError> {
    match a.param.as_ref().map(|p| ev.eval(p, ts)).transpose()? {
        Some(Val::Scalar(v)) => Ok(v),
        _ => Err(QueryError::bad_data(
            "aggregation parameter must be a scalar",
        )),
    }
}

/// Aggregations that fold a group's values at one step into one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Simple {
    Sum,
    Avg,
    Count,
    Group,
    Min,
    Max,
    Stddev,
    Stdvar,
    Quantile,
}

impl Simple {
    pub fn parse(op: &str) -> Result<Self, QueryError> {
        Ok(match op {
            "sum" => Simple::Sum,
            "avg" => Simple::Avg,
            "count" => Simple::Count,
            "group" => Simple::Group,
            "min" => Simple::Min,
            "max" => Simple::Max,
            "stddev" => Simple::Stddev,
            "stdvar" => Simple::Stdvar,
            "quantile" => Simple::Quantile,
            other => return Err(QueryError::not_implemented(format!("aggregation {other}"))),
        })
    }

    /// Which accumulator fields the aggregation uses besides the count: `(value, comp, mean)`
    /// (the mean with its compensation).
    pub fn fields(self) -> (bool, bool, bool) {
        match self {
            Simple::Sum => (true, true, false),
            Simple::Avg | Simple::Stddev | Simple::Stdvar => (true, true, true),
            Simple::Min | Simple::Max => (true, false, false),
            Simple::Count | Simple::Group | Simple::Quantile => (false, false, false),
        }
    }
}

/// The running state of one group at one step.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Acc {
    pub count: f64,
    /// Sum (Kahan), minimum, maximum, or the variance's sum of squares.
    pub value: f64,
    /// Kahan compensation of `value` (or of `mean` once `incremental`).
    pub comp: f64,
    pub mean: f64,
    pub mean_comp: f64,
    /// Whether `avg` switched to an incremental mean because the sum overflowed.
    pub incremental: bool,
}

impl Acc {
    /// Adds `v` to the group; Prometheus' algorithms, value by value in input order.
    pub fn add(&mut self, op: Simple, v: f64) {
        self.count += 1.0;
        let first = self.count == 1.0;
        match op {
            Simple::Sum => (self.value, self.comp) = kahan_sum_inc(v, self.value, self.comp),
            Simple::Avg => self.add_avg(v),
            Simple::Count | Simple::Group | Simple::Quantile => {}
            Simple::Min if first || self.value > v || self.value.is_nan() => self.value = v,
            Simple::Max if first || self.value < v || self.value.is_nan() => self.value = v,
            Simple::Min | Simple::Max => {}
            Simple::Stddev | Simple::Stdvar => {
                // Welford with Kahan compensation.
                let delta = v - (self.mean + self.mean_comp);
                (self.mean, self.mean_comp) =
                    kahan_sum_inc(delta / self.count, self.mean, self.mean_comp);
                (self.value, self.comp) = kahan_sum_inc(
                    delta * (v - (self.mean + self.mean_comp)),
                    self.value,
                    self.comp,
                );
            }
        }
    }

    /// Mean with Kahan summation, falling back to an incremental mean when the sum overflows.
    fn add_avg(&mut self, v: f64) {
        if !self.incremental {
            let (sum, comp) = kahan_sum_inc(v, self.value, self.comp);
            if self.count == 1.0 || !sum.is_infinite() {
                (self.value, self.comp) = (sum, comp);
                return;
            }
            self.incremental = true;
            self.mean = self.value / (self.count - 1.0);
            self.comp /= self.count - 1.0;
        }
        let q = (self.count - 1.0) / self.count;
        (self.mean, self.comp) = kahan_sum_inc(v / self.count, q * self.mean, q * self.comp);
    }

    /// Adds the values another accumulator of the same group folded (another shard's).
    /// Sums add with compensation, means weigh by count, variances combine by Chan's formula;
    /// the result equals folding all values in one order up to rounding.
    pub fn merge(&mut self, op: Simple, o: &Acc) {
        if o.count == 0.0 {
            return;
        }
        if self.count == 0.0 {
            *self = *o;
            return;
        }
        let n = self.count + o.count;
        match op {
            Simple::Sum => {
                (self.value, self.comp) = kahan_sum_inc(o.value, self.value, self.comp);
                self.comp += o.comp;
            }
            Simple::Avg => {
                let (sum, comp) = kahan_sum_inc(o.value, self.value, self.comp);
                if !self.incremental && !o.incremental && !sum.is_infinite() {
                    (self.value, self.comp) = (sum, comp + o.comp);
                } else {
                    let (a, b) = (self.finish(op), o.finish(op));
                    self.mean = a * (self.count / n) + b * (o.count / n);
                    self.comp = 0.0;
                    self.incremental = true;
                }
            }
            Simple::Count | Simple::Group | Simple::Quantile => {}
            Simple::Min if self.value > o.value || self.value.is_nan() => self.value = o.value,
            Simple::Max if self.value < o.value || self.value.is_nan() => self.value = o.value,
            Simple::Min | Simple::Max => {}
            Simple::Stddev | Simple::Stdvar => {
                let (ma, mb) = (self.mean + self.mean_comp, o.mean + o.mean_comp);
                let delta = mb - ma;
                (self.mean, self.mean_comp) = (ma + delta * (o.count / n), 0.0);
                let m2 = (self.value + self.comp)
                    + (o.value + o.comp)
                    + delta * delta * (self.count * o.count / n);
                (self.value, self.comp) = (m2, 0.0);
            }
        }
        self.count = n;
    }

    pub fn finish(&self, op: Simple) -> f64 {
        match op {
            Simple::Sum => self.value + self.comp,
            Simple::Avg if self.incremental => self.mean + self.comp,
            Simple::Avg => self.value / self.count + self.comp / self.count,
            Simple::Count => self.count,
            Simple::Group => 1.0,
            Simple::Min | Simple::Max => self.value,
            Simple::Stdvar => (self.value + self.comp) / self.count,
            Simple::Stddev => ((self.value + self.comp) / self.count).sqrt(),
            Simple::Quantile => f64::NAN,
        }
    }
}

/// Folds `values` with aggregation `op`.
fn fold(op: Simple, values: impl IntoIterator<Item = f64>) -> f64 {
    let mut acc = Acc::default();
    values.into_iter().for_each(|v| acc.add(op, v));
    acc.finish(op)
}

/// The mean as `avg` computes it (also `avg_over_time`).
pub(crate) fn avg(values: impl IntoIterator<Item = f64>) -> f64 {
    fold(Simple::Avg, values)
}

/// The population variance as `stdvar` computes it (also `stdvar_over_time`).
pub(crate) fn stdvar(values: impl IntoIterator<Item = f64>) -> f64 {
    fold(Simple::Stdvar, values)
}

/// `sum`, `avg`, `count`, ... : per group and step, the fold of the values present. Groups are
/// folded one at a time into a reused row of accumulators.
fn aggregate_simple(
    ev: &Evaluator<'_>,
    input: &[Series],
    modifier: &Option<LabelModifier>,
    op: Simple,
    q: &[f64],
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    let groups = Groups::new(input, |l| group_labels(l, modifier));
    ev.check_points(groups.labels.len(), steps)?;
    let members = groups.members();
    let mut row = vec![Acc::default(); steps];
    // Quantile keeps the values themselves, per step.
    let mut values: Vec<Vec<f64>> =
        vec![Vec::new(); if op == Simple::Quantile { steps } else { 0 }];
    let mut out = Vec::with_capacity(groups.labels.len());
    for (labels, members) in groups.labels.into_iter().zip(members) {
        ev.check_deadline()?;
        row.fill(Acc::default());
        values.iter_mut().for_each(Vec::clear);
        for i in members {
            for (step, v) in input[i].values.iter().enumerate() {
                if let Some(v) = *v {
                    row[step].add(op, v);
                    if op == Simple::Quantile {
                        values[step].push(v);
                    }
                }
            }
        }
        let folded: Vec<Option<f64>> = row
            .iter()
            .enumerate()
            .map(|(step, a)| {
                (a.count > 0.0).then(|| match op {
                    Simple::Quantile => quantile(q[step], &mut values[step]),
                    _ => a.finish(op),
                })
            })
            .collect();
        out.push(Series::new(labels, folded));
    }
    Ok(out)
}

/// `count_values(label, v)`: per group and step, how many elements have each value; the value
/// becomes label `label` (set before grouping, as in Prometheus).
fn count_values(
    ev: &Evaluator<'_>,
    input: &[Series],
    modifier: &Option<LabelModifier>,
    label: &str,
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    // Unless `without` is used, the value label is one of the grouping labels (`without` may
    // drop it).
    let modifier = match modifier {
        Some(LabelModifier::Include(names)) => {
            let mut names = names.clone();
            names.labels.push(label.to_string());
            Some(LabelModifier::Include(names))
        }
        None => Some(LabelModifier::Include(promql_parser::label::Labels::new(
            vec![label],
        ))),
        without => without.clone(),
    };
    let mut out: Vec<Series> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (i, s) in input.iter().enumerate() {
        if i.is_multiple_of(1024) {
            ev.check_deadline()?;
        }
        for (step, v) in s.values.iter().enumerate() {
            let value = match (*v, s.hist(step)) {
                (_, Some(h)) => h.go_string(),
                (Some(v), None) => format_float(v),
                (None, None) => continue,
            };
            let metric = super::series::set_label(s.labels.clone(), label, &value);
            let g = group_labels(&metric, &modifier);
            let o = *index.entry(g).or_insert_with_key(|g| {
                out.push(Series::new(g.clone(), vec![None; steps]));
                out.len() - 1
            });
            *out[o].values[step].get_or_insert(0.0) += 1.0;
        }
    }
    ev.check_points(out.len(), steps)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(op: Simple, values: &[f64]) -> f64 {
        super::fold(op, values.iter().copied())
    }

    #[test]
    fn folds_match_prometheus() {
        assert_eq!(fold(Simple::Sum, &[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(fold(Simple::Avg, &[1.0, 2.0, 3.0, 4.0]), 2.5);
        // The sum overflows: the mean is computed incrementally instead.
        assert_eq!(fold(Simple::Avg, &[f64::MAX, f64::MAX]), f64::MAX);
        assert!(fold(Simple::Avg, &[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(fold(Simple::Min, &[f64::NAN, 2.0, 1.0]), 1.0);
        assert_eq!(fold(Simple::Max, &[3.0, f64::NAN]), 3.0);
        assert_eq!(
            fold(Simple::Stdvar, &[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            4.0
        );
        assert_eq!(fold(Simple::Count, &[1.0, 1.0]), 2.0);
    }
}
