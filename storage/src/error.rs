//! Storage errors.

use crate::model::ShardId;

/// Errors of the storage engine.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("storage I/O error on shard {shard}: {message}")]
    Io { shard: ShardId, message: String },
    #[error("corrupt data on shard {shard}: {message}")]
    Corrupt { shard: ShardId, message: String },
    #[error("cannot decode: {0}")]
    Decode(String),
    #[error("cannot encode chunk: {0}")]
    Encode(String),
    #[error("query limit exceeded: {0}")]
    Limit(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the error says stored bytes are not what was written: a corrupt record, a
    /// chunk or index that does not decode, a RocksDB block whose checksum fails.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::Decode(_))
    }
}
