//! The ingest workload: hosts running node_exporter, scraped by one Prometheus every interval.
//!
//! Per host (about 107 series with 4 CPUs, 139 with 8): `node_cpu_seconds_total` per cpu x mode,
//! `node_memory_*_bytes`, `node_filesystem_*` per mountpoint, `node_network_*_total` per device,
//! `node_disk_*` per device, `node_load1/5/15` and assorted kernel counters and gauges. Target
//! labels: `job`, `instance`, `pool`, `dc`, `env`.

use super::{Builder, Dataset, Model, phase_for, round_to};
use crate::rng::Rng;

const CPU_MODES: [(&str, f64); 8] = [
    ("idle", 0.70),
    ("user", 0.17),
    ("system", 0.06),
    ("iowait", 0.02),
    ("irq", 0.002),
    ("softirq", 0.01),
    ("nice", 0.004),
    ("steal", 0.001),
];
const MOUNTS: [(&str, &str, &str); 3] = [
    ("/", "/dev/sda1", "ext4"),
    ("/boot", "/dev/sda2", "ext4"),
    ("/var/lib/data", "/dev/nvme0n1p1", "xfs"),
];
const NET_DEVICES: [&str; 2] = ["eth0", "lo"];
const DISKS: [&str; 2] = ["sda", "nvme0n1"];
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `series` node-exporter series over `hours` at `interval_s`, ending at `end_ms` (rounded down to
/// the interval by the caller).
pub fn node_exporter(
    series: usize,
    hours: f64,
    interval_s: u32,
    seed: u64,
    end_ms: i64,
) -> Dataset {
    let interval_ms = i64::from(interval_s) * 1000;
    let steps = ((hours * 3600.0) / f64::from(interval_s)).round().max(1.0) as u32;
    let mut b = Builder::new(seed, series);
    let mut host = 0u64;
    while !b.full() {
        add_host(&mut b, seed, host, interval_ms, end_ms);
        host += 1;
    }
    // A host restarts on average every two days.
    let reset_probability = f64::from(interval_s) / (2.0 * 86_400.0);
    b.finish(
        "node_exporter",
        end_ms,
        interval_ms,
        steps,
        reset_probability,
    )
}

fn add_host(b: &mut Builder, seed: u64, host: u64, interval_ms: i64, end_ms: i64) {
    let mut rng = Rng::new(seed, host);
    let uptime_s = rng.range_f64(3_600.0, 60.0 * 86_400.0);
    let boot_time_s = ((end_ms / 1000) as f64 - uptime_s).floor();
    b.begin_target(phase_for(seed, host, interval_ms), boot_time_s);

    let instance = format!("host-{host:05}:9100");
    let pool = format!("pool-{:02}", host / 20);
    let dc = format!("dc-{}", host % 3 + 1);
    let target = |name: &str, extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut labels = vec![
            ("__name__".to_string(), name.to_string()),
            ("job".to_string(), "node".to_string()),
            ("instance".to_string(), instance.clone()),
            ("pool".to_string(), pool.clone()),
            ("dc".to_string(), dc.clone()),
            ("env".to_string(), "prod".to_string()),
        ];
        labels.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        labels
    };
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
        for (mode, share) in CPU_MODES {
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
    let memory: [(&str, Model); 12] = [
        (
            "node_memory_MemTotal_bytes",
            Model::Const { value: mem_total },
        ),
        ("node_memory_MemFree_bytes", mem(0.15, 0.001)),
        ("node_memory_MemAvailable_bytes", mem(0.45, 0.001)),
        ("node_memory_Buffers_bytes", mem(0.02, 0.0002)),
        ("node_memory_Cached_bytes", mem(0.30, 0.0005)),
        ("node_memory_Active_bytes", mem(0.40, 0.0008)),
        ("node_memory_Inactive_bytes", mem(0.25, 0.0005)),
        ("node_memory_SwapTotal_bytes", Model::Const { value: 0.0 }),
        ("node_memory_SwapFree_bytes", Model::Const { value: 0.0 }),
        ("node_memory_Dirty_bytes", mem(0.0005, 0.0002)),
        ("node_memory_Shmem_bytes", mem(0.01, 0.0001)),
        ("node_memory_Slab_bytes", mem(0.03, 0.0001)),
    ];
    for (name, model) in memory {
        b.series(target(name, &[]), model);
    }

    for (mountpoint, device, fstype) in MOUNTS {
        let size = (rng.range_i64(1, 2048) as f64 * GIB / 4096.0).round() * 4096.0;
        let used = rng.range_f64(0.1, 0.9);
        let files = (size / 16384.0).round();
        let labels = [
            ("mountpoint", mountpoint),
            ("device", device),
            ("fstype", fstype),
        ];
        let fs: [(&str, Model); 6] = [
            ("node_filesystem_size_bytes", Model::Const { value: size }),
            (
                "node_filesystem_avail_bytes",
                gauge(size * (0.95 - used), size * 1e-5, 0.0, size, 4096.0),
            ),
            (
                "node_filesystem_free_bytes",
                gauge(size * (1.0 - used), size * 1e-5, 0.0, size, 4096.0),
            ),
            ("node_filesystem_files", Model::Const { value: files }),
            (
                "node_filesystem_files_free",
                gauge(files * 0.9, files * 1e-5, 0.0, files, 1.0),
            ),
            ("node_filesystem_readonly", Model::Const { value: 0.0 }),
        ];
        for (name, model) in fs {
            b.series(target(name, &labels), model);
        }
    }

    for device in NET_DEVICES {
        let bytes_rate = rng.log_uniform(1e4, 5e7);
        let packet_rate = bytes_rate / rng.range_f64(300.0, 1400.0);
        let labels = [("device", device)];
        let net: [(&str, f64); 8] = [
            ("node_network_receive_bytes_total", bytes_rate),
            (
                "node_network_transmit_bytes_total",
                bytes_rate * rng.range_f64(0.3, 1.5),
            ),
            ("node_network_receive_packets_total", packet_rate),
            (
                "node_network_transmit_packets_total",
                packet_rate * rng.range_f64(0.5, 1.2),
            ),
            (
                "node_network_receive_errs_total",
                rng.log_uniform(1e-6, 1e-2),
            ),
            (
                "node_network_transmit_errs_total",
                rng.log_uniform(1e-6, 1e-3),
            ),
            (
                "node_network_receive_drop_total",
                rng.log_uniform(1e-5, 1e-1),
            ),
            (
                "node_network_transmit_drop_total",
                rng.log_uniform(1e-6, 1e-3),
            ),
        ];
        for (name, rate) in net {
            let model = counter(&mut rng, rate, 0.4, 0);
            b.series(target(name, &labels), model);
        }
    }

    for device in DISKS {
        let iops = rng.log_uniform(1.0, 2000.0);
        let labels = [("device", device)];
        let disk: [(&str, f64, u8); 7] = [
            ("node_disk_reads_completed_total", iops * 0.4, 0),
            ("node_disk_writes_completed_total", iops * 0.6, 0),
            ("node_disk_read_bytes_total", iops * 0.4 * 16384.0, 0),
            ("node_disk_written_bytes_total", iops * 0.6 * 8192.0, 0),
            (
                "node_disk_io_time_seconds_total",
                (iops / 4000.0).min(0.9),
                3,
            ),
            ("node_disk_read_time_seconds_total", iops * 0.4 * 2e-4, 3),
            ("node_disk_write_time_seconds_total", iops * 0.6 * 5e-4, 3),
        ];
        for (name, rate, decimals) in disk {
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
        let ds = node_exporter(1000, 0.5, 15, 7, 1_700_000_100_000 / 15_000 * 15_000);
        assert_eq!(ds.series_count(), 1000);
        assert_eq!(ds.steps, 120);
        assert_eq!(ds.samples_total, 1000 * 120);
    }

    #[test]
    fn deterministic_and_in_bounds() {
        let end = 1_700_000_100_000 / 15_000 * 15_000;
        let collect = || {
            let mut ds = node_exporter(300, 0.25, 15, 9, end);
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
