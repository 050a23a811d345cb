//! `sum`, `avg`, `count`, `group`, `min`, `max`, `stddev`, `stdvar` and `quantile` over a
//! vector that has native histograms, as Prometheus 3.5 folds them: `sum` and `avg` add
//! histograms (a group that meets both kinds at a step gives nothing there, with a warning;
//! one whose histograms cannot be added, too), `count` and `group` count both kinds, the
//! others ignore histograms with an info.

use std::sync::Arc;

use promql_parser::parser::AggregateExpr;

use super::{Acc, Groups, Simple, group_labels};
use crate::error::QueryError;
use crate::eval::numeric::quantile;
use crate::eval::{Evaluator, Series, positions};
use crate::histogram::{Hist, Incompatible};

/// The aggregation `a` (operator `op`, quantile `q` per step) of `input`.
pub(crate) fn aggregate_mixed(
    ev: &Evaluator<'_>,
    a: &AggregateExpr,
    input: &[Series],
    op: Simple,
    q: &[f64],
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    let groups = Groups::new(input, |l| group_labels(l, &a.modifier));
    ev.check_points(groups.labels.len(), steps)?;
    let members = groups.members();
    let expr_arg = usize::from(a.param.is_some());
    let note = |msg: String, warning: bool| {
        let msg = ev.at_arg(msg, positions::aggregate_addr(a), expr_arg);
        if warning { ev.warn(msg) } else { ev.info(msg) }
    };
    let mut out = Vec::with_capacity(groups.labels.len());
    for (labels, members) in groups.labels.into_iter().zip(members) {
        ev.check_deadline()?;
        let mut values = Vec::with_capacity(steps);
        let mut hists = Vec::with_capacity(steps);
        for step in 0..steps {
            let mut fold = StepFold::default();
            for &i in &members {
                let s = &input[i];
                if let Some(h) = s.hist(step) {
                    fold.add_histogram(op, h, s.labels.metric_name().unwrap_or(""), &note);
                } else if let Some(v) = s.values[step] {
                    fold.add_float(op, v);
                }
            }
            let (v, h) = fold.finish(op, q.get(step).copied().unwrap_or(f64::NAN), &note);
            values.push(v);
            hists.push(h.map(Arc::new));
        }
        if hists.iter().all(Option::is_none) {
            hists = Vec::new();
        }
        out.push(Series {
            labels,
            values,
            hists,
        });
    }
    Ok(out)
}

/// One group at one step.
#[derive(Default)]
struct StepFold {
    /// Elements looked at (`avg`'s running count includes histograms).
    n: f64,
    floats: Acc,
    /// `quantile`'s values.
    values: Vec<f64>,
    hist: Option<Hist>,
    has_float: bool,
    has_hist: bool,
    /// Two histograms could not be added: the group gives nothing at this step.
    incompatible: bool,
}

impl StepFold {
    fn add_float(&mut self, op: Simple, v: f64) {
        if self.incompatible {
            return;
        }
        self.n += 1.0;
        self.has_float = true;
        self.floats.add(op, v);
        if op == Simple::Quantile {
            self.values.push(v);
        }
    }

    fn add_histogram(&mut self, op: Simple, h: &Hist, metric: &str, note: &impl Fn(String, bool)) {
        if self.incompatible {
            return;
        }
        self.n += 1.0;
        let first = self.n == 1.0;
        let result = match op {
            Simple::Sum | Simple::Avg => {
                self.has_hist = true;
                if first {
                    self.hist = Some(h.clone());
                    return;
                }
                let Some(acc) = &self.hist else {
                    // Floats came first: the group is invalid at this step anyway.
                    return;
                };
                if op == Simple::Sum {
                    acc.add(h)
                } else {
                    // The incremental mean, as Prometheus computes it.
                    let left = h.divided(self.n);
                    let right = acc.divided(self.n);
                    left.sub(&right).and_then(|d| acc.add(&d))
                }
            }
            Simple::Count | Simple::Group => {
                self.floats.add(op, 0.0);
                return;
            }
            Simple::Min | Simple::Max | Simple::Stddev | Simple::Stdvar | Simple::Quantile => {
                let name = match op {
                    Simple::Min => "min",
                    Simple::Max => "max",
                    Simple::Stddev => "stddev",
                    Simple::Stdvar => "stdvar",
                    _ => "quantile",
                };
                note(
                    format!("PromQL info: ignored histogram in {name} aggregation"),
                    false,
                );
                return;
            }
        };
        match result {
            Ok(sum) => self.hist = Some(sum),
            Err(e) => {
                self.incompatible = true;
                note(incompatible_message(e, metric), true);
            }
        }
    }

    /// The group's element at this step: a float, a histogram, or nothing.
    fn finish(
        mut self,
        op: Simple,
        q: f64,
        note: &impl Fn(String, bool),
    ) -> (Option<f64>, Option<Hist>) {
        match op {
            Simple::Sum | Simple::Avg => {
                if self.has_float && self.has_hist {
                    note(
                        "PromQL warning: encountered a mix of histograms and floats for aggregation"
                            .into(),
                        true,
                    );
                    return (None, None);
                }
                if self.incompatible {
                    return (None, None);
                }
                if self.has_hist {
                    return (None, self.hist.map(|h| h.without_empty_buckets()));
                }
            }
            Simple::Quantile if self.floats.count > 0.0 => {
                return (Some(quantile(q, &mut self.values)), None);
            }
            _ => {}
        }
        (
            (self.floats.count > 0.0).then(|| self.floats.finish(op)),
            None,
        )
    }
}

/// The warning for histograms that cannot be added.
pub(crate) fn incompatible_message(e: Incompatible, metric: &str) -> String {
    match e {
        Incompatible::Schema => format!(
            "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric:?}"
        ),
        Incompatible::Bounds => format!(
            "PromQL warning: vector contains histograms with incompatible custom buckets for metric name {metric:?}"
        ),
    }
}
