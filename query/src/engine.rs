//! The PromQL engine: parses a query and evaluates it over all steps with Prometheus 3.5
//! semantics, streaming each selector's series from the querier (see `eval`).

use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;
use serde::{Deserialize, Serialize};
use tidemark_storage::{Labels, Sample};

use crate::error::QueryError;
use crate::eval::{Evaluator, Series, Val, too_many_samples};
use crate::histogram::HistogramPoint;
use crate::querier::Querier;
use crate::results_cache::ResultsCacheConfig;
use crate::syntax::{self, SyntaxLimits, stack};
use crate::value::{MatrixSeries, Point, QueryResult, SampleCounts, Value};

/// Bounds on queries: exceeding one fails the query with a clear error. A node's `query:`
/// configuration is exactly this (every key, its default and its documentation are here).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryLimits {
    /// Samples loaded into memory, across the whole query; also the most points (series x
    /// steps) any one intermediate or final result may hold.
    pub samples_max: usize,
    /// Series one selector may touch.
    pub series_max: usize,
    /// Points a range query may return per series (Prometheus: 11,000).
    pub points_per_series_max: usize,
    /// How long evaluation may run (0: no limit); checked between series, so a query stops
    /// soon after, with a `timeout` error. A request's `timeout` parameter can only lower it.
    pub timeout_ms: u64,
    /// Lookback for instant-vector selectors.
    pub lookback_delta_ms: i64,
    /// Series `/api/v1/status/tsdb` reads to count cardinalities (metric names, label pairs);
    /// beyond it the lists cover the series read so far and the answer carries a warning.
    pub tsdb_status_series_max: usize,
    /// The deepest expression accepted (in `query`, `match[]` and every other PromQL text), in
    /// syntax-tree levels: each parenthesis, operator, call, aggregation and subquery is one.
    /// Deeper expressions get a 400 before they are parsed ([`SyntaxLimits::max_depth`]).
    pub max_depth: usize,
    /// The longest expression accepted, in bytes ([`SyntaxLimits::max_length_bytes`]).
    pub max_length_bytes: usize,
    /// Queries (and series, label and status reads through the query API) a node evaluates
    /// at once (Prometheus' `--query.max-concurrency`, 20); more wait in a queue.
    pub concurrent_max: usize,
    /// Queries waiting for a slot at most; beyond, a query is refused with 429 at once. A
    /// query waits at most its timeout.
    pub queue_max: usize,
    /// The results cache of range queries ([`crate::results_cache`]).
    pub results_cache: ResultsCacheConfig,
}

impl Default for QueryLimits {
    fn default() -> Self {
        let syntax = SyntaxLimits::default();
        QueryLimits {
            samples_max: 50_000_000,
            series_max: 1_000_000,
            points_per_series_max: 11_000,
            timeout_ms: 2 * 60 * 1000,
            lookback_delta_ms: 5 * 60 * 1000,
            tsdb_status_series_max: 1_000_000,
            max_depth: syntax.max_depth,
            max_length_bytes: syntax.max_length_bytes,
            concurrent_max: 20,
            queue_max: 200,
            results_cache: ResultsCacheConfig::default(),
        }
    }
}

impl QueryLimits {
    /// The bounds on PromQL text these limits set.
    pub fn syntax(&self) -> SyntaxLimits {
        SyntaxLimits {
            max_depth: self.max_depth,
            max_length_bytes: self.max_length_bytes,
        }
    }
}

/// Evaluates PromQL with Prometheus 3.5 semantics.
#[derive(Clone, Debug, Default)]
pub struct PromqlEngine {
    /// The bounds every query of this engine runs under.
    pub limits: QueryLimits,
}

impl PromqlEngine {
    /// An engine whose queries run under `limits`.
    pub fn new(limits: QueryLimits) -> Self {
        PromqlEngine { limits }
    }

    /// This engine with its evaluation timeout lowered to `timeout_ms` (a request's own
    /// `timeout` parameter), so that an abandoned evaluation stops too; never raised.
    pub fn with_timeout_ms(&self, timeout_ms: u64) -> PromqlEngine {
        let mut limits = self.limits.clone();
        if limits.timeout_ms == 0 || timeout_ms < limits.timeout_ms {
            limits.timeout_ms = timeout_ms;
        }
        PromqlEngine { limits }
    }

    /// Evaluates `expr` at `time_ms`.
    pub fn instant(
        &self,
        querier: &dyn Querier,
        expr: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let ast = syntax::parse(expr, &self.limits.syntax())?;
        ast.walk(|e| self.eval_instant(querier, e, Some(expr), time_ms))
    }

    /// Evaluates the parsed expression `ast` at `time_ms` (for callers that parse or rewrite
    /// the expression themselves).
    pub fn instant_expr(
        &self,
        querier: &dyn Querier,
        ast: &Expr,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let depth = self.limits.syntax().check_depth(ast)?;
        stack::with_stack_for(depth, || self.eval_instant(querier, ast, None, time_ms))
    }

    /// An instant query of `ast`, parsed from `text` when that is known; runs on a stack deep
    /// enough for `ast`.
    fn eval_instant(
        &self,
        querier: &dyn Querier,
        ast: &Expr,
        text: Option<&str>,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let mut ev = Evaluator::new(&self.limits, querier, time_ms, time_ms);
        if let Some(text) = text {
            ev.set_source(text, ast);
        }
        ev.prepare(ast, time_ms, time_ms)?;
        let value = match ev.eval(ast, &[time_ms])? {
            Val::Scalar(v) => Value::Scalar {
                t: time_ms,
                v: v[0],
            },
            Val::String(s) => Value::String { t: time_ms, s },
            Val::Vector(vec) => Value::Vector(
                vec.into_iter()
                    .filter_map(|s| {
                        let point = match (s.values[0], s.hist(0)) {
                            (_, Some(h)) => Point::Histogram(HistogramPoint {
                                t: time_ms,
                                h: h.clone(),
                            }),
                            (Some(v), None) => Point::Float(Sample::new(time_ms, v)),
                            (None, None) => return None,
                        };
                        Some((s.labels, point))
                    })
                    .collect(),
            ),
            Val::Matrix(rv) => {
                // A range vector is the query itself: Prometheus counts a subquery's inner
                // samples, or a selector's whole window.
                // The one window each series has at `time_ms`.
                let end = rv.ends[0];
                let inside = |t: i64| t > end - rv.range_ms && t <= end;
                let counted = rv.subquery_samples.unwrap_or_else(|| {
                    rv.series
                        .iter()
                        .map(|s| {
                            let floats = s.samples.iter().filter(|x| inside(x.t)).count();
                            let hists = s.histograms.iter().filter(|x| inside(x.t)).count();
                            (floats + hists) as u64
                        })
                        .sum()
                });
                ev.count_samples(&[counted]);
                let mut series: Vec<MatrixSeries> = rv
                    .series
                    .into_iter()
                    .map(|s| MatrixSeries {
                        floats: s.samples.iter().filter(|x| inside(x.t)).copied().collect(),
                        histograms: s
                            .histograms
                            .iter()
                            .filter(|x| inside(x.t))
                            .cloned()
                            .collect(),
                        labels: s.labels.into_owned(),
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(series)
            }
        };
        Ok(finish(value, ev, &[time_ms]))
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
        let ast = syntax::parse(expr, &self.limits.syntax())?;
        ast.walk(|e| self.eval_range(querier, e, Some(expr), (start_ms, end_ms, step_ms), None))
    }

    /// Evaluates the parsed expression `ast` at every step from `start_ms` to `end_ms`.
    pub fn range_expr(
        &self,
        querier: &dyn Querier,
        ast: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let depth = self.limits.syntax().check_depth(ast)?;
        stack::with_stack_for(depth, || {
            self.eval_range(querier, ast, None, (start_ms, end_ms, step_ms), None)
        })
    }

    /// A range query of `ast`, parsed from `text` when that is known; runs on the caller's
    /// stack (which must be deep enough for `ast`). It stops at `deadline` when one is given
    /// (a query evaluated in parts), else `limits.timeout_ms` from now.
    pub(crate) fn eval_range(
        &self,
        querier: &dyn Querier,
        ast: &Expr,
        text: Option<&str>,
        (start_ms, end_ms, step_ms): (i64, i64, i64),
        deadline: Option<std::time::Instant>,
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
        let ts: Vec<i64> = (0..=(end_ms - start_ms) / step_ms)
            .map(|i| start_ms + i * step_ms)
            .collect();
        let mut ev = Evaluator::new(&self.limits, querier, start_ms, end_ms);
        if let Some(deadline) = deadline {
            ev.set_deadline(deadline);
        }
        if let Some(text) = text {
            ev.set_source(text, ast);
        }
        ev.prepare(ast, start_ms, end_ms)?;
        let series = match ev.eval(ast, &ts)? {
            Val::Scalar(v) => vec![Series::new(
                Labels::default(),
                v.into_iter().map(Some).collect(),
            )],
            Val::Vector(vec) => vec,
            _ => {
                return Err(QueryError::bad_data(
                    "range queries need a scalar or instant vector",
                ));
            }
        };
        let points: usize = series.iter().map(Series::points).sum();
        if points.saturating_add(ev.samples_loaded.get()) > self.limits.samples_max {
            return Err(too_many_samples());
        }
        let mut matrix: Vec<MatrixSeries> = series
            .into_iter()
            .map(|s| MatrixSeries {
                floats: ts
                    .iter()
                    .zip(s.values)
                    .filter_map(|(&t, v)| v.map(|v| Sample::new(t, v)))
                    .collect(),
                histograms: ts
                    .iter()
                    .zip(s.hists)
                    .filter_map(|(&t, h)| h.map(|h| HistogramPoint { t, h }))
                    .collect(),
                labels: s.labels,
            })
            .collect();
        matrix.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        Ok(finish(Value::Matrix(matrix), ev, &ts))
    }
}

/// Attaches the evaluator's annotations and sample counts (at the steps `ts`) to a value.
fn finish(value: Value, ev: Evaluator<'_>, ts: &[i64]) -> QueryResult {
    let peak = ev.peak_samples();
    let stats = ev.stats.into_inner();
    let per_step = ts
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, stats.per_step.get(i).copied().unwrap_or(0)))
        .collect();
    let annotations = ev.annotations.into_inner();
    QueryResult {
        value,
        warnings: annotations.warnings.into_iter().collect(),
        infos: annotations.infos.into_iter().collect(),
        samples: SampleCounts {
            total_queryable: stats.total(),
            per_step,
            peak,
        },
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
mod tests;
