//! The query seam: where series come from. The engine never knows whether they come from local
//! shards, remote shards over gRPC, or a test's in-memory engine.

use std::collections::BTreeSet;
use std::sync::Arc;

use tidemark_storage::history::HistoryMark;
use tidemark_storage::{
    Engine, Labels, Matcher, RolledSeries, SeriesSamples, ShardId, Tier, TierChoice,
};

use crate::error::QueryError;
use crate::partial::{self, Partial, PartialRequest};

/// Series selected for a query, one at a time.
pub type QuerySeriesIter<'a> =
    Box<dyn Iterator<Item = Result<SeriesSamples, QueryError>> + Send + 'a>;

/// A source of series for the engine.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers` with their samples in `[mint_ms, maxt_ms]`.
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError>;
    /// Label sets of matching series with data in range, sorted, each once.
    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError>;
    /// The first `limit` of [`Querier::series`]; where the querier can, its parts stop
    /// early: none holds or sends more than `limit` label sets.
    fn series_limited(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, QueryError> {
        let mut all = self.series(matchers, mint_ms, maxt_ms)?;
        all.truncate(limit);
        Ok(all)
    }
    /// Label names of matching series (all when `matchers` is empty).
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError>;
    /// Values of label `name` of matching series (all when `matchers` is empty).
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError>;
    /// Rollup windows per series matching `matchers` in `[mint_ms, maxt_ms]` (see
    /// [`RolledSeries`]): stitched, those that stand for raw samples retention dropped, for
    /// series [`Querier::select`] also returns and for those without raw samples there; one
    /// rollup tier, its windows. Empty (the default) where raw samples are complete or the
    /// querier has no tiers.
    fn select_rolled(
        &self,
        _matchers: &[Matcher],
        _mint_ms: i64,
        _maxt_ms: i64,
        _tiers: TierChoice,
    ) -> Result<Vec<RolledSeries>, QueryError> {
        Ok(Vec::new())
    }
    /// Partial results of an aggregation its parts can compute on their own (see
    /// [`crate::partial`]), one per part, for the engine to merge; `None` when this querier
    /// has no parts that compute, and the engine folds the raw series itself.
    fn aggregate(&self, _req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        Ok(None)
    }
    /// Every shard this querier reads with its history mark
    /// (`tidemark_storage::history`), sorted by shard, read before any data this querier
    /// returns after the call; `None` when some shard does not tell (nothing read through
    /// this querier is then cached).
    fn history_marks(&self) -> Result<Option<Vec<(ShardId, HistoryMark)>>, QueryError> {
        Ok(None)
    }
}

/// A borrowed querier is a querier (for wrappers such as [`TierPinned`] over `&dyn Querier`).
impl<Q: Querier + ?Sized> Querier for &Q {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        (**self).select(matchers, mint_ms, maxt_ms)
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        (**self).series(matchers, mint_ms, maxt_ms)
    }

    fn series_limited(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, QueryError> {
        (**self).series_limited(matchers, mint_ms, maxt_ms, limit)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        (**self).label_names(matchers, mint_ms, maxt_ms)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        (**self).label_values(name, matchers, mint_ms, maxt_ms)
    }

    fn select_rolled(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        tiers: TierChoice,
    ) -> Result<Vec<RolledSeries>, QueryError> {
        (**self).select_rolled(matchers, mint_ms, maxt_ms, tiers)
    }

    fn aggregate(&self, req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        (**self).aggregate(req)
    }

    fn history_marks(&self) -> Result<Option<Vec<(ShardId, HistoryMark)>>, QueryError> {
        (**self).history_marks()
    }
}

/// A querier over shards of a local [`Engine`]. The shards' series are concatenated without
/// merging: within one shard-map version a series lives in one shard ([`SplitSeriesQuerier`]
/// merges across versions).
pub struct EngineQuerier {
    engine: Arc<dyn Engine>,
    shards: Vec<ShardId>,
}

impl EngineQuerier {
    pub fn new(engine: Arc<dyn Engine>, shards: Vec<ShardId>) -> Self {
        EngineQuerier { engine, shards }
    }
}

impl Querier for EngineQuerier {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        let mut iters = Vec::with_capacity(self.shards.len());
        for &shard in &self.shards {
            iters.push(self.engine.select(shard, matchers, mint_ms, maxt_ms)?);
        }
        Ok(Box::new(
            iters
                .into_iter()
                .flatten()
                .map(|r| r.map_err(QueryError::from)),
        ))
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        self.series_limited(matchers, mint_ms, maxt_ms, usize::MAX)
    }

    fn series_limited(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, QueryError> {
        // A series in two shards (of two shard-map versions) counts once: each shard's first
        // `limit` hold the first `limit` distinct ones.
        let mut out = BTreeSet::new();
        for &shard in &self.shards {
            out.extend(
                self.engine
                    .series_limited(shard, matchers, mint_ms, maxt_ms, limit)?,
            );
            tidemark_storage::keep_first(&mut out, limit);
        }
        Ok(out.into_iter().collect())
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        let mut out = BTreeSet::new();
        for &shard in &self.shards {
            out.extend(self.engine.label_names(shard, matchers, mint_ms, maxt_ms)?);
        }
        Ok(out)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        let mut out = BTreeSet::new();
        for &shard in &self.shards {
            out.extend(
                self.engine
                    .label_values(shard, name, matchers, mint_ms, maxt_ms)?,
            );
        }
        Ok(out)
    }

    fn select_rolled(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        tiers: TierChoice,
    ) -> Result<Vec<RolledSeries>, QueryError> {
        let mut out = Vec::new();
        for &shard in &self.shards {
            out.extend(
                self.engine
                    .select_rolled(shard, matchers, mint_ms, maxt_ms, tiers)?,
            );
        }
        Ok(out)
    }

    /// One partial per shard, each folded from that shard's series alone.
    fn aggregate(&self, req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        let shards: Vec<EngineQuerier> = self
            .shards
            .iter()
            .map(|&shard| EngineQuerier::new(self.engine.clone(), vec![shard]))
            .collect();
        let queriers: Vec<&dyn Querier> = shards.iter().map(|q| q as &dyn Querier).collect();
        partial::evaluate_each(&queriers, req).map(Some)
    }

    fn history_marks(&self) -> Result<Option<Vec<(ShardId, HistoryMark)>>, QueryError> {
        let mut marks = Vec::with_capacity(self.shards.len());
        for &shard in &self.shards {
            match self.engine.history_mark(shard) {
                Some(m) => marks.push((shard, m)),
                None => return Ok(None),
            }
        }
        marks.sort_by_key(|(shard, _)| *shard);
        Ok(Some(marks))
    }
}

/// A querier over shards between which a series may move at known times: from each boundary
/// on (a new shard-map version), a series may be in another shard than before. A select whose
/// range crosses a boundary gathers the series and merges the parts of each (counting samples
/// against `samples_max`, since they are held at once); one within a version streams as the
/// inner querier does. An aggregation is computed by the parts only when the samples it reads
/// lie within one version (a part would see half a series otherwise).
pub struct SplitSeriesQuerier<Q> {
    inner: Q,
    boundaries: Vec<i64>,
    samples_max: usize,
}

impl<Q: Querier> SplitSeriesQuerier<Q> {
    pub fn new(inner: Q, boundaries: Vec<i64>, samples_max: usize) -> Self {
        SplitSeriesQuerier {
            inner,
            boundaries,
            samples_max,
        }
    }

    /// Whether a series may have samples in two shards within `[mint_ms, maxt_ms]`.
    fn crosses(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        self.boundaries.iter().any(|&b| mint_ms < b && b <= maxt_ms)
    }
}

impl<Q: Querier> Querier for SplitSeriesQuerier<Q> {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        if !self.crosses(mint_ms, maxt_ms) {
            return self.inner.select(matchers, mint_ms, maxt_ms);
        }
        let mut merged: std::collections::BTreeMap<Labels, SeriesSamples> =
            std::collections::BTreeMap::new();
        let mut held = 0usize;
        for series in self.inner.select(matchers, mint_ms, maxt_ms)? {
            let series = series?;
            held += series.samples.len() + series.histograms.len();
            if held > self.samples_max {
                return Err(crate::eval::too_many_samples());
            }
            let m = merged
                .entry(series.labels.clone())
                .or_insert_with(|| SeriesSamples {
                    labels: series.labels,
                    samples: Vec::new(),
                    histograms: Vec::new(),
                });
            m.samples.extend(series.samples);
            m.histograms.extend(series.histograms);
        }
        Ok(Box::new(merged.into_values().map(|mut s| {
            // Each part is sorted; a timestamp is in one version, so in one part (the first
            // copy is kept should a sample ever be in two).
            s.samples.sort_by_key(|s| s.t);
            s.samples.dedup_by_key(|s| s.t);
            s.histograms.sort_by_key(|s| s.t);
            s.histograms.dedup_by_key(|s| s.t);
            Ok(s)
        })))
    }

    /// A series' windows from two shards are merged (each window is in one of them).
    fn select_rolled(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        tiers: TierChoice,
    ) -> Result<Vec<RolledSeries>, QueryError> {
        let parts = self
            .inner
            .select_rolled(matchers, mint_ms, maxt_ms, tiers)?;
        if !self.crosses(mint_ms, maxt_ms) {
            return Ok(parts);
        }
        let mut merged: std::collections::BTreeMap<Labels, RolledSeries> =
            std::collections::BTreeMap::new();
        for r in parts {
            match merged.entry(r.labels.clone()) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(r);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    let m = e.get_mut();
                    m.raw_floor_ms = m.raw_floor_ms.max(r.raw_floor_ms);
                    let mut all: Vec<_> = m
                        .windows
                        .drain(..)
                        .zip(m.resolutions.drain(..))
                        .chain(r.windows.into_iter().zip(r.resolutions))
                        .collect();
                    all.sort_by_key(|(w, _)| w.end_ms);
                    all.dedup_by_key(|(w, _)| w.end_ms);
                    (m.windows, m.resolutions) = all.into_iter().unzip();
                }
            }
        }
        Ok(merged.into_values().collect())
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        let mut out = self.inner.series(matchers, mint_ms, maxt_ms)?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn series_limited(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, QueryError> {
        let mut out = self
            .inner
            .series_limited(matchers, mint_ms, maxt_ms, limit)?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        self.inner.label_names(matchers, mint_ms, maxt_ms)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        self.inner.label_values(name, matchers, mint_ms, maxt_ms)
    }

    fn aggregate(&self, req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        let (lo, hi) = req.data_range_ms;
        if self.crosses(lo, hi) {
            return Ok(None);
        }
        self.inner.aggregate(req)
    }

    fn history_marks(&self) -> Result<Option<Vec<(ShardId, HistoryMark)>>, QueryError> {
        self.inner.history_marks()
    }
}

/// A querier that reads one tier alone (the `tier=` query parameter): a rollup tier's windows
/// and no raw samples, or raw samples and no windows. Aggregations are folded by the engine
/// (the parts of an inner querier would read every tier).
pub struct TierPinned<Q> {
    inner: Q,
    tier: Tier,
}

impl<Q: Querier> TierPinned<Q> {
    pub fn new(inner: Q, tier: Tier) -> Self {
        TierPinned { inner, tier }
    }
}

impl<Q: Querier> Querier for TierPinned<Q> {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<QuerySeriesIter<'_>, QueryError> {
        if self.tier != Tier::Raw {
            return Ok(Box::new(std::iter::empty()));
        }
        self.inner.select(matchers, mint_ms, maxt_ms)
    }

    fn select_rolled(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        _tiers: TierChoice,
    ) -> Result<Vec<RolledSeries>, QueryError> {
        self.inner
            .select_rolled(matchers, mint_ms, maxt_ms, TierChoice::Only(self.tier))
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        self.inner.series(matchers, mint_ms, maxt_ms)
    }

    fn series_limited(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>, QueryError> {
        self.inner.series_limited(matchers, mint_ms, maxt_ms, limit)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        self.inner.label_names(matchers, mint_ms, maxt_ms)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>, QueryError> {
        self.inner.label_values(name, matchers, mint_ms, maxt_ms)
    }

    fn history_marks(&self) -> Result<Option<Vec<(ShardId, HistoryMark)>>, QueryError> {
        self.inner.history_marks()
    }
}
