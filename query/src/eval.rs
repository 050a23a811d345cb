//! Step-by-step evaluation of a parsed PromQL expression.
//!
//! Evaluation has two phases. [`Evaluator::prepare`] walks the AST once and selects, for every
//! selector, the series and samples of the whole time range the query can touch (one
//! [`Querier::select`] per selector, never one per step). [`Evaluator::eval`] then evaluates the
//! expression at one timestamp; a range query calls it once per step.

pub(crate) mod aggregate;
pub(crate) mod binary;
pub(crate) mod functions;
pub(crate) mod numeric;
pub(crate) mod selector;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr, Offset};
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Label, Labels, Sample};

use crate::engine::QueryLimits;
use crate::error::QueryError;
use crate::querier::Querier;
use selector::SelectorData;

/// Step of a subquery written without one (`x[5m:]`), like Prometheus' default evaluation interval.
pub(crate) const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// One element of an instant vector.
#[derive(Clone, Debug)]
pub(crate) struct Elem {
    pub labels: Labels,
    pub v: f64,
}

/// One series of a range vector.
#[derive(Clone, Debug)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// The value of an expression at one evaluation timestamp.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Scalar(f64),
    String(String),
    Vector(Vec<Elem>),
    /// A range vector selected over the window `(end_ms - range_ms, end_ms]`.
    Matrix {
        series: Vec<RangeSeries>,
        range_ms: i64,
        end_ms: i64,
    },
}

/// Warnings and infos collected while evaluating, deduplicated.
#[derive(Clone, Debug, Default)]
pub(crate) struct Annotations {
    pub warnings: BTreeSet<String>,
    pub infos: BTreeSet<String>,
}

/// Evaluates one query; holds the selected data and the annotations.
pub(crate) struct Evaluator<'q> {
    pub limits: &'q QueryLimits,
    /// Start of the query (what `@ start()` means).
    pub query_start_ms: i64,
    /// End of the query (what `@ end()` means).
    pub query_end_ms: i64,
    pub(crate) data: SelectorData,
    pub annotations: RefCell<Annotations>,
    /// Inner results of subqueries by (node, timestamp): overlapping windows of successive steps
    /// share their points.
    subquery_cache: RefCell<HashMap<(usize, i64), Val>>,
}

impl<'q> Evaluator<'q> {
    pub fn new(limits: &'q QueryLimits, query_start_ms: i64, query_end_ms: i64) -> Self {
        Evaluator {
            limits,
            query_start_ms,
            query_end_ms,
            data: SelectorData::default(),
            annotations: RefCell::new(Annotations::default()),
            subquery_cache: RefCell::new(HashMap::new()),
        }
    }

    /// Selects the data of every selector in `expr` for evaluation times in `[lo_ms, hi_ms]`.
    pub fn prepare(
        &mut self,
        querier: &dyn Querier,
        expr: &Expr,
        lo_ms: i64,
        hi_ms: i64,
    ) -> Result<(), QueryError> {
        match expr {
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.prepare(querier, p, lo_ms, hi_ms)?;
                }
                self.prepare(querier, &a.expr, lo_ms, hi_ms)
            }
            Expr::Unary(u) => self.prepare(querier, &u.expr, lo_ms, hi_ms),
            Expr::Binary(b) => {
                self.prepare(querier, &b.lhs, lo_ms, hi_ms)?;
                self.prepare(querier, &b.rhs, lo_ms, hi_ms)
            }
            Expr::Paren(p) => self.prepare(querier, &p.expr, lo_ms, hi_ms),
            Expr::Subquery(s) => {
                let (lo, hi) = self.window_ends(&s.at, &s.offset, lo_ms, hi_ms);
                self.prepare(querier, &s.expr, lo - duration_ms(&s.range), hi)
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::VectorSelector(vs) => {
                let (lo, hi) = self.window_ends(&vs.at, &vs.offset, lo_ms, hi_ms);
                self.load(querier, vs, lo - self.limits.lookback_delta_ms, hi)
            }
            Expr::MatrixSelector(ms) => {
                let (lo, hi) = self.window_ends(&ms.vs.at, &ms.vs.offset, lo_ms, hi_ms);
                self.load(querier, &ms.vs, lo - duration_ms(&ms.range), hi)
            }
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.prepare(querier, a, lo_ms, hi_ms)?;
                }
                Ok(())
            }
            Expr::Extension(_) => Err(QueryError::not_implemented("extension expressions")),
        }
    }

    /// The range of window ends `[lo, hi]` a node with these modifiers sees for evaluation
    /// times in `[lo_ms, hi_ms]`.
    fn window_ends(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        lo_ms: i64,
        hi_ms: i64,
    ) -> (i64, i64) {
        let off = offset_ms(offset);
        match self.at_ms(at) {
            Some(a) => (a - off, a - off),
            None => (lo_ms - off, hi_ms - off),
        }
    }

    /// The time an `@` modifier pins evaluation to, if any.
    pub fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        at.as_ref().map(|a| match a {
            AtModifier::Start => self.query_start_ms,
            AtModifier::End => self.query_end_ms,
            AtModifier::At(t) => system_time_ms(*t),
        })
    }

    /// The end of the window a node with these modifiers selects when evaluated at `t_ms`.
    pub fn window_end(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t_ms: i64) -> i64 {
        self.at_ms(at).unwrap_or(t_ms) - offset_ms(offset)
    }

    pub fn info(&self, msg: String) {
        self.annotations.borrow_mut().infos.insert(msg);
    }

    pub fn warn(&self, msg: String) {
        self.annotations.borrow_mut().warnings.insert(msg);
    }

    /// Evaluates `expr` at `t_ms`.
    pub fn eval(&self, expr: &Expr, t_ms: i64) -> Result<Val, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t_ms),
            Expr::Unary(u) => match self.eval(&u.expr, t_ms)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(vec) => {
                    let out: Vec<Elem> = vec
                        .into_iter()
                        .map(|e| Elem {
                            labels: drop_name(e.labels),
                            v: -e.v,
                        })
                        .collect();
                    check_unique(&out)?;
                    Ok(Val::Vector(out))
                }
                _ => Err(QueryError::bad_data(
                    "unary minus only applies to scalars and instant vectors",
                )),
            },
            Expr::VectorSelector(vs) => {
                let end = self.window_end(&vs.at, &vs.offset, t_ms);
                Ok(Val::Vector(
                    self.data
                        .instant(vs, end, self.limits.lookback_delta_ms)
                        .into_iter()
                        .map(|(labels, s)| Elem { labels, v: s.v })
                        .collect(),
                ))
            }
            Expr::MatrixSelector(ms) => {
                let end = self.window_end(&ms.vs.at, &ms.vs.offset, t_ms);
                let range_ms = duration_ms(&ms.range);
                Ok(Val::Matrix {
                    series: self.data.range(&ms.vs, end - range_ms, end),
                    range_ms,
                    end_ms: end,
                })
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, t_ms),
            Expr::Binary(b) => binary::eval_binary(self, b, t_ms),
            Expr::Aggregate(a) => aggregate::eval_aggregate(self, a, t_ms),
            Expr::Call(c) => functions::eval_call(self, c, t_ms),
            Expr::Extension(_) => Err(QueryError::not_implemented("extension expressions")),
        }
    }

    fn eval_subquery(
        &self,
        sq: &promql_parser::parser::SubqueryExpr,
        t_ms: i64,
    ) -> Result<Val, QueryError> {
        let end = self.window_end(&sq.at, &sq.offset, t_ms);
        let range_ms = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS)
            .max(1);
        // The first multiple of the step strictly after the window start.
        let mut ts = (end - range_ms).div_euclid(step) * step + step;
        let key = sq as *const _ as usize;
        let mut by_labels: HashMap<Labels, Vec<Sample>> = HashMap::new();
        while ts <= end {
            let cached = self.subquery_cache.borrow().get(&(key, ts)).cloned();
            let v = match cached {
                Some(v) => v,
                None => {
                    let v = self.eval(&sq.expr, ts)?;
                    self.subquery_cache
                        .borrow_mut()
                        .insert((key, ts), v.clone());
                    v
                }
            };
            match v {
                Val::Scalar(v) => by_labels
                    .entry(Labels::default())
                    .or_default()
                    .push(Sample::new(ts, v)),
                Val::Vector(vec) => {
                    for e in vec {
                        by_labels
                            .entry(e.labels)
                            .or_default()
                            .push(Sample::new(ts, e.v));
                    }
                }
                _ => {
                    return Err(QueryError::bad_data(
                        "subquery is only allowed on instant vector or scalar",
                    ));
                }
            }
            ts += step;
        }
        let mut series: Vec<RangeSeries> = by_labels
            .into_iter()
            .map(|(labels, samples)| RangeSeries { labels, samples })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Val::Matrix {
            series,
            range_ms,
            end_ms: end,
        })
    }
}

/// Milliseconds of a parser duration.
pub(crate) fn duration_ms(d: &std::time::Duration) -> i64 {
    d.as_millis() as i64
}

/// Milliseconds of an `offset` (negative offsets look ahead).
pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// Milliseconds since the epoch of a parser timestamp (which may precede the epoch).
pub(crate) fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
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

/// Fails when two elements of a vector have the same labels, as Prometheus does after every
/// function and operator.
pub(crate) fn check_unique(vec: &[Elem]) -> Result<(), QueryError> {
    if vec.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(vec.len());
    for e in vec {
        if !seen.insert(&e.labels) {
            return Err(QueryError::execution(
                "vector cannot contain metrics with the same labelset",
            ));
        }
    }
    Ok(())
}
