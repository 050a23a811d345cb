//! `MemEngine`: the in-memory [`Engine`](crate::Engine), for tests and for crates that need
//! storage without RocksDB. Everything stays in memory; `flush` only records the index.

use crate::model::{SeriesId, ShardId};
use crate::options::EngineOptions;
use crate::postings::{PartitionPostings, PostingsSource};
use crate::shard::Shard;
use crate::sharded::{Sharded, delegate_engine};
use crate::store::{Store, StoredChunks};

/// The in-memory storage engine.
pub struct MemEngine {
    core: Sharded<NoStore>,
}

impl MemEngine {
    /// An empty engine.
    pub fn new(opts: EngineOptions) -> Self {
        MemEngine {
            core: Sharded::new(opts, NoStore),
        }
    }

    /// Approximate bytes of memory held for `shard` (registry, postings, head): the figure
    /// the per-series memory budget is measured with.
    pub fn memory_bytes(&self, shard: ShardId) -> u64 {
        self.core.memory_bytes(shard)
    }

    /// The options the engine was built with.
    pub fn options(&self) -> &EngineOptions {
        &self.core.opts
    }
}

impl Default for MemEngine {
    fn default() -> Self {
        Self::new(EngineOptions::default())
    }
}

delegate_engine!(MemEngine, core);

/// A store that holds nothing: the head keeps everything.
pub(crate) struct NoStore;

impl Store for NoStore {
    fn durable(&self) -> bool {
        false
    }

    fn sealed_postings<'a>(
        &'a self,
        _shard: ShardId,
        _partition: i64,
    ) -> Box<dyn PostingsSource + 'a> {
        Box::new(PartitionPostings::default())
    }

    fn read_chunks(
        &self,
        _shard: ShardId,
        _series: SeriesId,
        _partitions: &[i64],
        _mint_ms: i64,
        _maxt_ms: i64,
        _out: &mut StoredChunks,
    ) -> crate::Result<()> {
        Ok(())
    }

    fn write_flush(&self, _shard: &Shard, _sm_meta: &[u8]) -> crate::Result<()> {
        Ok(())
    }
}
