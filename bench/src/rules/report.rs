//! Figures of the `rules` benchmark: per measured window (from the readings at its two ends and
//! the group iterations seen during it), their medians over the windows, Tidemark/Prometheus
//! ratios, and the printed table.

use serde::Serialize;

use super::probe::{AlertCounts, Reading};
use crate::queries::quantile;
use crate::report::mib;
use crate::sender::SendStats;
use crate::systems::SystemKind;

/// What one measured window showed.
#[derive(Clone, Debug, Serialize)]
pub struct Window {
    pub seconds: f64,
    pub rules_per_s: f64,
    pub iterations_per_s: f64,
    pub missed: u64,
    pub failures: u64,
    /// Tidemark only: failed sample writes and commits of iterations.
    pub other_failures: u64,
    /// Group iterations whose duration was seen in the window.
    pub group_iterations_seen: usize,
    pub group_eval_median_s: Option<f64>,
    pub group_eval_p90_s: Option<f64>,
    /// CPU seconds (user + system) per wall second: 1.0 is one core busy.
    pub cpu_cores: f64,
    /// CPU milliseconds per rule evaluated (ingest included, see the README).
    pub cpu_ms_per_rule: Option<f64>,
    /// RSS at the window's end.
    pub rss_bytes: u64,
}

impl Window {
    /// The window from `start` to `end`, with the durations of the group iterations seen in it.
    pub fn between(start: &Reading, end: &Reading, mut durations_s: Vec<f64>) -> Window {
        let seconds = (end.at - start.at).as_secs_f64().max(1e-9);
        let evaluations = end.evaluations.saturating_sub(start.evaluations);
        let cpu_s = (end.cpu_s - start.cpu_s).max(0.0);
        durations_s.sort_by(f64::total_cmp);
        Window {
            seconds,
            rules_per_s: evaluations as f64 / seconds,
            iterations_per_s: end.iterations.saturating_sub(start.iterations) as f64 / seconds,
            missed: end.missed.saturating_sub(start.missed),
            failures: end.failures.saturating_sub(start.failures),
            other_failures: end.other_failures.saturating_sub(start.other_failures),
            group_iterations_seen: durations_s.len(),
            group_eval_median_s: quantile(&durations_s, 0.5),
            group_eval_p90_s: quantile(&durations_s, 0.9),
            cpu_cores: cpu_s / seconds,
            cpu_ms_per_rule: (evaluations > 0).then(|| cpu_s * 1000.0 / evaluations as f64),
            rss_bytes: end.rss_bytes,
        }
    }
}

/// Medians over the windows (totals for the counts).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub windows: usize,
    pub rules_per_s: f64,
    pub group_eval_median_s: Option<f64>,
    pub group_eval_p90_s: Option<f64>,
    pub missed_total: u64,
    pub failures_total: u64,
    pub other_failures_total: u64,
    pub cpu_cores: f64,
    pub cpu_ms_per_rule: Option<f64>,
    pub rss_bytes: f64,
    pub rss_max_bytes: u64,
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

impl Summary {
    pub fn of(windows: &[Window]) -> Option<Summary> {
        if windows.is_empty() {
            return None;
        }
        Some(Summary {
            windows: windows.len(),
            rules_per_s: median(windows.iter().map(|w| w.rules_per_s))?,
            group_eval_median_s: median(windows.iter().filter_map(|w| w.group_eval_median_s)),
            group_eval_p90_s: median(windows.iter().filter_map(|w| w.group_eval_p90_s)),
            missed_total: windows.iter().map(|w| w.missed).sum(),
            failures_total: windows.iter().map(|w| w.failures).sum(),
            other_failures_total: windows.iter().map(|w| w.other_failures).sum(),
            cpu_cores: median(windows.iter().map(|w| w.cpu_cores))?,
            cpu_ms_per_rule: median(windows.iter().filter_map(|w| w.cpu_ms_per_rule)),
            rss_bytes: median(windows.iter().map(|w| w.rss_bytes as f64))?,
            rss_max_bytes: windows.iter().map(|w| w.rss_bytes).max()?,
        })
    }
}

/// Everything measured on one system.
#[derive(Clone, Debug, Serialize)]
pub struct RulesResult {
    pub system: SystemKind,
    /// Set when the system could not be benchmarked to the end.
    pub failure: Option<String>,
    /// Seconds from start until every group was loaded.
    pub rules_loaded_s: Option<f64>,
    pub rss_start_bytes: Option<u64>,
    pub windows: Vec<Window>,
    pub summary: Option<Summary>,
    pub alerts_at_end: Option<AlertCounts>,
    /// The remote-write stream into the system (history and live part).
    pub ingest: Option<SendStats>,
    pub stream_samples: u64,
    pub stream_history_samples: u64,
    pub stream_lateness_ms_max: i64,
}

impl RulesResult {
    pub fn new(system: SystemKind) -> Self {
        RulesResult {
            system,
            failure: None,
            rules_loaded_s: None,
            rss_start_bytes: None,
            windows: Vec::new(),
            summary: None,
            alerts_at_end: None,
            ingest: None,
            stream_samples: 0,
            stream_history_samples: 0,
            stream_lateness_ms_max: 0,
        }
    }
}

/// Tidemark divided by Prometheus, per column.
#[derive(Clone, Debug, Serialize)]
pub struct RulesRatios {
    pub peer: SystemKind,
    pub rules_per_s: Option<f64>,
    pub group_eval_median: Option<f64>,
    pub group_eval_p90: Option<f64>,
    pub cpu_cores: Option<f64>,
    pub cpu_ms_per_rule: Option<f64>,
    pub rss: Option<f64>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Ratios of Tidemark to each other system measured.
pub fn ratios(results: &[RulesResult]) -> Vec<RulesRatios> {
    let Some(tm) = results
        .iter()
        .find(|r| r.system == SystemKind::Tidemark)
        .and_then(|r| r.summary.as_ref())
    else {
        return Vec::new();
    };
    results
        .iter()
        .filter(|r| r.system != SystemKind::Tidemark)
        .filter_map(|r| r.summary.as_ref().map(|s| (r.system, s)))
        .map(|(peer, p)| RulesRatios {
            peer,
            rules_per_s: ratio(Some(tm.rules_per_s), Some(p.rules_per_s)),
            group_eval_median: ratio(tm.group_eval_median_s, p.group_eval_median_s),
            group_eval_p90: ratio(tm.group_eval_p90_s, p.group_eval_p90_s),
            cpu_cores: ratio(Some(tm.cpu_cores), Some(p.cpu_cores)),
            cpu_ms_per_rule: ratio(tm.cpu_ms_per_rule, p.cpu_ms_per_rule),
            rss: ratio(Some(tm.rss_bytes), Some(p.rss_bytes)),
        })
        .collect()
}

/// The run's parameters, as the report states them.
#[derive(Clone, Debug, Serialize)]
pub struct RulesSetup {
    pub rules: usize,
    pub recording: usize,
    pub alerting: usize,
    pub groups: usize,
    pub rules_per_group: usize,
    pub eval_interval_s: u32,
    pub series: usize,
    pub scrape_interval_s: u32,
    pub seed: u64,
    pub history_min: u32,
    pub warmup_s: u64,
    pub window_s: u64,
    pub windows: usize,
    pub cores: usize,
}

/// The JSON document of a rules run.
#[derive(Clone, Debug, Serialize)]
pub struct RulesReport {
    pub benchmark: &'static str,
    pub setup: RulesSetup,
    pub systems: Vec<RulesResult>,
    pub ratios: Vec<RulesRatios>,
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

fn ms(s: f64) -> String {
    format!("{:.1} ms", s * 1000.0)
}

fn x(v: f64) -> String {
    format!("{v:.2}x")
}

/// The human-readable report.
pub fn render(report: &RulesReport) -> String {
    let s = &report.setup;
    let mut out = format!(
        "\nRules: {} rules ({} recording, {} alerting) in {} groups of {}, every {} s, over {} node-exporter series \
         scraped every {} s ({:.0} samples/s by remote write, {} min of history first); \
         {} windows of {} s after {} s of warm-up, medians over the windows; {} cores\n\n",
        s.rules,
        s.recording,
        s.alerting,
        s.groups,
        s.rules_per_group,
        s.eval_interval_s,
        s.series,
        s.scrape_interval_s,
        s.series as f64 / f64::from(s.scrape_interval_s.max(1)),
        s.history_min,
        s.windows,
        s.window_s,
        s.warmup_s,
        s.cores,
    );
    let header = format!(
        "{:<20} | {:>8} | {:>10} | {:>10} | {:>6} | {:>8} | {:>7} | {:>9} | {:>10} | {:>9}\n",
        "system",
        "rules/s",
        "group p50",
        "group p90",
        "missed",
        "failures",
        "CPU",
        "CPU/rule",
        "RSS",
        "alerts"
    );
    out.push_str(&header);
    out.push_str(&format!("{}\n", "-".repeat(header.len() - 1)));
    for r in &report.systems {
        let Some(sum) = &r.summary else {
            out.push_str(&format!("{:<20} | (no figures)\n", r.system.name()));
            continue;
        };
        out.push_str(&format!(
            "{:<20} | {:>8.1} | {:>10} | {:>10} | {:>6} | {:>8} | {:>7} | {:>9} | {:>10} | {:>9}\n",
            r.system.name(),
            sum.rules_per_s,
            opt(sum.group_eval_median_s, ms),
            opt(sum.group_eval_p90_s, ms),
            sum.missed_total,
            sum.failures_total + sum.other_failures_total,
            format!("{:.0}%", sum.cpu_cores * 100.0),
            opt(sum.cpu_ms_per_rule, |v| format!("{v:.2} ms")),
            mib(sum.rss_bytes),
            r.alerts_at_end
                .map_or("-".to_string(), |a| format!("{}/{}", a.firing, a.pending)),
        ));
    }
    for q in &report.ratios {
        out.push_str(&format!(
            "{:<20} | {:>8} | {:>10} | {:>10} | {:>6} | {:>8} | {:>7} | {:>9} | {:>10} | {:>9}\n",
            format!("tidemark/{}", q.peer.name()),
            opt(q.rules_per_s, x),
            opt(q.group_eval_median, x),
            opt(q.group_eval_p90, x),
            "",
            "",
            opt(q.cpu_cores, x),
            opt(q.cpu_ms_per_rule, x),
            opt(q.rss, x),
            "",
        ));
    }
    out.push_str(
        "\nrules/s: rules evaluated per second; group p50/p90: duration of one group's iteration \
         (each system's own figure); missed: iterations skipped over all windows; failures: failed \
         rule evaluations (Tidemark: plus failed sample writes and commits); CPU: user + system \
         time of the process per wall second (100% = one core; ingest and polling included); \
         CPU/rule: CPU time per rule evaluated; RSS: resident memory; alerts: firing/pending at \
         the end.\n",
    );

    out.push_str("\nPer window:\n");
    for r in &report.systems {
        out.push_str(&format!("  {}:", r.system.name()));
        if let Some(f) = &r.failure {
            out.push_str(&format!(" FAILED: {f}"));
        }
        if let Some(t) = r.rules_loaded_s {
            out.push_str(&format!(" rules loaded {t:.1} s after start;"));
        }
        if let Some(i) = &r.ingest {
            out.push_str(&format!(
                " {} samples streamed ({} history), {} requests failed, ack p50 {:.1} ms p99 {:.1} ms, latest sample {} ms late",
                i.samples_sent_ok,
                r.stream_history_samples,
                i.requests_failed,
                i.ack_ms_p50,
                i.ack_ms_p99,
                r.stream_lateness_ms_max
            ));
            for e in &i.errors {
                out.push_str(&format!("\n    ingest error: {e}"));
            }
        }
        out.push('\n');
        for (n, w) in r.windows.iter().enumerate() {
            out.push_str(&format!(
                "    {n}: {:.1} s, {:.1} rules/s, {:.2} iterations/s, {} groups seen p50 {} p90 {}, missed {}, failures {}+{}, CPU {:.0}%, RSS {}\n",
                w.seconds,
                w.rules_per_s,
                w.iterations_per_s,
                w.group_iterations_seen,
                opt(w.group_eval_median_s, ms),
                opt(w.group_eval_p90_s, ms),
                w.missed,
                w.failures,
                w.other_failures,
                w.cpu_cores * 100.0,
                mib(w.rss_bytes as f64),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn reading(at: Instant, iterations: u64, cpu_s: f64) -> Reading {
        Reading {
            at,
            groups_loaded: 2,
            iterations,
            evaluations: iterations * 50,
            missed: 0,
            failures: 0,
            other_failures: 0,
            groups: Vec::new(),
            cpu_s,
            rss_bytes: 100,
        }
    }

    #[test]
    fn window_rates_and_summary_medians() {
        let t = Instant::now();
        let a = reading(t, 10, 1.0);
        let b = reading(t + Duration::from_secs(10), 30, 3.0);
        let c = reading(t + Duration::from_secs(20), 40, 4.0);
        let w1 = Window::between(&a, &b, vec![0.3, 0.1, 0.2]);
        assert!((w1.rules_per_s - 100.0).abs() < 1e-9);
        assert!((w1.cpu_cores - 0.2).abs() < 1e-9);
        assert_eq!(w1.group_eval_median_s, Some(0.2));
        assert!((w1.cpu_ms_per_rule.unwrap() - 2.0).abs() < 1e-9);
        let w2 = Window::between(&b, &c, vec![]);
        assert_eq!(w2.group_eval_median_s, None);
        let s = Summary::of(&[w1, w2]).unwrap();
        // Nearest-rank median: the lower of two.
        assert!((s.rules_per_s - 50.0).abs() < 1e-9);
        assert_eq!(s.group_eval_median_s, Some(0.2));
    }
}
