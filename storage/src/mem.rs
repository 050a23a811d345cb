//! `MemEngine`: the in-memory [`Engine`](crate::Engine), for tests and for crates that need
//! storage without RocksDB. Everything stays in memory; `flush` only records the index.

use crate::model::{SeriesId, ShardId};
use crate::options::EngineOptions;
use crate::postings::{PartitionPostings, PostingsSource};
use crate::shard::{SealedPartition, Shard};
use crate::sharded::{Sharded, delegate_engine};
use crate::store::{ChunkReader, Store, StoredChunks};

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

    fn export_shard_impl(
        &self,
        _shard: ShardId,
        _out: &mut dyn std::io::Write,
    ) -> crate::Result<Option<(u64, Vec<u8>)>> {
        Err(crate::Error::NotImplemented(
            "shard snapshots of the in-memory engine".into(),
        ))
    }

    fn drop_shard_impl(&self, shard: ShardId) -> crate::Result<()> {
        self.core.remove_shard(shard, || Ok(()))
    }

    fn import_shard_impl(
        &self,
        _shard: ShardId,
        _input: &mut dyn std::io::Read,
    ) -> crate::Result<(u64, Vec<u8>)> {
        Err(crate::Error::NotImplemented(
            "shard snapshots of the in-memory engine".into(),
        ))
    }
}

impl Default for MemEngine {
    fn default() -> Self {
        Self::new(EngineOptions::default())
    }
}

delegate_engine!(MemEngine, core);

/// Reads from [`NoStore`]: there is nothing.
struct NoChunks;

impl ChunkReader for NoChunks {
    fn read(
        &mut self,
        _series: SeriesId,
        _partitions: &[i64],
        _mint_ms: i64,
        _maxt_ms: i64,
        _out: &mut StoredChunks,
    ) -> crate::Result<()> {
        Ok(())
    }

    fn read_rollup(
        &mut self,
        _series: SeriesId,
        _tier: crate::tier::Tier,
        _partition: i64,
        _unit: i64,
    ) -> crate::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

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

    fn tier_postings<'a>(
        &'a self,
        _shard: ShardId,
        _tier: crate::tier::Tier,
        _partition: i64,
    ) -> Box<dyn PostingsSource + 'a> {
        Box::new(PartitionPostings::default())
    }

    fn chunk_reader<'a>(&'a self, _shard: ShardId) -> Box<dyn ChunkReader + 'a> {
        Box::new(NoChunks)
    }

    fn write_flush(
        &self,
        _shard: &Shard,
        _sealed: &[SealedPartition],
        _rollups: &crate::sharded::RollupFlush,
        _sm_meta: &[u8],
    ) -> crate::Result<()> {
        Ok(())
    }

    fn compact(&self) -> crate::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ENCODING_SEALED, ENCODING_XOR};
    use crate::command::{Command, SeriesRef, WriteBatch};
    use crate::engine::Engine;
    use crate::model::{Labels, Sample};
    use crate::options::HOUR_MS;
    use crate::sharded::read;

    #[test]
    fn flushing_a_sealed_partition_keeps_one_sealed_chunk_per_series() {
        let e = MemEngine::new(EngineOptions {
            partition_ms: 2 * HOUR_MS,
            chunk_samples_max: 10,
        });
        let batch = WriteBatch {
            histograms: Vec::new(),
            new_series: vec![Labels::from_pairs(&[("__name__", "up")])],
            samples: vec![(
                SeriesRef::New(0),
                (0..1000)
                    .map(|i| Sample::new(i * 15_000, (i % 17) as f64))
                    .collect(),
            )],
        };
        e.apply(0, 1, &Command::Write(batch)).unwrap();
        let ooo = WriteBatch {
            histograms: Vec::new(),
            new_series: vec![],
            samples: vec![(SeriesRef::Id(0), vec![Sample::new(7, 0.5)])],
        };
        e.apply(0, 2, &Command::Write(ooo)).unwrap();
        let before = e.memory_bytes(0);
        e.apply(
            0,
            3,
            &Command::Seal {
                partition_start_ms: 0,
            },
        )
        .unwrap();
        e.flush(0, b"m").unwrap();
        let cell = e.core.shard(0).unwrap();
        let st = read(&cell);
        let head = &st.heads[0];
        let encodings = |p: i64| -> Vec<u8> {
            head.closed
                .iter()
                .filter(|c| c.partition == p)
                .map(|c| c.bytes[0])
                .collect()
        };
        assert_eq!(encodings(0), vec![ENCODING_SEALED]);
        assert!(encodings(2 * HOUR_MS).iter().all(|&b| b == ENCODING_XOR));
        assert!(
            head.ooo.is_empty(),
            "out-of-order samples moved into the sealed chunk"
        );
        assert_eq!(st.head_counts().1, 1001);
        drop(st);
        assert!(e.memory_bytes(0) < before);
    }
}
