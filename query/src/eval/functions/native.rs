//! Functions of native histograms: `histogram_count`, `histogram_sum`, `histogram_avg`,
//! `histogram_stddev`, `histogram_stdvar`, and the native half of `histogram_quantile` and
//! `histogram_fraction` ([`NativeQuery`]). Float elements of the input are not theirs: the
//! per-histogram functions skip them, quantile and fraction read them as classic buckets.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::Call;
use tidemark_storage::Labels;
use tidemark_storage::model::METRIC_NAME;

use super::mixed_vector_arg;
use crate::error::QueryError;
use crate::eval::series::merge_same_labels;
use crate::eval::{Evaluator, Series, drop_name, positions};
use crate::histogram::{Hist, stats};

/// A function of one histogram, by name; `None` for other names.
pub(crate) fn per_histogram_function(name: &str) -> Option<fn(&Hist) -> f64> {
    Some(match name {
        "histogram_count" => |h| h.count,
        "histogram_sum" => |h| h.sum,
        "histogram_avg" => |h| h.sum / h.count,
        "histogram_stddev" => |h| stats::variance(h).sqrt(),
        "histogram_stdvar" => stats::variance,
        _ => return None,
    })
}

/// `f` of every histogram element of the call's argument, the metric name dropped.
pub(crate) fn per_histogram(
    ev: &Evaluator<'_>,
    c: &Call,
    ts: &[i64],
    f: fn(&Hist) -> f64,
) -> Result<Vec<Series>, QueryError> {
    let input = mixed_vector_arg(ev, c, 0, ts)?;
    let mut out = Vec::new();
    for s in input {
        if s.hists.is_empty() {
            continue;
        }
        let values = s.hists.iter().map(|h| h.as_deref().map(f)).collect();
        out.push(Series::new(drop_name(s.labels), values));
    }
    merge_same_labels(out)
}

/// What `histogram_quantile` or `histogram_fraction` asks of each histogram, per step.
pub(crate) enum Question {
    Quantile(Vec<f64>),
    /// Lower and upper bounds.
    Fraction(Vec<f64>, Vec<f64>),
}

/// The native histograms of a `histogram_quantile` or `histogram_fraction` input, with the
/// steps where classic buckets of the same series drop them.
pub(crate) struct NativeQuery {
    steps: usize,
    question: Question,
    series: Vec<Series>,
    by_labels: HashMap<Labels, usize>,
    /// `(series, step)` pairs that met classic buckets.
    dropped: HashSet<(usize, usize)>,
}

impl NativeQuery {
    pub fn new(steps: usize, question: Question) -> Self {
        NativeQuery {
            steps,
            question,
            series: Vec::new(),
            by_labels: HashMap::new(),
            dropped: HashSet::new(),
        }
    }

    /// Takes the histogram elements out of `input`, leaving its floats (series left without
    /// any go).
    pub fn take_from(&mut self, input: &mut Vec<Series>) {
        for s in input.iter_mut() {
            if s.hists.is_empty() {
                continue;
            }
            self.by_labels.insert(s.labels.clone(), self.series.len());
            self.series.push(Series {
                labels: s.labels.clone(),
                values: vec![None; self.steps],
                hists: std::mem::take(&mut s.hists),
            });
        }
        input.retain(|s| !s.is_empty());
    }

    /// Whether a native histogram of the series `sig` (the classic buckets' labels without
    /// `le`) answers at `step` too; if so both drop there, with Prometheus' warning.
    pub fn conflicts(
        &mut self,
        ev: &Evaluator<'_>,
        c: &Call,
        arg: usize,
        sig: &Labels,
        step: usize,
    ) -> bool {
        let Some(&i) = self.by_labels.get(sig) else {
            return false;
        };
        if self.series[i].hist(step).is_none() {
            return false;
        }
        ev.warn(ev.at_arg(
            format!(
                "PromQL warning: vector contains a mix of classic and native histograms for metric name {:?}",
                sig.get(METRIC_NAME).unwrap_or("")
            ),
            positions::call_addr(c),
            arg,
        ));
        self.dropped.insert((i, step));
        true
    }

    /// The answer of every native histogram at every step it was not dropped at, the metric
    /// name dropped.
    pub fn answers(&mut self, ev: &Evaluator<'_>, c: &Call) -> Result<Vec<Series>, QueryError> {
        let mut out = Vec::with_capacity(self.series.len());
        for (i, s) in std::mem::take(&mut self.series).into_iter().enumerate() {
            ev.check_deadline()?;
            let name = s.labels.get(METRIC_NAME).unwrap_or("").to_string();
            let mut values = Vec::with_capacity(self.steps);
            for step in 0..self.steps {
                let h = match s.hist(step) {
                    Some(h) if !self.dropped.contains(&(i, step)) => h,
                    _ => {
                        values.push(None);
                        continue;
                    }
                };
                let (v, notes, function) = match &self.question {
                    Question::Quantile(q) => {
                        let (v, n) = stats::quantile(q[step], h);
                        (v, n, "histogram_quantile")
                    }
                    Question::Fraction(lower, upper) => {
                        let (v, n) = stats::fraction(lower[step], upper[step], h);
                        (v, n, "histogram_fraction")
                    }
                };
                let info = |what: &str| {
                    ev.info(ev.at_arg(
                        format!("PromQL info: input to {function} has NaN observations, {what} for metric name {name:?}"),
                        positions::call_addr(c),
                        0,
                    ))
                };
                if notes.nan_result {
                    info("result is NaN");
                }
                if notes.nan_skew {
                    info(if function == "histogram_fraction" {
                        "which are excluded from all fractions"
                    } else {
                        "result is skewed higher"
                    });
                }
                values.push(Some(v));
            }
            out.push(Series::new(drop_name(s.labels), values));
        }
        Ok(out)
    }
}
