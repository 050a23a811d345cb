//! Cardinality limits: how many series the cluster's shards may hold (`limits.series_max`), and
//! how many of one metric name (`limits.series_per_metric_max`). Each shard's leader enforces
//! its share, the limit divided by the newest shard-map version's shard count and rounded up
//! (series are spread evenly by their hash, as Mimir divides a tenant's global limit across
//! ingesters): a new series beyond it is not created and its samples are not written, while
//! the rest of the request is (a 400 that says how many were left out and why, which agents do
//! not retry).
//! Series already held always take samples. The leader decides before it proposes, from its
//! applied state (DESIGN.md, "Determinism"): replicas apply what it proposed.
//!
//! A shard's series are those its registry holds: every series with data still in retention.
//! Counts per metric come from the shard's postings and are cached for
//! [`METRIC_COUNT_TTL`], counting the series admitted meanwhile.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tidemark_storage::SeriesKey;

/// How long a shard's count of one metric's series is trusted before it is read again.
pub const METRIC_COUNT_TTL: Duration = Duration::from_secs(10);

/// Metric names whose counts a shard keeps cached at most (the cache is cleared beyond).
const METRIC_COUNTS_MAX: usize = 100_000;

/// The configured limits and the number of shards they are divided by.
pub struct SeriesLimits {
    series_max: u64,
    per_metric_max: u64,
    /// The shard count of the newest shard-map version, when known.
    shard_count: OnceLock<Box<dyn Fn() -> u32 + Send + Sync>>,
    /// The shard count until then.
    initial_shards: AtomicU32,
}

impl std::fmt::Debug for SeriesLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesLimits")
            .field("series_max", &self.series_max)
            .field("per_metric_max", &self.per_metric_max)
            .field("shards", &self.shards())
            .finish()
    }
}

/// Why a new series was not created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitHit {
    /// The shard holds its share of `limits.series_max`.
    Series,
    /// The shard holds its share of `limits.series_per_metric_max` for the series' name.
    PerMetric,
}

impl SeriesLimits {
    /// Limits of `series_max` and `per_metric_max` series (0: no limit), shared out among
    /// `initial_shards` shards until [`SeriesLimits::follow`] says how many there are.
    pub fn new(series_max: u64, per_metric_max: u64, initial_shards: u32) -> Self {
        SeriesLimits {
            series_max,
            per_metric_max,
            shard_count: OnceLock::new(),
            initial_shards: AtomicU32::new(initial_shards.max(1)),
        }
    }

    /// Shares the limits out among as many shards as `shard_count` says (the newest shard-map
    /// version's, read from the replicated map at each batch).
    pub fn follow(&self, shard_count: impl Fn() -> u32 + Send + Sync + 'static) {
        let _ = self.shard_count.set(Box::new(shard_count));
    }

    fn shards(&self) -> u32 {
        match self.shard_count.get() {
            Some(f) => f(),
            None => self.initial_shards.load(Ordering::Relaxed),
        }
        .max(1)
    }

    /// Whether neither limit is set.
    pub fn is_off(&self) -> bool {
        self.series_max == 0 && self.per_metric_max == 0
    }

    fn share(&self, total: u64) -> u64 {
        if total == 0 {
            return u64::MAX;
        }
        total.div_ceil(u64::from(self.shards()))
    }
}

/// One shard's cached counts of series per metric name.
#[derive(Default)]
pub struct MetricCounts {
    counts: HashMap<String, (u64, Instant)>,
}

/// Admission of the new series of one batch of one shard.
pub struct Admission<'a> {
    limits: &'a SeriesLimits,
    series: u64,
    counts: &'a mut MetricCounts,
    count_of: &'a dyn Fn(&str) -> u64,
    now: Instant,
}

impl<'a> Admission<'a> {
    /// Admission against `limits` for a shard holding `series` series now; `count_of` counts
    /// the shard's series of one metric name (read when the cache has no fresh count).
    pub fn new(
        limits: &'a SeriesLimits,
        series: u64,
        counts: &'a mut MetricCounts,
        count_of: &'a dyn Fn(&str) -> u64,
        now: Instant,
    ) -> Self {
        Admission {
            limits,
            series,
            counts,
            count_of,
            now,
        }
    }

    /// Whether the new series `key` may be created; counts it when it may.
    pub fn admit(&mut self, key: &SeriesKey) -> Result<(), LimitHit> {
        if self.limits.is_off() {
            return Ok(());
        }
        if self.series >= self.limits.share(self.limits.series_max) {
            return Err(LimitHit::Series);
        }
        let name = key.pairs().find(|(n, _)| *n == "__name__").map(|(_, v)| v);
        // (Remote-write refuses series without a name before they get here.)
        if let (Some(name), true) = (name, self.limits.per_metric_max != 0) {
            let max = self.limits.share(self.limits.per_metric_max);
            if self.counts.counts.len() >= METRIC_COUNTS_MAX {
                self.counts.counts.clear();
            }
            let now = self.now;
            let count_of = self.count_of;
            // (Only new series get here: one allocation each is nothing beside creating it.)
            let entry = self
                .counts
                .counts
                .entry(name.to_string())
                .or_insert_with(|| (count_of(name), now));
            if now.duration_since(entry.1) > METRIC_COUNT_TTL {
                *entry = (count_of(name), now);
            }
            if entry.0 >= max {
                return Err(LimitHit::PerMetric);
            }
            entry.0 += 1;
        }
        self.series += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, i: u32) -> SeriesKey {
        SeriesKey::from_sorted_pairs(&[("__name__", name), ("i", &i.to_string())])
    }

    #[test]
    fn a_shard_admits_its_share_of_the_series_limit() {
        let limits = SeriesLimits::new(10, 0, 1);
        limits.follow(|| 4); // a share of 3 each
        let mut counts = MetricCounts::default();
        let count_of = |_: &str| 0;
        let mut a = Admission::new(&limits, 1, &mut counts, &count_of, Instant::now());
        assert_eq!(a.admit(&key("m", 1)), Ok(()));
        assert_eq!(a.admit(&key("m", 2)), Ok(()));
        assert_eq!(a.admit(&key("m", 3)), Err(LimitHit::Series));
    }

    #[test]
    fn the_per_metric_limit_counts_what_the_shard_holds_and_what_it_admits() {
        let limits = SeriesLimits::new(0, 4, 1);
        let mut counts = MetricCounts::default();
        let held = |n: &str| if n == "busy" { 3 } else { 0 };
        let t0 = Instant::now();
        let mut a = Admission::new(&limits, 0, &mut counts, &held, t0);
        assert_eq!(a.admit(&key("busy", 1)), Ok(()));
        assert_eq!(a.admit(&key("busy", 2)), Err(LimitHit::PerMetric));
        for i in 0..4 {
            assert_eq!(a.admit(&key("quiet", i)), Ok(()));
        }
        assert_eq!(a.admit(&key("quiet", 9)), Err(LimitHit::PerMetric));

        // The cached count stands until it is stale; then the shard is asked again (series
        // were deleted meanwhile, say).
        let none = |_: &str| 0;
        let mut a = Admission::new(&limits, 0, &mut counts, &none, t0 + Duration::from_secs(1));
        assert_eq!(a.admit(&key("busy", 3)), Err(LimitHit::PerMetric));
        let later = t0 + METRIC_COUNT_TTL + Duration::from_secs(1);
        let mut a = Admission::new(&limits, 0, &mut counts, &none, later);
        assert_eq!(a.admit(&key("busy", 3)), Ok(()));
    }

    #[test]
    fn no_limits_admit_everything_without_counting() {
        let limits = SeriesLimits::new(0, 0, 1);
        let mut counts = MetricCounts::default();
        let count_of = |_: &str| -> u64 { panic!("no count is needed without limits") };
        let mut a = Admission::new(
            &limits,
            u64::MAX - 1,
            &mut counts,
            &count_of,
            Instant::now(),
        );
        assert_eq!(a.admit(&key("m", 1)), Ok(()));
    }
}
