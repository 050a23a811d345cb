//! The `Engine` implementation of every backend: each method passes on to the `Sharded`
//! the backend wraps.

/// Implements [`crate::Engine`] for a wrapper struct holding a `Sharded` in field `$field`.
macro_rules! delegate_engine {
    ($ty:ty, $field:ident) => {
        impl $crate::engine::Engine for $ty {
            fn apply(
                &self,
                shard: $crate::ShardId,
                index: u64,
                cmd: &$crate::Command,
            ) -> $crate::Result<()> {
                self.$field.apply(shard, index, cmd)
            }
            fn applied_index(&self, shard: $crate::ShardId) -> u64 {
                self.$field.applied_index(shard)
            }
            fn history_mark(&self, shard: $crate::ShardId) -> Option<$crate::history::HistoryMark> {
                Some(self.$field.history_mark(shard))
            }
            fn flush(&self, shard: $crate::ShardId, sm_meta: &[u8]) -> $crate::Result<u64> {
                self.$field.flush(shard, sm_meta)
            }
            fn prepare_flush(
                &self,
                shard: $crate::ShardId,
                earlier: Option<$crate::PreparedFlush>,
            ) -> $crate::Result<$crate::PreparedFlush> {
                self.$field.prepare_flush(shard, earlier)
            }
            fn flush_prepared(
                &self,
                shard: $crate::ShardId,
                prepared: $crate::PreparedFlush,
                sm_meta: &[u8],
                late_seals: $crate::LateSeals,
            ) -> $crate::Result<$crate::Flushed> {
                self.$field
                    .flush_prepared(shard, prepared, sm_meta, late_seals)
            }
            fn flushed_state(
                &self,
                shard: $crate::ShardId,
            ) -> $crate::Result<Option<(u64, Vec<u8>)>> {
                self.$field.flushed_state(shard)
            }
            fn series_id_of_key(
                &self,
                shard: $crate::ShardId,
                key: &$crate::SeriesKey,
            ) -> Option<$crate::SeriesId> {
                self.$field.series_id_of_key(shard, key)
            }
            fn check_append(
                &self,
                shard: $crate::ShardId,
                series: Option<$crate::SeriesId>,
                samples: &[$crate::Sample],
                ooo_window_ms: i64,
                backfill_from_ms: i64,
            ) -> $crate::AppendCheck {
                self.$field
                    .check_append(shard, series, samples, ooo_window_ms, backfill_from_ms)
            }
            fn check_writes(
                &self,
                shard: $crate::ShardId,
                writes: &[(&$crate::SeriesKey, &[$crate::Sample])],
                ooo_window_ms: i64,
                backfill_from_ms: i64,
            ) -> Vec<(Option<$crate::SeriesId>, $crate::AppendCheck)> {
                self.$field
                    .check_writes(shard, writes, ooo_window_ms, backfill_from_ms)
            }
            fn check_histograms(
                &self,
                shard: $crate::ShardId,
                writes: &[(&$crate::SeriesKey, &[$crate::histogram::HistogramSample])],
                ooo_window_ms: i64,
            ) -> Vec<(Option<$crate::SeriesId>, $crate::HistogramCheck)> {
                self.$field.check_histograms(shard, writes, ooo_window_ms)
            }
            fn select(
                &self,
                shard: $crate::ShardId,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
            ) -> $crate::Result<$crate::SeriesIter<'_>> {
                self.$field.select(shard, matchers, mint_ms, maxt_ms)
            }
            fn series(
                &self,
                shard: $crate::ShardId,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
            ) -> $crate::Result<Vec<$crate::Labels>> {
                self.$field
                    .series(shard, matchers, mint_ms, maxt_ms, usize::MAX)
            }
            fn series_limited(
                &self,
                shard: $crate::ShardId,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::Labels>> {
                self.$field.series(shard, matchers, mint_ms, maxt_ms, limit)
            }

            fn matching_series(
                &self,
                shard: $crate::ShardId,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
            ) -> $crate::Result<Vec<$crate::SeriesId>> {
                self.$field
                    .matching_series(shard, matchers, mint_ms, maxt_ms)
            }
            fn label_names(
                &self,
                shard: $crate::ShardId,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
            ) -> $crate::Result<std::collections::BTreeSet<String>> {
                self.$field.label_names(shard, matchers, mint_ms, maxt_ms)
            }
            fn label_values(
                &self,
                shard: $crate::ShardId,
                name: &str,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
            ) -> $crate::Result<std::collections::BTreeSet<String>> {
                self.$field
                    .label_values(shard, name, matchers, mint_ms, maxt_ms)
            }
            fn series_count(&self, shard: $crate::ShardId) -> u64 {
                self.$field.series_count(shard)
            }
            fn stats(&self, shard: $crate::ShardId) -> $crate::ShardStats {
                self.$field.stats(shard)
            }
            fn sealable_partitions(&self, shard: $crate::ShardId, ooo_window_ms: i64) -> Vec<i64> {
                self.$field.sealable_partitions(shard, ooo_window_ms)
            }
            fn partitions(
                &self,
                shard: $crate::ShardId,
            ) -> $crate::Result<Vec<$crate::PartitionInfo>> {
                self.$field.partitions(shard)
            }
            fn partition_series(
                &self,
                shard: $crate::ShardId,
                tier: $crate::Tier,
                partition_start_ms: i64,
                matchers: &[$crate::Matcher],
            ) -> $crate::Result<Vec<$crate::SeriesId>> {
                self.$field
                    .partition_series(shard, tier, partition_start_ms, matchers)
            }
            fn select_windows(
                &self,
                shard: $crate::ShardId,
                tier: $crate::Tier,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
            ) -> $crate::Result<Vec<$crate::SeriesWindows>> {
                self.$field
                    .select_windows(shard, tier, matchers, mint_ms, maxt_ms)
            }
            fn select_rolled(
                &self,
                shard: $crate::ShardId,
                matchers: &[$crate::Matcher],
                mint_ms: i64,
                maxt_ms: i64,
                choice: $crate::TierChoice,
            ) -> $crate::Result<Vec<$crate::RolledSeries>> {
                self.$field
                    .select_rolled(shard, matchers, mint_ms, maxt_ms, choice)
            }
            fn pending_rollups(&self, shard: $crate::ShardId) -> usize {
                self.$field.pending_rollups(shard)
            }
            fn rolled_units(&self, shard: $crate::ShardId, tier: $crate::Tier) -> Vec<i64> {
                self.$field.rolled_units(shard, tier)
            }
            fn closed_partitions(&self, shard: $crate::ShardId, tier: $crate::Tier) -> Vec<i64> {
                self.$field.closed_partitions(shard, tier)
            }
            fn digest(&self, shard: $crate::ShardId) -> $crate::Result<u64> {
                self.$field.digest(shard)
            }
            fn set_shared_time_columns(&self, on: bool) {
                $crate::store::Store::set_shared_time_columns(&self.$field.store, on)
            }
            fn compact(&self) -> $crate::Result<()> {
                self.$field.compact()
            }
            fn store_stats(&self) -> $crate::StoreStats {
                self.$field.store_stats()
            }
            fn export_shard(
                &self,
                shard: $crate::ShardId,
                out: &mut dyn std::io::Write,
            ) -> $crate::Result<Option<(u64, Vec<u8>)>> {
                self.export_shard_impl(shard, out)
            }
            fn import_shard(
                &self,
                shard: $crate::ShardId,
                input: &mut dyn std::io::Read,
            ) -> $crate::Result<(u64, Vec<u8>)> {
                self.import_shard_impl(shard, input)
            }
            fn drop_shard(&self, shard: $crate::ShardId) -> $crate::Result<()> {
                self.drop_shard_impl(shard)
            }
        }
    };
}
pub(crate) use delegate_engine;
