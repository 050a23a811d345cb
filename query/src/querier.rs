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

/// A querier over shards of a local [`Engine`]. Series never span shards, so the shards'
/// series are concatenated without merging.
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
