//! The results cache of range queries: a dashboard refreshed every 30 s asks again for the same
//! hours at the same step, and only its newest steps are new.
//!
//! A range is cut into pieces at multiples of the split interval (a day by default), each
//! cached apart as one extent: the results of one expression at one step over consecutive
//! steps of that piece. A query takes what the extents hold and evaluates only the steps
//! around them, then stores the grown extents. The steps of a range are aligned to its step
//! (`start` a multiple of `step`, as Grafana sends them); other ranges are not cached, since
//! their steps never meet those of another query.
//!
//! What is kept stays right: an extent records the history mark of every shard it read
//! (`tidemark_storage::history`), read before its data; a mark that has moved since (a
//! delete, a backfill, expiry, a rollup, a sample arriving later than the shard settles) or a
//! shard read from another replica throws the extent away. Steps later than the shards'
//! settled bound or than `recent_ms` before now are never stored: their samples may still be
//! on their way. Expressions whose steps read data after them (`@`, negative `offset`) are
//! not cached, nor those whose series checks span the whole range
//! (`series_checks_hold_per_step`), nor evaluations that gave warnings or infos. Each
//! evaluated part is held to the query's limits on its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, Offset};
use serde::{Deserialize, Serialize};
use tidemark_storage::history::HistoryMark;
use tidemark_storage::{Labels, ShardId};

use crate::engine::PromqlEngine;
use crate::error::QueryError;
use crate::eval::selector::pinned_name;
use crate::eval::too_many_samples;
use crate::querier::Querier;
use crate::syntax::{self, depth::every_node};
use crate::value::{MatrixSeries, QueryResult, SampleCounts, Value};

/// The results cache's configuration (`query.results_cache`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsCacheConfig {
    /// Bytes of results kept at most (0: no cache); the least recently used go first.
    pub bytes_max: u64,
    /// The newest part of every range that is never stored: samples for it may still be on
    /// their way from agents.
    pub recent_ms: i64,
    /// Ranges are cached in pieces of this length (aligned to multiples of it since the
    /// epoch), so that a piece wholly in the past is computed once for every range over it.
    pub split_interval_ms: i64,
}

impl Default for ResultsCacheConfig {
    fn default() -> Self {
        ResultsCacheConfig {
            bytes_max: 128 << 20,
            recent_ms: 5 * 60 * 1000,
            split_interval_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// A range query as the cache sees it.
#[derive(Clone, Copy, Debug)]
pub struct RangeQuery<'a> {
    pub text: &'a str,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    /// Anything else that changes the answer (the tier read, for example): part of the key.
    pub variant: &'a str,
}

/// What the cache did, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Range queries the cache answered (in part or not at all from what it held).
    pub queries: u64,
    /// Range queries it could not serve: not step-aligned, reading data after their steps, or
    /// over shards that do not tell their history.
    pub uncacheable: u64,
    /// Pieces looked up.
    pub lookups: u64,
    /// Pieces of which some steps came from the cache.
    pub hits: u64,
    /// Steps (of each result series' grid) answered from the cache, and evaluated.
    pub steps_cached: u64,
    pub steps_evaluated: u64,
    /// Extents thrown away because a shard's history moved.
    pub invalidations: u64,
    /// Extents dropped to stay within `bytes_max`.
    pub evictions: u64,
    /// Bytes and extents held now.
    pub bytes: u64,
    pub entries: u64,
}

/// Series with their samples, sorted by labels.
type Matrix = Vec<MatrixSeries>;

/// The results of one expression at one step over consecutive steps of one piece.
struct Extent {
    /// First and last step held.
    from_ms: i64,
    to_ms: i64,
    /// The shards read and their marks, before any of the data.
    marks: Vec<(ShardId, HistoryMark)>,
    /// Only evaluations without warnings or infos are kept.
    series: Matrix,
    bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    text: String,
    step_ms: i64,
    variant: String,
    /// The piece: the start of its split interval divided by the interval.
    piece: i64,
}

/// Range query results by expression, step and piece, bounded by bytes.
pub struct ResultsCache {
    config: ResultsCacheConfig,
    extents: Mutex<lru::LruCache<Key, Arc<Extent>>>,
    bytes: AtomicU64,
    queries: AtomicU64,
    uncacheable: AtomicU64,
    lookups: AtomicU64,
    hits: AtomicU64,
    steps_cached: AtomicU64,
    steps_evaluated: AtomicU64,
    invalidations: AtomicU64,
    evictions: AtomicU64,
}

/// One piece of a range: consecutive steps within one split interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    index: i64,
    from_ms: i64,
    to_ms: i64,
}

impl ResultsCache {
    pub fn new(config: ResultsCacheConfig) -> Self {
        ResultsCache {
            config,
            extents: Mutex::new(lru::LruCache::unbounded()),
            bytes: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            uncacheable: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            steps_cached: AtomicU64::new(0),
            steps_evaluated: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Whether the cache keeps anything at all.
    pub fn enabled(&self) -> bool {
        self.config.bytes_max > 0
    }

    pub fn counters(&self) -> CacheCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheCounters {
            queries: get(&self.queries),
            uncacheable: get(&self.uncacheable),
            lookups: get(&self.lookups),
            hits: get(&self.hits),
            steps_cached: get(&self.steps_cached),
            steps_evaluated: get(&self.steps_evaluated),
            invalidations: get(&self.invalidations),
            evictions: get(&self.evictions),
            bytes: get(&self.bytes),
            entries: self.lock().len() as u64,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<Key, Arc<Extent>>> {
        self.extents.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Evaluates `q` with `engine` over `querier` as [`PromqlEngine::range`] does, from the
    /// cache where it can; `now_ms` is the wall clock (what is newer than `recent_ms` before
    /// it is not stored).
    pub fn range(
        &self,
        engine: &PromqlEngine,
        querier: &dyn Querier,
        q: &RangeQuery<'_>,
        now_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let ast = syntax::parse(q.text, &engine.limits.syntax())?;
        // The pieces' evaluations share the query's timeout.
        let timeout = engine.limits.timeout_ms;
        let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout));
        let eval = Eval {
            engine,
            querier,
            text: q.text,
            deadline,
        };
        ast.walk(|expr| {
            let whole = || eval.range(expr, q.start_ms, q.end_ms, q.step_ms);
            if !self.enabled() || q.step_ms <= 0 || q.end_ms < q.start_ms {
                return whole();
            }
            if q.start_ms.rem_euclid(q.step_ms) != 0
                || !within_bounds(q)
                || !steps_read_only_the_past(expr)
                || !series_checks_hold_per_step(expr)
            {
                self.uncacheable.fetch_add(1, Ordering::Relaxed);
                return whole();
            }
            let Some(marks) = querier.history_marks()? else {
                self.uncacheable.fetch_add(1, Ordering::Relaxed);
                return whole();
            };
            self.queries.fetch_add(1, Ordering::Relaxed);
            let settled = marks
                .iter()
                .map(|(_, m)| m.settled_ms)
                .min()
                .unwrap_or(i64::MAX);
            let storable_ms = settled.min(now_ms.saturating_sub(self.config.recent_ms));
            let mut out = Assembled::default();
            for piece in pieces(q, self.config.split_interval_ms) {
                let part = self.piece(&eval, expr, q, piece, &marks, storable_ms)?;
                out.add(part);
            }
            out.finish(engine.limits.samples_max)
        })
    }

    /// The results of one piece: what its extent holds, the steps around evaluated (and the
    /// extent grown by those up to `storable_ms`).
    fn piece(
        &self,
        eval: &Eval<'_>,
        expr: &Expr,
        q: &RangeQuery<'_>,
        piece: Piece,
        marks: &[(ShardId, HistoryMark)],
        storable_ms: i64,
    ) -> Result<PieceResult, QueryError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let key = Key {
            text: q.text.to_string(),
            step_ms: q.step_ms,
            variant: q.variant.to_string(),
            piece: piece.index,
        };
        let cached = self.lookup(&key, marks, piece);
        let step = q.step_ms;
        // The steps to evaluate: all of the piece, or those before and after the extent.
        let spans: Vec<(i64, i64)> = match &cached {
            None => vec![(piece.from_ms, piece.to_ms)],
            Some(x) => [
                (piece.from_ms, x.from_ms - step),
                (x.to_ms + step, piece.to_ms),
            ]
            .into_iter()
            .filter(|(a, b)| a <= b)
            .collect(),
        };
        let mut evaluated = Vec::with_capacity(spans.len());
        for &(from, to) in &spans {
            let r = eval.range(expr, from, to, step)?;
            evaluated.push((from, to, r));
        }
        if cached.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        let result = PieceResult::join(cached.as_deref(), &evaluated, piece);
        let grid = |from: i64, to: i64| ((to - from) / step + 1) as u64;
        let evaluated_steps: u64 = spans.iter().map(|&(a, b)| grid(a, b)).sum();
        self.steps_evaluated
            .fetch_add(evaluated_steps, Ordering::Relaxed);
        self.steps_cached.fetch_add(
            grid(piece.from_ms, piece.to_ms) - evaluated_steps,
            Ordering::Relaxed,
        );
        if !evaluated.is_empty() {
            self.store(key, cached.as_deref(), evaluated, marks, storable_ms);
        }
        Ok(result)
    }

    /// The extent of `key` if it still holds (same history of the same shards) and meets
    /// `piece` or ends or starts one step away from it; a stale one is dropped.
    fn lookup(
        &self,
        key: &Key,
        marks: &[(ShardId, HistoryMark)],
        piece: Piece,
    ) -> Option<Arc<Extent>> {
        let mut extents = self.lock();
        let x = extents.get(key)?.clone();
        let same = x.marks.len() == marks.len()
            && x.marks
                .iter()
                .zip(marks)
                .all(|((s1, m1), (s2, m2))| s1 == s2 && m1.same_history(m2));
        if !same {
            if let Some(gone) = extents.pop(key) {
                self.bytes.fetch_sub(gone.bytes, Ordering::Relaxed);
            }
            self.invalidations.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let step = key.step_ms;
        (x.from_ms <= piece.to_ms + step && x.to_ms + step >= piece.from_ms).then_some(x)
    }

    /// Stores the extent grown by `evaluated` (spans adjacent to `cached`, or the whole piece
    /// without it), cut at `storable_ms`; evicts the least recently used beyond `bytes_max`.
    fn store(
        &self,
        key: Key,
        cached: Option<&Extent>,
        evaluated: Vec<(i64, i64, QueryResult)>,
        marks: &[(ShardId, HistoryMark)],
        storable_ms: i64,
    ) {
        let mut from_ms = cached.map_or(i64::MAX, |x| x.from_ms);
        let mut to_ms = cached.map_or(i64::MIN, |x| x.to_ms);
        let mut parts: Vec<(i64, Matrix)> = Vec::new();
        // Annotations speak of the range evaluated: an extent holding them would hand them to
        // ranges they do not concern. Evaluations with any are not kept.
        if evaluated
            .iter()
            .any(|(_, _, r)| !r.warnings.is_empty() || !r.infos.is_empty())
        {
            return;
        }
        if let Some(x) = cached {
            parts.push((x.from_ms, x.series.clone()));
        }
        for (from, to, r) in evaluated {
            from_ms = from_ms.min(from);
            to_ms = to_ms.max(to);
            if let Value::Matrix(m) = r.value {
                parts.push((from, m));
            }
        }
        // The last step at or before `storable_ms` (steps are multiples of the step).
        to_ms = to_ms.min(storable_ms.div_euclid(key.step_ms) * key.step_ms);
        if to_ms < from_ms {
            return;
        }
        parts.sort_by_key(|(from, _)| *from);
        let series: Matrix = concat_series(parts.into_iter().map(|(_, s)| s))
            .into_iter()
            .map(|s| within(&s, i64::MIN, to_ms))
            .filter(|s| !s.is_empty())
            .collect();
        let bytes = extent_bytes(&series, marks, &key);
        if bytes > self.config.bytes_max {
            return;
        }
        let extent = Arc::new(Extent {
            from_ms,
            to_ms,
            marks: marks.to_vec(),
            series,
            bytes,
        });
        let mut extents = self.lock();
        if let Some(old) = extents.put(key, extent) {
            self.bytes.fetch_sub(old.bytes, Ordering::Relaxed);
        }
        let mut held = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        while held > self.config.bytes_max {
            let Some((_, gone)) = extents.pop_lru() else {
                break;
            };
            held = self.bytes.fetch_sub(gone.bytes, Ordering::Relaxed) - gone.bytes;
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How one query's parts are evaluated: one engine, querier and deadline for all.
struct Eval<'a> {
    engine: &'a PromqlEngine,
    querier: &'a dyn Querier,
    text: &'a str,
    deadline: Option<Instant>,
}

impl Eval<'_> {
    fn range(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.engine.eval_range(
            self.querier,
            expr,
            Some(self.text),
            (start_ms, end_ms, step_ms),
            self.deadline,
        )
    }
}

/// Timestamps and steps far inside `i64` (about 285,000 years either way, a step of up to 35
/// years): the arithmetic on steps and pieces cannot overflow.
fn within_bounds(q: &RangeQuery<'_>) -> bool {
    const T: i64 = 1 << 53;
    const STEP: i64 = 1 << 40;
    (-T..=T).contains(&q.start_ms) && (-T..=T).contains(&q.end_ms) && q.step_ms <= STEP
}

/// Whether the answer for a set of steps is the answer of each part of it joined. Unary minus,
/// range functions and `label_replace`/`label_join` refuse two result series with one label
/// set anywhere in the range (Prometheus' `ContainsSameLabelset`), even at different steps:
/// which series meet depends on the range. Their arguments must not yield series that could
/// meet once the name is dropped: every selector under them pins its metric name and no `or`
/// joins two of them (other operators keep one side's series, or drop names and merge step by
/// step). `label_replace` and `label_join` can make any two series meet: never cached.
fn series_checks_hold_per_step(expr: &Expr) -> bool {
    every_node(expr, |e| match e {
        Expr::Unary(u) => one_name_per_series(&u.expr),
        Expr::Call(c) if matches!(c.func.name, "label_replace" | "label_join") => false,
        Expr::Call(c) => c
            .args
            .args
            .iter()
            .filter(|a| a.value_type() == ValueType::Matrix)
            .all(|a| one_name_per_series(a)),
        _ => true,
    })
}

/// Whether every selector in `e` pins its metric name and no `or` joins two vectors in it.
fn one_name_per_series(e: &Expr) -> bool {
    every_node(e, |e| match e {
        Expr::VectorSelector(vs) => pinned_name(vs).is_some(),
        Expr::MatrixSelector(ms) => pinned_name(&ms.vs).is_some(),
        Expr::Binary(b) => b.op.to_string() != "or",
        _ => true,
    })
}

/// Whether every step of `expr` reads data at or before its own time only: no `@` modifier
/// (which pins a selector to the query's start, end or a fixed time) and no negative offset.
fn steps_read_only_the_past(expr: &Expr) -> bool {
    every_node(expr, |e| {
        let (at, offset) = match e {
            Expr::VectorSelector(v) => (&v.at, &v.offset),
            Expr::MatrixSelector(m) => (&m.vs.at, &m.vs.offset),
            Expr::Subquery(s) => (&s.at, &s.offset),
            _ => (&None, &None),
        };
        at.is_none() && !matches!(offset, Some(Offset::Neg(_)))
    })
}

/// The pieces of `q`'s steps, in time order: steps `t` of one piece share
/// `t.div_euclid(interval)`.
fn pieces(q: &RangeQuery<'_>, interval_ms: i64) -> Vec<Piece> {
    let interval = interval_ms.max(q.step_ms).max(1);
    let step = q.step_ms;
    // The last step of the range (its end need not be one).
    let end = q.start_ms + (q.end_ms - q.start_ms) / step * step;
    let mut out = Vec::new();
    let mut from = q.start_ms;
    while from <= end {
        let index = from.div_euclid(interval);
        let next_start = (index + 1).saturating_mul(interval);
        // The last step before the next interval begins.
        let last = from + (next_start - 1 - from).div_euclid(step) * step;
        let to = last.min(end);
        out.push(Piece {
            index,
            from_ms: from,
            to_ms: to,
        });
        match to.checked_add(step) {
            Some(n) => from = n,
            None => break,
        }
    }
    out
}

/// One piece's answer: series with their samples in the piece.
#[derive(Default)]
struct PieceResult {
    series: Matrix,
    warnings: Vec<String>,
    infos: Vec<String>,
    samples: SampleCounts,
}

impl PieceResult {
    /// The cached extent's steps within `piece` joined with the evaluated spans around it.
    fn join(
        cached: Option<&Extent>,
        evaluated: &[(i64, i64, QueryResult)],
        piece: Piece,
    ) -> PieceResult {
        let mut out = PieceResult::default();
        let mut parts: Vec<(i64, Matrix)> = Vec::new();
        if let Some(x) = cached {
            let within = x
                .series
                .iter()
                .map(|s| within(s, piece.from_ms, piece.to_ms))
                .filter(|s| !s.is_empty())
                .collect();
            parts.push((x.from_ms.max(piece.from_ms), within));
        }
        for (from, _, r) in evaluated {
            push_new(&mut out.warnings, r.warnings.clone());
            push_new(&mut out.infos, r.infos.clone());
            out.samples.total_queryable += r.samples.total_queryable;
            out.samples.peak = out.samples.peak.max(r.samples.peak);
            if let Value::Matrix(m) = &r.value {
                parts.push((*from, m.clone()));
            }
        }
        parts.sort_by_key(|(from, _)| *from);
        out.series = concat_series(parts.into_iter().map(|(_, s)| s));
        out
    }
}

/// A range's answer gathered piece by piece.
#[derive(Default)]
struct Assembled {
    parts: Vec<Matrix>,
    warnings: Vec<String>,
    infos: Vec<String>,
    samples: SampleCounts,
}

impl Assembled {
    fn add(&mut self, part: PieceResult) {
        push_new(&mut self.warnings, part.warnings);
        push_new(&mut self.infos, part.infos);
        self.samples.total_queryable += part.samples.total_queryable;
        self.samples.peak = self.samples.peak.max(part.samples.peak);
        self.parts.push(part.series);
    }

    /// The whole answer; fails as the engine does when it holds more points than
    /// `samples_max`.
    fn finish(self, samples_max: usize) -> Result<QueryResult, QueryError> {
        let series = concat_series(self.parts.into_iter());
        let points: usize = series.iter().map(MatrixSeries::len).sum();
        if points > samples_max {
            return Err(too_many_samples());
        }
        // In the order whole evaluation gives them (sorted, each once).
        let (mut warnings, mut infos) = (self.warnings, self.infos);
        warnings.sort();
        infos.sort();
        Ok(QueryResult {
            value: Value::Matrix(series),
            warnings,
            infos,
            samples: self.samples,
        })
    }
}

/// Series of consecutive time spans (each sorted by labels, in time order) joined: each label
/// set once, its samples in time order; sorted by labels.
fn concat_series(parts: impl Iterator<Item = Matrix>) -> Matrix {
    let mut joined: std::collections::BTreeMap<Labels, MatrixSeries> = Default::default();
    for part in parts {
        for s in part {
            let into = joined.entry(s.labels).or_default();
            into.floats.extend(s.floats);
            into.histograms.extend(s.histograms);
        }
    }
    joined
        .into_iter()
        .map(|(labels, s)| MatrixSeries { labels, ..s })
        .collect()
}

/// The points of `s` in `[from_ms, to_ms]`.
fn within(s: &MatrixSeries, from_ms: i64, to_ms: i64) -> MatrixSeries {
    let floats = {
        let lo = s.floats.partition_point(|x| x.t < from_ms);
        let hi = s.floats.partition_point(|x| x.t <= to_ms);
        s.floats[lo..hi.max(lo)].to_vec()
    };
    let histograms = {
        let lo = s.histograms.partition_point(|x| x.t < from_ms);
        let hi = s.histograms.partition_point(|x| x.t <= to_ms);
        s.histograms[lo..hi.max(lo)].to_vec()
    };
    MatrixSeries {
        labels: s.labels.clone(),
        floats,
        histograms,
    }
}

/// Appends the messages of `more` that `to` does not hold yet.
fn push_new(to: &mut Vec<String>, more: Vec<String>) {
    for m in more {
        if !to.contains(&m) {
            to.push(m);
        }
    }
}

/// What an extent holds in memory, roughly: samples, label strings with their headers, the
/// marks and the key.
fn extent_bytes(series: &[MatrixSeries], marks: &[(ShardId, HistoryMark)], key: &Key) -> u64 {
    const HEADER: usize = std::mem::size_of::<Vec<u8>>();
    let series_bytes: usize = series
        .iter()
        .map(|s| {
            let label_bytes: usize = s
                .labels
                .iter()
                .map(|l| l.name.len() + l.value.len() + 2 * HEADER)
                .sum();
            let histogram_bytes: usize = s.histograms.iter().map(|h| h.h.bytes()).sum();
            label_bytes
                + 3 * HEADER
                + std::mem::size_of_val(s.floats.as_slice())
                + std::mem::size_of_val(s.histograms.as_slice())
                + histogram_bytes
        })
        .sum();
    let marks = std::mem::size_of_val(marks);
    (series_bytes + marks + 2 * key.text.len() + 256) as u64
}

impl Default for ResultsCache {
    fn default() -> Self {
        ResultsCache::new(ResultsCacheConfig::default())
    }
}

#[cfg(test)]
mod tests;
