//! A lighter cousin of [`super::node_exporter`]: the same metric names and host labels (a tmpfs
//! mount in place of the data disk), about as many series per host, but values drawn uniformly
//! from one random stream shared by all hosts, no timestamp jitter, and hosts scraped in the
//! order they were created. The PromQL evaluation example (`query/examples/eval_bench`) times
//! its queries on it; it keeps its own models so that those timings stay comparable.

use super::SeriesLabels;
use super::catalog::{self, GIB, host_labels};
use crate::rng::Rng;

/// The last series of a host: load averages and process gauges, then kernel counters.
const MISC_METRICS: [&str; 12] = [
    "node_load1",
    "node_load5",
    "node_load15",
    "node_procs_running",
    "node_procs_blocked",
    "node_entropy_available_bits",
    "node_filefd_allocated",
    "node_sockstat_TCP_inuse",
    "node_netstat_Tcp_CurrEstab",
    "node_context_switches_total",
    "node_intr_total",
    "node_forks_total",
];

/// Per disk metric (in [`catalog::DISK_METRICS`] order): its rate as a multiple of the disk's IOPS.
const DISK_RATE_PER_IOPS: [f64; 7] = [0.4, 0.6, 6e3, 5e3, 1e-4, 1e-4, 3e-4];

/// How a series' value moves from one scrape to the next.
#[derive(Clone, Copy)]
enum LiteModel {
    /// A counter growing by about `rate_per_s` with relative noise; reset when its host restarts.
    Counter { value: f64, rate_per_s: f64 },
    /// A mean-reverting random walk, never below zero.
    Gauge { value: f64, mean: f64, sd: f64 },
    /// A constant (sizes, limits).
    Const(f64),
}

impl LiteModel {
    /// The value at the next scrape, `interval_s` after the previous one.
    fn next(&mut self, rng: &mut Rng, interval_s: f64, restarted: bool) -> f64 {
        match self {
            LiteModel::Counter { value, rate_per_s } => {
                if restarted {
                    *value = 0.0;
                }
                *value += (*rate_per_s * interval_s * rng.range_f64(0.7, 1.3)).round();
                *value
            }
            LiteModel::Gauge { value, mean, sd } => {
                *value += *sd * (rng.unit() - 0.5) * 3.4 + 0.05 * (*mean - *value);
                *value = value.max(0.0);
                (*value * 100.0).round() / 100.0
            }
            LiteModel::Const(v) => *v,
        }
    }
}

/// One scrape target: its series are consecutive and share timestamps.
struct Host {
    first_series: usize,
    series_count: usize,
    phase_ms: i64,
}

/// Series (value models) grouped by host, and the random stream their values come from.
pub struct LiteDataset {
    models: Vec<LiteModel>,
    hosts: Vec<Host>,
    interval_ms: i64,
    values: Rng,
}

/// `series` series (the last host may be cut short) scraped every `interval_ms`, the series from
/// `seed` and their values from `values_seed`. Every series' labels go to `on_series` as it is
/// created.
pub fn node_exporter_lite(
    series: usize,
    interval_ms: i64,
    seed: u64,
    values_seed: u64,
    mut on_series: impl FnMut(&SeriesLabels),
) -> LiteDataset {
    let mut b = LiteBuilder {
        models: Vec::with_capacity(series),
        hosts: Vec::new(),
        series_max: series,
        on_series: &mut on_series,
    };
    let mut rng = Rng::single_stream(seed);
    let mut host = 0;
    while b.models.len() < series {
        let phase_ms = (rng.unit() * interval_ms as f64) as i64;
        b.hosts.push(Host {
            first_series: b.models.len(),
            series_count: 0,
            phase_ms,
        });
        add_host(&mut b, &mut rng, host);
        host += 1;
    }
    LiteDataset {
        models: b.models,
        hosts: b.hosts,
        interval_ms,
        values: Rng::single_stream(values_seed),
    }
}

/// Collects series while the dataset is being built.
struct LiteBuilder<'a> {
    models: Vec<LiteModel>,
    hosts: Vec<Host>,
    series_max: usize,
    on_series: &'a mut dyn FnMut(&SeriesLabels),
}

impl LiteBuilder<'_> {
    /// Adds metric `name` with `extra` labels of `host` to the current host, unless full.
    fn add(&mut self, host: u64, name: &str, extra: &[(&str, &str)], model: LiteModel) {
        if self.models.len() >= self.series_max {
            return;
        }
        let mut labels = host_labels(host, name, extra);
        labels.sort();
        (self.on_series)(&labels);
        self.models.push(model);
        self.hosts.last_mut().expect("a host").series_count += 1;
    }
}

fn add_host(b: &mut LiteBuilder, rng: &mut Rng, host: u64) {
    let uptime_s = rng.range_f64(3_600.0, 60.0 * 86_400.0);
    let counter = |rng: &mut Rng, rate: f64| LiteModel::Counter {
        value: (rate * uptime_s * rng.range_f64(0.8, 1.2)).round(),
        rate_per_s: rate,
    };
    let gauge = |mean: f64, sd: f64| LiteModel::Gauge {
        value: mean,
        mean,
        sd,
    };
    let cpus = if rng.unit() < 0.5 { 4 } else { 8 };
    let busy = rng.range_f64(0.3, 2.0);
    for cpu in 0..cpus {
        let cpu = cpu.to_string();
        for (mode, share) in catalog::CPU_MODES {
            let m = counter(rng, share * busy * 100.0);
            b.add(
                host,
                "node_cpu_seconds_total",
                &[("cpu", &cpu), ("mode", mode)],
                m,
            );
        }
    }
    let mem_total = rng.range_f64(8.0, 256.0).round() * GIB;
    for (i, name) in catalog::MEMORY_METRICS.iter().enumerate() {
        let model = match i {
            0 => LiteModel::Const(mem_total),
            7 | 8 => LiteModel::Const(0.0),
            _ => gauge(mem_total * rng.range_f64(0.05, 0.5), mem_total * 1e-3),
        };
        b.add(host, name, &[], model);
    }
    for (mountpoint, device, fstype) in catalog::TMPFS_MOUNTS {
        let size = rng.range_f64(1.0, 2048.0).round() * GIB;
        let labels = [
            ("mountpoint", mountpoint),
            ("device", device),
            ("fstype", fstype),
        ];
        for (i, name) in catalog::FILESYSTEM_METRICS.iter().enumerate() {
            let model = match i {
                0 => LiteModel::Const(size),
                3 => LiteModel::Const(size / 16384.0),
                5 => LiteModel::Const(0.0),
                _ => gauge(size * rng.range_f64(0.1, 0.9), size * 1e-5),
            };
            b.add(host, name, &labels, model);
        }
    }
    for device in catalog::NET_DEVICES {
        let rate = rng.range_f64(1e4, 5e7);
        for (i, name) in catalog::NETWORK_METRICS.iter().enumerate() {
            let m = counter(rng, rate / 10f64.powi(i as i32));
            b.add(host, name, &[("device", device)], m);
        }
    }
    for device in catalog::DISKS {
        let iops = rng.range_f64(1.0, 2000.0);
        for (name, per_iops) in catalog::DISK_METRICS.iter().zip(DISK_RATE_PER_IOPS) {
            let m = counter(rng, iops * per_iops);
            b.add(host, name, &[("device", device)], m);
        }
    }
    for name in MISC_METRICS {
        let m = if name.ends_with("_total") {
            let rate = rng.range_f64(1.0, 5_000.0) * busy;
            counter(rng, rate)
        } else {
            gauge(f64::from(cpus) * busy * 0.3, 0.05)
        };
        b.add(host, name, &[], m);
    }
}

impl LiteDataset {
    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.models.len()
    }

    /// Scrape number `step` of every host (the first scrape at `start_ms` plus the host's phase),
    /// hosts in creation order: `emit(series, timestamp_ms, value)`. Steps must come in order,
    /// each once.
    pub fn scrape(&mut self, start_ms: i64, step: u32, mut emit: impl FnMut(u32, i64, f64)) {
        let interval_s = self.interval_ms as f64 / 1000.0;
        for host in &self.hosts {
            let t = start_ms + i64::from(step) * self.interval_ms + host.phase_ms;
            // About one restart (counter reset) per host every two days.
            let restarted = self.values.unit() < self.interval_ms as f64 / (2.0 * 86_400_000.0);
            let series = host.first_series..host.first_series + host.series_count;
            for (s, model) in series.clone().zip(&mut self.models[series]) {
                let v = model.next(&mut self.values, interval_s, restarted);
                emit(s as u32, t, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_per_host_and_sorted_labels() {
        let mut labels = Vec::new();
        let ds = node_exporter_lite(1_000, 15_000, 42, 7, |l| labels.push(l.to_vec()));
        assert_eq!(ds.series_count(), 1_000);
        assert_eq!(labels.len(), 1_000);
        assert!(labels.iter().all(|l| l.is_sorted()));
        // 4 or 8 CPUs: 104 or 136 series a host, the last host cut short.
        assert!(
            ds.hosts[..ds.hosts.len() - 1]
                .iter()
                .all(|h| [104, 136].contains(&h.series_count))
        );
    }

    #[test]
    fn a_scrape_is_one_sample_per_series_at_the_host_phase() {
        let mut ds = node_exporter_lite(300, 15_000, 1, 2, |_| {});
        let mut samples = Vec::new();
        ds.scrape(1_000_000, 3, |s, t, v| samples.push((s, t, v)));
        assert_eq!(samples.len(), 300);
        for host in &ds.hosts {
            let first = samples[host.first_series];
            assert_eq!(first.1, 1_000_000 + 3 * 15_000 + host.phase_ms);
        }
        assert!(samples.iter().all(|&(_, _, v)| v >= 0.0));
    }
}
