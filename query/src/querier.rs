//! The query seam: where series come from. The engine never knows whether they come from local
//! shards, remote shards over gRPC, or a test's in-memory engine.

use std::collections::BTreeSet;
use std::sync::Arc;

use tidemark_storage::{Engine, Labels, Matcher, SeriesSamples, ShardId};

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
    /// Label sets of matching series with data in range.
    fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, QueryError>;
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
    /// Partial results of an aggregation its parts can compute on their own (see
    /// [`crate::partial`]), one per part, for the engine to merge; `None` when this querier
    /// has no parts that compute, and the engine folds the raw series itself.
    fn aggregate(&self, _req: &PartialRequest) -> Result<Option<Vec<Partial>>, QueryError> {
        Ok(None)
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
        let mut out = Vec::new();
        for &shard in &self.shards {
            out.extend(self.engine.series(shard, matchers, mint_ms, maxt_ms)?);
        }
        out.sort();
        Ok(out)
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
        let mut merged: std::collections::BTreeMap<Labels, Vec<tidemark_storage::Sample>> =
            std::collections::BTreeMap::new();
        let mut held = 0usize;
        for series in self.inner.select(matchers, mint_ms, maxt_ms)? {
            let series = series?;
            held += series.samples.len();
            if held > self.samples_max {
                return Err(crate::eval::too_many_samples());
            }
            merged
                .entry(series.labels)
                .or_default()
                .extend(series.samples);
        }
        Ok(Box::new(merged.into_iter().map(|(labels, mut samples)| {
            // Each part is sorted; a timestamp is in one version, so in one part (the first
            // copy is kept should a sample ever be in two).
            samples.sort_by_key(|s| s.t);
            samples.dedup_by_key(|s| s.t);
            Ok(SeriesSamples { labels, samples })
        })))
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
}
