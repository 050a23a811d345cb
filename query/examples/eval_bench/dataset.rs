//! A deterministic node-exporter-like dataset: hosts of about 120 series each (CPU counters per
//! cpu and mode, memory and filesystem gauges, network and disk counters per device, load
//! averages, a few miscellaneous series), scraped every `interval_ms` with a per-host phase.
//! A smaller cousin of `bench/src/dataset/node_exporter.rs`, with the same metric and label names
//! so that the benchmark's queries find data.

use tidemark_storage::{Label, Labels};

/// SplitMix64: deterministic across machines and dependency versions.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// How a series' value moves from one scrape to the next.
#[derive(Clone, Copy)]
pub enum Model {
    /// A counter growing by about `rate_per_s` with relative noise; reset when its host restarts.
    Counter { value: f64, rate_per_s: f64 },
    /// A mean-reverting random walk, never below zero.
    Gauge { value: f64, mean: f64, sd: f64 },
    /// A constant (sizes, limits).
    Const(f64),
}

impl Model {
    /// The value at the next scrape, `interval_s` after the previous one.
    pub fn next(&mut self, rng: &mut Rng, interval_s: f64, restarted: bool) -> f64 {
        match self {
            Model::Counter { value, rate_per_s } => {
                if restarted {
                    *value = 0.0;
                }
                *value += (*rate_per_s * interval_s * rng.range(0.7, 1.3)).round();
                *value
            }
            Model::Gauge { value, mean, sd } => {
                *value += *sd * (rng.unit() - 0.5) * 3.4 + 0.05 * (*mean - *value);
                *value = value.max(0.0);
                (*value * 100.0).round() / 100.0
            }
            Model::Const(v) => *v,
        }
    }
}

/// One scrape target: its series are consecutive and share timestamps.
pub struct Host {
    pub first_series: usize,
    pub series_count: usize,
    pub phase_ms: i64,
}

/// Series (labels and value models) grouped by host.
pub struct Dataset {
    pub labels: Vec<Labels>,
    pub models: Vec<Model>,
    pub hosts: Vec<Host>,
}

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
    ("/run", "tmpfs", "tmpfs"),
];
const FS_METRICS: [&str; 6] = [
    "node_filesystem_size_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_filesystem_readonly",
];
const NET_METRICS: [&str; 8] = [
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
];
const DISK_METRICS: [&str; 7] = [
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_io_time_seconds_total",
    "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total",
];
const MEMORY_METRICS: [&str; 12] = [
    "node_memory_MemTotal_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_memory_Active_bytes",
    "node_memory_Inactive_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_SwapFree_bytes",
    "node_memory_Dirty_bytes",
    "node_memory_Shmem_bytes",
    "node_memory_Slab_bytes",
];
const MISC_GAUGES: [&str; 12] = [
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
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl Dataset {
    /// `series` series (the last host may be cut short) scraped every `interval_ms`.
    pub fn node_exporter(series: usize, interval_ms: i64, seed: u64) -> Dataset {
        let mut ds = Dataset {
            labels: Vec::with_capacity(series),
            models: Vec::with_capacity(series),
            hosts: Vec::new(),
        };
        let mut rng = Rng::new(seed);
        let mut host = 0;
        while ds.labels.len() < series {
            let phase_ms = (rng.unit() * interval_ms as f64) as i64;
            ds.hosts.push(Host {
                first_series: ds.labels.len(),
                series_count: 0,
                phase_ms,
            });
            ds.add_host(&mut rng, host, series);
            host += 1;
        }
        ds
    }

    fn add_host(&mut self, rng: &mut Rng, host: usize, series_max: usize) {
        let base = [
            ("instance", format!("host-{host:05}:9100")),
            ("job", "node".to_string()),
            ("pool", format!("pool-{:02}", host / 20)),
            ("dc", format!("dc-{}", host % 3 + 1)),
            ("env", "prod".to_string()),
        ];
        let mut add = |name: &str, extra: &[(&str, &str)], model: Model| {
            if self.labels.len() >= series_max {
                return;
            }
            let mut labels: Vec<Label> = base.iter().map(|(n, v)| Label::new(*n, v)).collect();
            labels.push(Label::new("__name__", name));
            labels.extend(extra.iter().map(|(n, v)| Label::new(*n, *v)));
            self.labels.push(Labels::new(labels));
            self.models.push(model);
            self.hosts.last_mut().expect("a host").series_count += 1;
        };
        let uptime_s = rng.range(3_600.0, 60.0 * 86_400.0);
        let counter = |rng: &mut Rng, rate: f64| Model::Counter {
            value: (rate * uptime_s * rng.range(0.8, 1.2)).round(),
            rate_per_s: rate,
        };
        let gauge = |mean: f64, sd: f64| Model::Gauge {
            value: mean,
            mean,
            sd,
        };
        let cpus = if rng.unit() < 0.5 { 4 } else { 8 };
        let busy = rng.range(0.3, 2.0);
        for cpu in 0..cpus {
            let cpu = cpu.to_string();
            for (mode, share) in CPU_MODES {
                let m = counter(rng, share * busy * 100.0);
                add(
                    "node_cpu_seconds_total",
                    &[("cpu", &cpu), ("mode", mode)],
                    m,
                );
            }
        }
        let mem_total = rng.range(8.0, 256.0).round() * GIB;
        for (i, name) in MEMORY_METRICS.iter().enumerate() {
            let model = match i {
                0 => Model::Const(mem_total),
                7 | 8 => Model::Const(0.0),
                _ => gauge(mem_total * rng.range(0.05, 0.5), mem_total * 1e-3),
            };
            add(name, &[], model);
        }
        for (mountpoint, device, fstype) in MOUNTS {
            let size = rng.range(1.0, 2048.0).round() * GIB;
            let labels = [
                ("mountpoint", mountpoint),
                ("device", device),
                ("fstype", fstype),
            ];
            for (i, name) in FS_METRICS.iter().enumerate() {
                let model = match i {
                    0 => Model::Const(size),
                    3 => Model::Const(size / 16384.0),
                    5 => Model::Const(0.0),
                    _ => gauge(size * rng.range(0.1, 0.9), size * 1e-5),
                };
                add(name, &labels, model);
            }
        }
        for device in ["eth0", "lo"] {
            let rate = rng.range(1e4, 5e7);
            for (i, name) in NET_METRICS.iter().enumerate() {
                let m = counter(rng, rate / 10f64.powi(i as i32));
                add(name, &[("device", device)], m);
            }
        }
        for device in ["sda", "nvme0n1"] {
            let iops = rng.range(1.0, 2000.0);
            for (i, name) in DISK_METRICS.iter().enumerate() {
                let m = counter(rng, iops * [0.4, 0.6, 6e3, 5e3, 1e-4, 1e-4, 3e-4][i]);
                add(name, &[("device", device)], m);
            }
        }
        for name in MISC_GAUGES {
            let m = if name.ends_with("_total") {
                let rate = rng.range(1.0, 5_000.0) * busy;
                counter(rng, rate)
            } else {
                gauge(f64::from(cpus) * busy * 0.3, 0.05)
            };
            add(name, &[], m);
        }
    }
}
