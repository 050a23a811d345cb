//! Hosts running node_exporter, scraped by one Prometheus every interval: the benchmark's ingest
//! workload before [`super::fleet`] (which runs an application on each of these hosts).
//!
//! Per host (about 107 series with 4 CPUs, 139 with 8): `node_cpu_seconds_total` per cpu x mode,
//! `node_memory_*_bytes`, `node_filesystem_*` per mountpoint, `node_network_*_total` per device,
//! `node_disk_*` per device, `node_load1/5/15` and assorted kernel counters and gauges. Target
//! labels: `job`, `instance`, `pool`, `dc`, `env`.

use super::catalog::{self, GIB, host_labels};
use super::{Builder, Dataset, Model, SeriesLabels, phase_for, round_to, schedule};
use crate::rng::Rng;

/// `series` node-exporter series over `hours` at `interval_s`, ending at `end_ms` (rounded down to
/// the interval by the caller). Every series' labels go to `on_series` as it is created.
pub fn node_exporter(
    series: usize,
    hours: f64,
    interval_s: u32,
    seed: u64,
    end_ms: i64,
    mut on_series: impl FnMut(&SeriesLabels),
) -> Dataset {
    let shape = HostsShape {
        kind: "node_exporter",
        series,
        hours,
        interval_s,
        seed,
        end_ms,
    };
    hosts(shape, &mut on_series, |_, _, _| {})
}

/// What a workload of hosts generates: `series` series over `hours` at `interval_s` from `seed`,
/// ending at `end_ms`, named `kind`.
pub(super) struct HostsShape {
    pub kind: &'static str,
    pub series: usize,
    pub hours: f64,
    pub interval_s: u32,
    pub seed: u64,
    pub end_ms: i64,
}

/// Hosts one after another until `shape.series` are made: each host's node-exporter series
/// ([`add_host`]), then what `beside` adds on it (given the builder, the host's number and the
/// scrape interval in milliseconds).
pub(super) fn hosts(
    shape: HostsShape,
    on_series: &mut dyn FnMut(&SeriesLabels),
    mut beside: impl FnMut(&mut Builder, u64, i64),
) -> Dataset {
    let (interval_ms, steps) = schedule(shape.hours * 3600.0, shape.interval_s);
    let mut b = Builder::new(shape.seed, shape.series, on_series);
    let mut host = 0u64;
    while !b.full() {
        add_host(&mut b, shape.seed, host, interval_ms, shape.end_ms);
        beside(&mut b, host, interval_ms);
        host += 1;
    }
    // A host (or what runs on it) restarts on average every two days.
    let reset_probability = f64::from(shape.interval_s) / (2.0 * 86_400.0);
    b.finish(
        shape.kind,
        shape.end_ms,
        interval_ms,
        steps,
        reset_probability,
    )
}

/// Adds host number `host` as a target of its own (its series until the builder is full), its
/// labels, rates and sizes drawn from the seed's stream number `host`.
fn add_host(b: &mut Builder, seed: u64, host: u64, interval_ms: i64, end_ms: i64) {
    let mut rng = Rng::new(seed, host);
    let uptime_s = rng.range_f64(3_600.0, 60.0 * 86_400.0);
    let boot_time_s = ((end_ms / 1000) as f64 - uptime_s).floor();
    b.begin_target(phase_for(seed, host, interval_ms), boot_time_s);

    let target = |name: &str, extra: &[(&str, &str)]| host_labels(host, name, extra);
    let counter = |rng: &mut Rng, rate: f64, noise: f64, decimals: u8| Model::Counter {
        value: round_to(rate * uptime_s * rng.range_f64(0.8, 1.2), decimals),
        rate_per_s: rate,
        noise,
        decimals,
    };

    let cpus = if rng.chance(0.5) { 4 } else { 8 };
    let busy = rng.range_f64(0.3, 2.0);
    for cpu in 0..cpus {
        let cpu_label = cpu.to_string();
        for (mode, share) in catalog::CPU_MODES {
            let share = if mode == "idle" {
                1.0 - (1.0 - share) * busy
            } else {
                share * busy
            };
            let model = counter(&mut rng, share.max(0.0005), 0.3, 2);
            b.series(
                target(
                    "node_cpu_seconds_total",
                    &[("cpu", &cpu_label), ("mode", mode)],
                ),
                model,
            );
        }
    }

    let mem_total = (rng.range_i64(8, 256) as f64 * GIB / 4096.0).round() * 4096.0;
    let gauge = |mean: f64, sd: f64, min: f64, max: f64, quantum: f64| Model::Gauge {
        value: mean,
        mean,
        sd_per_step: sd,
        min,
        max,
        quantum,
    };
    let mem = |frac: f64, sd_frac: f64| {
        gauge(
            mem_total * frac,
            mem_total * sd_frac,
            0.0,
            mem_total,
            4096.0,
        )
    };
    let memory: [Model; 12] = [
        Model::Const { value: mem_total },
        mem(0.15, 0.001),
        mem(0.45, 0.001),
        mem(0.02, 0.0002),
        mem(0.30, 0.0005),
        mem(0.40, 0.0008),
        mem(0.25, 0.0005),
        Model::Const { value: 0.0 },
        Model::Const { value: 0.0 },
        mem(0.0005, 0.0002),
        mem(0.01, 0.0001),
        mem(0.03, 0.0001),
    ];
    for (name, model) in catalog::MEMORY_METRICS.into_iter().zip(memory) {
        b.series(target(name, &[]), model);
    }

    for (mountpoint, device, fstype) in catalog::DATA_DISK_MOUNTS {
        let size = (rng.range_i64(1, 2048) as f64 * GIB / 4096.0).round() * 4096.0;
        let used = rng.range_f64(0.1, 0.9);
        let files = (size / 16384.0).round();
        let labels = [
            ("mountpoint", mountpoint),
            ("device", device),
            ("fstype", fstype),
        ];
        let fs: [Model; 6] = [
            Model::Const { value: size },
            gauge(size * (0.95 - used), size * 1e-5, 0.0, size, 4096.0),
            gauge(size * (1.0 - used), size * 1e-5, 0.0, size, 4096.0),
            Model::Const { value: files },
            gauge(files * 0.9, files * 1e-5, 0.0, files, 1.0),
            Model::Const { value: 0.0 },
        ];
        for (name, model) in catalog::FILESYSTEM_METRICS.into_iter().zip(fs) {
            b.series(target(name, &labels), model);
        }
    }

    for device in catalog::NET_DEVICES {
        let bytes_rate = rng.log_uniform(1e4, 5e7);
        let packet_rate = bytes_rate / rng.range_f64(300.0, 1400.0);
        let labels = [("device", device)];
        // Receive and transmit bytes, packets, errors and drops.
        let rates: [f64; 8] = [
            bytes_rate,
            bytes_rate * rng.range_f64(0.3, 1.5),
            packet_rate,
            packet_rate * rng.range_f64(0.5, 1.2),
            rng.log_uniform(1e-6, 1e-2),
            rng.log_uniform(1e-6, 1e-3),
            rng.log_uniform(1e-5, 1e-1),
            rng.log_uniform(1e-6, 1e-3),
        ];
        for (name, rate) in catalog::NETWORK_METRICS.into_iter().zip(rates) {
            let model = counter(&mut rng, rate, 0.4, 0);
            b.series(target(name, &labels), model);
        }
    }

    for device in catalog::DISKS {
        let iops = rng.log_uniform(1.0, 2000.0);
        let labels = [("device", device)];
        // (rate, decimals) of reads, writes, bytes read and written, and the three times.
        let disk: [(f64, u8); 7] = [
            (iops * 0.4, 0),
            (iops * 0.6, 0),
            (iops * 0.4 * 16384.0, 0),
            (iops * 0.6 * 8192.0, 0),
            ((iops / 4000.0).min(0.9), 3),
            (iops * 0.4 * 2e-4, 3),
            (iops * 0.6 * 5e-4, 3),
        ];
        for (name, (rate, decimals)) in catalog::DISK_METRICS.into_iter().zip(disk) {
            let model = counter(&mut rng, rate, 0.5, decimals);
            b.series(target(name, &labels), model);
        }
    }

    let load = f64::from(cpus) * busy * 0.3;
    for (name, sd) in [
        ("node_load1", 0.15),
        ("node_load5", 0.06),
        ("node_load15", 0.03),
    ] {
        b.series(
            target(name, &[]),
            gauge(load, sd * load.max(0.2), 0.0, 4.0 * f64::from(cpus), 0.01),
        );
    }

    let forks_rate = rng.log_uniform(0.5, 50.0);
    let misc: [(&str, Model); 12] = [
        (
            "node_context_switches_total",
            counter(&mut rng, 5_000.0 * busy * f64::from(cpus), 0.3, 0),
        ),
        (
            "node_intr_total",
            counter(&mut rng, 3_000.0 * busy * f64::from(cpus), 0.3, 0),
        ),
        ("node_forks_total", counter(&mut rng, forks_rate, 0.6, 0)),
        (
            "node_procs_running",
            gauge(1.0 + busy * 2.0, 1.0, 0.0, 64.0, 1.0),
        ),
        ("node_procs_blocked", gauge(0.1, 0.3, 0.0, 16.0, 1.0)),
        ("node_boot_time_seconds", Model::BootTime),
        ("node_time_seconds", Model::Clock),
        (
            "node_entropy_available_bits",
            gauge(256.0, 0.0, 256.0, 256.0, 1.0),
        ),
        (
            "node_filefd_allocated",
            gauge(rng.range_f64(1e3, 3e4), 20.0, 0.0, 1e6, 1.0),
        ),
        (
            "node_sockstat_TCP_inuse",
            gauge(rng.range_f64(20.0, 2e3), 5.0, 0.0, 1e5, 1.0),
        ),
        (
            "node_netstat_Tcp_CurrEstab",
            gauge(rng.range_f64(10.0, 1e3), 3.0, 0.0, 1e5, 1.0),
        ),
        ("node_exporter_build_info", Model::Const { value: 1.0 }),
    ];
    for (name, model) in misc {
        b.series(target(name, &[]), model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_series_count_and_sample_total() {
        let mut labels = Vec::new();
        let ds = node_exporter(1000, 0.5, 15, 7, 1_700_000_100_000 / 15_000 * 15_000, |l| {
            labels.push(l.to_vec())
        });
        assert_eq!(ds.series_count(), 1000);
        assert_eq!(labels.len(), 1000);
        assert!(labels.iter().all(|l| l.is_sorted()));
        assert_eq!(ds.steps, 120);
        assert_eq!(ds.samples_total, 1000 * 120);
    }

    #[test]
    fn deterministic_and_in_bounds() {
        let end = 1_700_000_100_000 / 15_000 * 15_000;
        let collect = || {
            let mut ds = node_exporter(300, 0.25, 15, 9, end, |_| {});
            let (start, jitter) = (ds.start_ms, ds.jitter_ms_max);
            let mut out = Vec::new();
            ds.generate(|s, t, v| out.push((s, t, v.to_bits())));
            (out, start, jitter)
        };
        let (a, start, jitter) = collect();
        let (b, _, _) = collect();
        assert_eq!(a, b, "same seed, same samples");
        assert_eq!(a.len(), 300 * 60);
        assert!(
            a.iter()
                .all(|&(_, t, _)| t >= start - jitter && t <= end + jitter)
        );
        // Per series, timestamps strictly increase (so every system accepts the replay in order).
        let mut last = vec![i64::MIN; 300];
        for &(s, t, _) in &a {
            assert!(t > last[s as usize]);
            last[s as usize] = t;
        }
    }
}
