//! Result records (written as JSON) and the side-by-side table with Tidemark/peer ratios.

use serde::Serialize;

use crate::queries::{QueryResult, quantile};
use crate::sender::SendStats;
use crate::systems::{DiskMeasure, SystemKind};

/// The dataset a run replayed.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetInfo {
    pub kind: &'static str,
    pub seed: u64,
    pub series: usize,
    pub samples: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub interval_s: f64,
    pub steps: u32,
    pub requests: usize,
    pub shards: usize,
    pub batch_samples_max: u32,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub generate_encode_s: f64,
    /// The generator's estimate of the information per sample (values and timestamps): about
    /// the fewest bytes per sample any lossless store could keep (see
    /// `tidemark_testkit::dataset::information`).
    pub information_bytes_per_sample: f64,
    /// The same for a store that codes each series alone (a histogram's series apart).
    pub information_per_series_bytes_per_sample: f64,
}

/// Everything measured on one system in the ingest benchmark.
#[derive(Clone, Debug, Serialize)]
pub struct SystemResult {
    pub system: SystemKind,
    /// Set when the system could not be benchmarked to the end.
    pub failure: Option<String>,
    /// Problems that did not stop the run (e.g. a failed flush: the disk is then not measured).
    pub errors: Vec<String>,
    pub ready_s: Option<f64>,
    pub ingest: Option<SendStats>,
    pub rss_before_ingest_bytes: Option<u64>,
    pub rss_after_ingest_bytes: Option<u64>,
    /// CPU seconds (user + system) the server used during ingest.
    pub ingest_cpu_s: Option<f64>,
    pub disk: Option<DiskMeasure>,
    pub bytes_per_sample: Option<f64>,
    pub queries: Vec<QueryResult>,
    pub query_median_ms: Option<f64>,
    pub query_p90_ms: Option<f64>,
    pub query_failures: usize,
    /// Range queries repeated as a dashboard refreshes them, results caches on.
    pub refreshes: Vec<crate::queries::RefreshResult>,
    pub refresh_median_ms: Option<f64>,
    pub refresh_p90_ms: Option<f64>,
    /// Tidemark's: the share of the refreshes' steps its results cache answered.
    pub results_cache_hit_rate: Option<f64>,
}

impl SystemResult {
    pub fn new(system: SystemKind) -> Self {
        SystemResult {
            system,
            failure: None,
            errors: Vec::new(),
            ready_s: None,
            ingest: None,
            rss_before_ingest_bytes: None,
            rss_after_ingest_bytes: None,
            ingest_cpu_s: None,
            disk: None,
            bytes_per_sample: None,
            queries: Vec::new(),
            query_median_ms: None,
            query_p90_ms: None,
            query_failures: 0,
            refreshes: Vec::new(),
            refresh_median_ms: None,
            refresh_p90_ms: None,
            results_cache_hit_rate: None,
        }
    }

    /// Pools every timed execution of every query into median and p90.
    pub fn summarize_queries(&mut self) {
        let mut all: Vec<f64> = self
            .queries
            .iter()
            .flat_map(|q| q.latencies_ms.iter().copied())
            .collect();
        all.sort_by(f64::total_cmp);
        self.query_median_ms = quantile(&all, 0.5);
        self.query_p90_ms = quantile(&all, 0.9);
        self.query_failures = self.queries.iter().filter(|q| q.error.is_some()).count();
        let mut refreshes: Vec<f64> = self
            .refreshes
            .iter()
            .flat_map(|q| q.latencies_ms.iter().copied())
            .collect();
        refreshes.sort_by(f64::total_cmp);
        self.refresh_median_ms = quantile(&refreshes, 0.5);
        self.refresh_p90_ms = quantile(&refreshes, 0.9);
        self.query_failures += self.refreshes.iter().filter(|q| q.error.is_some()).count();
    }

    fn ingest_rate(&self) -> Option<f64> {
        self.ingest
            .as_ref()
            .map(|i| i.samples_per_s)
            .filter(|r| *r > 0.0)
    }
}

/// A query whose result had different series counts on different systems.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    pub query: String,
    pub series_by_system: Vec<(SystemKind, Option<usize>)>,
}

/// Tidemark divided by one peer, per column (for rates, >1 is better for Tidemark; for the rest,
/// <1 is better).
#[derive(Clone, Debug, Serialize)]
pub struct Ratios {
    pub peer: SystemKind,
    pub ingest_samples_per_s: Option<f64>,
    pub rss_after_ingest: Option<f64>,
    pub bytes_per_sample: Option<f64>,
    pub query_median: Option<f64>,
    pub query_p90: Option<f64>,
    pub refresh_median: Option<f64>,
    pub refresh_p90: Option<f64>,
}

/// The JSON document of an ingest run.
#[derive(Clone, Debug, Serialize)]
pub struct IngestReport {
    pub benchmark: &'static str,
    pub dataset: DatasetInfo,
    pub query_runs: u32,
    pub systems: Vec<SystemResult>,
    pub ratios: Vec<Ratios>,
    pub mismatches: Vec<Mismatch>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Ratios of Tidemark to each peer that was measured.
pub fn ratios(systems: &[SystemResult]) -> Vec<Ratios> {
    let Some(tm) = systems.iter().find(|s| s.system == SystemKind::Tidemark) else {
        return Vec::new();
    };
    systems
        .iter()
        .filter(|s| s.system != SystemKind::Tidemark)
        .map(|peer| Ratios {
            peer: peer.system,
            ingest_samples_per_s: ratio(tm.ingest_rate(), peer.ingest_rate()),
            rss_after_ingest: ratio(
                tm.rss_after_ingest_bytes.map(|v| v as f64),
                peer.rss_after_ingest_bytes.map(|v| v as f64),
            ),
            bytes_per_sample: ratio(tm.bytes_per_sample, peer.bytes_per_sample),
            query_median: ratio(tm.query_median_ms, peer.query_median_ms),
            query_p90: ratio(tm.query_p90_ms, peer.query_p90_ms),
            refresh_median: ratio(tm.refresh_median_ms, peer.refresh_median_ms),
            refresh_p90: ratio(tm.refresh_p90_ms, peer.refresh_p90_ms),
        })
        .collect()
}

/// Queries whose series counts differ between systems that answered them.
pub fn mismatches(systems: &[SystemResult]) -> Vec<Mismatch> {
    let Some(first) = systems.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, q) in first.queries.iter().enumerate() {
        let counts: Vec<(SystemKind, Option<usize>)> = systems
            .iter()
            .filter(|s| s.failure.is_none())
            .map(|s| (s.system, s.queries.get(i).and_then(|r| r.series)))
            .collect();
        let distinct: std::collections::BTreeSet<Option<usize>> =
            counts.iter().map(|c| c.1).collect();
        if distinct.len() > 1 {
            out.push(Mismatch {
                query: q.name.clone(),
                series_by_system: counts,
            });
        }
    }
    out
}

fn fmt_opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

pub fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1_048_576.0)
}

fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The human-readable report of an ingest run.
pub fn render_ingest(report: &IngestReport) -> String {
    let mut out = String::new();
    let d = &report.dataset;
    out.push_str(&format!(
        "\nDataset: {} series x {} scrapes every {} s = {} samples ({}, seed {}), {} requests of <= {} samples over {} shards, {} compressed\n\n",
        d.series,
        d.steps,
        d.interval_s,
        thousands(d.samples as f64),
        d.kind,
        d.seed,
        d.requests,
        d.batch_samples_max,
        d.shards,
        mib(d.compressed_bytes as f64)
    ));
    out.push_str(&format!(
        "Information in the data (the generator's estimate of what a lossless store must keep): \
         {:.3} bytes/sample, {:.3} coding each series alone\n\n",
        d.information_bytes_per_sample, d.information_per_series_bytes_per_sample
    ));
    out.push_str(&format!(
        "{:<20} | {:>17} | {:>16} | {:>12} | {:>12} | {:>12}\n",
        "system",
        "ingest samples/s",
        "RSS after ingest",
        "bytes/sample",
        "query median",
        "query p90"
    ));
    out.push_str(&format!("{}\n", "-".repeat(20 + 17 + 16 + 12 * 3 + 15)));
    for s in &report.systems {
        out.push_str(&format!(
            "{:<20} | {:>17} | {:>16} | {:>12} | {:>12} | {:>12}\n",
            s.system.name(),
            fmt_opt(s.ingest_rate(), thousands),
            fmt_opt(s.rss_after_ingest_bytes.map(|v| v as f64), mib),
            fmt_opt(s.bytes_per_sample, |v| format!("{v:.3}")),
            fmt_opt(s.query_median_ms, |v| format!("{v:.1} ms")),
            fmt_opt(s.query_p90_ms, |v| format!("{v:.1} ms")),
        ));
    }
    for r in &report.ratios {
        out.push_str(&format!(
            "{:<20} | {:>17} | {:>16} | {:>12} | {:>12} | {:>12}\n",
            format!("tidemark/{}", short(r.peer)),
            fmt_opt(r.ingest_samples_per_s, |v| format!("{v:.2}x")),
            fmt_opt(r.rss_after_ingest, |v| format!("{v:.2}x")),
            fmt_opt(r.bytes_per_sample, |v| format!("{v:.2}x")),
            fmt_opt(r.query_median, |v| format!("{v:.2}x")),
            fmt_opt(r.query_p90, |v| format!("{v:.2}x")),
        ));
    }

    if report.systems.iter().any(|s| s.refresh_median_ms.is_some()) {
        out.push_str(&format!(
            "\nDashboard refreshes (range queries step-aligned, results caches on):\n{:<20} | {:>14} | {:>14} | {:>14}\n",
            "system", "refresh median", "refresh p90", "cache hit rate"
        ));
        for s in &report.systems {
            out.push_str(&format!(
                "{:<20} | {:>14} | {:>14} | {:>14}\n",
                s.system.name(),
                fmt_opt(s.refresh_median_ms, |v| format!("{v:.1} ms")),
                fmt_opt(s.refresh_p90_ms, |v| format!("{v:.1} ms")),
                fmt_opt(s.results_cache_hit_rate, |v| format!("{:.1}%", v * 100.0)),
            ));
        }
        for r in &report.ratios {
            out.push_str(&format!(
                "{:<20} | {:>14} | {:>14} |\n",
                format!("tidemark/{}", short(r.peer)),
                fmt_opt(r.refresh_median, |v| format!("{v:.2}x")),
                fmt_opt(r.refresh_p90, |v| format!("{v:.2}x")),
            ));
        }
    }

    let rate = |k: SystemKind| {
        report
            .systems
            .iter()
            .find(|s| s.system == k)
            .and_then(|s| s.ingest_rate())
    };
    if let Some(r) = ratio(rate(SystemKind::TidemarkRf3), rate(SystemKind::Tidemark)) {
        out.push_str(&format!(
            "\ntidemark-rf3/tidemark ingest: {r:.2}x (three replicas share this machine's cores: 0.33x is the ceiling)\n"
        ));
    }

    out.push_str("\nDetails per system:\n");
    for s in &report.systems {
        out.push_str(&format!("  {}:", s.system.name()));
        if let Some(f) = &s.failure {
            out.push_str(&format!(" FAILED: {f}"));
        }
        if let Some(i) = &s.ingest {
            out.push_str(&format!(
                " ingested {} samples in {:.1} s, {} requests failed, retries 429={} 503={} network={}",
                i.samples_sent_ok, i.wall_s, i.requests_failed, i.retries_429, i.retries_503, i.retries_network
            ));
            out.push_str(&format!(
                "\n    write ack latency: p50 {:.1} ms, p99 {:.1} ms",
                i.ack_ms_p50, i.ack_ms_p99
            ));
            for e in &i.errors {
                out.push_str(&format!("\n    ingest error: {e}"));
            }
        }
        if let Some(disk) = &s.disk {
            out.push_str(&format!(
                "\n    disk: {} measured ({}), whole data dir {}",
                mib(disk.data_bytes as f64),
                disk.how,
                mib(disk.dir_bytes as f64)
            ));
        }
        if let (Some(cpu), Some(ingest)) = (s.ingest_cpu_s, &s.ingest) {
            out.push_str(&format!(
                "\n    CPU: {cpu:.1} s (user + system) for the ingest = {:.2} us per sample",
                cpu * 1e6 / ingest.samples_sent_ok.max(1) as f64
            ));
        }
        if let (Some(before), Some(after)) = (s.rss_before_ingest_bytes, s.rss_after_ingest_bytes) {
            out.push_str(&format!(
                "\n    RSS: {} before ingest, {} after",
                mib(before as f64),
                mib(after as f64)
            ));
        }
        out.push('\n');
    }

    if let Some(first) = report.systems.iter().find(|s| !s.queries.is_empty()) {
        out.push_str("\nQuery median ms (series in result):\n");
        out.push_str(&format!("  {:<32}", "query"));
        for s in &report.systems {
            out.push_str(&format!(" {:>22}", s.system.name()));
        }
        out.push('\n');
        for (i, q) in first.queries.iter().enumerate() {
            out.push_str(&format!("  {:<32}", q.name));
            for s in &report.systems {
                let cell = match s.queries.get(i) {
                    Some(r) if r.error.is_some() && r.median_ms.is_none() => "ERROR".to_string(),
                    Some(r) => format!(
                        "{} ({})",
                        fmt_opt(r.median_ms, |v| format!("{v:.1}")),
                        r.series.map_or("-".to_string(), |n| n.to_string())
                    ),
                    None => "-".to_string(),
                };
                out.push_str(&format!(" {cell:>22}"));
            }
            out.push('\n');
        }
        for s in &report.systems {
            for q in s.queries.iter().filter(|q| q.error.is_some()) {
                out.push_str(&format!(
                    "  {} {}: {}\n",
                    s.system.name(),
                    q.name,
                    q.error.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    if !report.mismatches.is_empty() {
        out.push_str("\nSeries-count mismatches between systems:\n");
        for m in &report.mismatches {
            let parts: Vec<String> = m
                .series_by_system
                .iter()
                .map(|(k, n)| {
                    format!(
                        "{}={}",
                        k.name(),
                        n.map_or("-".to_string(), |n| n.to_string())
                    )
                })
                .collect();
            out.push_str(&format!("  {}: {}\n", m.query, parts.join(" ")));
        }
    }
    out
}

fn short(kind: SystemKind) -> &'static str {
    match kind {
        SystemKind::Tidemark => "tidemark",
        SystemKind::TidemarkRf3 => "rf3",
        SystemKind::VictoriaMetrics => "vm",
        SystemKind::Prometheus => "prometheus",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }

    #[test]
    fn ratios_need_tidemark_and_both_values() {
        let mut tm = SystemResult::new(SystemKind::Tidemark);
        tm.bytes_per_sample = Some(1.0);
        let mut vm = SystemResult::new(SystemKind::VictoriaMetrics);
        vm.bytes_per_sample = Some(2.0);
        let r = ratios(&[tm, vm.clone()]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].bytes_per_sample, Some(0.5));
        assert_eq!(r[0].query_median, None);
        assert!(ratios(&[vm]).is_empty());
    }
}
