//! The storage seam: what the rest of Tidemark may ask of a node's storage. Nothing here names
//! RocksDB; `MemEngine` and `RocksEngine` implement it and run the same conformance suite.

use std::collections::BTreeSet;

use crate::command::Command;
use crate::error::Result;
use crate::histogram::HistogramSample;
use crate::model::{Labels, Matcher, Sample, SeriesId, ShardId};
use crate::series_key::SeriesKey;

/// A series with its samples inside the requested time range, sorted by timestamp with unique
/// timestamps (head, flushed and out-of-order chunks merged).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    /// Native histogram samples, sorted by timestamp with unique timestamps.
    pub histograms: Vec<HistogramSample>,
}

/// Series of a select, produced one at a time (chunks are decoded per series, lazily).
pub type SeriesIter<'a> = Box<dyn Iterator<Item = Result<SeriesSamples>> + Send + 'a>;

/// What the leader learns by checking a series' samples against the head before proposing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppendCheck {
    /// Samples that may be proposed (identical duplicates of stored samples are dropped here).
    pub accepted: Vec<Sample>,
    /// Samples that may be proposed for partitions already sealed: a backfill
    /// (`Command::Backfill`; a `Write` would drop them).
    pub backfill: Vec<Sample>,
    /// Samples older than the out-of-order window allows.
    pub too_old: usize,
    /// Samples whose timestamp is already stored with a different value.
    pub conflicting: usize,
    /// Identical duplicates of stored samples (not an error; nothing to write).
    pub duplicates: usize,
}

/// What the leader learns by checking a series' native histogram samples before proposing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramCheck {
    /// Samples that may be proposed, sorted, unique timestamps.
    pub accepted: Vec<HistogramSample>,
    /// Samples older than the out-of-order window allows, or for a partition already sealed
    /// (histograms are not backfilled) or dropped by retention.
    pub too_old: usize,
    /// Samples at a timestamp already stored with another histogram or a float.
    pub conflicting: usize,
    /// Identical duplicates of stored or earlier samples (nothing to write).
    pub duplicates: usize,
}

/// Approximate heap bytes of one shard's in-memory state, by component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryBreakdown {
    /// Label sets and the lookup by hash.
    pub registry: usize,
    /// Per-series heads: open and closed chunks, out-of-order buffers, the slots themselves.
    pub heads: usize,
    /// The open chunks' share of `heads`.
    pub open_chunks: usize,
    /// Postings of partitions whose postings are still held in memory.
    pub postings: usize,
}

/// Head and registry statistics of one shard.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ShardStats {
    pub series: u64,
    pub head_chunks: u64,
    pub head_samples: u64,
    pub applied_index: u64,
    pub flushed_index: u64,
    pub min_time_ms: Option<i64>,
    pub max_time_ms: Option<i64>,
    /// What the shard's registry, heads and held postings take in memory.
    pub memory: MemoryBreakdown,
}

/// What the node's storage files hold and do, for `/metrics` (all zero where nothing is on
/// disk): RocksDB's own figures, summed over its column families.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StoreStats {
    /// The memory the store's cache, memtables and index blocks are bounded by (0: none).
    pub memory_budget_bytes: u64,
    /// Everything charged to the store's block cache: data, index and filter blocks, and
    /// the memtables' reservations.
    pub block_cache_bytes: u64,
    /// The part of the block cache that cannot be evicted now.
    pub block_cache_pinned_bytes: u64,
    /// Bytes of every live SST file.
    pub sst_bytes: u64,
    /// The same per column family (`series`: label sets, `postings`: the label index,
    /// `chunks`: samples, rollups and shared time columns, `meta`: shard records), in that
    /// order: where the disk goes.
    pub sst_bytes_by_column_family: Vec<(&'static str, u64)>,
    /// Bytes in memtables, active and waiting for a flush.
    pub memtable_bytes: u64,
    /// Bytes of index and filter blocks held by open table readers.
    pub table_readers_bytes: u64,
    /// Bytes compactions still have to rewrite (RocksDB's estimate).
    pub pending_compaction_bytes: u64,
    /// Compactions running now.
    pub running_compactions: u64,
    /// Memtable flushes running now.
    pub running_flushes: u64,
    /// Whether writes are stopped (too many memtables or level-0 files, or too much pending
    /// compaction).
    pub write_stopped: bool,
    /// The rate writes are slowed to, in bytes per second (0: not slowed).
    pub delayed_write_rate: u64,
    /// Background errors RocksDB has seen (a failed flush or compaction).
    pub background_errors: u64,
    /// Reads that found stored data corrupt since the engine opened (each failed with an
    /// error instead of answering).
    pub corruptions: u64,
    /// Whether sealed partitions are stored with shared time columns now
    /// ([`Engine::set_shared_time_columns`]).
    pub shared_time_columns: bool,
}

/// The `limit` smallest of `items`, sorted, holding no more than `limit` of them at once
/// (duplicates count once each time they come).
pub fn smallest<T: Ord>(items: impl IntoIterator<Item = T>, limit: usize) -> Vec<T> {
    if limit == 0 {
        return Vec::new();
    }
    // A max-heap of the smallest seen so far: its top is the first to give way.
    let mut heap = std::collections::BinaryHeap::new();
    for item in items {
        if heap.len() < limit {
            heap.push(item);
        } else if let Some(mut largest) = heap.peek_mut()
            && item < *largest
        {
            *largest = item;
        }
    }
    heap.into_sorted_vec()
}

/// Drops the largest of `set` until it holds at most `limit` (a merge of several parts' first
/// `limit` keeps no more than it answers).
pub fn keep_first<T: Ord>(set: &mut std::collections::BTreeSet<T>, limit: usize) {
    while set.len() > limit {
        set.pop_last();
    }
}

/// One time partition of one tier of a shard, as retention plans and status pages see it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PartitionInfo {
    pub tier: crate::tier::Tier,
    pub start_ms: i64,
    /// Exclusive end.
    pub end_ms: i64,
    /// Whether it is sealed (no sample enters it any more).
    pub sealed: bool,
    /// Series with data in it (less those retention dropped from it).
    pub series: u64,
    /// Series retention dropped from it while it keeps others.
    pub expired_series: u64,
    /// Approximate bytes of its chunks on disk (0 where nothing is on disk yet).
    pub bytes: u64,
}

/// A node's storage for all the shards it holds a replica of.
pub trait Engine: Send + Sync + 'static {
    /// Applies committed entry `index` of `shard`'s log. Deterministic; never rejects a command
    /// the leader proposed. An `Err` is an I/O failure the replica cannot continue from.
    fn apply(&self, shard: ShardId, index: u64, cmd: &Command) -> Result<()>;

    /// The index of the last applied entry of `shard` (0 when none).
    fn applied_index(&self, shard: ShardId) -> u64;

    /// Whether what reads of `shard` return for past times changed (see
    /// [`crate::history`]); `None` where the engine does not tell (nothing is then cached).
    fn history_mark(&self, _shard: ShardId) -> Option<crate::history::HistoryMark> {
        None
    }

    /// Persists everything applied to `shard` so far (head chunks, partial ones too, registry,
    /// postings) together with the applied index and the caller's opaque `sm_meta` (Raft's
    /// last-applied log id and membership) in one atomic write. Returns the flushed index.
    fn flush(&self, shard: ShardId, sm_meta: &[u8]) -> Result<u64>;

    /// The encoding work of the next flush of `shard` (sealed partitions, re-encoded chunks,
    /// rollups), done while applies go on; pass it to [`Engine::flush_prepared`]. `earlier` is
    /// a preparation `flush_prepared` handed back: what of it still holds is kept. Engines
    /// without such work prepare nothing.
    fn prepare_flush(
        &self,
        shard: ShardId,
        earlier: Option<crate::sharded::PreparedFlush>,
    ) -> Result<crate::sharded::PreparedFlush> {
        let _ = earlier;
        Ok(crate::sharded::PreparedFlush::none(shard))
    }

    /// [`Engine::flush`] using the work `prepared` did where it still holds (what applies
    /// changed since is done again or left to a later flush; what is written is the same).
    /// Partitions sealed since the preparation are encoded, or with
    /// [`crate::sharded::LateSeals::Return`] the preparation is handed back unwritten.
    fn flush_prepared(
        &self,
        shard: ShardId,
        prepared: crate::sharded::PreparedFlush,
        sm_meta: &[u8],
        late_seals: crate::sharded::LateSeals,
    ) -> Result<crate::sharded::Flushed> {
        let _ = (prepared, late_seals);
        Ok(crate::sharded::Flushed::Index(self.flush(shard, sm_meta)?))
    }

    /// The index and `sm_meta` of the last flush of `shard`: where recovery replays the log from.
    fn flushed_state(&self, shard: ShardId) -> Result<Option<(u64, Vec<u8>)>>;

    /// The id of an existing series of `shard` (the leader resolves labels before proposing).
    fn series_id_of_key(&self, shard: ShardId, key: &SeriesKey) -> Option<SeriesId>;

    /// [`Engine::series_id_of_key`] for a label set.
    fn series_id(&self, shard: ShardId, labels: &Labels) -> Option<SeriesId> {
        self.series_id_of_key(shard, &SeriesKey::from(labels))
    }

    /// Checks samples of one series (`None`: a series not yet created) against what is stored:
    /// drops identical duplicates, rejects samples older than `max_time - ooo_window_ms` of the
    /// shard unless they are at or after `backfill_from_ms` (a backfill, into sealed partitions
    /// too), samples where retention dropped data, and samples that conflict with a stored value
    /// at the same timestamp.
    fn check_append(
        &self,
        shard: ShardId,
        series: Option<SeriesId>,
        samples: &[Sample],
        ooo_window_ms: i64,
        backfill_from_ms: i64,
    ) -> AppendCheck;

    /// [`Engine::series_id_of_key`] and [`Engine::check_append`] for each series of a batch
    /// (key and samples), with the same answers. Engines override it to look the whole batch
    /// up under one hold of the shard's lock; the leader calls it once per proposal.
    fn check_writes(
        &self,
        shard: ShardId,
        writes: &[(&SeriesKey, &[Sample])],
        ooo_window_ms: i64,
        backfill_from_ms: i64,
    ) -> Vec<(Option<SeriesId>, AppendCheck)> {
        writes
            .iter()
            .map(|&(key, samples)| {
                let id = self.series_id_of_key(shard, key);
                let check = self.check_append(shard, id, samples, ooo_window_ms, backfill_from_ms);
                (id, check)
            })
            .collect()
    }

    /// [`Engine::series_id_of_key`] and a check of native histogram samples for each series of
    /// a batch (key and samples, ascending): too old for the out-of-order window or for a
    /// sealed partition (histograms are not backfilled), identical to what is stored
    /// (duplicates), or at a stored timestamp with another value (conflicting).
    fn check_histograms(
        &self,
        shard: ShardId,
        writes: &[(&SeriesKey, &[HistogramSample])],
        ooo_window_ms: i64,
    ) -> Vec<(Option<SeriesId>, HistogramCheck)>;

    /// Series of `shard` matching all `matchers` (at least one must not match the empty string)
    /// with their samples in `[mint_ms, maxt_ms]`; series without samples there (float or
    /// histogram) are skipped.
    fn select(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<SeriesIter<'_>>;

    /// Label sets of the series of `shard` matching `matchers` that have data in the range,
    /// sorted.
    fn series(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>>;

    /// The first `limit` of [`Engine::series`], holding no more than `limit` label sets at
    /// once while it looks.
    fn series_limited(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        limit: usize,
    ) -> Result<Vec<Labels>> {
        let mut all = self.series(shard, matchers, mint_ms, maxt_ms)?;
        all.truncate(limit);
        Ok(all)
    }

    /// Ids of the series of `shard` matching `matchers` in the partitions `[mint_ms, maxt_ms]`
    /// touches, ascending: what a `Command::Delete` for that range names.
    fn matching_series(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesId>>;

    /// Label names of matching series (all series when `matchers` is empty) with data in range.
    fn label_names(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>>;

    /// Values of label `name` of matching series (all series when `matchers` is empty).
    fn label_values(
        &self,
        shard: ShardId,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>>;

    /// Registry and head statistics of `shard` (walks every series' head: for status pages
    /// and scrapes, not for the write path).
    fn stats(&self, shard: ShardId) -> ShardStats;

    /// Series `shard` knows: [`ShardStats::series`] without walking the heads.
    fn series_count(&self, shard: ShardId) -> u64;

    /// What the storage files hold and do, for every shard together.
    fn store_stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// Start times of the partitions of `shard` that hold applied data, are not sealed, and end
    /// at or before the newest applied sample minus `ooo_window_ms`: no sample can be accepted
    /// into them any more (`check_append` rejects it), so the leader may propose their
    /// `Command::Seal`.
    fn sealable_partitions(&self, shard: ShardId, ooo_window_ms: i64) -> Vec<i64>;

    /// Every partition of `shard` that holds data, in every tier, oldest first.
    fn partitions(&self, shard: ShardId) -> Result<Vec<PartitionInfo>>;

    /// Ids of the series of `shard`'s partition `partition_start_ms` of tier `tier` matching
    /// every matcher (every series when `matchers` is empty), less those retention dropped,
    /// ascending: what an `ExpirePartition` of some of them names.
    fn partition_series(
        &self,
        shard: ShardId,
        tier: crate::tier::Tier,
        partition_start_ms: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<SeriesId>>;

    /// The series of `shard` matching every matcher (every series when `matchers` is empty)
    /// with windows of rollup tier `tier` ending in `[mint_ms, maxt_ms]`, with those windows,
    /// sorted by labels. Windows a delete touches are left out.
    fn select_windows(
        &self,
        shard: ShardId,
        tier: crate::tier::Tier,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<crate::sharded::SeriesWindows>>;

    /// The rollup windows a query over `[mint_ms, maxt_ms]` reading `choice` needs besides the
    /// raw samples [`Engine::select`] gives: per matching series, the windows that stand for
    /// raw samples retention dropped, each day from the finest tier that has it, and the time
    /// after which its raw samples are complete (see `RolledSeries`); sorted by labels. Empty
    /// for an engine without tiers.
    fn select_rolled(
        &self,
        _shard: ShardId,
        _matchers: &[Matcher],
        _mint_ms: i64,
        _maxt_ms: i64,
        _choice: crate::tier::TierChoice,
    ) -> Result<Vec<crate::sharded::RolledSeries>> {
        Ok(Vec::new())
    }

    /// Days of `shard` rolled up but not computed yet (the next flush computes them).
    fn pending_rollups(&self, _shard: ShardId) -> usize {
        0
    }

    /// The days of `shard` rolled up into `tier` (`Command::RollUp` applied), ascending.
    fn rolled_units(&self, shard: ShardId, tier: crate::tier::Tier) -> Vec<i64>;

    /// The partitions of rollup tier `tier` retention dropped whole: nothing is rolled up into
    /// them again.
    fn closed_partitions(&self, shard: ShardId, tier: crate::tier::Tier) -> Vec<i64>;

    /// A hash of the logical content of `shard` (series ids with their labels, every sample,
    /// sealed partitions, expiry horizon): replicas that applied the same log compare equal,
    /// whatever their flush timing. Reads everything: for checkers and tests, not hot paths.
    fn digest(&self, shard: ShardId) -> Result<u64>;

    /// Flushes memtables to SST files and compacts the data store, so that disk usage reflects
    /// the data (for measurements and after large deletions); a no-op for `MemEngine`. The
    /// default does nothing, for engines without files.
    fn compact(&self) -> Result<()> {
        Ok(())
    }

    /// Whether flushes store the time parts that sealed chunks of one partition share once
    /// (`chunk/sealed.md`, version 2), which binaries before [`crate::COMMAND_LEVEL`] 8 cannot
    /// read: off until the node knows every node of the cluster reads them. Engines that do
    /// not store chunks ignore it.
    fn set_shared_time_columns(&self, _on: bool) {}

    /// Writes the last flushed state of `shard` (not what was applied after it) to `out` as a
    /// shard snapshot that [`Engine::import_shard`] on another node reads back; returns its
    /// flushed index and `sm_meta`, `None` (nothing written) if the shard was never flushed.
    fn export_shard(
        &self,
        shard: ShardId,
        out: &mut dyn std::io::Write,
    ) -> Result<Option<(u64, Vec<u8>)>> {
        let _ = (shard, out);
        Err(crate::error::Error::NotImplemented(
            "shard snapshots in this engine".into(),
        ))
    }

    /// Replaces everything held for `shard` with a snapshot written by
    /// [`Engine::export_shard`]: afterwards the applied and flushed index are the snapshot's,
    /// the head is empty, and the snapshot's flushed index and `sm_meta` are returned. Checks
    /// the whole snapshot before changing anything; a crash leaves the old state or the new.
    fn import_shard(
        &self,
        shard: ShardId,
        input: &mut dyn std::io::Read,
    ) -> Result<(u64, Vec<u8>)> {
        let _ = (shard, input);
        Err(crate::error::Error::NotImplemented(
            "shard snapshots in this engine".into(),
        ))
    }

    /// Deletes everything held for `shard`, durably: afterwards it is as if the shard had
    /// never been written (applied index 0, never flushed). For a replica this node no longer
    /// holds; the caller makes sure nothing applies to the shard meanwhile.
    fn drop_shard(&self, shard: ShardId) -> Result<()> {
        let _ = shard;
        Err(crate::error::Error::NotImplemented(
            "dropping shards in this engine".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::smallest;

    #[test]
    fn smallest_keeps_the_first_of_the_sorted_items() {
        let items = [9, 3, 7, 1, 8, 2, 2, 6];
        for limit in 0..=items.len() + 1 {
            let mut sorted = items.to_vec();
            sorted.sort();
            sorted.truncate(limit);
            assert_eq!(smallest(items, limit), sorted, "limit {limit}");
        }
    }
}
