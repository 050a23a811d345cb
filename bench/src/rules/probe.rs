//! Reading a system's ruler from the outside, through what each exposes:
//! - Tidemark: `GET /api/v1/status/ruler` (counters: `iterations` done, `missedIterations`,
//!   `failedEvaluations`, `failedWrites`, `failedCommits`; `groups` loaded) and
//!   `GET /api/v1/rules?exclude_alerts=true` (each group's `evaluationTime` and
//!   `lastEvaluation`). It has no rule-evaluation counter: evaluations are iterations x rules
//!   per group (every generated group holds the same number).
//! - Prometheus: its own `/metrics`: `prometheus_rule_group_iterations_total` (scheduled, missed
//!   ones included, so done = scheduled - missed), `prometheus_rule_group_iterations_missed_total`,
//!   `prometheus_rule_evaluations_total`, `prometheus_rule_evaluation_failures_total`,
//!   `prometheus_rule_group_last_duration_seconds` and
//!   `prometheus_rule_group_last_evaluation_timestamp_seconds`, per `rule_group`.
//!
//! Both expose the duration of a group's last iteration only; an iteration is told apart from
//! the previous one by its last-evaluation time, so polling at half the interval sees each one.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::exposition::{label, parse_sample};
use crate::systems::{RunningSystem, SystemKind, truncate};

/// Timeout of one status request.
const PROBE_TIMEOUT_MS: u64 = 10_000;

/// The last iteration of one group as a reading showed it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupLast {
    pub group: String,
    /// Identifies the iteration (its last-evaluation time, as the system wrote it).
    pub iteration: String,
    pub duration_s: f64,
}

/// One reading of a system's ruler counters and process.
#[derive(Clone, Debug)]
pub struct Reading {
    pub at: Instant,
    pub groups_loaded: usize,
    /// Iterations done (missed ones excluded).
    pub iterations: u64,
    /// Rules evaluated.
    pub evaluations: u64,
    pub missed: u64,
    /// Failed rule evaluations.
    pub failures: u64,
    /// Tidemark only: iterations whose samples were not all written, or whose commit failed.
    pub other_failures: u64,
    pub groups: Vec<GroupLast>,
    pub cpu_s: f64,
    pub rss_bytes: u64,
}

/// Alerts active at one moment.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct AlertCounts {
    pub firing: u64,
    pub pending: u64,
}

/// Reads `system`'s ruler (see the module doc) and its process.
pub async fn read(
    client: &reqwest::Client,
    system: &RunningSystem,
    rules_per_group: usize,
) -> Result<Reading> {
    let at = Instant::now();
    let mut reading = match system.kind {
        SystemKind::Tidemark => {
            let status = get_json(client, &system.url("/api/v1/status/ruler")).await?;
            let rules = get_json(client, &system.url("/api/v1/rules?exclude_alerts=true")).await?;
            tidemark_reading(&status, &rules, rules_per_group, at)?
        }
        SystemKind::Prometheus => {
            let text = get_text(client, &system.url("/metrics")).await?;
            prometheus_reading(&text, at)
        }
        other => bail!("the rules benchmark does not support {}", other.name()),
    };
    reading.cpu_s = system.cpu_seconds()?;
    reading.rss_bytes = system.rss_bytes()?;
    Ok(reading)
}

/// Firing and pending alerts (`GET /api/v1/alerts`, the same API on both).
pub async fn alerts(client: &reqwest::Client, system: &RunningSystem) -> Result<AlertCounts> {
    let json = get_json(client, &system.url("/api/v1/alerts")).await?;
    let mut counts = AlertCounts::default();
    for alert in json["data"]["alerts"]
        .as_array()
        .context("/api/v1/alerts without data.alerts")?
    {
        match alert["state"].as_str() {
            Some("firing") => counts.firing += 1,
            Some("pending") => counts.pending += 1,
            _ => {}
        }
    }
    Ok(counts)
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String> {
    let resp = client
        .get(url)
        .timeout(Duration::from_millis(PROBE_TIMEOUT_MS))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}: {}", truncate(&body, 300));
    }
    Ok(body)
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<serde_json::Value> {
    let body = get_text(client, url).await?;
    serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON"))
}

fn tidemark_reading(
    status: &serde_json::Value,
    rules: &serde_json::Value,
    rules_per_group: usize,
    at: Instant,
) -> Result<Reading> {
    let data = &status["data"];
    let counter = |name: &str| -> Result<u64> {
        data[name]
            .as_u64()
            .with_context(|| format!("/api/v1/status/ruler without {name}"))
    };
    let iterations = counter("iterations")?;
    let groups = rules["data"]["groups"]
        .as_array()
        .context("/api/v1/rules without data.groups")?
        .iter()
        .map(|g| GroupLast {
            group: g["name"].as_str().unwrap_or_default().to_string(),
            iteration: g["lastEvaluation"].as_str().unwrap_or_default().to_string(),
            duration_s: g["evaluationTime"].as_f64().unwrap_or(0.0),
        })
        // Groups not evaluated yet show Go's zero time.
        .filter(|g| !g.iteration.starts_with("0001-"))
        .collect();
    Ok(Reading {
        at,
        groups_loaded: data["groups"].as_u64().unwrap_or(0) as usize,
        iterations,
        evaluations: iterations * rules_per_group as u64,
        missed: counter("missedIterations")?,
        failures: counter("failedEvaluations")?,
        other_failures: counter("failedWrites")? + counter("failedCommits")?,
        groups,
        cpu_s: 0.0,
        rss_bytes: 0,
    })
}

fn prometheus_reading(metrics: &str, at: Instant) -> Reading {
    let (mut scheduled, mut missed, mut evaluations, mut failures) = (0.0, 0.0, 0.0, 0.0);
    let mut groups_loaded = 0;
    // Per group: (last evaluation timestamp as written, last duration).
    let mut last: std::collections::BTreeMap<String, (String, f64)> = Default::default();
    for line in metrics.lines() {
        let Some((name, labels, value)) = parse_sample(line) else {
            continue;
        };
        let group = || {
            label(labels, "rule_group")
                .map(|g| g.rsplit_once(';').map_or(g, |(_, name)| name).to_string())
        };
        match name {
            "prometheus_rule_group_iterations_total" => scheduled += value,
            "prometheus_rule_group_iterations_missed_total" => missed += value,
            "prometheus_rule_evaluations_total" => evaluations += value,
            "prometheus_rule_evaluation_failures_total" => failures += value,
            "prometheus_rule_group_rules" => groups_loaded += 1,
            "prometheus_rule_group_last_duration_seconds" => {
                if let Some(g) = group() {
                    last.entry(g).or_default().1 = value;
                }
            }
            "prometheus_rule_group_last_evaluation_timestamp_seconds" => {
                if let Some(g) = group() {
                    // Not evaluated yet: Prometheus shows the zero time (a negative number).
                    if value > 0.0 {
                        last.entry(g).or_default().0 = value.to_string();
                    }
                }
            }
            _ => {}
        }
    }
    Reading {
        at,
        groups_loaded,
        iterations: (scheduled - missed).max(0.0) as u64,
        evaluations: evaluations as u64,
        missed: missed as u64,
        failures: failures as u64,
        other_failures: 0,
        groups: last
            .into_iter()
            .filter(|(_, (iteration, _))| !iteration.is_empty())
            .map(|(group, (iteration, duration_s))| GroupLast {
                group,
                iteration,
                duration_s,
            })
            .collect(),
        cpu_s: 0.0,
        rss_bytes: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_metrics_are_summed_and_grouped() {
        let text = r#"# HELP prometheus_rule_group_iterations_total The total number of scheduled iterations of a rule group.
# TYPE prometheus_rule_group_iterations_total counter
prometheus_rule_group_iterations_total{rule_group="/tmp/x/rules.yml;bench-000"} 12
prometheus_rule_group_iterations_total{rule_group="/tmp/x/rules.yml;bench-001"} 11
prometheus_rule_group_iterations_missed_total{rule_group="/tmp/x/rules.yml;bench-000"} 1
prometheus_rule_group_iterations_missed_total{rule_group="/tmp/x/rules.yml;bench-001"} 0
prometheus_rule_evaluations_total{rule_group="/tmp/x/rules.yml;bench-000"} 550
prometheus_rule_evaluations_total{rule_group="/tmp/x/rules.yml;bench-001"} 550
prometheus_rule_evaluation_failures_total{rule_group="/tmp/x/rules.yml;bench-000"} 2
prometheus_rule_group_rules{rule_group="/tmp/x/rules.yml;bench-000"} 50
prometheus_rule_group_rules{rule_group="/tmp/x/rules.yml;bench-001"} 50
prometheus_rule_group_last_duration_seconds{rule_group="/tmp/x/rules.yml;bench-000"} 0.25
prometheus_rule_group_last_duration_seconds{rule_group="/tmp/x/rules.yml;bench-001"} 0
prometheus_rule_group_last_evaluation_timestamp_seconds{rule_group="/tmp/x/rules.yml;bench-000"} 1.7e+09
prometheus_rule_group_last_evaluation_timestamp_seconds{rule_group="/tmp/x/rules.yml;bench-001"} -6.795364578871e+09
process_cpu_seconds_total 3.5
"#;
        let r = prometheus_reading(text, Instant::now());
        assert_eq!(r.groups_loaded, 2);
        assert_eq!(
            (r.iterations, r.missed, r.evaluations, r.failures),
            (22, 1, 1100, 2)
        );
        assert_eq!(
            r.groups,
            vec![GroupLast {
                group: "bench-000".into(),
                iteration: "1700000000".into(),
                duration_s: 0.25
            }]
        );
    }

    #[test]
    fn tidemark_status_and_rules() {
        let status = serde_json::json!({"status": "success", "data": {
            "leader": 1, "term": 1, "namespaces": 1, "groups": 2, "iterations": 7,
            "missedIterations": 1, "failedEvaluations": 3, "failedWrites": 1, "failedCommits": 0,
            "alertsSent": 0}});
        let rules = serde_json::json!({"status": "success", "data": {"groups": [
            {"name": "bench-000", "file": "f", "evaluationTime": 0.5,
             "lastEvaluation": "2026-12-05T10:00:00.123Z"},
            {"name": "bench-001", "file": "f", "evaluationTime": 0.0,
             "lastEvaluation": "0001-01-01T00:00:00Z"}]}});
        let r = tidemark_reading(&status, &rules, 50, Instant::now()).unwrap();
        assert_eq!(r.groups_loaded, 2);
        assert_eq!((r.iterations, r.evaluations, r.missed), (7, 350, 1));
        assert_eq!((r.failures, r.other_failures), (3, 1));
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.groups[0].duration_s, 0.5);
    }
}
