//! Deterministic synthetic scrape data: which series exist, how their values move and when each
//! target is scraped. Pure logic, no I/O: [`Dataset::generate`] hands samples to a callback in time
//! order (step by step, targets in scrape-phase order), so a replay is "as if scraped live".
//!
//! Workloads: [`fleet`] (node-exporter hosts each running an HTTP application with classic
//! request histograms: the benchmark's default ingest workload), [`node_exporter`] (hosts x
//! node-exporter metric families: the benchmark's earlier ingest workload and the storage codec
//! example's data), [`pods`] (pod/container-style unique label sets: the cardinality benchmark)
//! and [`node_exporter_lite`] (a lighter cousin of `node_exporter` with its own value models: the
//! PromQL evaluation example's data). Timestamps of one target are shared by all its series, with
//! a per-target phase inside the interval (and, but for the lite workload, a few ms of jitter per
//! scrape), like Prometheus' scrape loop.
//!
//! A workload hands every series' labels (sorted by name) to a callback as it creates the series,
//! in series order, rather than keeping them: a caller keeps them in the form it needs (encoded
//! for remote write, a storage label set, a family name), and a million series need not be held
//! as strings twice.

pub mod catalog;
pub mod fleet;
pub mod histogram;
pub mod information;
pub mod node_exporter;
pub mod node_exporter_lite;
pub mod pods;

pub use fleet::fleet;
pub use information::Information;
pub use node_exporter::node_exporter;
pub use node_exporter_lite::{LiteDataset, node_exporter_lite};
pub use pods::pods;

use crate::rng::Rng;
use histogram::RequestHistogram;

/// Labels of one series: `(name, value)` pairs sorted by name.
pub type SeriesLabels = [(String, String)];

/// How one series' value evolves from scrape to scrape.
#[derive(Clone, Debug)]
pub(crate) enum Model {
    /// A monotonic counter growing at about `rate_per_s`, reset to near zero when its target
    /// restarts; `decimals` digits after the point (0: integer with stochastic rounding, so slow
    /// counters such as error counts mostly stay flat).
    Counter {
        value: f64,
        rate_per_s: f64,
        noise: f64,
        decimals: u8,
    },
    /// A mean-reverting random walk, clamped to `[min, max]` and emitted rounded to `quantum`.
    Gauge {
        value: f64,
        mean: f64,
        sd_per_step: f64,
        min: f64,
        max: f64,
        quantum: f64,
    },
    /// A value that never changes (sizes, limits, info metrics).
    Const { value: f64 },
    /// The target's (re)boot time in seconds, which changes when the target restarts.
    BootTime,
    /// The scrape time in seconds with 3 decimals (`node_time_seconds`).
    Clock,
    /// The first series of a group of correlated counters, a classic request histogram (see
    /// [`histogram`]): advances the whole group by one scrape and emits the group's first value.
    /// The group's other series follow it directly, each a [`Model::HistogramPart`].
    Histogram(Box<RequestHistogram>),
    /// Value number `part` of the histogram group advanced last in this target's scrape.
    HistogramPart { part: u8 },
}

/// One scrape target: a contiguous range of series sharing timestamps.
#[derive(Clone, Debug)]
struct Target {
    first_series: u32,
    series_count: u32,
    /// Offset of this target's scrapes inside the interval.
    phase_ms: i64,
    boot_time_s: f64,
    rng: Rng,
}

/// A generated workload: its series' value models and scrape schedule.
pub struct Dataset {
    /// The workload's name (`node_exporter`, `pods`).
    pub kind: &'static str,
    /// The seed it was generated from.
    pub seed: u64,
    models: Vec<Model>,
    targets: Vec<Target>,
    /// First scrape step's nominal time (phase 0) in ms.
    pub start_ms: i64,
    /// The rounded "now" the data ends at (every sample is at or before `end_ms + jitter_ms_max`).
    pub end_ms: i64,
    /// Time between two scrapes of a target.
    pub interval_ms: i64,
    /// Scrapes of every target.
    pub steps: u32,
    /// Bound of a scrape's jitter around its target's phase, either way.
    pub jitter_ms_max: i64,
    /// Probability that a target restarts (counters reset) at a given scrape.
    pub reset_probability: f64,
    /// Total samples [`Dataset::generate`] emits.
    pub samples_total: u64,
    /// Uncompressed bytes of all label sets (names and values), a measure of label cardinality
    /// cost.
    pub label_bytes_total: u64,
}

/// Collects series while a workload is being built, handing their labels to `on_series`.
pub(crate) struct Builder<'a> {
    seed: u64,
    models: Vec<Model>,
    targets: Vec<Target>,
    label_bytes_total: u64,
    series_max: usize,
    on_series: &'a mut dyn FnMut(&SeriesLabels),
}

impl<'a> Builder<'a> {
    pub(crate) fn new(
        seed: u64,
        series_max: usize,
        on_series: &'a mut dyn FnMut(&SeriesLabels),
    ) -> Self {
        Builder {
            seed,
            models: Vec::with_capacity(series_max),
            targets: Vec::new(),
            label_bytes_total: 0,
            series_max,
            on_series,
        }
    }

    /// True once `series_max` series exist: builders stop adding.
    pub(crate) fn full(&self) -> bool {
        self.models.len() >= self.series_max
    }

    /// Series that can still be added: a group of correlated series is added whole or not at all.
    pub(crate) fn remaining(&self) -> usize {
        self.series_max.saturating_sub(self.models.len())
    }

    /// Opens a new target scraped at `phase_ms` into the interval; series added next belong to it.
    pub(crate) fn begin_target(&mut self, phase_ms: i64, boot_time_s: f64) {
        let index = self.targets.len() as u64;
        self.targets.push(Target {
            first_series: self.models.len() as u32,
            series_count: 0,
            phase_ms,
            boot_time_s,
            rng: Rng::new(self.seed, 1_000_000 + index),
        });
    }

    /// Adds a series (labels in any order; they are sorted by name) to the current target,
    /// unless the builder is full.
    pub(crate) fn series(&mut self, mut labels: Vec<(String, String)>, model: Model) {
        if self.full() {
            return;
        }
        labels.sort();
        self.label_bytes_total += labels
            .iter()
            .map(|(n, v)| (n.len() + v.len()) as u64)
            .sum::<u64>();
        (self.on_series)(&labels);
        self.models.push(model);
        self.targets
            .last_mut()
            .expect("begin_target before series")
            .series_count += 1;
    }

    /// Finishes the dataset: `steps` scrapes every `interval_ms`, ending at `end_ms`.
    pub(crate) fn finish(
        mut self,
        kind: &'static str,
        end_ms: i64,
        interval_ms: i64,
        steps: u32,
        reset_probability: f64,
    ) -> Dataset {
        self.targets.retain(|t| t.series_count > 0);
        // Scrape order inside a step: by phase, so the replay is in time order.
        self.targets.sort_by_key(|t| (t.phase_ms, t.first_series));
        let samples_total = self.models.len() as u64 * u64::from(steps);
        Dataset {
            kind,
            seed: self.seed,
            models: self.models,
            targets: self.targets,
            start_ms: end_ms - i64::from(steps) * interval_ms,
            end_ms,
            interval_ms,
            steps,
            jitter_ms_max: 4,
            reset_probability,
            samples_total,
            label_bytes_total: self.label_bytes_total,
        }
    }
}

/// The interval in ms and the number of scrapes (at least one) that cover `duration_s` seconds
/// at `interval_s`.
pub(crate) fn schedule(duration_s: f64, interval_s: u32) -> (i64, u32) {
    let interval_ms = i64::from(interval_s) * 1000;
    let steps = (duration_s / f64::from(interval_s)).round().max(1.0) as u32;
    (interval_ms, steps)
}

/// `value` rounded to `decimals` digits after the point.
pub(crate) fn round_to(value: f64, decimals: u8) -> f64 {
    let scale = 10f64.powi(i32::from(decimals));
    (value * scale).round() / scale
}

/// A phase inside the interval for target `index`, spread like Prometheus' per-target offsets.
pub(crate) fn phase_for(seed: u64, index: u64, interval_ms: i64) -> i64 {
    let mut rng = Rng::new(seed, 2_000_000 + index);
    rng.range_i64(10, interval_ms - 10)
}

impl Dataset {
    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.models.len()
    }

    /// Calls `emit(series, timestamp_ms, value)` for every sample in time order. Consumes the
    /// value state: a dataset is generated once.
    pub fn generate(&mut self, mut emit: impl FnMut(u32, i64, f64)) {
        for step in 0..self.steps {
            self.scrape(step, &mut emit);
        }
    }

    /// Scrape number `step` of every target, in time order: `emit(series, timestamp_ms, value)`.
    /// Steps must come in order, each once ([`Dataset::generate`] does that).
    pub fn scrape(&mut self, step: u32, mut emit: impl FnMut(u32, i64, f64)) {
        let interval_s = self.interval_ms as f64 / 1000.0;
        let nominal = self.start_ms + i64::from(step) * self.interval_ms;
        let mut group = Vec::new();
        for target in &mut self.targets {
            let rng = &mut target.rng;
            let jitter = rng.range_i64(-self.jitter_ms_max, self.jitter_ms_max);
            let ts = nominal + target.phase_ms + jitter;
            let restarted = step > 0 && rng.chance(self.reset_probability);
            if restarted {
                target.boot_time_s = (ts / 1000) as f64 - rng.range_i64(5, 60) as f64;
            }
            let first = target.first_series as usize;
            let models = &mut self.models[first..first + target.series_count as usize];
            for (offset, model) in models.iter_mut().enumerate() {
                let value = next_value(
                    model,
                    rng,
                    interval_s,
                    restarted,
                    target.boot_time_s,
                    ts,
                    &mut group,
                );
                emit((first + offset) as u32, ts, value);
            }
        }
    }
}

/// Advances `model` by one scrape and returns the value to emit. `group` holds the values of the
/// histogram group advanced last in this scrape, for the parts that follow its first series.
fn next_value(
    model: &mut Model,
    rng: &mut Rng,
    interval_s: f64,
    restarted: bool,
    boot_time_s: f64,
    ts_ms: i64,
    group: &mut Vec<f64>,
) -> f64 {
    match model {
        Model::Counter {
            value,
            rate_per_s,
            noise,
            decimals,
        } => {
            let expected = *rate_per_s * interval_s * (1.0 + *noise * rng.normal()).max(0.0);
            if restarted {
                *value = 0.0;
            }
            let increment = if *decimals == 0 {
                (expected + rng.unit()).floor()
            } else {
                round_to(expected, *decimals)
            };
            *value = round_to(*value + increment, *decimals);
            *value
        }
        Model::Gauge {
            value,
            mean,
            sd_per_step,
            min,
            max,
            quantum,
        } => {
            *value += *sd_per_step * rng.normal() + 0.05 * (*mean - *value);
            *value = value.clamp(*min, *max);
            let q = (*value / *quantum).round() * *quantum;
            // Re-round so that e.g. 0.01 quanta print as 1.23, not 1.2300000000000002.
            round_to(q, decimals_of(*quantum))
        }
        Model::Const { value } => *value,
        Model::BootTime => boot_time_s,
        Model::Clock => round_to(ts_ms as f64 / 1000.0, 3),
        Model::Histogram(histogram) => {
            histogram.scrape(rng, interval_s, restarted, group);
            group[0]
        }
        Model::HistogramPart { part } => *group
            .get(usize::from(*part))
            .expect("a histogram part follows its group's first series"),
    }
}

/// Number of decimals a quantum such as 0.01 implies (0 for quanta >= 1).
fn decimals_of(quantum: f64) -> u8 {
    let mut d = 0u8;
    let mut q = quantum;
    while q < 0.999_999 && d < 9 {
        q *= 10.0;
        d += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_helpers() {
        assert_eq!(round_to(1.23456, 2), 1.23);
        assert_eq!(decimals_of(0.01), 2);
        assert_eq!(decimals_of(4096.0), 0);
    }

    #[test]
    fn counters_never_decrease_without_restart() {
        let mut rng = Rng::new(3, 3);
        let mut m = Model::Counter {
            value: 100.0,
            rate_per_s: 0.01,
            noise: 0.5,
            decimals: 0,
        };
        let mut last = 0.0;
        for _ in 0..1000 {
            let v = next_value(&mut m, &mut rng, 15.0, false, 0.0, 0, &mut Vec::new());
            assert!(v >= last);
            last = v;
        }
        let v = next_value(&mut m, &mut rng, 15.0, true, 0.0, 0, &mut Vec::new());
        assert!(v < last, "a restart resets the counter");
    }
}
