//! PromQL for Tidemark: parse (promql-parser), plan and evaluate with Prometheus 3.5 semantics
//! over a [`Querier`], and the value types the HTTP layer formats.

pub mod engine;
pub mod error;
mod eval;
pub mod histogram;
pub mod partial;
pub mod querier;
pub mod results_cache;
pub mod syntax;
pub mod value;

pub use engine::{PromqlEngine, QueryLimits};
pub use error::{QueryError, QueryErrorKind};
pub use partial::{Partial, PartialRequest};
pub use querier::{EngineQuerier, Querier, QuerySeriesIter, SplitSeriesQuerier, TierPinned};
pub use results_cache::{CacheCounters, RangeQuery, ResultsCache, ResultsCacheConfig};
pub use syntax::{Ast, SyntaxLimits};
pub use value::{MatrixSeries, Point, QueryResult, SampleCounts, Value};
