//! Errors of the node: the one place they are classified. The HTTP layer maps each variant to a
//! status code and Prometheus `errorType` in exactly one function (`http::error`).

use tidemark_storage::ShardId;

/// Node-level errors.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The request is malformed or violates a limit; nothing was written.
    #[error("{0}")]
    BadRequest(String),
    /// The shard has no leader right now (election in progress); retry.
    #[error("shard {shard} has no leader: {message}")]
    NoLeader { shard: ShardId, message: String },
    /// Too much in flight for the shard; retry later.
    #[error("shard {shard} is overloaded: {message}")]
    Overloaded { shard: ShardId, message: String },
    /// The cluster cannot do it right now (a leader change, a membership change in progress);
    /// retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The operation did not complete in time; its outcome is unknown.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Raft or storage failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// Not implemented yet.
    #[error("not implemented: {0}")]
    NotImplemented(String),
}
