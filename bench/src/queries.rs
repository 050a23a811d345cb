//! The fixed dashboard-style query sets and their runner: each query once to warm up (its result is
//! the one checked: success and non-empty), then `runs` timed executions; latency per query and
//! pooled over the set. Queries go as form-encoded POSTs, as Grafana sends them.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::systems::truncate;

/// Timeout of one query execution.
const QUERY_TIMEOUT_MS: u64 = 120_000;

/// Instant or range evaluation.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum QueryKind {
    /// Evaluated at the dataset's end.
    Instant,
    /// Over the last `window_s` seconds of the dataset with `step_s` resolution.
    Range { window_s: i64, step_s: i64 },
}

/// One query of the set.
#[derive(Clone, Debug, Serialize)]
pub struct QuerySpec {
    pub name: &'static str,
    pub expr: String,
    pub kind: QueryKind,
}

const HOUR: i64 = 3_600;

/// The node-exporter dashboard set (needs `host-00003` to exist: about 500 series, 800 of
/// `fleet`): 21 queries over one host to all of them, then three range queries over the
/// dataset's last 6 h at a 1-minute step over every host, as a fleet dashboard runs them.
pub fn node_exporter_queries(dataset_hours: f64) -> Vec<QuerySpec> {
    let long = ((dataset_hours * 3600.0) as i64).clamp(HOUR, 6 * HOUR);
    let range = |window_s| QueryKind::Range {
        window_s,
        step_s: 60,
    };
    let q = |name, expr: &str, kind| QuerySpec {
        name,
        expr: expr.to_string(),
        kind,
    };
    vec![
        q(
            "cpu_busy_by_instance_1h",
            r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
            range(HOUR),
        ),
        q(
            "cpu_by_mode_6h",
            "avg by (mode) (rate(node_cpu_seconds_total[5m]))",
            range(long),
        ),
        q(
            "cpu_util_pct_1h",
            r#"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))"#,
            range(HOUR),
        ),
        q(
            "topk_net_rx_1h",
            "topk(10, rate(node_network_receive_bytes_total[5m]))",
            range(HOUR),
        ),
        q(
            "disk_write_by_device_6h",
            "sum by (device) (rate(node_disk_written_bytes_total[5m]))",
            range(long),
        ),
        q(
            "load1_avg_over_time_1h",
            "avg_over_time(node_load1[5m])",
            range(HOUR),
        ),
        q(
            "raw_mem_available_one_host_6h",
            r#"node_memory_MemAvailable_bytes{instance="host-00001:9100"}"#,
            range(long),
        ),
        q(
            "mem_used_ratio_by_pool_6h",
            "avg by (pool) (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
            range(long),
        ),
        q(
            "fs_avail_ratio",
            r#"node_filesystem_avail_bytes{fstype!="tmpfs"} / node_filesystem_size_bytes"#,
            QueryKind::Instant,
        ),
        q(
            "load5_max_over_time_1h",
            "max_over_time(node_load5[1h])",
            QueryKind::Instant,
        ),
        q(
            "net_tx_increase_1h",
            "increase(node_network_transmit_bytes_total[1h])",
            QueryKind::Instant,
        ),
        q(
            "targets_count_by_pool",
            "count by (pool) (node_load1)",
            QueryKind::Instant,
        ),
        q(
            "raw_cpu_one_host_5m",
            r#"node_cpu_seconds_total{instance="host-00003:9100", cpu="0"}[5m]"#,
            QueryKind::Instant,
        ),
        q(
            "bottomk_fs_avail",
            r#"bottomk(5, node_filesystem_avail_bytes{mountpoint="/"})"#,
            QueryKind::Instant,
        ),
        q(
            "net_rx_by_instance_irate_1h",
            "sum by (instance) (irate(node_network_receive_bytes_total[5m]))",
            range(3600),
        ),
        q(
            "mem_used_bytes_by_pool_6h",
            "sum by (pool) (node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes)",
            range(6 * 3600),
        ),
        q(
            "disk_read_one_host_6h",
            r#"rate(node_disk_read_bytes_total{instance="host-00002:9100"}[5m])"#,
            range(6 * 3600),
        ),
        q(
            "load5_p90_by_pool_1h",
            "quantile by (pool) (0.9, node_load5)",
            range(3600),
        ),
        q(
            "fs_used_max_by_instance_6h",
            r#"max by (instance) (1 - node_filesystem_avail_bytes{fstype!="tmpfs"} / node_filesystem_size_bytes{fstype!="tmpfs"})"#,
            range(6 * 3600),
        ),
        q(
            "host_count",
            "count(count by (instance) (node_cpu_seconds_total))",
            QueryKind::Instant,
        ),
        q(
            "fs_fill_forecast",
            r#"predict_linear(node_filesystem_avail_bytes{mountpoint="/"}[1h], 4 * 3600)"#,
            QueryKind::Instant,
        ),
        q(
            "cpu_rate_sum_6h",
            "sum(rate(node_cpu_seconds_total[5m]))",
            range(long),
        ),
        q(
            "net_rx_increase_by_instance_6h",
            "sum by (instance) (increase(node_network_receive_bytes_total[1h]))",
            range(long),
        ),
        q(
            "fs_fill_forecast_6h",
            r#"predict_linear(node_filesystem_avail_bytes{fstype!="tmpfs"}[1h], 4 * 3600)"#,
            range(long),
        ),
    ]
}

/// The application dashboard set over the `fleet` dataset's request histograms and counters:
/// range queries over its last 6 h at a 1-minute step, each over every host's application
/// (quantiles over bucket rates, request rates, error ratios, mean latency).
pub fn app_queries(dataset_hours: f64) -> Vec<QuerySpec> {
    let long = ((dataset_hours * 3600.0) as i64).clamp(HOUR, 6 * HOUR);
    let q = |name, expr: &str| QuerySpec {
        name,
        expr: expr.to_string(),
        kind: QueryKind::Range {
            window_s: long,
            step_s: 60,
        },
    };
    vec![
        q(
            "http_p99_by_handler_6h",
            "histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        q(
            "http_p90_6h",
            "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        q(
            "http_rps_by_pool_6h",
            "sum by (pool) (rate(http_requests_total[5m]))",
        ),
        q(
            "http_increase_by_code_6h",
            "sum by (code) (increase(http_requests_total[1h]))",
        ),
        q(
            "http_error_ratio_by_handler_6h",
            r#"sum by (handler) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (handler) (rate(http_requests_total[5m]))"#,
        ),
        q(
            "http_mean_latency_by_handler_6h",
            "sum by (handler) (rate(http_request_duration_seconds_sum[5m])) / sum by (handler) (rate(http_request_duration_seconds_count[5m]))",
        ),
    ]
}

/// Outcome of one query on one system.
#[derive(Clone, Debug, Serialize)]
pub struct QueryResult {
    pub name: String,
    pub expr: String,
    /// Series in the (checked) result; `None` if the query failed.
    pub series: Option<usize>,
    /// Total points (range queries) or samples (instant queries) in the result.
    pub points: Option<usize>,
    pub error: Option<String>,
    pub latencies_ms: Vec<f64>,
    pub median_ms: Option<f64>,
    pub p90_ms: Option<f64>,
}

/// Logs each query's median and series count (or its error) as a run goes.
pub fn log_results(results: &[QueryResult]) {
    for q in results {
        eprintln!(
            "  query {:<32} median {:>8} ms  series {:>6}{}",
            q.name,
            q.median_ms.map_or("-".to_string(), |v| format!("{v:.1}")),
            q.series.map_or("-".to_string(), |v| v.to_string()),
            q.error
                .as_ref()
                .map_or(String::new(), |e| format!("  ERROR {e}"))
        );
    }
}

/// `q`-quantile of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Runs every query of `specs` against the Prometheus HTTP API at `base_url`, evaluated at
/// `end_s` (seconds).
pub async fn run_queries(
    client: &reqwest::Client,
    base_url: &str,
    specs: &[QuerySpec],
    end_s: i64,
    runs: u32,
) -> Vec<QueryResult> {
    let mut results = Vec::with_capacity(specs.len());
    for spec in specs {
        let (path, params): (&str, Vec<(&str, String)>) = match spec.kind {
            QueryKind::Instant => (
                "/api/v1/query",
                vec![("query", spec.expr.clone()), ("time", end_s.to_string())],
            ),
            QueryKind::Range { window_s, step_s } => (
                "/api/v1/query_range",
                vec![
                    ("query", spec.expr.clone()),
                    ("start", (end_s - window_s).to_string()),
                    ("end", end_s.to_string()),
                    ("step", step_s.to_string()),
                    // The query engines are measured, not their results caches: Tidemark and
                    // VictoriaMetrics both take `nocache=1` (VictoriaMetrics also runs with
                    // its cache off), Prometheus has none and ignores it.
                    ("nocache", "1".to_string()),
                ],
            ),
        };
        let url = format!("{base_url}{path}");
        let mut result = QueryResult {
            name: spec.name.to_string(),
            expr: spec.expr.clone(),
            series: None,
            points: None,
            error: None,
            latencies_ms: Vec::new(),
            median_ms: None,
            p90_ms: None,
        };
        match execute(client, &url, &params).await {
            Ok((_, body)) => match check(&body) {
                Ok((series, points)) => {
                    result.series = Some(series);
                    result.points = Some(points);
                    if series == 0 {
                        result.error = Some("empty result".to_string());
                    }
                }
                Err(e) => result.error = Some(e),
            },
            Err(e) => result.error = Some(e),
        }
        // Latency is only comparable on a real answer: empty or failed results are not timed.
        if result.error.is_none() {
            for _ in 0..runs {
                match execute(client, &url, &params).await {
                    Ok((elapsed, _)) => result.latencies_ms.push(elapsed.as_secs_f64() * 1000.0),
                    Err(e) => {
                        result.error.get_or_insert(e);
                        break;
                    }
                }
            }
        }
        let mut sorted = result.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        result.median_ms = quantile(&sorted, 0.5);
        result.p90_ms = quantile(&sorted, 0.9);
        results.push(result);
    }
    results
}

/// One range query repeated as a dashboard's refresh repeats it.
#[derive(Clone, Debug, Serialize)]
pub struct RefreshResult {
    pub name: String,
    pub latencies_ms: Vec<f64>,
    pub median_ms: Option<f64>,
    pub error: Option<String>,
}

/// Runs every range query of `specs` as a dashboard refreshes it, results caches allowed:
/// start and end aligned to the step (as Grafana sends them), one untimed run that fills the
/// caches, then `runs` timed ones. The dataset ends about now, so a system that keeps results
/// only for settled times evaluates the newest minutes again on every refresh, as it would
/// under live ingest.
pub async fn run_refreshes(
    client: &reqwest::Client,
    base_url: &str,
    specs: &[QuerySpec],
    end_s: i64,
    runs: u32,
) -> Vec<RefreshResult> {
    let url = format!("{base_url}/api/v1/query_range");
    let mut out = Vec::new();
    for spec in specs {
        let QueryKind::Range { window_s, step_s } = spec.kind else {
            continue;
        };
        let end = end_s - end_s.rem_euclid(step_s);
        let params = vec![
            ("query", spec.expr.clone()),
            ("start", (end - window_s).to_string()),
            ("end", end.to_string()),
            ("step", step_s.to_string()),
        ];
        let mut result = RefreshResult {
            name: spec.name.to_string(),
            latencies_ms: Vec::new(),
            median_ms: None,
            error: None,
        };
        for run in 0..=runs {
            match execute(client, &url, &params).await {
                Ok((elapsed, _)) if run > 0 => {
                    result.latencies_ms.push(elapsed.as_secs_f64() * 1000.0)
                }
                Ok(_) => {}
                Err(e) => {
                    result.error = Some(e);
                    break;
                }
            }
        }
        let mut sorted = result.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        result.median_ms = quantile(&sorted, 0.5);
        out.push(result);
    }
    out
}

/// One POST (form-encoded, as Grafana sends) with its wall time to the full body.
async fn execute(
    client: &reqwest::Client,
    url: &str,
    params: &[(&str, String)],
) -> std::result::Result<(Duration, String), String> {
    let started = Instant::now();
    let body = params
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let resp = client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .timeout(Duration::from_millis(QUERY_TIMEOUT_MS))
        .send()
        .await
        .map_err(|e| format!("request error: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("read body: {e}"))?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", truncate(text.trim(), 300)));
    }
    Ok((elapsed, text))
}

/// application/x-www-form-urlencoded encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Series and points of a successful Prometheus API response.
fn check(body: &str) -> std::result::Result<(usize, usize), String> {
    let json: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("bad JSON: {e}"))?;
    if json["status"] != "success" {
        return Err(format!("status {}: {}", json["status"], json["error"]));
    }
    let result = &json["data"]["result"];
    match json["data"]["resultType"].as_str() {
        Some("matrix") | Some("vector") => {
            let series = result.as_array().ok_or("result is not an array")?;
            let points = series
                .iter()
                .map(|s| s["values"].as_array().map_or(1, Vec::len))
                .sum();
            Ok((series.len(), points))
        }
        Some("scalar") | Some("string") => Ok((1, 1)),
        other => Err(format!("unexpected resultType {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(5.0));
        assert_eq!(quantile(&v, 0.9), Some(9.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn checks_prometheus_envelopes() {
        let ok = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#;
        assert_eq!(check(ok), Ok((1, 2)));
        let err = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(check(err).is_err());
        assert_eq!(form_encode("a b{c=\"d\"}"), "a+b%7Bc%3D%22d%22%7D");
    }
}
