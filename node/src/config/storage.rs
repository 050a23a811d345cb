//! How the node's stores use memory (`storage:`).

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};
use tidemark_storage::rocks::memory::MEMORY_BUDGET_BYTES_MIN;

/// The stores' memory settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// What the node's two RocksDB instances may hold together in block cache, memtables and
    /// index and filter blocks: three quarters for the data store, one quarter for the Raft
    /// log (default `256MiB`; bytes, or a size such as `1GiB`). The series' heads (label sets,
    /// open chunks, postings of open partitions) are outside it: they grow with the active
    /// series, 0.5 to 0.8 KB each (most of it the open chunks' samples).
    pub memory_budget: ByteSize,
    /// How often the C heap (glibc's malloc, which RocksDB allocates from) is looked at, in
    /// milliseconds; 0 never. glibc keeps what RocksDB frees (memtables after their flush,
    /// write batches) resident; past `malloc_trim_threshold` free, its pages go back to the
    /// kernel (`malloc_trim`). Default 2 s: at 1M series, 10 s left up to 330 MiB freed by
    /// RocksDB resident between two looks.
    pub malloc_trim_interval_ms: u64,
    /// Free bytes the C heap may keep before it is trimmed (default `64MiB`).
    pub malloc_trim_threshold: ByteSize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            memory_budget: ByteSize::mib(256),
            malloc_trim_interval_ms: 2_000,
            malloc_trim_threshold: ByteSize::mib(64),
        }
    }
}

impl StorageConfig {
    /// The smallest `memory_budget`: each store's share at least its minimum.
    pub const MEMORY_BUDGET_BYTES_MIN: u64 = 4 * MEMORY_BUDGET_BYTES_MIN as u64;

    /// The data store's share of the budget.
    pub fn data_budget_bytes(&self) -> usize {
        self.budget_bytes() - self.raft_log_budget_bytes()
    }

    /// The Raft log's share of the budget.
    pub fn raft_log_budget_bytes(&self) -> usize {
        self.budget_bytes() / 4
    }

    fn budget_bytes(&self) -> usize {
        usize::try_from(self.memory_budget.as_u64()).unwrap_or(usize::MAX)
    }

    /// Rejects a budget too small for both stores.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.memory_budget.as_u64() >= Self::MEMORY_BUDGET_BYTES_MIN,
            "storage.memory_budget must be at least {} (is {})",
            ByteSize(Self::MEMORY_BUDGET_BYTES_MIN),
            self.memory_budget
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_bytes_or_with_units_and_split_three_to_one() {
        let c: StorageConfig = serde_yaml::from_str("memory_budget: 1GiB").unwrap();
        assert_eq!(c.memory_budget.as_u64(), 1 << 30);
        assert_eq!(c.data_budget_bytes(), 768 << 20);
        assert_eq!(c.raft_log_budget_bytes(), 256 << 20);
        let c: StorageConfig = serde_yaml::from_str("memory_budget: 67108864").unwrap();
        assert_eq!(c.memory_budget.as_u64(), 64 << 20);
        assert!(c.validate().is_ok());
        let c: StorageConfig = serde_yaml::from_str("memory_budget: 16MiB").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("storage.memory_budget must be at least 32.0 MiB"),
            "{err}"
        );
        assert!(serde_yaml::from_str::<StorageConfig>("memory_budget: lots").is_err());
        assert!(serde_yaml::from_str::<StorageConfig>("memory: 1GiB").is_err());
        let c: StorageConfig =
            serde_yaml::from_str("{malloc_trim_interval_ms: 0, malloc_trim_threshold: 8MiB}")
                .unwrap();
        assert_eq!(c.malloc_trim_interval_ms, 0);
        assert_eq!(c.malloc_trim_threshold.as_u64(), 8 << 20);
        assert_eq!(c.memory_budget, StorageConfig::default().memory_budget);
    }
}
