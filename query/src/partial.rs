//! Partial aggregation: the aggregations a part of the data (a shard, a node) can compute on
//! its own, and the merge of their partial results.
//!
//! Within one shard-map version a series lives in one shard (a querier that reads across
//! versions computes partials only for data within one: [`crate::SplitSeriesQuerier`]), so
//! `sum/avg/count/group/min/max/stddev/stdvar/topk/bottomk`
//! `by`/`without` over a selector, or over a range function of a matrix selector (`rate`,
//! `increase`, `*_over_time`, ...), fold each shard's series into per-group accumulators
//! that merge exactly (`topk` keeps each shard's own top k, and the merge selects again).
//! The engine asks its querier for these partials ([`crate::Querier::aggregate`]): a cluster
//! querier has each remote shard compute its own, so only accumulators cross the network; any
//! other querier streams the raw series into the same fold locally. Either way the engine never
//! holds the raw samples, nor one value per input series and step: only the groups.
//!
//! A range function over a matrix selector that no aggregation wraps (`rate(x[5m])`,
//! `predict_linear(y[1h], 3600)`) is computed by parts too: each part keeps its series'
//! results, and the merge is their union in label order. Shards then evaluate one query at
//! once (on as many threads as the node has cores, and on every node that holds them)
//! instead of one series after another where the query runs.
//!
//! Where a fold could differ from the whole-vector evaluation the expression is not partial:
//! a range function that drops the metric name needs a selector that pins one (otherwise two
//! series of different metrics could collide after the name is dropped, which is an error
//! only the whole vector can see), parameters must be number literals, and `quantile` (which
//! needs every value) is evaluated whole.

use std::collections::HashMap;

use promql_parser::parser::{
    AggregateExpr, Call, Expr, LabelModifier, MatrixSelector, VectorSelector,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tidemark_storage::Labels;

use crate::engine::QueryLimits;
use crate::error::QueryError;
use crate::eval::aggregate::{Acc, Simple, group_labels, topk};
use crate::eval::functions::matrix_selector;
use crate::eval::functions::range::{RangeFnCall, pushable_range_function, stream_range};
use crate::eval::positions::call_addr;
use crate::eval::selector::pinned_name;
use crate::eval::series::check_distinct_labels;
use crate::eval::{Evaluator, Series, too_many_samples};
use crate::querier::Querier;
use crate::syntax::{self, SyntaxLimits};

/// An aggregation for a part of the data to compute (see the module docs), as it crosses the
/// wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartialRequest {
    /// The aggregation, as PromQL.
    pub expr: String,
    /// The evaluation times, ascending.
    pub steps: Vec<i64>,
    /// The query's start and end (what `@ start()` and `@ end()` mean).
    pub query_start_ms: i64,
    pub query_end_ms: i64,
    pub lookback_delta_ms: i64,
    /// Every sample the aggregation reads lies in `[.0, .1]` (its selector's windows over all
    /// the steps).
    pub data_range_ms: (i64, i64),
    /// The query's limits, which each part checks on its own data as well.
    pub samples_max: u64,
    pub series_max: u64,
    /// How long the part may take (0: no limit).
    pub timeout_ms: u64,
}

impl PartialRequest {
    /// Whether the request is an aggregation, rather than a range function whose series the
    /// parts keep (which nodes of command level 5 and older do not compute).
    pub fn is_aggregation(&self) -> bool {
        syntax::parse(&self.expr, &SyntaxLimits::default())
            .is_ok_and(|ast| ast.walk(|e| matches!(unparen(e), Expr::Aggregate(_))))
    }
}

/// The accumulators of one group at every step, in columns; a column an aggregation does not
/// use is empty.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Columns {
    /// Values folded per step (0: the group has no value there).
    count: Vec<f64>,
    value: Vec<f64>,
    comp: Vec<f64>,
    mean: Vec<f64>,
    mean_comp: Vec<f64>,
    incremental: Vec<bool>,
}

impl Columns {
    fn of(op: Simple, accs: &[Acc]) -> Self {
        let (value, comp, mean) = op.fields();
        let column = |used: bool, f: &dyn Fn(&Acc) -> f64| -> Vec<f64> {
            if used {
                accs.iter().map(f).collect()
            } else {
                Vec::new()
            }
        };
        Columns {
            count: accs.iter().map(|a| a.count).collect(),
            value: column(value, &|a| a.value),
            comp: column(comp, &|a| a.comp),
            mean: column(mean, &|a| a.mean),
            mean_comp: column(mean, &|a| a.mean_comp),
            incremental: if op == Simple::Avg {
                accs.iter().map(|a| a.incremental).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The accumulator at `step` (a missing column reads as zero).
    fn acc(&self, step: usize) -> Acc {
        let at = |c: &Vec<f64>| c.get(step).copied().unwrap_or(0.0);
        Acc {
            count: at(&self.count),
            value: at(&self.value),
            comp: at(&self.comp),
            mean: at(&self.mean),
            mean_comp: at(&self.mean_comp),
            incremental: self.incremental.get(step).copied().unwrap_or(false),
        }
    }
}

/// One part's result for a [`PartialRequest`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Partial {
    /// Per group, its labels and accumulators (folding aggregations).
    groups: Vec<(Labels, Columns)>,
    /// The series the part kept (`topk`, `bottomk`).
    kept: Vec<(Labels, Vec<Option<f64>>)>,
    /// Series and raw samples the part read, for the query's limits.
    series: u64,
    samples_loaded: u64,
    /// Samples read per step, for `stats`.
    counts: Vec<u64>,
    /// Info annotations, without the position in the query (the asker adds it), and warnings
    /// (their text starts with "PromQL warning:").
    infos: Vec<String>,
}

/// Accumulators per group and step, groups in order of first appearance.
#[derive(Default)]
struct GroupTable {
    index: HashMap<Labels, usize>,
    groups: Vec<(Labels, Vec<Acc>)>,
}

impl GroupTable {
    /// The accumulators of group `labels`, added (empty, one per step) if new; a new group
    /// counts against the query's points limit.
    fn accs(
        &mut self,
        ev: &Evaluator<'_>,
        labels: Labels,
        steps: usize,
    ) -> Result<&mut Vec<Acc>, QueryError> {
        let g = match self.index.get(&labels) {
            Some(&g) => g,
            None => {
                ev.check_points(self.groups.len() + 1, steps)?;
                self.index.insert(labels.clone(), self.groups.len());
                self.groups.push((labels, vec![Acc::default(); steps]));
                self.groups.len() - 1
            }
        };
        Ok(&mut self.groups[g].1)
    }
}

/// What a partial aggregation computes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Fold(Simple),
    /// `topk` (true) or `bottomk` with a literal k.
    Select {
        k: f64,
        top: bool,
    },
    /// No aggregation: every series of a range function's result, as it is.
    Keep,
}

/// What a partial aggregation aggregates, per series of its selector.
enum Inner<'a> {
    Selector(&'a VectorSelector),
    /// Range function `call` over its argument `arg`, the matrix selector `ms`.
    Range {
        call: &'a Call,
        arg: usize,
        ms: &'a MatrixSelector,
    },
}

/// An aggregation that parts of the data can compute: its operation and argument. (`a` is
/// `None` for [`Op::Keep`], which aggregates nothing.)
pub(crate) struct Plan<'a> {
    a: Option<&'a AggregateExpr>,
    op: Op,
    inner: Inner<'a>,
}

fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

impl<'a> Plan<'a> {
    /// The plan of `a`, when it is one the parts can compute (see the module docs).
    pub fn of(a: &'a AggregateExpr) -> Option<Self> {
        let name = a.op.to_string();
        let op = match name.as_str() {
            "topk" | "bottomk" => match a.param.as_deref().map(unparen) {
                Some(Expr::NumberLiteral(k)) => Op::Select {
                    k: k.val,
                    top: name == "topk",
                },
                _ => return None,
            },
            other => match Simple::parse(other) {
                Ok(Simple::Quantile) | Err(_) => return None,
                Ok(op) => Op::Fold(op),
            },
        };
        let inner = match unparen(&a.expr) {
            Expr::VectorSelector(vs) => Inner::Selector(vs),
            Expr::Call(call) => {
                let (inner, keeps_name) = range_call(call)?;
                let Inner::Range { ms, .. } = inner else {
                    return None;
                };
                if !(keeps_name || pinned_name(&ms.vs).is_some()) {
                    return None;
                }
                inner
            }
            _ => return None,
        };
        Some(Plan {
            a: Some(a),
            op,
            inner,
        })
    }

    /// The plan of call `c` when no aggregation wraps it: a range function over a matrix
    /// selector whose other arguments are constants. (Unlike a fold, the union of the parts'
    /// series sees two with the same labels once the name is dropped, as the whole vector
    /// does, so any selector will do.)
    pub fn of_call(c: &'a Call) -> Option<Self> {
        let (inner, _) = range_call(c)?;
        Some(Plan {
            a: None,
            op: Op::Keep,
            inner,
        })
    }

    /// The grouping of the aggregation (none for [`Op::Keep`]).
    fn modifier(&self) -> &Option<LabelModifier> {
        match self.a {
            Some(a) => &a.modifier,
            None => &None,
        }
    }

    /// The expression the parts compute, as PromQL.
    fn text(&self) -> String {
        match (self.a, &self.inner) {
            (Some(a), _) => Expr::Aggregate(a.clone()).to_string(),
            (None, Inner::Range { call, .. }) => Expr::Call((*call).clone()).to_string(),
            (None, Inner::Selector(vs)) => Expr::VectorSelector((*vs).clone()).to_string(),
        }
    }

    /// This part's fold of the aggregation at every time of `ts`, streaming the series of
    /// `ev`'s querier. Info annotations are left in `ev`.
    fn fold(&self, ev: &Evaluator<'_>, ts: &[i64]) -> Result<Partial, QueryError> {
        let steps = ts.len();
        let mut counts = vec![0u64; steps];
        let mut series = 0u64;
        let loaded_before = ev.samples_loaded.get();
        // Folding: accumulators per group and step. Selecting: the series, for topk.
        let mut groups = GroupTable::default();
        let mut all: Vec<Series> = Vec::new();
        let mut add = |s: Series| -> Result<(), QueryError> {
            series += 1;
            if !s.hists.is_empty() {
                return Err(needs_whole_evaluation());
            }
            match self.op {
                Op::Fold(op) => {
                    let g = group_labels(&s.labels, self.modifier());
                    let accs = groups.accs(ev, g, steps)?;
                    for (acc, v) in accs.iter_mut().zip(&s.values) {
                        if let Some(v) = *v {
                            acc.add(op, v);
                        }
                    }
                }
                Op::Select { .. } | Op::Keep => {
                    all.push(s);
                    ev.check_points(all.len(), steps)?;
                }
            }
            Ok(())
        };
        match &self.inner {
            Inner::Selector(vs) => ev.stream_instant(vs, ts, false, &mut counts, add)?,
            Inner::Range { call, arg, ms } => {
                let mut f = RangeFnCall::new(ev, call, *arg, ts)?;
                stream_range(ev, ms, ts, |labels, input| {
                    match f.series(ev, labels, input, ts, &mut counts) {
                        Some(s) => add(s),
                        None => Ok(()),
                    }
                })?;
            }
        }
        let kept = match self.op {
            Op::Fold(_) => Vec::new(),
            Op::Select { k, top } => {
                all.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
                topk::topk(ev, &all, self.modifier(), &vec![k; steps], top)?
                    .into_iter()
                    .map(|s| (s.labels, s.values))
                    .collect()
            }
            Op::Keep => all.into_iter().map(|s| (s.labels, s.values)).collect(),
        };
        let op = match self.op {
            Op::Fold(op) => op,
            Op::Select { .. } | Op::Keep => Simple::Count,
        };
        Ok(Partial {
            groups: groups
                .groups
                .into_iter()
                .map(|(labels, accs)| (labels, Columns::of(op, &accs)))
                .collect(),
            kept,
            series,
            samples_loaded: (ev.samples_loaded.get() - loaded_before) as u64,
            counts,
            // Warnings travel with the infos (the wire has one list): their text says which.
            infos: {
                let a = ev.annotations.borrow();
                a.infos.iter().chain(&a.warnings).cloned().collect()
            },
        })
    }

    /// The aggregation at every time of `ts` from the parts' results: merged, then finished.
    /// Adds the parts' sample counts and annotations to `ev` and checks the query's limits
    /// on their sum.
    fn merge(
        &self,
        ev: &Evaluator<'_>,
        parts: Vec<Partial>,
        ts: &[i64],
    ) -> Result<Vec<Series>, QueryError> {
        let steps = ts.len();
        let (mut series, mut loaded) = (0u64, 0u64);
        let mut counts = vec![0u64; steps];
        for p in &parts {
            series += p.series;
            loaded += p.samples_loaded;
            for (c, n) in counts.iter_mut().zip(&p.counts) {
                *c += n;
            }
            for info in &p.infos {
                if info.starts_with("PromQL warning:") {
                    ev.warn(info.clone());
                    continue;
                }
                match &self.inner {
                    Inner::Range { call, arg, .. } => {
                        ev.info(ev.at_arg(info.clone(), call_addr(call), *arg));
                    }
                    Inner::Selector(_) => ev.info(info.clone()),
                }
            }
        }
        ev.count_samples(&counts);
        let total = ev.samples_loaded.get() + loaded as usize;
        ev.samples_loaded.set(total);
        if total > ev.limits.samples_max {
            return Err(too_many_samples());
        }
        if series > ev.limits.series_max as u64 {
            return Err(QueryError::execution(format!(
                "query processing would touch too many series: a selector matched more than {} series (query.series_max)",
                ev.limits.series_max
            )));
        }
        match self.op {
            Op::Fold(op) => {
                let mut groups = GroupTable::default();
                for p in parts {
                    for (labels, cols) in p.groups {
                        let accs = groups.accs(ev, labels, steps)?;
                        for (step, acc) in accs.iter_mut().enumerate() {
                            acc.merge(op, &cols.acc(step));
                        }
                    }
                }
                let mut out: Vec<Series> = groups
                    .groups
                    .into_iter()
                    .map(|(labels, accs)| {
                        let values = accs
                            .iter()
                            .map(|a| (a.count > 0.0).then(|| a.finish(op)))
                            .collect();
                        Series::new(labels, values)
                    })
                    .collect();
                out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
                Ok(out)
            }
            Op::Select { k, top } => {
                let all = kept_in_order(ev, parts, steps)?;
                topk::topk(ev, &all, self.modifier(), &vec![k; steps], top)
            }
            Op::Keep => {
                let all = kept_in_order(ev, parts, steps)?;
                check_distinct_labels(&all)?;
                Ok(all)
            }
        }
    }
}

/// The series every part kept, in label order (within the query's points limit).
fn kept_in_order(
    ev: &Evaluator<'_>,
    parts: Vec<Partial>,
    steps: usize,
) -> Result<Vec<Series>, QueryError> {
    let mut all: Vec<Series> = parts
        .into_iter()
        .flat_map(|p| p.kept)
        .map(|(labels, values)| Series::new(labels, values))
        .collect();
    ev.check_points(all.len(), steps)?;
    all.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    Ok(all)
}

/// The range function call `c` as a partial plan's argument, and whether it keeps the metric
/// name: a range function over a matrix selector whose other arguments are constants.
fn range_call(call: &Call) -> Option<(Inner<'_>, bool)> {
    let arg = call
        .args
        .args
        .iter()
        .position(|x| matrix_selector(x).is_some())?;
    let ms = matrix_selector(&call.args.args[arg])?;
    let mut params = Vec::new();
    for (i, x) in call.args.args.iter().enumerate() {
        if i != arg {
            params.push(constant(x)?);
        }
    }
    let keeps_name = pushable_range_function(call.func.name, &params)?;
    Some((Inner::Range { call, arg, ms }, keeps_name))
}

/// The value of `e` when it is a number or arithmetic on numbers (`4 * 3600`), which every
/// part evaluates to the same.
fn constant(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => constant(&p.expr),
        Expr::Unary(u) => constant(&u.expr).map(|v| -v),
        Expr::Binary(b) if b.modifier.is_none() => {
            let (l, r) = (constant(&b.lhs)?, constant(&b.rhs)?);
            match b.op.to_string().as_str() {
                "+" => Some(l + r),
                "-" => Some(l - r),
                "*" => Some(l * r),
                "/" => Some(l / r),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Evaluates the aggregation `a` (whose [`Plan`] is `plan`) at every time of `ts`: the querier
/// computes its parts' partials when it can, otherwise they are folded here from its series.
pub(crate) fn eval_partial(
    ev: &Evaluator<'_>,
    plan: &Plan<'_>,
    ts: &[i64],
) -> Result<Vec<Series>, QueryError> {
    ev.check_deadline()?;
    let (first, last) = (
        ts.first().copied().unwrap_or_default(),
        ts.last().copied().unwrap_or_default(),
    );
    let data_range_ms = match plan.inner {
        Inner::Selector(vs) => {
            let (lo, hi) = ev.window_end_range(&vs.at, &vs.offset, first, last);
            (lo.saturating_sub(ev.limits.lookback_delta_ms), hi)
        }
        Inner::Range { ms, .. } => {
            let (lo, hi) = ev.window_end_range(&ms.vs.at, &ms.vs.offset, first, last);
            (lo.saturating_sub(crate::eval::duration_ms(&ms.range)), hi)
        }
    };
    let req = PartialRequest {
        expr: plan.text(),
        data_range_ms,
        steps: ts.to_vec(),
        query_start_ms: ev.query_start_ms,
        query_end_ms: ev.query_end_ms,
        lookback_delta_ms: ev.limits.lookback_delta_ms,
        samples_max: ev.limits.samples_max as u64,
        series_max: ev.limits.series_max as u64,
        timeout_ms: ev.remaining_ms(),
    };
    let parts = match ev.querier.aggregate(&req)? {
        Some(parts) => parts,
        None => vec![fold_with(plan, ev.querier, &req)?],
    };
    plan.merge(ev, parts, ts)
}

/// The words of the error a part answers when the series it would fold or keep have native
/// histograms, which partial results do not carry: the asker evaluates the expression whole.
const NEEDS_WHOLE: &str = "native histograms: an expression over them is evaluated whole";

fn needs_whole_evaluation() -> QueryError {
    QueryError::execution(NEEDS_WHOLE)
}

/// Whether `e` (from this node or another) says the call must be evaluated whole.
pub(crate) fn needs_whole(e: &QueryError) -> bool {
    e.message.contains(NEEDS_WHOLE)
}

/// Computes `req` over all the series of `querier`: one part's [`Partial`].
pub fn evaluate(querier: &dyn Querier, req: &PartialRequest) -> Result<Partial, QueryError> {
    let mut parts = evaluate_each(&[querier], req)?;
    Ok(parts.pop().unwrap_or_default())
}

/// Computes `req` over each querier's series on its own (the request is parsed once): one
/// [`Partial`] per querier.
pub fn evaluate_each(
    queriers: &[&dyn Querier],
    req: &PartialRequest,
) -> Result<Vec<Partial>, QueryError> {
    // The text comes from another node and is bounded here as any query is, by the default
    // limits rather than the asker's: a pushed-down aggregation (over a selector or a range
    // function) is a few levels deep unless wrapped in thousands of parentheses.
    let ast = syntax::parse(&req.expr, &SyntaxLimits::default())?;
    ast.walk(|e| evaluate_parsed(queriers, req, e, ast.depth()))
}

/// [`evaluate_each`] of the parsed aggregation.
fn evaluate_parsed(
    queriers: &[&dyn Querier],
    req: &PartialRequest,
    ast: &Expr,
    depth: usize,
) -> Result<Vec<Partial>, QueryError> {
    let plan = match unparen(ast) {
        Expr::Aggregate(a) => Plan::of(a),
        Expr::Call(c) => Plan::of_call(c),
        _ => None,
    }
    .ok_or_else(|| {
        QueryError::bad_data(format!(
            "not an expression that parts can compute: {}",
            req.expr
        ))
    })?;
    fold_each(&plan, queriers, req, depth)
}

/// `plan`'s fold over each of `queriers` (one partial each, in their order), on the threads
/// of the process' worker pool (as many as the machine has cores): the parts are independent,
/// and a node's shards are read by one query at once instead of one after another. A pool
/// thread's stack grows to what the plan's tree (`depth` levels) may need, as the query's own
/// thread does.
fn fold_each(
    plan: &Plan<'_>,
    queriers: &[&dyn Querier],
    req: &PartialRequest,
    depth: usize,
) -> Result<Vec<Partial>, QueryError> {
    let fold = |querier: &&dyn Querier| {
        crate::syntax::stack::with_stack_for(depth, || fold_with(plan, *querier, req))
    };
    if queriers.len() <= 1 {
        return queriers.iter().map(fold).collect();
    }
    queriers.par_iter().map(fold).collect()
}

/// `plan`'s fold over the series of `querier`, under the bounds and times of `req`, on an
/// evaluator of its own (whose annotations carry no position: the asker adds it).
fn fold_with(
    plan: &Plan<'_>,
    querier: &dyn Querier,
    req: &PartialRequest,
) -> Result<Partial, QueryError> {
    let limits = QueryLimits {
        samples_max: req.samples_max as usize,
        series_max: req.series_max as usize,
        lookback_delta_ms: req.lookback_delta_ms,
        timeout_ms: req.timeout_ms,
        ..QueryLimits::default()
    };
    let ev = Evaluator::new(&limits, querier, req.query_start_ms, req.query_end_ms);
    plan.fold(&ev, &req.steps)
}

#[cfg(test)]
mod tests;
