//! The backend seam inside the engine: where flushed data goes and is read back from. The
//! shard logic (`shard.rs`) is shared; a `Store` only persists and reads.

use crate::error::Result;
use crate::model::{SeriesId, ShardId};
use crate::postings::PostingsSource;
use crate::shard::{SealedPartition, Shard};

/// Chunks of one series read from a backend.
#[derive(Default)]
pub(crate) struct StoredChunks {
    /// In-order chunks with the start in their key.
    pub in_order: Vec<(i64, Vec<u8>)>,
    /// Out-of-order chunks with the flush sequence they were written at.
    pub ooo: Vec<(u64, Vec<u8>)>,
    /// In-order native histogram chunks with the start in their key.
    pub histograms: Vec<(i64, Vec<u8>)>,
    /// Out-of-order native histogram chunks with the flush sequence they were written at.
    pub histograms_ooo: Vec<(u64, Vec<u8>)>,
}

/// Reads stored chunks series after series (see [`Store::chunk_reader`]).
pub(crate) trait ChunkReader: Send {
    /// Appends the stored chunks of `series` in `partitions` that may overlap the range.
    fn read(
        &mut self,
        series: SeriesId,
        partitions: &[i64],
        mint_ms: i64,
        maxt_ms: i64,
        out: &mut StoredChunks,
    ) -> Result<()>;

    /// Appends the stored native histogram chunks of `series` in `partitions` that may overlap
    /// the range (to `out.histograms` and `out.histograms_ooo`). Asked only for series with
    /// histograms, so that a select of float series seeks nothing more.
    fn read_histograms(
        &mut self,
        series: SeriesId,
        partitions: &[i64],
        mint_ms: i64,
        maxt_ms: i64,
        out: &mut StoredChunks,
    ) -> Result<()> {
        let _ = (series, partitions, mint_ms, maxt_ms, out);
        Ok(())
    }

    /// The stored rollup chunk of `series` for day `unit` of `tier` (in tier partition
    /// `partition`), if any.
    fn read_rollup(
        &mut self,
        series: SeriesId,
        tier: crate::tier::Tier,
        partition: i64,
        unit: i64,
    ) -> Result<Option<Vec<u8>>>;
}

/// Persistence for shards.
pub(crate) trait Store: Send + Sync + 'static {
    /// Whether flushed data is held by the store (so the head may drop it).
    fn durable(&self) -> bool;

    /// See [`crate::Engine::set_shared_time_columns`].
    fn set_shared_time_columns(&self, _on: bool) {}

    /// Postings of a sealed partition that is no longer in memory.
    fn sealed_postings<'a>(
        &'a self,
        shard: ShardId,
        partition: i64,
    ) -> Box<dyn PostingsSource + 'a>;

    /// Postings of partition `partition` of rollup tier `tier`, as stored.
    fn tier_postings<'a>(
        &'a self,
        shard: ShardId,
        tier: crate::tier::Tier,
        partition: i64,
    ) -> Box<dyn PostingsSource + 'a>;

    /// A reader of `shard`'s chunks for many series in a row (a select reads its series in
    /// ascending id order). It sees the store as of its creation; the caller makes a new one
    /// when a flush may have moved data out of the head since (`Sharded::read_series`).
    fn chunk_reader<'a>(&'a self, shard: ShardId) -> Box<dyn ChunkReader + 'a>;

    /// Persists `shard` atomically (see `Shard::collect_flush`), with `sealed` replacing the
    /// chunks of those partitions; must not modify it.
    fn write_flush(
        &self,
        shard: &Shard,
        sealed: &[SealedPartition],
        rollups: &crate::sharded::RollupFlush,
        sm_meta: &[u8],
    ) -> Result<()>;

    /// Approximate bytes on disk of `shard`'s chunks in partition `partition` of `tier`
    /// (0 where nothing is on disk).
    fn partition_bytes(&self, shard: ShardId, tier: crate::tier::Tier, partition: i64) -> u64 {
        let _ = (shard, tier, partition);
        0
    }

    /// Flushes buffered writes to files and compacts them, so that disk usage reflects the
    /// data (a no-op where nothing is on disk).
    fn compact(&self) -> Result<()>;

    /// What the files hold and do (zero where nothing is on disk).
    fn stats(&self) -> crate::engine::StoreStats {
        crate::engine::StoreStats::default()
    }
}
