//! Evaluation of a parsed PromQL expression over all steps of a query at once.
//!
//! [`Evaluator::eval`] evaluates each node once for all evaluation timestamps ("vectorized over
//! steps", as Prometheus' range evaluation and VictoriaMetrics do): an instant vector is, per
//! output series, its value at every step ([`Series`]). Label sets are therefore built once per
//! series and node, never per step; range functions slide a window over each series' samples;
//! aggregations and vector matching compute group keys and signatures once per series. An instant
//! query is the one-step case.
//!
//! Selectors stream: each selector makes one [`Querier::select`] for the whole time range its
//! node needs (never one per step), and its series are consumed one at a time as the querier
//! decodes them. An instant-vector selector keeps only each series' values at the steps, a range
//! function only its result per step, and an aggregation the shards can compute ([`partial`])
//! only its groups' accumulators: a query never holds all the raw samples it reads. Only a range
//! vector that is the query's own result (`x[5m]`) is loaded whole ([`Evaluator::prepare`]).
//!
//! Per-step semantics follow Prometheus 3.5's engine: where it assembles a step-wise result
//! (`rangeEval`), series with equal labels are merged and only a collision at the same step is
//! an error ([`series::merge_same_labels`]); where it maps whole series (range functions, unary
//! minus, `label_replace`), equal labels are an error whatever the steps
//! ([`series::check_distinct_labels`]).

pub(crate) mod aggregate;
pub(crate) mod binary;
pub(crate) mod functions;
pub(crate) mod numeric;
pub(crate) mod positions;
pub(crate) mod selector;
pub(crate) mod series;
pub(crate) mod subquery;

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr, Offset};
use tidemark_storage::{Labels, Sample};

use crate::engine::QueryLimits;
use crate::error::{QueryError, QueryErrorKind};
use crate::histogram::HistogramPoint;
use crate::querier::Querier;
use selector::SelectorData;
pub(crate) use series::{Series, drop_name};

/// Step of a subquery written without one (`x[5m:]`), like Prometheus' default evaluation interval.
pub(crate) const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// One series of a range vector: its samples, of which each step sees a window.
#[derive(Clone, Debug)]
pub(crate) struct RangeSeries<'e> {
    pub labels: Cow<'e, Labels>,
    /// Sorted by time, without stale markers.
    pub samples: Cow<'e, [Sample]>,
    /// Native histogram samples, sorted by time, without stale markers.
    pub histograms: Cow<'e, [HistogramPoint]>,
}

/// A range vector at every step: step `i` sees the samples in `(ends[i] - range_ms, ends[i]]`.
#[derive(Clone, Debug)]
pub(crate) struct RangeVector<'e> {
    pub series: Vec<RangeSeries<'e>>,
    pub range_ms: i64,
    /// Window end per step (the evaluation time with `@` and `offset` applied), non-decreasing.
    pub ends: Vec<i64>,
    /// For a subquery, the samples its inner evaluation counted (see [`SampleStats`]); `None`
    /// for a matrix selector.
    pub subquery_samples: Option<u64>,
}

/// Samples a query touched, counted as Prometheus' `stats` counts `totalQueryableSamples`:
/// per step, an instant-vector selector counts each series with a sample at that step and a
/// function over a range vector counts each window's samples. A subquery's inner evaluation
/// counts in a scope of its own, dropped when a function reads the subquery's windows (those
/// are counted instead) and added whole when the subquery is the query itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct SampleStats {
    /// Totals of the open counting scopes; the first is the query's.
    scopes: Vec<u64>,
    /// The query's count per step.
    pub per_step: Vec<u64>,
}

impl SampleStats {
    fn new() -> Self {
        SampleStats {
            scopes: vec![0],
            ..SampleStats::default()
        }
    }

    /// Adds `counts[i]` at step `i` of the innermost scope.
    fn add(&mut self, counts: &[u64]) {
        let total: u64 = counts.iter().sum();
        if self.scopes.len() == 1 {
            if self.per_step.len() < counts.len() {
                self.per_step.resize(counts.len(), 0);
            }
            for (acc, n) in self.per_step.iter_mut().zip(counts) {
                *acc += n;
            }
        }
        if let Some(scope) = self.scopes.last_mut() {
            *scope += total;
        }
    }

    /// The query's total.
    pub fn total(&self) -> u64 {
        self.scopes.first().copied().unwrap_or(0)
    }
}

/// The value of an expression at every evaluation step.
#[derive(Clone, Debug)]
pub(crate) enum Val<'e> {
    /// One value per step.
    Scalar(Vec<f64>),
    String(String),
    /// Series with a value (or none) per step.
    Vector(Vec<Series>),
    Matrix(RangeVector<'e>),
}

/// Warnings and infos collected while evaluating, deduplicated.
#[derive(Clone, Debug, Default)]
pub(crate) struct Annotations {
    pub warnings: BTreeSet<String>,
    pub infos: BTreeSet<String>,
}

/// Evaluates one query; holds the selected data, the annotations and the query's bounds.
pub(crate) struct Evaluator<'q> {
    pub limits: &'q QueryLimits,
    /// Where selectors read their series.
    pub querier: &'q dyn Querier,
    /// Start of the query (what `@ start()` means).
    pub query_start_ms: i64,
    /// End of the query (what `@ end()` means).
    pub query_end_ms: i64,
    pub(crate) data: SelectorData,
    /// Raw samples read so far (streamed or loaded), checked against `samples_max`.
    pub samples_loaded: Cell<usize>,
    pub annotations: RefCell<Annotations>,
    /// Samples counted for `stats`.
    pub stats: RefCell<SampleStats>,
    /// Slots (series x steps) of the largest intermediate result so far.
    largest_result: Cell<usize>,
    /// The query's text and tree, when known: annotations about an argument then say where it
    /// is, as Prometheus' do.
    source: Option<(&'q str, &'q Expr)>,
    /// Argument positions, found on the first annotation that needs one.
    arg_starts: OnceCell<positions::ArgStarts>,
    /// Where binary expressions and aggregations start, found on first need.
    node_starts: OnceCell<std::collections::HashMap<usize, usize>>,
    /// When evaluation must stop (`limits.timeout_ms` after the evaluator was created).
    deadline: Option<Instant>,
}

impl<'q> Evaluator<'q> {
    pub fn new(
        limits: &'q QueryLimits,
        querier: &'q dyn Querier,
        query_start_ms: i64,
        query_end_ms: i64,
    ) -> Self {
        let deadline = (limits.timeout_ms > 0)
            .then(|| Instant::now() + std::time::Duration::from_millis(limits.timeout_ms));
        Evaluator {
            limits,
            querier,
            query_start_ms,
            query_end_ms,
            data: SelectorData::default(),
            samples_loaded: Cell::new(0),
            annotations: RefCell::new(Annotations::default()),
            stats: RefCell::new(SampleStats::new()),
            largest_result: Cell::new(0),
            source: None,
            arg_starts: OnceCell::new(),
            node_starts: OnceCell::new(),
            deadline,
        }
    }

    /// Makes evaluation stop at `deadline` (one query evaluated in parts shares one) instead
    /// of `limits.timeout_ms` after this evaluator was made.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Fails with a `timeout` error once the query has run past its deadline. Called between
    /// series and selects, so a query stops within one series' worth of work.
    pub fn check_deadline(&self) -> Result<(), QueryError> {
        match self.deadline {
            Some(d) if Instant::now() > d => Err(QueryError::new(
                QueryErrorKind::Timeout,
                format!(
                    "query timed out in expression evaluation after {} ms",
                    self.limits.timeout_ms
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Milliseconds left before the deadline (0: no deadline; at least 1 when there is one).
    pub fn remaining_ms(&self) -> u64 {
        match self.deadline {
            Some(d) => (d.saturating_duration_since(Instant::now()).as_millis() as u64).max(1),
            None => 0,
        }
    }

    /// Fails when an intermediate result of `series` series over `steps` steps would hold more
    /// points than `samples_max` (each series keeps a slot per step).
    pub fn check_points(&self, series: usize, steps: usize) -> Result<(), QueryError> {
        if series.saturating_mul(steps) > self.limits.samples_max {
            return Err(too_many_samples());
        }
        Ok(())
    }

    /// Loads the range vectors in `expr` that are not read by a function, for evaluation times
    /// in `[lo_ms, hi_ms]`: a range vector that is a result itself (`x[5m]` as the query) is
    /// held whole. Every other selector streams when it is evaluated.
    pub fn prepare(&mut self, expr: &Expr, lo_ms: i64, hi_ms: i64) -> Result<(), QueryError> {
        match expr {
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.prepare(p, lo_ms, hi_ms)?;
                }
                self.prepare(&a.expr, lo_ms, hi_ms)
            }
            Expr::Unary(u) => self.prepare(&u.expr, lo_ms, hi_ms),
            Expr::Binary(b) => {
                self.prepare(&b.lhs, lo_ms, hi_ms)?;
                self.prepare(&b.rhs, lo_ms, hi_ms)
            }
            Expr::Paren(p) => self.prepare(&p.expr, lo_ms, hi_ms),
            Expr::Subquery(s) => {
                let (lo, hi) = self.window_end_range(&s.at, &s.offset, lo_ms, hi_ms);
                self.prepare(&s.expr, lo - duration_ms(&s.range), hi)
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::VectorSelector(_) => Ok(()),
            Expr::MatrixSelector(ms) => {
                let (lo, hi) = self.window_end_range(&ms.vs.at, &ms.vs.offset, lo_ms, hi_ms);
                self.load(&ms.vs, lo - duration_ms(&ms.range), hi)
            }
            Expr::Call(c) => {
                for a in &c.args.args {
                    if !functions::streams_range_arg(c, a) {
                        self.prepare(a, lo_ms, hi_ms)?;
                    }
                }
                Ok(())
            }
            Expr::Extension(_) => Err(QueryError::not_implemented("extension expressions")),
        }
    }

    /// The range of window ends `[lo, hi]` a node with these modifiers sees for evaluation
    /// times in `[lo_ms, hi_ms]`.
    pub(crate) fn window_end_range(
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

    /// The window end of a node with these modifiers at every evaluation time of `ts`.
    pub fn window_ends(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        ts: &[i64],
    ) -> Vec<i64> {
        let off = offset_ms(offset);
        match self.at_ms(at) {
            Some(a) => vec![a - off; ts.len()],
            None => ts.iter().map(|t| t - off).collect(),
        }
    }

    /// Counts `counts[i]` samples at step `i` of the current evaluation (see [`SampleStats`]).
    pub fn count_samples(&self, counts: &[u64]) {
        self.stats.borrow_mut().add(counts);
    }

    /// Runs `f` in a counting scope of its own; returns its result and the samples it counted.
    pub fn counting_apart<T>(&self, f: impl FnOnce() -> T) -> (T, u64) {
        self.stats.borrow_mut().scopes.push(0);
        let out = f();
        let mut stats = self.stats.borrow_mut();
        let inner = if stats.scopes.len() > 1 {
            stats.scopes.pop().unwrap_or(0)
        } else {
            0
        };
        (out, inner)
    }

    /// Samples loaded from storage plus the largest intermediate result (series x steps):
    /// what the `samples_max` limit is checked against. Prometheus' `peakSamples` follows its
    /// own step-by-step evaluation and differs.
    pub fn peak_samples(&self) -> u64 {
        (self.samples_loaded.get() + self.largest_result.get()) as u64
    }

    /// Lets annotations point into `query` (the text `root` was parsed from).
    pub fn set_source(&mut self, query: &'q str, root: &'q Expr) {
        self.source = Some((query, root));
    }

    /// `msg` with the position of argument `i` of the call or aggregation at `addr`
    /// (`positions::call_addr`, `positions::aggregate_addr`) appended as ` (line:col)`, when the
    /// query text is known.
    pub fn at_arg(&self, msg: String, addr: usize, i: usize) -> String {
        let Some((query, root)) = self.source else {
            return msg;
        };
        let starts = self
            .arg_starts
            .get_or_init(|| positions::arg_starts(query, root));
        match starts.get(&addr).and_then(|args| args.get(i)) {
            Some(&pos) => format!("{msg} ({})", positions::line_col(query, pos)),
            None => msg,
        }
    }

    /// `msg` with the start of the binary expression or aggregation at `addr`
    /// (`positions::binary_addr`, `positions::aggregate_addr`) appended, where it is known.
    pub fn at_node(&self, msg: String, addr: usize) -> String {
        let Some((query, root)) = self.source else {
            return msg;
        };
        let args = self
            .arg_starts
            .get_or_init(|| positions::arg_starts(query, root));
        let starts = self
            .node_starts
            .get_or_init(|| positions::node_starts(query, root, args));
        match starts.get(&addr) {
            Some(&pos) => format!("{msg} ({})", positions::line_col(query, pos)),
            None => msg,
        }
    }

    pub fn info(&self, msg: String) {
        self.annotations.borrow_mut().infos.insert(msg);
    }

    pub fn warn(&self, msg: String) {
        self.annotations.borrow_mut().warnings.insert(msg);
    }

    /// Evaluates `expr` at every time of `ts` (ascending). A vector result has distinct label
    /// sets and no series without values.
    pub fn eval<'e>(&'e self, expr: &Expr, ts: &[i64]) -> Result<Val<'e>, QueryError> {
        self.check_deadline()?;
        Ok(match self.eval_node(expr, ts)? {
            Val::Vector(mut vec) => {
                vec.retain(|s| !s.is_empty());
                let slots = vec.len().saturating_mul(ts.len());
                if slots > self.largest_result.get() {
                    self.largest_result.set(slots);
                }
                Val::Vector(vec)
            }
            other => other,
        })
    }

    fn eval_node<'e>(&'e self, expr: &Expr, ts: &[i64]) -> Result<Val<'e>, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; ts.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ts),
            Expr::Unary(u) => match self.eval(&u.expr, ts)? {
                Val::Scalar(mut v) => {
                    v.iter_mut().for_each(|x| *x = -*x);
                    Ok(Val::Scalar(v))
                }
                Val::Vector(mut vec) => {
                    for s in &mut vec {
                        s.labels = drop_name(std::mem::take(&mut s.labels));
                        s.values.iter_mut().flatten().for_each(|x| *x = -*x);
                        for h in s.hists.iter_mut().flatten() {
                            *h = std::sync::Arc::new(h.scaled(-1.0));
                        }
                    }
                    series::check_distinct_labels(&vec)?;
                    Ok(Val::Vector(vec))
                }
                _ => Err(QueryError::bad_data(
                    "unary minus only applies to scalars and instant vectors",
                )),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.instant_selector(vs, ts, false)?)),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(self.data.range(self, ms, ts)?)),
            Expr::Subquery(sq) => Ok(Val::Matrix(subquery::eval_subquery(self, sq, ts)?)),
            Expr::Binary(b) => binary::eval_binary(self, b, ts),
            Expr::Aggregate(a) => Ok(Val::Vector(aggregate::eval_aggregate(self, a, ts)?)),
            Expr::Call(c) => functions::eval_call(self, c, ts),
            Expr::Extension(_) => Err(QueryError::not_implemented("extension expressions")),
        }
    }

    /// Evaluates `expr`, which must be an instant vector, floats and histograms.
    pub fn eval_mixed_vector(&self, expr: &Expr, ts: &[i64]) -> Result<Vec<Series>, QueryError> {
        match self.eval(expr, ts)? {
            Val::Vector(v) => Ok(v),
            _ => Err(QueryError::bad_data(format!(
                "expected an instant vector, got {expr}"
            ))),
        }
    }
}

/// The error of a query that would hold more than `samples_max` samples, in Prometheus' words.
pub(crate) fn too_many_samples() -> QueryError {
    QueryError::execution(
        "query processing would load too many samples into memory in query execution",
    )
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
