//! The data RocksDB on `/metrics`, read at each scrape from its own properties:
//! `tidemark_storage_sst_bytes` (and per `column_family`:
//! `tidemark_storage_column_family_sst_bytes`), `tidemark_storage_memtable_bytes`,
//! `tidemark_storage_table_readers_bytes`, `tidemark_storage_pending_compaction_bytes`,
//! `tidemark_storage_running_compactions`, `tidemark_storage_running_flushes`,
//! `tidemark_storage_write_stopped`, `tidemark_storage_delayed_write_rate_bytes`,
//! `tidemark_storage_shared_time_columns`,
//! `tidemark_storage_background_errors_total` and `tidemark_storage_corruptions_total`; the
//! memory budget of the data store and of the Raft log (`tidemark_storage_memory_budget_bytes`,
//! `tidemark_storage_block_cache_bytes`, `tidemark_storage_block_cache_pinned_bytes`,
//! `tidemark_raft_log_memory_budget_bytes`, `tidemark_raft_log_block_cache_bytes`,
//! `tidemark_raft_log_memtable_bytes`).

use prometheus_client::encoding::DescriptorEncoder;
use tidemark_storage::StoreStats;
use tidemark_storage::rocks::memory::MemoryUsage;

use super::{counter, unsigned_gauges};

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct ColumnFamilyLabel {
    column_family: String,
}

/// Writes the figures of `stats`.
pub(super) fn encode(
    encoder: &mut DescriptorEncoder,
    stats: &StoreStats,
) -> Result<(), std::fmt::Error> {
    unsigned_gauges(
        encoder,
        [
            (
                "tidemark_storage_memory_budget_bytes",
                "Memory the data store's block cache, memtables and index blocks are bounded by \
             (storage.memory_budget's share)",
                stats.memory_budget_bytes,
            ),
            (
                "tidemark_storage_block_cache_bytes",
                "Memory charged to the data store's block cache: blocks, index and filter blocks, \
             memtables",
                stats.block_cache_bytes,
            ),
            (
                "tidemark_storage_block_cache_pinned_bytes",
                "The part of the data store's block cache that cannot be evicted now",
                stats.block_cache_pinned_bytes,
            ),
            (
                "tidemark_storage_sst_bytes",
                "Bytes of the data store's live SST files",
                stats.sst_bytes,
            ),
            (
                "tidemark_storage_memtable_bytes",
                "Bytes in the data store's memtables, active and waiting for a flush",
                stats.memtable_bytes,
            ),
            (
                "tidemark_storage_table_readers_bytes",
                "Bytes of index and filter blocks held by the data store's open table readers",
                stats.table_readers_bytes,
            ),
            (
                "tidemark_storage_pending_compaction_bytes",
                "Bytes the data store's compactions still have to rewrite (estimate)",
                stats.pending_compaction_bytes,
            ),
            (
                "tidemark_storage_running_compactions",
                "Compactions of the data store running now",
                stats.running_compactions,
            ),
            (
                "tidemark_storage_running_flushes",
                "Memtable flushes of the data store running now",
                stats.running_flushes,
            ),
            (
                "tidemark_storage_write_stopped",
                "1 while the data store stops writes (too many memtables or level-0 files, or too \
             much pending compaction)",
                u64::from(stats.write_stopped),
            ),
            (
                "tidemark_storage_delayed_write_rate_bytes",
                "Bytes per second the data store slows writes to (0: not slowed)",
                stats.delayed_write_rate,
            ),
            (
                "tidemark_storage_shared_time_columns",
                "1 while sealed partitions are stored with shared time columns (every node of the \
             cluster reads them)",
                u64::from(stats.shared_time_columns),
            ),
        ],
    )?;
    super::gauges(
        encoder,
        "tidemark_storage_column_family_sst_bytes",
        "Bytes of the data store's live SST files per column family (series: label sets, \
         postings: the label index, chunks: samples and rollups, meta: shard records)",
        stats
            .sst_bytes_by_column_family
            .iter()
            .map(|&(name, bytes)| {
                (
                    ColumnFamilyLabel {
                        column_family: name.to_string(),
                    },
                    i64::try_from(bytes).unwrap_or(i64::MAX),
                )
            }),
    )?;
    counter(
        encoder,
        "tidemark_storage_background_errors",
        "Background errors of the data store (a failed flush or compaction)",
        stats.background_errors,
    )?;
    counter(
        encoder,
        "tidemark_storage_corruptions",
        "Reads that found stored data corrupt and failed instead of answering",
        stats.corruptions,
    )
}

/// Writes what the Raft log's cache and memtables hold.
pub(super) fn encode_raft_log(
    encoder: &mut DescriptorEncoder,
    memory: &MemoryUsage,
) -> Result<(), std::fmt::Error> {
    unsigned_gauges(
        encoder,
        [
            (
                "tidemark_raft_log_memory_budget_bytes",
                "Memory the Raft log's block cache and memtables are bounded by \
             (storage.memory_budget's share)",
                memory.budget_bytes,
            ),
            (
                "tidemark_raft_log_block_cache_bytes",
                "Memory charged to the Raft log's block cache, memtables included",
                memory.cache_bytes,
            ),
            (
                "tidemark_raft_log_memtable_bytes",
                "Bytes in the Raft log's memtables",
                memory.memtable_bytes,
            ),
        ],
    )
}
