//! Tidemark's per-shard storage engine: series registry, roaring-bitmap postings per time
//! partition, compressed chunks, the in-memory head and its flush. Knows nothing of Raft,
//! gRPC or HTTP: it applies commands at log indexes and answers selects.

// Without the RocksDB backend the flush and recovery halves of the shard logic have no caller.
#![cfg_attr(not(feature = "rocksdb"), allow(dead_code))]

pub mod chunk;
pub mod command;
pub mod engine;
pub mod error;
mod head;
pub mod histogram;
pub mod history;
pub mod key_index;
pub mod mem;
pub mod model;
pub mod options;
mod postings;
mod prefetch;
mod registry;
#[cfg(feature = "rocksdb")]
pub mod rocks;
pub mod rollup;
pub mod series_key;
mod shard;
mod sharded;
pub mod snapshot_stream;
mod store;
pub mod tier;
mod tombstones;
mod varint;

pub use command::{COMMAND_LEVEL, Command, ExpireScope, SeriesRef, WriteBatch};
pub use engine::{
    AppendCheck, Engine, HistogramCheck, MemoryBreakdown, PartitionInfo, SeriesIter, SeriesSamples,
    ShardStats, StoreStats, keep_first, smallest,
};
pub use error::{Error, Result};
pub use key_index::KeyIndex;
pub use mem::MemEngine;
pub use model::{Label, Labels, MatchOp, Matcher, Sample, SeriesId, ShardId};
pub use options::EngineOptions;
#[cfg(feature = "rocksdb")]
pub use rocks::RocksEngine;
pub use series_key::SeriesKey;
pub use sharded::{Flushed, LateSeals, PreparedFlush, RolledSeries, SeriesWindows};
pub use tier::{Tier, TierChoice};
