//! The results cache of range queries on `/metrics`, read at each scrape:
//! `tidemark_query_results_cache_steps_total{source="cache"|"evaluation"}` (the hit rate is
//! the first over both), queries, lookups and hits of pieces, invalidations, evictions, bytes
//! and extents held.

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use tidemark_query::CacheCounters;

use super::{counter, unsigned_gauges};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// Writes the figures of `c`.
pub(super) fn encode(
    encoder: &mut DescriptorEncoder,
    c: &CacheCounters,
) -> Result<(), std::fmt::Error> {
    {
        let mut steps = encoder.encode_descriptor(
            "tidemark_query_results_cache_steps",
            "Steps of range queries answered from the results cache, and evaluated",
            None,
            MetricType::Counter,
        )?;
        for (source, n) in [("cache", c.steps_cached), ("evaluation", c.steps_evaluated)] {
            ConstCounter::new(n).encode(steps.encode_family(&SourceLabel { source })?)?;
        }
    }
    for (name, help, value) in [
        (
            "tidemark_query_results_cache_queries",
            "Range queries answered through the results cache",
            c.queries,
        ),
        (
            "tidemark_query_results_cache_uncacheable_queries",
            "Range queries evaluated whole: steps not aligned to the step, `@` or a negative \
             offset, or a shard that does not tell its history",
            c.uncacheable,
        ),
        (
            "tidemark_query_results_cache_lookups",
            "Pieces (split intervals) of range queries looked up",
            c.lookups,
        ),
        (
            "tidemark_query_results_cache_hits",
            "Pieces of which some steps came from the cache",
            c.hits,
        ),
        (
            "tidemark_query_results_cache_invalidations",
            "Cached pieces dropped because a shard's past changed (delete, backfill, expiry, \
             rollup, late samples) or another replica answered",
            c.invalidations,
        ),
        (
            "tidemark_query_results_cache_evictions",
            "Cached pieces dropped to stay within query.results_cache.bytes_max",
            c.evictions,
        ),
    ] {
        counter(encoder, name, help, value)?;
    }
    unsigned_gauges(
        encoder,
        [
            (
                "tidemark_query_results_cache_bytes",
                "Bytes the results cache holds",
                c.bytes,
            ),
            (
                "tidemark_query_results_cache_entries",
                "Pieces the results cache holds",
                c.entries,
            ),
        ],
    )
}
