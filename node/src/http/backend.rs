//! The HTTP edge's view of the node: the write, read-barrier, query, flush and statistics
//! operations of the [`Node`]. A trait so that the API can be tested without a Raft cluster.

use crate::metrics::StateGauges;
use crate::raft::shard_timings::ShardTimings;
use std::sync::Arc;

use futures::future::BoxFuture;
use tidemark_api::retention::RetentionStatus;
use tidemark_query::Querier;
use tidemark_storage::ShardStats;

use crate::error::NodeError;
use crate::node::Node;
use crate::notifier::BuiltinNotifier;
use crate::remote_write::MetricMetadata;
use crate::request::{DeleteRequest, HistogramWrite, MetadataOutcome, SeriesWrite, WriteOutcome};
use crate::ruler::Ruler;

/// What the HTTP API needs from the node.
pub trait Backend: Send + Sync + 'static {
    /// Writes validated series; `Ok` only once every accepted sample is committed.
    fn write(&self, series: Vec<SeriesWrite>) -> BoxFuture<'_, Result<WriteOutcome, NodeError>>;
    /// Writes validated native histograms as `write` writes floats (`samples_written` counts
    /// histograms).
    fn write_histograms(
        &self,
        series: Vec<HistogramWrite>,
    ) -> BoxFuture<'_, Result<WriteOutcome, NodeError>> {
        let _ = series;
        Box::pin(async {
            Err(NodeError::NotImplemented(
                "native histograms on this backend".into(),
            ))
        })
    }
    /// Keeps a remote-write request's metric metadata (`Node::record_metadata`).
    fn record_metadata<'a>(
        &'a self,
        received: &'a [(String, MetricMetadata)],
        names_max: usize,
    ) -> BoxFuture<'a, Result<MetadataOutcome, NodeError>> {
        let _ = (received, names_max);
        Box::pin(async {
            Err(NodeError::NotImplemented(
                "metric metadata on this backend".into(),
            ))
        })
    }
    /// The metric metadata kept (`MetadataMap::list`'s arguments and answer).
    fn metadata(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> Vec<(String, Vec<MetricMetadata>)> {
        let _ = (metric, limit, limit_per_metric);
        Vec::new()
    }
    /// A querier over every shard for one query or API call. `linearizable`: it sees every
    /// write acknowledged before this call (the read barrier happens here); otherwise replicas
    /// answer at whatever they have applied. `samples_max` bounds what one remote shard may
    /// send for one select.
    fn reader(
        &self,
        linearizable: bool,
        samples_max: u64,
    ) -> BoxFuture<'_, Result<Arc<dyn Querier>, NodeError>>;
    /// Persists every shard's head and compacts storage (disk usage then reflects the data);
    /// returns when done.
    fn flush(&self) -> BoxFuture<'_, Result<(), NodeError>>;
    /// Registry and head statistics of every shard this node holds a replica of, as its
    /// replica has applied them (no read barrier: for status pages, not for answers that
    /// must be linearizable).
    fn storage_stats(&self) -> Vec<ShardStats>;
    /// Deletes what `req` selects (replicated through every shard's log); returns the number
    /// of series named once every shard has applied its delete.
    fn delete_series(&self, req: DeleteRequest) -> BoxFuture<'_, Result<u64, NodeError>>;
    /// Re-encodes the sealed partitions holding deleted samples without them, on every replica
    /// (`Command::CleanTombstones`); `Ok` once every shard applied it and this node flushed.
    fn clean_tombstones(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(async {
            Err(NodeError::NotImplemented(
                "clean_tombstones on this backend".into(),
            ))
        })
    }
    /// The node's ruler (rule groups and alerts); `None` where there is none (the rules API
    /// then answers 501).
    fn ruler(&self) -> Option<Arc<Ruler>> {
        None
    }
    /// The node's built-in notifier; `None` where there is none (its API then answers 501).
    fn notifier(&self) -> Option<Arc<BuiltinNotifier>> {
        None
    }
    /// The retention policy in force and this node's data per tier; `None` where there is no
    /// retention (status pages then leave it out).
    fn retention(&self) -> Option<RetentionStatus> {
        None
    }
    /// What `/metrics` reads at each scrape: groups, shards, disk (nothing by default).
    fn state_gauges(&self) -> StateGauges {
        StateGauges::default()
    }
    /// What the data store's files hold and do, and the corruption its reads found; `None`
    /// where there is no store.
    fn store_stats(&self) -> Option<tidemark_storage::StoreStats> {
        None
    }
    /// The latency of the Raft log's synced writes, which the log itself observes; `None`
    /// where there is no log.
    fn raft_log_sync_seconds(&self) -> Option<prometheus_client::metrics::histogram::Histogram> {
        None
    }
    /// How long shard flushes and seal applies take; `None` where there are no shard groups.
    fn shard_timings(&self) -> Option<ShardTimings> {
        None
    }
}

impl Backend for Node {
    fn write(&self, series: Vec<SeriesWrite>) -> BoxFuture<'_, Result<WriteOutcome, NodeError>> {
        Box::pin(Node::write(self, series))
    }

    fn write_histograms(
        &self,
        series: Vec<HistogramWrite>,
    ) -> BoxFuture<'_, Result<WriteOutcome, NodeError>> {
        Box::pin(Node::write_histograms(self, series))
    }

    fn record_metadata<'a>(
        &'a self,
        received: &'a [(String, MetricMetadata)],
        names_max: usize,
    ) -> BoxFuture<'a, Result<MetadataOutcome, NodeError>> {
        Box::pin(Node::record_metadata(self, received, names_max))
    }

    fn metadata(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> Vec<(String, Vec<MetricMetadata>)> {
        self.with_metadata(|m| m.list(metric, limit, limit_per_metric))
    }

    fn reader(
        &self,
        linearizable: bool,
        samples_max: u64,
    ) -> BoxFuture<'_, Result<Arc<dyn Querier>, NodeError>> {
        Box::pin(Node::reader(self, linearizable, samples_max))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(Node::flush_and_compact(self))
    }

    fn storage_stats(&self) -> Vec<ShardStats> {
        let engine = self.engine();
        (0..self.shard_count())
            .filter(|s| self.holds(*s))
            .map(|s| engine.stats(s))
            .collect()
    }

    fn delete_series(&self, req: DeleteRequest) -> BoxFuture<'_, Result<u64, NodeError>> {
        Box::pin(Node::delete_series(self, req))
    }

    fn ruler(&self) -> Option<Arc<Ruler>> {
        Some(Node::ruler(self).clone())
    }

    fn clean_tombstones(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(async {
            let run = Node::retention(self)
                .run_all(crate::retention::Maintenance::CleanTombstones)
                .await?;
            if !run.skipped.is_empty() {
                return Err(NodeError::Unavailable(format!(
                    "clean_tombstones did not reach every shard: {}",
                    run.skipped.join("; ")
                )));
            }
            Node::flush(self).await
        })
    }

    fn state_gauges(&self) -> StateGauges {
        Node::state_gauges(self)
    }

    fn raft_log_sync_seconds(&self) -> Option<prometheus_client::metrics::histogram::Histogram> {
        Some(Node::raft_log_sync_seconds(self))
    }

    fn shard_timings(&self) -> Option<ShardTimings> {
        Some(self.shard_timings())
    }

    fn store_stats(&self) -> Option<tidemark_storage::StoreStats> {
        Some(self.engine().store_stats())
    }

    fn retention(&self) -> Option<RetentionStatus> {
        match Node::retention(self).status() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "retention status");
                None
            }
        }
    }

    fn notifier(&self) -> Option<Arc<BuiltinNotifier>> {
        Some(Node::notifier(self).clone())
    }
}
