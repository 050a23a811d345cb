//! The rule file of `tidemark-bench rules`: a deterministic mix of recording and alerting rules
//! over the node-exporter dataset's metrics, written as Prometheus rule-file YAML so that
//! Tidemark (`--rule-file`) and Prometheus (`rule_files`) load the very same file.
//!
//! Recording rules cycle through aggregation shapes seen in real rule sets (node-mixin style
//! `sum by (job) (rate(...[5m]))`, `avg by (instance) (...)`, `max_over_time`, `quantile`,
//! `topk`, ratios), each over a metric of the dataset, a range of 1m/5m/10m and a selector on
//! the target labels (`dc`, `pool`, `instance`), so that the rules touch between a few dozen and
//! a few thousand series. Alerting rules are threshold alerts with `for`, `labels` and
//! templated `annotations`; their thresholds step through a list so that some fire and most do
//! not. Rules are interleaved so that every group holds the same share of each kind; every
//! group holds the same number of rules (the Tidemark rate is iterations x rules per group).
//! Groups name no `interval`: both systems use their global evaluation interval.

use std::fmt::Write;

/// Counters of the dataset (what `rate` and `increase` apply to).
const COUNTERS: [&str; 20] = [
    "node_cpu_seconds_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_io_time_seconds_total",
    "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total",
    "node_context_switches_total",
    "node_intr_total",
    "node_forks_total",
    "node_cpu_seconds_total",
];

/// Gauges of the dataset.
const GAUGES: [&str; 20] = [
    "node_memory_MemFree_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_memory_Active_bytes",
    "node_memory_Inactive_bytes",
    "node_memory_Dirty_bytes",
    "node_memory_Shmem_bytes",
    "node_memory_Slab_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_files_free",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_procs_running",
    "node_procs_blocked",
    "node_filefd_allocated",
    "node_sockstat_TCP_inuse",
    "node_netstat_Tcp_CurrEstab",
];

/// Ranges of range-vector selectors.
const RANGES: [&str; 3] = ["5m", "1m", "10m"];

/// Matchers on the target labels (inside the braces), from none (every host) to a few hosts.
const SELECTORS: [&str; 6] = [
    "",
    r#"dc="dc-1""#,
    r#"pool!="pool-00""#,
    r#"instance=~"host-0000.*""#,
    r#"dc=~"dc-[23]""#,
    r#"env="prod""#,
];

/// `metric{matchers}` with `extra` matchers first, then the selector's (no braces if none).
fn select(metric: &str, extra: &str, selector: &str) -> String {
    let parts: Vec<&str> = [extra, selector]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        metric.to_string()
    } else {
        format!("{metric}{{{}}}", parts.join(","))
    }
}

/// One recording-rule shape: a name part and the expression for a metric, a range and a
/// selector. `counter` says which metric list it takes.
struct RecordingShape {
    name: &'static str,
    counter: bool,
    expr: fn(&str, &str, &str) -> String,
}

const RECORDING_SHAPES: [RecordingShape; 14] = [
    RecordingShape {
        name: "sum_rate_by_job",
        counter: true,
        expr: |m, r, s| format!("sum by (job) (rate({}[{r}]))", select(m, "", s)),
    },
    RecordingShape {
        name: "sum_rate_by_instance",
        counter: true,
        expr: |m, r, s| format!("sum by (instance) (rate({}[{r}]))", select(m, "", s)),
    },
    RecordingShape {
        name: "avg_rate_by_instance",
        counter: true,
        expr: |m, r, s| format!("avg by (instance) (rate({}[{r}]))", select(m, "", s)),
    },
    RecordingShape {
        name: "avg_by_instance",
        counter: false,
        expr: |m, _, s| format!("avg by (instance) ({})", select(m, "", s)),
    },
    RecordingShape {
        name: "max_irate_by_pool",
        counter: true,
        expr: |m, r, s| format!("max by (pool) (irate({}[{r}]))", select(m, "", s)),
    },
    RecordingShape {
        name: "sum_increase_by_dc",
        counter: true,
        expr: |m, r, s| format!("sum by (dc) (increase({}[{r}]))", select(m, "", s)),
    },
    RecordingShape {
        name: "avg_over_time_by_instance",
        counter: false,
        expr: |m, r, s| {
            format!(
                "avg by (instance) (avg_over_time({}[{r}]))",
                select(m, "", s)
            )
        },
    },
    RecordingShape {
        name: "max_over_time_by_pool",
        counter: false,
        expr: |m, r, s| format!("max by (pool) (max_over_time({}[{r}]))", select(m, "", s)),
    },
    RecordingShape {
        name: "sum_by_dc",
        counter: false,
        expr: |m, _, s| format!("sum by (dc) ({})", select(m, "", s)),
    },
    RecordingShape {
        name: "quantile90_by_job",
        counter: false,
        expr: |m, _, s| format!("quantile by (job) (0.9, {})", select(m, "", s)),
    },
    RecordingShape {
        name: "topk3_rate_by_pool",
        counter: true,
        expr: |m, r, s| format!("topk by (pool) (3, rate({}[{r}]))", select(m, "", s)),
    },
    RecordingShape {
        name: "rate",
        counter: true,
        expr: |m, r, s| format!("rate({}[{r}])", select(m, "", s)),
    },
    RecordingShape {
        name: "cpu_utilisation",
        counter: false,
        expr: |_, r, s| {
            format!(
                "1 - avg by (instance) (rate({}[{r}]))",
                select("node_cpu_seconds_total", r#"mode="idle""#, s)
            )
        },
    },
    RecordingShape {
        name: "share_of_total",
        counter: false,
        expr: |m, _, s| {
            // A memory gauge over the host's total (other gauges stand in for a memory one).
            let m = if m.starts_with("node_memory_") {
                m
            } else {
                "node_memory_Active_bytes"
            };
            format!(
                "{} / on (instance) group_left sum by (instance) ({})",
                select(m, "", s),
                select("node_memory_MemTotal_bytes", "", s)
            )
        },
    },
];

/// One alerting-rule shape: threshold alerts on a condition, `{t}` being the threshold.
struct AlertShape {
    name: &'static str,
    expr: fn(&str, &str) -> String,
    thresholds: &'static [&'static str],
    for_: &'static str,
    severity: &'static str,
    summary: &'static str,
    description: &'static str,
}

const ALERT_SHAPES: [AlertShape; 12] = [
    AlertShape {
        name: "HostHighLoad",
        expr: |s, t| format!("{} > {t}", select("node_load1", "", s)),
        thresholds: &["2", "4", "8", "12"],
        for_: "1m",
        severity: "warning",
        summary: "High load on {{ $labels.instance }}",
        description: "node_load1 is {{ $value | humanize }} on {{ $labels.instance }} ({{ $labels.dc }})",
    },
    AlertShape {
        name: "HostLowDiskSpace",
        expr: |s, t| {
            format!(
                "{} / {} * 100 < {t}",
                select("node_filesystem_avail_bytes", "", s),
                select("node_filesystem_size_bytes", "", s)
            )
        },
        thresholds: &["10", "20", "40", "60"],
        for_: "2m",
        severity: "critical",
        summary: "{{ $labels.mountpoint }} on {{ $labels.instance }} is filling up",
        description: "Only {{ $value | printf \"%.1f\" }}% left on {{ $labels.device }} ({{ $labels.fstype }})",
    },
    AlertShape {
        name: "HostHighCpu",
        expr: |s, t| {
            format!(
                "1 - avg by (instance, dc) (rate({}[5m])) > {t}",
                select("node_cpu_seconds_total", r#"mode="idle""#, s)
            )
        },
        thresholds: &["0.2", "0.4", "0.6", "0.8"],
        for_: "2m",
        severity: "warning",
        summary: "CPU busy on {{ $labels.instance }}",
        description: "CPU utilisation is {{ $value | humanizePercentage }}",
    },
    AlertShape {
        name: "HostLowMemory",
        expr: |s, t| {
            format!(
                "{} / {} < {t}",
                select("node_memory_MemAvailable_bytes", "", s),
                select("node_memory_MemTotal_bytes", "", s)
            )
        },
        thresholds: &["0.3", "0.4", "0.46", "0.5"],
        for_: "1m",
        severity: "warning",
        summary: "Low memory on {{ $labels.instance }}",
        description: "{{ $value | humanizePercentage }} of memory available",
    },
    AlertShape {
        name: "HostNetworkReceiveErrors",
        expr: |s, t| {
            format!(
                "rate({}[5m]) > {t}",
                select("node_network_receive_errs_total", "", s)
            )
        },
        thresholds: &["0.0001", "0.001", "0.01"],
        for_: "2m",
        severity: "warning",
        summary: "Receive errors on {{ $labels.instance }} {{ $labels.device }}",
        description: "{{ $value | humanize }} errors/s",
    },
    AlertShape {
        name: "HostDiskBusy",
        expr: |s, t| {
            format!(
                "rate({}[5m]) > {t}",
                select("node_disk_io_time_seconds_total", "", s)
            )
        },
        thresholds: &["0.05", "0.2", "0.5"],
        for_: "5m",
        severity: "info",
        summary: "Disk {{ $labels.device }} busy on {{ $labels.instance }}",
        description: "IO time {{ $value | humanizePercentage }}",
    },
    AlertShape {
        name: "HostBlockedProcesses",
        expr: |s, t| format!("{} > {t}", select("node_procs_blocked", "", s)),
        thresholds: &["0", "1", "2"],
        for_: "1m",
        severity: "info",
        summary: "Blocked processes on {{ $labels.instance }}",
        description: "{{ $value }} processes blocked",
    },
    AlertShape {
        name: "HostManyForks",
        expr: |s, t| format!("rate({}[5m]) > {t}", select("node_forks_total", "", s)),
        thresholds: &["5", "10", "20"],
        for_: "5m",
        severity: "info",
        summary: "Fork storm on {{ $labels.instance }}",
        description: "{{ $value | printf \"%.2f\" }} forks/s",
    },
    AlertShape {
        name: "HostManyTcpConnections",
        expr: |s, t| format!("{} > {t}", select("node_sockstat_TCP_inuse", "", s)),
        thresholds: &["500", "1000", "1500"],
        for_: "2m",
        severity: "warning",
        summary: "Many TCP sockets on {{ $labels.instance }}",
        description: "{{ $value }} sockets in use (pool {{ $labels.pool }})",
    },
    AlertShape {
        name: "HostRebooted",
        expr: |s, t| {
            format!(
                "changes({}[10m]) > {t}",
                select("node_boot_time_seconds", "", s)
            )
        },
        thresholds: &["0"],
        for_: "0s",
        severity: "info",
        summary: "{{ $labels.instance }} rebooted",
        description: "Boot time changed {{ $value }} times in 10 minutes",
    },
    AlertShape {
        name: "HostDiskFillsIn4h",
        expr: |s, t| {
            format!(
                "predict_linear({}[10m], 4 * 3600) < {t}",
                select("node_filesystem_avail_bytes", "", s)
            )
        },
        thresholds: &["0"],
        for_: "5m",
        severity: "critical",
        summary: "{{ $labels.mountpoint }} on {{ $labels.instance }} fills within 4 hours",
        description: "Predicted {{ $value | humanize1024 }}B free in 4 hours",
    },
    AlertShape {
        name: "HostClockSkew",
        expr: |s, t| {
            let m = select("node_time_seconds", "", s);
            format!("abs({m} - timestamp({m})) > {t}")
        },
        thresholds: &["0.002", "1"],
        for_: "1m",
        severity: "warning",
        summary: "Clock skew on {{ $labels.instance }}",
        description: "The clock is {{ $value | humanizeDuration }} off",
    },
];

/// One generated rule.
#[derive(Clone, Debug, PartialEq)]
enum Rule {
    Recording {
        record: String,
        expr: String,
    },
    Alerting {
        alert: String,
        expr: String,
        for_: &'static str,
        severity: &'static str,
        summary: &'static str,
        description: &'static str,
    },
}

/// A generated rule file and its shape.
#[derive(Clone, Debug)]
pub struct RuleSet {
    /// The rule file (YAML).
    pub yaml: String,
    pub groups: usize,
    pub rules_per_group: usize,
    pub recording: usize,
    pub alerting: usize,
}

/// Name of group `g` (also how both systems' status pages name it).
pub fn group_name(g: usize) -> String {
    format!("bench-{g:03}")
}

/// The `i`-th recording rule.
fn recording(i: usize) -> Rule {
    let shape = &RECORDING_SHAPES[i % RECORDING_SHAPES.len()];
    let k = i / RECORDING_SHAPES.len();
    let metrics: &[&str] = if shape.counter { &COUNTERS } else { &GAUGES };
    let metric = metrics[k % metrics.len()];
    let range = RANGES[(k / metrics.len() + k) % RANGES.len()];
    let selector = SELECTORS[(k / 2) % SELECTORS.len()];
    Rule::Recording {
        record: format!(
            "bench_r{i:04}:{}:{}_{range}",
            metric.trim_start_matches("node_"),
            shape.name
        ),
        expr: (shape.expr)(metric, range, selector),
    }
}

/// The `i`-th alerting rule.
fn alerting(i: usize) -> Rule {
    let shape = &ALERT_SHAPES[i % ALERT_SHAPES.len()];
    let k = i / ALERT_SHAPES.len();
    let threshold = shape.thresholds[k % shape.thresholds.len()];
    let selector = SELECTORS[(k / shape.thresholds.len()) % SELECTORS.len()];
    Rule::Alerting {
        alert: format!("{}{i:04}", shape.name),
        expr: (shape.expr)(selector, threshold),
        for_: shape.for_,
        severity: shape.severity,
        summary: shape.summary,
        description: shape.description,
    }
}

/// `s` as a YAML single-quoted scalar.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `groups` groups of `rules_per_group` rules each, `alerting` of them alerting rules, spread
/// evenly over the groups (each group interleaves its kinds, alerting rules evenly placed).
pub fn generate(groups: usize, rules_per_group: usize, alerting_total: usize) -> RuleSet {
    let total = groups * rules_per_group;
    let alerting_total = alerting_total.min(total);
    let mut yaml = String::from("# Generated by tidemark-bench rules.\ngroups:\n");
    let (mut next_recording, mut next_alerting) = (0, 0);
    for g in 0..groups {
        // Alerting rules of this group: an even share of the total (the first groups take one
        // more when it does not divide).
        let alerts_here = alerting_total / groups + usize::from(g < alerting_total % groups);
        let _ = writeln!(yaml, "- name: {}\n  rules:", group_name(g));
        for r in 0..rules_per_group {
            // Exactly `alerts_here` positions where floor(r * a / n) steps up.
            let is_alert = alerts_here > 0
                && (r * alerts_here / rules_per_group) != ((r + 1) * alerts_here / rules_per_group);
            let rule = if is_alert {
                next_alerting += 1;
                alerting(next_alerting - 1)
            } else {
                next_recording += 1;
                recording(next_recording - 1)
            };
            write_rule(&mut yaml, &rule);
        }
    }
    RuleSet {
        yaml,
        groups,
        rules_per_group,
        recording: next_recording,
        alerting: next_alerting,
    }
}

fn write_rule(yaml: &mut String, rule: &Rule) {
    match rule {
        Rule::Recording { record, expr } => {
            let _ = writeln!(
                yaml,
                "  - record: {}\n    expr: {}",
                quoted(record),
                quoted(expr)
            );
        }
        Rule::Alerting {
            alert,
            expr,
            for_,
            severity,
            summary,
            description,
        } => {
            let _ = writeln!(
                yaml,
                "  - alert: {alert}\n    expr: {}\n    for: {for_}\n    labels:\n      severity: {severity}\n      team: infra\n    annotations:\n      summary: {}\n      description: {}",
                quoted(expr),
                quoted(summary),
                quoted(description)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_even_spread() {
        let set = generate(20, 50, 300);
        assert_eq!((set.recording, set.alerting), (700, 300));
        assert_eq!(set.yaml.matches("\n  - record: ").count(), 700);
        assert_eq!(set.yaml.matches("\n  - alert: ").count(), 300);
        assert_eq!(set.yaml.matches("\n- name: bench-").count(), 20);
        for group in set.yaml.split("\n- name: ").skip(1) {
            assert_eq!(group.matches("\n  - alert: ").count(), 15);
            assert_eq!(group.matches("\n  - record: ").count(), 35);
        }
        // Within Tidemark's default rule-file size limit (1 MiB).
        assert!(set.yaml.len() < 1 << 20, "{} bytes", set.yaml.len());
    }

    #[test]
    fn uneven_alert_share_and_unique_names() {
        let set = generate(3, 7, 5);
        assert_eq!((set.recording, set.alerting), (16, 5));
        let names: Vec<&str> = set
            .yaml
            .lines()
            .filter_map(|l| {
                l.strip_prefix("  - record: ")
                    .or_else(|| l.strip_prefix("  - alert: "))
            })
            .collect();
        let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn selectors_merge_matchers() {
        assert_eq!(select("up", "", ""), "up");
        assert_eq!(
            select("node_cpu_seconds_total", r#"mode="idle""#, r#"dc="dc-1""#),
            r#"node_cpu_seconds_total{mode="idle",dc="dc-1"}"#
        );
        assert_eq!(quoted("a'b"), "'a''b'");
    }
}
