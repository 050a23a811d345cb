//! What a node_exporter host exposes, as far as both node-exporter workloads ([`super::node_exporter`]
//! and [`super::node_exporter_lite`]) share it: metric names in exposition order, CPU modes with
//! their usual shares, devices, and the target labels of a host (and of the application that
//! [`super::fleet`] runs on it).

/// CPU modes with a typical share of CPU time (idle first).
pub const CPU_MODES: [(&str, f64); 8] = [
    ("idle", 0.70),
    ("user", 0.17),
    ("system", 0.06),
    ("iowait", 0.02),
    ("irq", 0.002),
    ("softirq", 0.01),
    ("nice", 0.004),
    ("steal", 0.001),
];

/// `node_memory_*` gauges: total first, swap at 7 and 8.
pub const MEMORY_METRICS: [&str; 12] = [
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

/// `node_filesystem_*` series of one mount point.
pub const FILESYSTEM_METRICS: [&str; 6] = [
    "node_filesystem_size_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_filesystem_readonly",
];

/// `node_network_*` counters of one device.
pub const NETWORK_METRICS: [&str; 8] = [
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
];

/// `node_disk_*` counters of one device.
pub const DISK_METRICS: [&str; 7] = [
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_io_time_seconds_total",
    "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total",
];

/// Mount points (mountpoint, device, fstype) of a [`super::node_exporter`] host: a data disk.
pub const DATA_DISK_MOUNTS: [(&str, &str, &str); 3] = [
    ("/", "/dev/sda1", "ext4"),
    ("/boot", "/dev/sda2", "ext4"),
    ("/var/lib/data", "/dev/nvme0n1p1", "xfs"),
];

/// Mount points (mountpoint, device, fstype) of a [`super::node_exporter_lite`] host: a tmpfs.
pub const TMPFS_MOUNTS: [(&str, &str, &str); 3] = [
    ("/", "/dev/sda1", "ext4"),
    ("/boot", "/dev/sda2", "ext4"),
    ("/run", "tmpfs", "tmpfs"),
];

/// Network devices of a host.
pub const NET_DEVICES: [&str; 2] = ["eth0", "lo"];

/// Block devices of a host.
pub const DISKS: [&str; 2] = ["sda", "nvme0n1"];

/// Bytes in a GiB.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The labels of metric `name` on host number `host`: the target labels Prometheus adds (`job`,
/// `instance`, `pool` of 20 hosts, `dc` of 3, `env`), then `extra`. Unsorted.
pub fn host_labels(host: u64, name: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    target_labels("node", 9100, host, name, extra)
}

/// The labels of metric `name` of the application on host number `host` ([`super::fleet`]):
/// [`host_labels`] but for `job="app"` and port 8080 in `instance`. Unsorted.
pub fn app_labels(host: u64, name: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    target_labels("app", 8080, host, name, extra)
}

/// Metric `name` of target `job` listening on `port` of host number `host`, then `extra`.
fn target_labels(
    job: &str,
    port: u16,
    host: u64,
    name: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut labels = vec![
        ("__name__".to_string(), name.to_string()),
        ("job".to_string(), job.to_string()),
        ("instance".to_string(), format!("host-{host:05}:{port}")),
        ("pool".to_string(), format!("pool-{:02}", host / 20)),
        ("dc".to_string(), format!("dc-{}", host % 3 + 1)),
        ("env".to_string(), "prod".to_string()),
    ];
    labels.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    labels
}
