//! One memory budget for a RocksDB instance: its block cache, memtables and index and filter
//! blocks all come out of it, so that what RocksDB holds is a setting rather than a sum of
//! per-column-family defaults (a 32 MiB cache per table factory, two 64 MiB memtables per
//! column family, table readers outside any bound).
//!
//! One LRU cache of the budget's size holds data blocks and, charged to it, index and filter
//! blocks (`cache_index_and_filter_blocks`, level 0's pinned) and memtables (a write buffer
//! manager of half the budget that costs them to the cache; once the mutable memtables pass
//! 7/8 of that half, RocksDB flushes a column family's, the one with the oldest data first).
//! The budget is a target, not a hard bound: the cache is not strict (a read that needs a
//! block gets it even when the budget is spent) and writes are not stalled on it; pinned
//! blocks and memtables push cached blocks out first.

use rocksdb::{BlockBasedOptions, Cache, Options, WriteBufferManager};

/// The smallest budget an instance is given: below it memtables flush after a few hundred
/// kilobytes.
pub const MEMORY_BUDGET_BYTES_MIN: usize = 8 << 20;

/// A RocksDB instance's memory budget, applied to its options at open.
#[derive(Clone)]
pub struct MemoryBudget {
    bytes: usize,
    cache: Cache,
    write_buffers: WriteBufferManager,
}

/// What a [`MemoryBudget`] holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// The budget.
    pub budget_bytes: u64,
    /// Everything charged to the cache: cached blocks, memtables, index and filter blocks.
    pub cache_bytes: u64,
    /// The part of it that cannot be evicted now (memtables, pinned and in-use blocks).
    pub pinned_bytes: u64,
    /// Memtables (active and waiting for a flush), within `cache_bytes`.
    pub memtable_bytes: u64,
}

impl MemoryBudget {
    /// A budget of `bytes` (at least [`MEMORY_BUDGET_BYTES_MIN`]).
    pub fn new(bytes: usize) -> Self {
        let bytes = bytes.max(MEMORY_BUDGET_BYTES_MIN);
        let cache = Cache::new_lru_cache(bytes);
        // No stall: writes are slowed by RocksDB's own level-0 and memtable-count triggers,
        // and the Raft log's writes must not wait on the data store's flushes.
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            bytes / 2,
            false,
            cache.clone(),
        );
        MemoryBudget {
            bytes,
            cache,
            write_buffers,
        }
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The largest memtable of one column family: half of the memtables' half, at most
    /// RocksDB's default of 64 MiB. Memtables of an eighth of the budget cost a third of the
    /// ingest rate in flushes and level-0 compactions (LZ4 at 6% of the CPU in a profile of
    /// the cardinality benchmark, 2% with RocksDB's defaults).
    fn write_buffer_bytes(&self) -> usize {
        (self.bytes / 4).min(64 << 20)
    }

    /// Sets the instance-wide options (`opts` of `DB::open*`). Also caps the write-ahead log at
    /// the budget: a column family written rarely (series, metadata) otherwise keeps
    /// every WAL file since its last flush on disk (64 MiB files, seen in a one-hour soak).
    pub fn apply_to_db(&self, opts: &mut Options) {
        opts.set_write_buffer_manager(&self.write_buffers);
        opts.set_max_total_wal_size(self.bytes as u64);
        self.apply_to_cf(opts);
    }

    /// Sets the options of one column family.
    pub fn apply_to_cf(&self, opts: &mut Options) {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        opts.set_block_based_table_factory(&table);
        opts.set_write_buffer_size(self.write_buffer_bytes());
    }

    /// What the budget holds now.
    pub fn usage(&self) -> MemoryUsage {
        MemoryUsage {
            budget_bytes: self.bytes as u64,
            cache_bytes: self.cache.get_usage() as u64,
            pinned_bytes: self.cache.get_pinned_usage() as u64,
            memtable_bytes: self.write_buffers.get_usage() as u64,
        }
    }
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtables_and_blocks_are_charged_to_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(16 << 20);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        budget.apply_to_db(&mut opts);
        let db = rocksdb::DB::open(&opts, dir.path()).unwrap();
        let before = budget.usage();
        assert_eq!(before.budget_bytes, 16 << 20);
        // 40 MiB through a 16 MiB budget: memtables flush instead of growing past it.
        let value = vec![7u8; 4096];
        for i in 0u32..10_240 {
            db.put(i.to_be_bytes(), &value).unwrap();
        }
        let written = budget.usage();
        assert!(written.memtable_bytes > 0, "{written:?}");
        assert!(written.memtable_bytes <= 16 << 20, "{written:?}");
        assert!(written.cache_bytes >= written.memtable_bytes, "{written:?}");
        db.flush().unwrap();
        // Reads go through the shared cache and stay within the budget.
        for i in 0u32..10_240 {
            assert_eq!(
                db.get(i.to_be_bytes()).unwrap().as_deref(),
                Some(&value[..])
            );
        }
        let read = budget.usage();
        assert!(read.cache_bytes > read.memtable_bytes, "{read:?}");
        assert!(read.cache_bytes <= (16 << 20) + (1 << 20), "{read:?}");
    }

    #[test]
    fn a_budget_below_the_minimum_is_raised_to_it() {
        assert_eq!(MemoryBudget::new(1).bytes(), MEMORY_BUDGET_BYTES_MIN);
    }
}
