//! The HTTP edge's view of the node: the write, read-barrier, query and flush operations of
//! [`Shards`]. A trait so that the API can be tested without a Raft cluster.

use std::sync::Arc;

use futures::future::BoxFuture;
use tidemark_query::Querier;

use crate::error::NodeError;
use crate::shards::{SeriesWrite, Shards, WriteOutcome};

/// What the HTTP API needs from the node.
pub trait Backend: Send + Sync + 'static {
    /// Writes validated series; `Ok` only once every accepted sample is committed.
    fn write(&self, series: Vec<SeriesWrite>) -> BoxFuture<'_, Result<WriteOutcome, NodeError>>;
    /// Waits until a following read sees every write acknowledged before this call.
    fn read_barrier(&self) -> BoxFuture<'_, Result<(), NodeError>>;
    /// A querier over every shard.
    fn querier(&self) -> Arc<dyn Querier>;
    /// Persists every shard's head; returns when done.
    fn flush(&self) -> BoxFuture<'_, Result<(), NodeError>>;
}

impl Backend for Shards {
    fn write(&self, series: Vec<SeriesWrite>) -> BoxFuture<'_, Result<WriteOutcome, NodeError>> {
        Box::pin(Shards::write(self, series))
    }

    fn read_barrier(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(Shards::read_barrier(self))
    }

    fn querier(&self) -> Arc<dyn Querier> {
        Shards::querier(self)
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), NodeError>> {
        Box::pin(Shards::flush(self))
    }
}
