//! What both systems are given: the rule file and the samples of each phase, and the writers
//! that remote-write them.

use super::*;

/// The rule file both evaluate. Groups are not in name order, so that the order of groups in
/// `/api/v1/rules` is checked too.
pub(crate) const RULE_FILE: &str = r#"groups:
  - name: node-exporter
    interval: 1s
    rules:
      - alert: NodeFilesystemAlmostOutOfSpace
        expr: |
          (
            node_filesystem_avail_bytes{job="node",fstype!=""} / node_filesystem_size_bytes{job="node",fstype!=""} * 100 < 10
          and
            node_filesystem_readonly{job="node",fstype!=""} == 0
          )
        for: 3s
        labels:
          severity: warning
        annotations:
          summary: Filesystem has less than 10% space left.
          description: 'Filesystem on {{ $labels.device }}, mounted on {{ $labels.mountpoint }}, at {{ $labels.instance }} has only {{ printf "%.2f" $value }}% available space left.'
      - alert: NodeHighCPUUsage
        expr: sum without(mode) (avg without (cpu) (rate(node_cpu_seconds_total{job="node", mode!~"idle|iowait"}[10s]))) * 100 > 90
        for: 2s
        labels:
          severity: info
        annotations:
          summary: High CPU usage.
          description: 'CPU usage at {{ $labels.instance }} has been above 90% for the last 2s, is currently at {{ printf "%.2f" $value }}%.'
      - alert: NodeMemoryHighUtilization
        expr: 100 - (node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"} * 100) > 90
        for: 2s
        labels:
          severity: '{{ if gt $value 95.0 }}critical{{ else }}warning{{ end }}'
        annotations:
          summary: Host is running out of memory.
          description: 'Memory is filling up at {{ $labels.instance }}, has been above 90% for the last 2s, is currently at {{ printf "%.2f" $value }}%; {{ with query (printf "node_memory_MemAvailable_bytes{instance=%q}" $labels.instance) }}{{ . | first | value | humanize1024 }}B available{{ end }}.'
          total: '{{ with printf "node_memory_MemTotal_bytes{instance=%q}" $labels.instance | query }}{{ . | first | value | humanize }}B{{ end }} ({{ $value | humanizePercentage }} x100)'
      - alert: NodeSystemSaturation
        expr: node_load1{job="node"} / 2 > 1
        for: 1h
        labels:
          severity: warning
        annotations:
          summary: System saturated, load per core is very high.
          description: 'System load per core at {{ $labels.instance }} has been above 1 for the last hour, is currently at {{ printf "%.2f" $value }}.'
      - alert: NodeDown
        expr: up{job="node"} == 0
        keep_firing_for: 10s
        labels:
          severity: critical
          team: '{{ $labels.job | toUpper }}'
        annotations:
          summary: 'Node {{ $labels.instance }} is down (value {{ $value }}).'
          runbook_url: '{{ $externalURL }}/runbooks/node-down?instance={{ $labels.instance | urlquery }}&cluster={{ $externalLabels.cluster }}'
      - alert: NodeNetworkReceiveErrs
        expr: rate(node_network_receive_errs_total{job="node"}[10s]) * on(instance) group_left(nodename) node_uname_info > 0.5
        for: 2s
        labels:
          severity: warning
        annotations:
          summary: Network interface is reporting many receive errors.
          description: '{{ $labels.nodename }} ({{ $labels.instance }}) interface {{ $labels.device }} has encountered {{ printf "%.0f" $value }} receive errors per second.'
      - alert: NodeDiskBroken
        expr: node_filesystem_avail_bytes{job="node"} * on(instance) node_filesystem_size_bytes{job="node"} < 0
        labels:
          severity: critical
  - name: node-limits
    interval: 1s
    limit: 2
    rules:
      - alert: NodeLoadHigh
        expr: node_load1{job="node"} > 0
        labels:
          severity: info
      - record: instance:node_load1:max
        expr: max by (instance) (node_load1{job="node"})
      - record: job:node_load1:max
        expr: max by (job) (node_load1{job="node"})
      - alert: NodeLoadAnyHigh
        expr: max by (job) (node_load1{job="node"}) > 1
        annotations:
          summary: 'Highest load {{ $value | humanize }} ({{ $value }}), {{ 1234567.0 | humanize }}, {{ 3700.0 | humanizeDuration }}'
  - name: node-exporter.rules
    labels:
      team: infra
    rules:
      - record: instance:node_num_cpu:sum
        expr: count without (cpu, mode) (node_cpu_seconds_total{job="node",mode="idle"})
      - record: instance:node_cpu_utilisation:rate10s
        expr: 1 - avg without (cpu) (sum without (mode) (rate(node_cpu_seconds_total{job="node", mode=~"idle|iowait|steal"}[10s])))
      - record: instance:node_memory_utilisation:ratio
        expr: 1 - (node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"})
      - record: job_fstype:node_filesystem_avail_bytes:sum
        expr: sum by (job, fstype) (node_filesystem_avail_bytes{job="node"})
        labels:
          source: recording
          job: node-aggregated
      # Rules of a group run in order at one timestamp, each seeing what the ones before it
      # wrote at that timestamp: the lag must be 0 (a later iteration's view would make it 1).
      - record: tidemark_test:eval_timestamp
        expr: time()
      - record: tidemark_test:chained_rule_lag_seconds
        expr: time() - tidemark_test:eval_timestamp
"#;

// ---------------------------------------------------------------------------------------------
// The data

/// What the written samples show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// One full filesystem, one busy CPU, one NIC with receive errors.
    Baseline,
    /// Also: node-1 out of memory, node-3 down, node-1's `node_uname_info` duplicated (the
    /// `group_left` of NodeNetworkReceiveErrs then fails while its alert is firing).
    Incident,
    /// Back to the baseline; the duplicate `node_uname_info` ends with a stale marker.
    Recovery,
}

pub(crate) const INSTANCES: [&str; 3] = ["node-1", "node-2", "node-3"];
pub(crate) const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A series' labels, name/value pairs (what [`TestSeries`] holds).
pub(crate) type SeriesLabels = Vec<(String, String)>;

pub(crate) fn series_labels(name: &str, instance: &str, extra: &[(&str, &str)]) -> SeriesLabels {
    let mut l = vec![
        ("__name__".to_string(), name.to_string()),
        ("job".to_string(), "node".to_string()),
        ("instance".to_string(), instance.to_string()),
    ];
    l.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    l
}

/// One scrape of every series at `t_ms` (counters grow from `anchor_ms` on at fixed rates that
/// are exact binary fractions).
pub(crate) fn scrape(t_ms: i64, anchor_ms: i64, phase: Phase) -> Vec<(SeriesLabels, f64)> {
    let elapsed_s = (t_ms - anchor_ms) as f64 / 1000.0;
    let mut out = Vec::new();
    for (i, &inst) in INSTANCES.iter().enumerate() {
        let down = phase == Phase::Incident && inst == "node-3";
        out.push((series_labels("up", inst, &[]), if down { 0.0 } else { 1.0 }));
        // (device, mountpoint, fstype, size, avail, readonly)
        let mut filesystems = vec![("/dev/sda1", "/", "ext4", 100.0 * GIB, 40.0 * GIB, 0.0)];
        match inst {
            // Nearly full but read-only: no alert.
            "node-1" => filesystems.push(("/dev/sda2", "/boot", "ext4", GIB, 0.02 * GIB, 1.0)),
            // 5.5 % free: NodeFilesystemAlmostOutOfSpace.
            "node-3" => {
                filesystems.push(("/dev/sdb1", "/data", "xfs", 500.0 * GIB, 27.5 * GIB, 0.0))
            }
            _ => {}
        }
        for (device, mountpoint, fstype, size, avail, ro) in filesystems {
            let fs = [
                ("device", device),
                ("mountpoint", mountpoint),
                ("fstype", fstype),
            ];
            out.push((series_labels("node_filesystem_size_bytes", inst, &fs), size));
            out.push((
                series_labels("node_filesystem_avail_bytes", inst, &fs),
                avail,
            ));
            out.push((series_labels("node_filesystem_readonly", inst, &fs), ro));
        }
        // CPU seconds per second by mode: node-2 is busy (93.75 % not idle).
        let per_mode: [(&str, f64); 3] = if inst == "node-2" {
            [("idle", 0.0625), ("user", 0.875), ("system", 0.0625)]
        } else {
            [("idle", 0.8125), ("user", 0.125), ("system", 0.0625)]
        };
        for cpu in ["0", "1"] {
            for (mode, per_s) in per_mode {
                out.push((
                    series_labels(
                        "node_cpu_seconds_total",
                        inst,
                        &[("cpu", cpu), ("mode", mode)],
                    ),
                    10_000.0 * (i + 1) as f64 + per_s * elapsed_s,
                ));
            }
        }
        let available = if phase == Phase::Incident && inst == "node-1" {
            0.5 * GIB
        } else {
            8.0 * GIB
        };
        out.push((
            series_labels("node_memory_MemTotal_bytes", inst, &[]),
            16.0 * GIB,
        ));
        out.push((
            series_labels("node_memory_MemAvailable_bytes", inst, &[]),
            available,
        ));
        let errs_per_s = if inst == "node-1" { 2.0 } else { 0.0 };
        out.push((
            series_labels(
                "node_network_receive_errs_total",
                inst,
                &[("device", "eth0")],
            ),
            1_000.0 + errs_per_s * elapsed_s,
        ));
        let nodename = format!("host-{}", i + 1);
        out.push((
            series_labels("node_uname_info", inst, &[("nodename", &nodename)]),
            1.0,
        ));
        if inst == "node-1" && phase != Phase::Baseline {
            let duplicate = series_labels("node_uname_info", inst, &[("nodename", "host-1-new")]);
            let v = if phase == Phase::Incident {
                1.0
            } else {
                f64::from_bits(STALE_NAN_BITS)
            };
            out.push((duplicate, v));
        }
        out.push((series_labels("node_load1", inst, &[]), 0.5 + i as f64));
    }
    out
}

/// Scrapes at each of `times`, one series per label set.
pub(crate) fn scrapes(
    times: impl Iterator<Item = i64>,
    anchor_ms: i64,
    phase: Phase,
) -> Vec<TestSeries> {
    let mut by_labels: BTreeMap<SeriesLabels, Vec<(i64, f64)>> = BTreeMap::new();
    for t in times {
        for (labels, v) in scrape(t, anchor_ms, phase) {
            by_labels.entry(labels).or_default().push((t, v));
        }
    }
    by_labels.into_iter().collect()
}

/// Writes `series` to every target; panics if one refuses.
pub(crate) async fn write_all(
    client: &reqwest::Client,
    targets: &[(String, String)],
    series: &[TestSeries],
) {
    let body = encode_write_v1(series);
    let writes = targets.iter().map(|(name, base)| {
        let body = body.clone();
        async move {
            let (status, text) = post_write_v1(client, base, body)
                .await
                .unwrap_or_else(|e| panic!("remote write to {name}: {e}"));
            assert!(
                (200..300).contains(&status),
                "{name} refused a remote write ({status}): {text}"
            );
        }
    });
    futures::future::join_all(writes).await;
}

/// Writes one scrape a second to `target` (at [`WRITE_LEAD_MS`] before its timestamp, of the
/// phase `plan` says) until `stop` is set, each target on its own so that a slow one does not
/// delay the other; returns how it went.
pub(crate) async fn write_live(
    client: reqwest::Client,
    target: (String, String),
    anchor_ms: i64,
    plan: Arc<PhasePlan>,
    stop: Arc<AtomicBool>,
) -> String {
    let mut next = anchor_ms + 1000;
    let mut stats = WriteStats::default();
    while !stop.load(Ordering::Relaxed) {
        let wait = next - WRITE_LEAD_MS - now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        let started = Instant::now();
        let scrape = scrapes([next].into_iter(), anchor_ms, plan.at(next));
        write_all(&client, std::slice::from_ref(&target), &scrape).await;
        stats.writes += 1;
        stats.slowest_ms = stats.slowest_ms.max(started.elapsed().as_millis() as i64);
        if now_ms() > next {
            stats.late += 1;
        }
        next += 1000;
    }
    format!(
        "{}: {} writes, slowest {} ms, {} visible only after their timestamp",
        target.0, stats.writes, stats.slowest_ms, stats.late
    )
}

/// How the live writes went, for the report.
#[derive(Default)]
pub(crate) struct WriteStats {
    pub(crate) writes: u64,
    pub(crate) slowest_ms: i64,
    pub(crate) late: u64,
}

/// Which phase the samples of each timestamp show: the same for both targets whatever their
/// writers' timing.
#[derive(Default)]
pub(crate) struct PhasePlan {
    /// From which timestamp (ms) on each phase holds, in order.
    pub(crate) switches: Mutex<Vec<(i64, Phase)>>,
}

impl PhasePlan {
    pub(crate) fn at(&self, t_ms: i64) -> Phase {
        let switches = self.switches.lock().unwrap();
        switches
            .iter()
            .rev()
            .find(|(from, _)| *from <= t_ms)
            .map_or(Phase::Baseline, |(_, p)| *p)
    }

    /// Switches to `phase` from the first second no writer has written yet.
    pub(crate) fn switch(&self, phase: Phase) {
        let from = (now_ms() + WRITE_LEAD_MS) / 1000 * 1000 + 1000;
        self.switches.lock().unwrap().push((from, phase));
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots of both
