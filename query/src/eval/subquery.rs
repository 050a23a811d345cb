//! Subqueries (`expr[range:step]`): the inner expression is evaluated once, at the union of the
//! inner steps of every outer step's window, and read back as a range vector.

use std::borrow::Cow;

use promql_parser::parser::SubqueryExpr;
use tidemark_storage::{Labels, Sample};

use super::{
    DEFAULT_SUBQUERY_STEP_MS, Evaluator, RangeSeries, RangeVector, Val, duration_ms,
    too_many_samples,
};
use crate::error::QueryError;
use crate::histogram::HistogramPoint;

/// The inner evaluation times of windows ending at `ends` (non-decreasing): for each window
/// `(end - range_ms, end]` the multiples of `step_ms` inside it, each time once.
pub(crate) fn inner_steps(ends: &[i64], range_ms: i64, step_ms: i64) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    for &end in ends {
        // The first multiple of the step strictly after the window start.
        let mut t = (end - range_ms).div_euclid(step_ms) * step_ms + step_ms;
        if let Some(&last) = out.last() {
            t = t.max(last + step_ms);
        }
        while t <= end {
            out.push(t);
            t += step_ms;
        }
    }
    out
}

/// Evaluates a subquery at every time of `ts`.
pub(crate) fn eval_subquery(
    ev: &Evaluator<'_>,
    sq: &SubqueryExpr,
    ts: &[i64],
) -> Result<RangeVector<'static>, QueryError> {
    let ends = ev.window_ends(&sq.at, &sq.offset, ts);
    let range_ms = duration_ms(&sq.range);
    let step_ms = sq
        .step
        .as_ref()
        .map(duration_ms)
        .unwrap_or(DEFAULT_SUBQUERY_STEP_MS)
        .max(1);
    let inner = inner_steps(&ends, range_ms, step_ms);
    if inner.len() > ev.limits.samples_max {
        return Err(too_many_samples());
    }
    let to_samples = |values: &[Option<f64>]| -> Vec<Sample> {
        inner
            .iter()
            .zip(values)
            .filter_map(|(&t, v)| v.map(|v| Sample::new(t, v)))
            .collect()
    };
    let (inner_value, inner_samples) = ev.counting_apart(|| ev.eval(&sq.expr, &inner));
    let series = match inner_value? {
        Val::Scalar(values) => {
            let values: Vec<Option<f64>> = values.into_iter().map(Some).collect();
            vec![RangeSeries {
                labels: Cow::Owned(Labels::default()),
                samples: Cow::Owned(to_samples(&values)),
                histograms: Cow::Owned(Vec::new()),
            }]
        }
        Val::Vector(vec) => vec
            .into_iter()
            .map(|s| {
                let histograms: Vec<HistogramPoint> = inner
                    .iter()
                    .zip(&s.hists)
                    .filter_map(|(&t, h)| h.clone().map(|h| HistogramPoint { t, h }))
                    .collect();
                RangeSeries {
                    samples: Cow::Owned(to_samples(&s.values)),
                    histograms: Cow::Owned(histograms),
                    labels: Cow::Owned(s.labels),
                }
            })
            .filter(|s| !s.samples.is_empty() || !s.histograms.is_empty())
            .collect(),
        _ => {
            return Err(QueryError::bad_data(
                "subquery is only allowed on instant vector or scalar",
            ));
        }
    };
    Ok(RangeVector {
        series,
        range_ms,
        ends,
        subquery_samples: Some(inner_samples),
    })
}

#[cfg(test)]
mod tests {
    use super::inner_steps;

    #[test]
    fn inner_steps_cover_each_window_once() {
        // Windows (0, 30] and (10, 40] at step 10: 10, 20, 30, 40.
        assert_eq!(inner_steps(&[30, 40], 30, 10), vec![10, 20, 30, 40]);
        // Disjoint windows leave the gap out.
        assert_eq!(inner_steps(&[20, 100], 15, 10), vec![10, 20, 90, 100]);
        // Negative times round like positive ones.
        assert_eq!(inner_steps(&[-5], 20, 10), vec![-20, -10]);
        // Equal ends (an `@` modifier) give one window.
        assert_eq!(inner_steps(&[20, 20], 20, 10), vec![10, 20]);
    }
}
