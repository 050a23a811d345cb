//! Engine configuration. Every field is a bound or a size with its unit in the name.

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// How a storage engine partitions and chunks its data.
///
/// Both values shape the persisted layout (partition keys, chunk cuts), so every replica of a
/// shard must use the same options (determinism: they are cluster settings, not node tuning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// Width of a time partition in milliseconds (default 2 h). Postings, chunks, sealing and
    /// expiry all work per partition.
    pub partition_ms: i64,
    /// Samples after which a head chunk is cut and a new one started (default 120).
    pub chunk_samples_max: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            partition_ms: 2 * HOUR_MS,
            chunk_samples_max: 120,
        }
    }
}

impl EngineOptions {
    /// The start of the partition holding timestamp `t_ms`.
    pub fn partition_of(&self, t_ms: i64) -> i64 {
        let width = self.partition_ms.max(1);
        t_ms.div_euclid(width).saturating_mul(width)
    }

    /// The exclusive end of the partition starting at `start_ms`.
    pub fn partition_end(&self, start_ms: i64) -> i64 {
        start_ms.saturating_add(self.partition_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_floor_negative_times() {
        let o = EngineOptions {
            partition_ms: 10,
            chunk_samples_max: 4,
        };
        assert_eq!(o.partition_of(0), 0);
        assert_eq!(o.partition_of(9), 0);
        assert_eq!(o.partition_of(10), 10);
        assert_eq!(o.partition_of(-1), -10);
        assert_eq!(o.partition_end(10), 20);
    }
}
