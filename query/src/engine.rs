//! The PromQL engine: parses a query, selects its data once and evaluates it step by step with
//! Prometheus 3.5 semantics (see `eval`).

use std::collections::HashMap;

use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;
use tidemark_storage::{Labels, Sample};

use crate::error::QueryError;
use crate::eval::{Evaluator, Val};
use crate::querier::Querier;
use crate::value::{QueryResult, Value};

/// Bounds on one query. Exceeding one fails the query with a clear error.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    /// Samples loaded into memory at once, across the whole query.
    pub samples_max: usize,
    /// Series one selector may touch.
    pub series_max: usize,
    /// Points a range query may return per series (Prometheus: 11,000).
    pub points_per_series_max: usize,
    /// Lookback for instant-vector selectors.
    pub lookback_delta_ms: i64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            samples_max: 50_000_000,
            series_max: 1_000_000,
            points_per_series_max: 11_000,
            lookback_delta_ms: 5 * 60 * 1000,
        }
    }
}

/// Evaluates PromQL with Prometheus 3.5 semantics.
#[derive(Clone, Debug, Default)]
pub struct PromqlEngine {
    pub limits: QueryLimits,
}

/// Parses `expr`, mapping parser errors to `bad_data`.
fn parse(expr: &str) -> Result<Expr, QueryError> {
    promql_parser::parser::parse(expr).map_err(QueryError::bad_data)
}

impl PromqlEngine {
    pub fn new(limits: QueryLimits) -> Self {
        PromqlEngine { limits }
    }

    /// Evaluates `expr` at `time_ms`.
    pub fn instant(
        &self,
        querier: &dyn Querier,
        expr: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let ast = parse(expr)?;
        let mut ev = Evaluator::new(&self.limits, time_ms, time_ms);
        ev.prepare(querier, &ast, time_ms, time_ms)?;
        let value = match ev.eval(&ast, time_ms)? {
            Val::Scalar(v) => Value::Scalar { t: time_ms, v },
            Val::String(s) => Value::String { t: time_ms, s },
            Val::Vector(vec) => Value::Vector(
                vec.into_iter()
                    .map(|e| (e.labels, Sample::new(time_ms, e.v)))
                    .collect(),
            ),
            Val::Matrix { mut series, .. } => {
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(series.into_iter().map(|s| (s.labels, s.samples)).collect())
            }
        };
        Ok(finish(value, ev))
    }

    /// Evaluates `expr` at every step from `start_ms` to `end_ms` inclusive; returns a matrix.
    pub fn range(
        &self,
        querier: &dyn Querier,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::bad_data(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::bad_data(
                "end timestamp must not be before start time",
            ));
        }
        if (end_ms - start_ms) / step_ms > self.limits.points_per_series_max as i64 {
            return Err(QueryError::bad_data(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                thousands(self.limits.points_per_series_max)
            )));
        }
        let ast = parse(expr)?;
        match ast.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                let name = match other {
                    ValueType::Matrix => "range vector",
                    _ => "string",
                };
                return Err(QueryError::bad_data(format!(
                    "invalid expression type {name:?} for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let mut ev = Evaluator::new(&self.limits, start_ms, end_ms);
        ev.prepare(querier, &ast, start_ms, end_ms)?;
        let mut points = ev.data.samples_loaded;
        let mut by_labels: HashMap<Labels, Vec<Sample>> = HashMap::new();
        let mut t = start_ms;
        while t <= end_ms {
            match ev.eval(&ast, t)? {
                Val::Scalar(v) => {
                    by_labels
                        .entry(Labels::default())
                        .or_default()
                        .push(Sample::new(t, v));
                    points += 1;
                }
                Val::Vector(vec) => {
                    points += vec.len();
                    for e in vec {
                        by_labels
                            .entry(e.labels)
                            .or_default()
                            .push(Sample::new(t, e.v));
                    }
                }
                _ => {
                    return Err(QueryError::bad_data(
                        "range queries need a scalar or instant vector",
                    ));
                }
            }
            if points > self.limits.samples_max {
                return Err(QueryError::execution(
                    "query processing would load too many samples into memory in query execution",
                ));
            }
            t += step_ms;
        }
        let mut series: Vec<(Labels, Vec<Sample>)> = by_labels.into_iter().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(finish(Value::Matrix(series), ev))
    }
}

/// Attaches the evaluator's annotations to a value.
fn finish(value: Value, ev: Evaluator<'_>) -> QueryResult {
    let annotations = ev.annotations.into_inner();
    QueryResult {
        value,
        warnings: annotations.warnings.into_iter().collect(),
        infos: annotations.infos.into_iter().collect(),
    }
}

/// `11000` as `11,000`, the way Prometheus prints the resolution limit.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tidemark_storage::model::STALE_NAN_BITS;
    use tidemark_storage::{Matcher, SeriesSamples};

    use super::*;
    use crate::error::QueryErrorKind;
    use crate::querier::QuerySeriesIter;

    /// A querier over fixed series.
    struct Fixed(Vec<(Labels, Vec<Sample>)>);

    impl Querier for Fixed {
        fn select(
            &self,
            m: &[Matcher],
            mint: i64,
            maxt: i64,
        ) -> Result<QuerySeriesIter<'_>, QueryError> {
            let out: Vec<Result<SeriesSamples, QueryError>> = self
                .0
                .iter()
                .filter(|(l, _)| m.iter().all(|x| x.matches_labels(l)))
                .map(|(l, s)| {
                    Ok(SeriesSamples {
                        labels: l.clone(),
                        samples: s
                            .iter()
                            .filter(|x| x.t >= mint && x.t <= maxt)
                            .copied()
                            .collect(),
                    })
                })
                .collect();
            Ok(Box::new(out.into_iter()))
        }
        fn series(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Labels>, QueryError> {
            Ok(Vec::new())
        }
        fn label_names(
            &self,
            _: &[Matcher],
            _: i64,
            _: i64,
        ) -> Result<BTreeSet<String>, QueryError> {
            Ok(BTreeSet::new())
        }
        fn label_values(
            &self,
            _: &str,
            _: &[Matcher],
            _: i64,
            _: i64,
        ) -> Result<BTreeSet<String>, QueryError> {
            Ok(BTreeSet::new())
        }
    }

    fn series(pairs: &[(&str, &str)], points: &[(i64, f64)]) -> (Labels, Vec<Sample>) {
        (
            Labels::from_pairs(pairs),
            points.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        )
    }

    fn vector(r: QueryResult) -> Vec<(Labels, f64)> {
        match r.value {
            Value::Vector(v) => v.into_iter().map(|(l, s)| (l, s.v)).collect(),
            other => panic!("not a vector: {other:?}"),
        }
    }

    #[test]
    fn lookback_is_left_open_and_stale_markers_hide_series() {
        let q = Fixed(vec![
            series(&[("__name__", "a")], &[(0, 1.0)]),
            series(
                &[("__name__", "b")],
                &[(0, 1.0), (10_000, f64::from_bits(STALE_NAN_BITS))],
            ),
        ]);
        let e = PromqlEngine::default();
        // At 5m the sample at 0 is exactly lookback old: outside the left-open window.
        assert_eq!(vector(e.instant(&q, "a", 299_999).unwrap()).len(), 1);
        assert!(vector(e.instant(&q, "a", 300_000).unwrap()).is_empty());
        // The stale marker hides b from 10 s on, but not before.
        assert_eq!(vector(e.instant(&q, "b", 5_000).unwrap()).len(), 1);
        assert!(vector(e.instant(&q, "b", 10_000).unwrap()).is_empty());
    }

    #[test]
    fn many_to_many_matching_is_an_error() {
        let q = Fixed(vec![
            series(&[("__name__", "a"), ("job", "x"), ("i", "1")], &[(0, 1.0)]),
            series(&[("__name__", "a"), ("job", "x"), ("i", "2")], &[(0, 2.0)]),
            series(&[("__name__", "b"), ("job", "x"), ("i", "1")], &[(0, 3.0)]),
            series(&[("__name__", "b"), ("job", "x"), ("i", "2")], &[(0, 4.0)]),
        ]);
        let e = PromqlEngine::default();
        let err = e.instant(&q, "a + on(job) b", 0).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::Execution);
        assert!(
            err.message.contains("many-to-many matching not allowed"),
            "{}",
            err.message
        );
        let err = e.instant(&q, "a + on(job) group_left b", 0).unwrap_err();
        assert!(
            err.message.contains("found duplicate series"),
            "{}",
            err.message
        );
        // One-to-one on all labels but the name works and drops the name.
        let v = vector(e.instant(&q, "a + b", 0).unwrap());
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|(l, _)| l.metric_name().is_none()));
        // Dropping the name of two series with otherwise equal labels collides.
        let err = e.instant(&q, "-{i=\"1\"}", 0).unwrap_err();
        assert_eq!(
            err.message,
            "vector cannot contain metrics with the same labelset"
        );
    }

    #[test]
    fn limits_and_parse_errors() {
        let q = Fixed(vec![series(
            &[("__name__", "a")],
            &[(0, 1.0), (1_000, 2.0), (2_000, 3.0)],
        )]);
        let e = PromqlEngine::new(QueryLimits {
            samples_max: 2,
            ..QueryLimits::default()
        });
        let err = e.instant(&q, "sum_over_time(a[1m])", 2_000).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::Execution);
        assert!(err.message.contains("too many samples"));
        let e = PromqlEngine::default();
        let err = e.range(&q, "a", 0, 11_001_000, 1_000).unwrap_err();
        assert_eq!(err.kind, QueryErrorKind::BadData);
        assert!(
            err.message
                .starts_with("exceeded maximum resolution of 11,000 points")
        );
        assert!(e.range(&q, "a", 0, 11_000_000, 1_000).is_ok());
        assert_eq!(
            e.instant(&q, "sum(", 0).unwrap_err().kind,
            QueryErrorKind::BadData
        );
    }

    #[test]
    fn range_query_steps_and_rate() {
        let points: Vec<(i64, f64)> = (0..=10).map(|i| (i * 15_000, i as f64 * 15.0)).collect();
        let q = Fixed(vec![series(&[("__name__", "c_total")], &points)]);
        let e = PromqlEngine::default();
        let r = e
            .range(&q, "rate(c_total[1m])", 60_000, 150_000, 30_000)
            .unwrap();
        let Value::Matrix(m) = r.value else {
            panic!("not a matrix")
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].1.len(), 4);
        for s in &m[0].1 {
            assert!((s.v - 1.0).abs() < 1e-9, "{s:?}");
        }
    }
}
