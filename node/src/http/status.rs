//! Status endpoints with Prometheus 3.5's shapes: `/api/v1/status/config`, `/status/flags`,
//! `/status/runtimeinfo` and `/status/tsdb`. Fields that describe Go's runtime get the value
//! that is true of a Rust process (documented per field); none is invented.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::Response;
use clap::CommandFactory;
use serde_json::json;
use tidemark_api::retention::RetentionStatus;
use tidemark_storage::model::METRIC_NAME;
use tidemark_storage::{Matcher, ShardStats};

use super::cardinality::{Cardinality, CardinalityReport};
use super::error::ApiError;
use super::params::{Consistency, MAX_TIME_MS, MIN_TIME_MS, Params};
use super::query::evaluate;
use super::{AppState, json, json_response};
use crate::config::{Args, Config};

/// What the status endpoints show in place of a secret.
const SECRET: &str = "<secret>";

/// Entries of each `/api/v1/status/tsdb` top list unless `limit` says otherwise (Prometheus: 10).
const TSDB_STATUS_LIMIT_DEFAULT: usize = 10;

/// `GET /api/v1/status/config`: `{"yaml": ...}`, the node's effective configuration (file,
/// then flags) in Tidemark's own YAML format.
pub async fn config(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let mut shown = state.config.as_ref().clone();
    for secret in [
        &mut shown.admin_token,
        &mut shown.join_token,
        &mut shown.auth.bootstrap_token,
    ] {
        if secret.is_some() {
            *secret = Some(SECRET.into());
        }
    }
    // The secret of a fixed bootstrap derives from it.
    shown.initial_cluster_token = SECRET.into();
    let yaml = serde_yaml::to_string(&shown).map_err(|e| {
        ApiError::Node(crate::error::NodeError::Internal(format!(
            "encoding the configuration: {e}"
        )))
    })?;
    let data = json!({ "yaml": yaml });
    Ok(json_response(json::success(&data.to_string(), &[], &[])))
}

/// `GET /api/v1/status/flags`: every command-line flag of `tidemark` (long name) with its
/// effective value: given on the command line, else from the config file, else the default.
pub async fn flags(State(state): State<Arc<AppState>>) -> Response {
    let data = serde_json::Value::Object(flag_values(&state.config));
    json_response(json::success(&data.to_string(), &[], &[]))
}

/// Flag name → value, for every flag `Args` defines.
fn flag_values(config: &Config) -> serde_json::Map<String, serde_json::Value> {
    Args::command()
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            Some((long.to_string(), json!(flag_value(config, long)?)))
        })
        .collect()
}

/// The effective value of flag `long` (`None` for flags without one, such as `--help`).
fn flag_value(config: &Config, long: &str) -> Option<String> {
    Some(match long {
        "config" => config
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "data-dir" => config.data_dir.display().to_string(),
        "http-listen" => config.http_listen.clone(),
        "grpc-listen" => config.grpc_listen.clone(),
        "grpc-advertise" => config.grpc_advertise.clone().unwrap_or_default(),
        "node-id" => config.node_id.to_string(),
        "initial-cluster" => config.initial_cluster.clone().unwrap_or_default(),
        "initial-cluster-token" => SECRET.into(),
        "join-token" => match config.join_token {
            Some(_) => SECRET.into(),
            None => String::new(),
        },
        "cluster-secret-file" => config
            .cluster_secret_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "http-tls-cert-file" => config
            .http_tls
            .as_ref()
            .map(|t| t.cert_file.display().to_string())
            .unwrap_or_default(),
        "http-tls-key-file" => config
            .http_tls
            .as_ref()
            .map(|t| t.key_file.display().to_string())
            .unwrap_or_default(),
        "grpc-tls-cert-file" => grpc_tls_file(config, |t| &t.cert_file),
        "grpc-tls-key-file" => grpc_tls_file(config, |t| &t.key_file),
        "grpc-tls-ca-file" => grpc_tls_file(config, |t| &t.ca_file),
        "join-ca-file" => config
            .join_ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "enable-admin-api" => config.auth.enable_admin_api.to_string(),
        "bootstrap-token" => match config.auth.bootstrap_token {
            Some(_) => SECRET.into(),
            None => String::new(),
        },
        "replication-factor" => config.replication_factor.to_string(),
        "join" => config.join.clone().unwrap_or_default(),
        "rule-file" => config
            .rule_files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
        "alertmanager-url" => config.alertmanagers.join(","),
        "storage-memory-budget" => config.storage.memory_budget.to_string(),
        "notifier-config" => config
            .notifier_config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        _ => return None,
    })
}

/// One of the files of `grpc_tls`, or nothing.
fn grpc_tls_file(
    config: &Config,
    file: impl Fn(&crate::grpc_tls::GrpcTlsConfig) -> &std::path::PathBuf,
) -> String {
    config
        .grpc_tls
        .as_ref()
        .map(|t| file(t).display().to_string())
        .unwrap_or_default()
}

/// The retention in force in one line, as `storageRetention` shows it: Prometheus writes its
/// time and size retention (`15d or 512MiB`); here the default of each tier, then the size.
fn retention_summary(r: &RetentionStatus) -> String {
    use tidemark_api::duration::format_ms;
    let d = &r.default;
    let tier = |name: &str, ms: i64| match ms {
        0 => format!("{name} off"),
        ms => format!("{name} {}", format_ms(ms)),
    };
    let mut s = [
        tier("raw", d.raw_ms),
        tier("1m", d.rollup_1m_ms),
        tier("1h", d.rollup_1h_ms),
    ]
    .join(", ");
    if !r.policy.overrides.is_empty() {
        s.push_str(&format!(
            " ({} per-metric overrides)",
            r.policy.overrides.len()
        ));
    }
    if let Some(b) = r.policy.disk_budget {
        s.push_str(&format!(" or {b}"));
    }
    s
}

/// `GET /api/v1/status/runtimeinfo`, with Prometheus' fields.
pub async fn runtime_info(State(state): State<Arc<AppState>>) -> Response {
    let now = SystemTime::now();
    let started = state.started_at;
    let data = json!({
        // When this node's API state was built: after storage and Raft groups opened.
        "startTime": rfc3339(started),
        "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "hostname": hostname(),
        "serverTime": rfc3339(now),
        // The configuration is read once at start and never reloaded.
        "reloadConfigSuccess": true,
        "lastConfigTime": rfc3339(truncate_to_second(started)),
        // Prometheus counts WAL corruptions found on replay; here, the reads that found stored
        // data corrupt (and failed instead of answering) since the node started.
        "corruptionCount": state.backend.store_stats().map_or(0, |s| s.corruptions),
        // Go counts goroutines; the nearest thing here is the async tasks alive on the
        // runtime (blocking-pool threads are not counted).
        "goroutineCount": tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_alive_tasks())
            .unwrap_or(0),
        "GOMAXPROCS": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        // No soft memory limit: Go reports math.MaxInt64 for that.
        "GOMEMLIMIT": i64::MAX,
        // No garbage collector: Go's `GOGC` and `GODEBUG` environment variables mean nothing
        // here and are reported as Prometheus reports them unset.
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": state.backend.retention().map(|r| retention_summary(&r)).unwrap_or_default(),
    });
    json_response(json::success(&data.to_string(), &[], &[]))
}

/// The host name as the kernel knows it (what Go's `os.Hostname` reads on Linux).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

fn truncate_to_second(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A time as Go's `time.Time` JSON: RFC 3339 in UTC with the nanoseconds that are not zero
/// (`2026-01-02T03:04:05.1234Z`, `2026-01-02T03:04:05Z`).
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let Some(dt) = chrono::DateTime::from_timestamp(secs, 0) else {
        return String::new();
    };
    let base = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// `GET /api/v1/status/tsdb`: `limit` (entries per list, default 10, at least 1).
///
/// `headStats` sums the shards' registries and heads (Tidemark has no separate head block:
/// `numSeries`, `minTime` and `maxTime` cover every series and sample the shards hold;
/// `chunkCount` counts the open in-memory chunks). The lists are counted from the series'
/// label sets, read metric name by metric name through the querier, at most
/// `query.tsdb_status_series_max` series; past that bound they cover the series read and the
/// answer carries a warning saying so.
#[tracing::instrument(skip_all)]
pub async fn tsdb(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let limit = match params.get("limit") {
        None => TSDB_STATUS_LIMIT_DEFAULT,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                return Err(ApiError::BadParam("limit must be a positive number".into()));
            }
        },
    };
    let series_max = state.config.query.tsdb_status_series_max;
    let timeout = Duration::from_millis(state.config.query.timeout_ms);
    let (cardinality, truncated) = evaluate(&state, timeout, Consistency::Linearizable, move |q| {
        let mut c = Cardinality::default();
        let names = q.label_values(METRIC_NAME, &[], MIN_TIME_MS, MAX_TIME_MS)?;
        for name in names {
            let selector = [Matcher::equal(METRIC_NAME, name)];
            for labels in q.series(&selector, MIN_TIME_MS, MAX_TIME_MS)? {
                if c.series() as usize >= series_max {
                    return Ok((c, true));
                }
                c.add(&labels);
            }
        }
        Ok((c, false))
    })
    .await?;
    let warnings = if truncated {
        vec![format!(
            "cardinality statistics cover the first {series_max} series only (query.tsdb_status_series_max)"
        )]
    } else {
        Vec::new()
    };
    let shards = state.backend.storage_stats();
    let mut data = tsdb_status_json(&shards, &cardinality.report(limit));
    if let Some(obj) = data.as_object_mut() {
        let gauges = state.backend.state_gauges();
        obj.insert(
            "memory".into(),
            memory_json(&state.config, &shards, &gauges),
        );
        if let Some(store) = &gauges.store {
            obj.insert("disk".into(), disk_json(store));
        }
    }
    // Tidemark's own addition: the retention in force and this node's data per tier.
    if let (Some(r), Some(obj)) = (state.backend.retention(), data.as_object_mut()) {
        obj.insert(
            "retention".into(),
            json!({ "summary": retention_summary(&r), "tiers": r.tiers }),
        );
    }
    Ok(json_response(json::success(
        &data.to_string(),
        &warnings,
        &[],
    )))
}

/// Tidemark's addition to `/api/v1/status/tsdb`: where the data store's files go, per column
/// family (`series`: label sets, `postings`: the label index, `chunks`: samples, rollups and
/// shared time columns, `meta`: shard records). The Raft log and RocksDB's own files (logs,
/// manifests) are not in it.
fn disk_json(store: &tidemark_storage::StoreStats) -> serde_json::Value {
    let families: serde_json::Map<String, serde_json::Value> = store
        .sst_bytes_by_column_family
        .iter()
        .map(|&(name, bytes)| (name.to_string(), json!(bytes)))
        .collect();
    json!({
        "sstBytes": store.sst_bytes,
        "sstBytesByColumnFamily": families,
    })
}

/// Tidemark's addition to `/api/v1/status/tsdb`: where this node's memory goes. The series
/// (label sets, heads, postings of open partitions) grow with the active series; the stores'
/// caches and memtables are bounded by `storage.memory_budget`; the rest of the resident
/// memory is the allocator's, the queries' and the server's.
fn memory_json(
    config: &Config,
    shards: &[ShardStats],
    gauges: &crate::metrics::StateGauges,
) -> serde_json::Value {
    let sum = |f: fn(&ShardStats) -> usize| shards.iter().map(f).sum::<usize>();
    // `null` where the backend has no such store.
    let store = gauges.store.as_ref().map(|store| {
        json!({
            "budgetBytes": store.memory_budget_bytes,
            "blockCacheBytes": store.block_cache_bytes,
            "blockCachePinnedBytes": store.block_cache_pinned_bytes,
            "memtableBytes": store.memtable_bytes,
            "tableReadersBytes": store.table_readers_bytes,
        })
    });
    let log = gauges.raft_log_memory.map(|log| {
        json!({
            "budgetBytes": log.budget_bytes,
            "blockCacheBytes": log.cache_bytes,
            "blockCachePinnedBytes": log.pinned_bytes,
            "memtableBytes": log.memtable_bytes,
        })
    });
    json!({
        "budgetBytes": config.storage.memory_budget.as_u64(),
        "series": {
            "registryBytes": sum(|s| s.memory.registry),
            "headBytes": sum(|s| s.memory.heads),
            "openChunkBytes": sum(|s| s.memory.open_chunks),
            "postingsBytes": sum(|s| s.memory.postings),
        },
        "dataStore": store,
        "raftLog": log,
        "cHeap": c_heap_json(),
        "residentBytes": crate::metrics::process::ProcessStats::read().map(|p| p.resident_bytes),
    })
}

/// The C heap (glibc's malloc: RocksDB's C++ allocates from it): what it hands out, what it
/// keeps free, what its trimmer gave back. `null` where the C library is not glibc.
fn c_heap_json() -> serde_json::Value {
    let trims = crate::c_heap::trim_totals();
    crate::c_heap::stats().map_or(serde_json::Value::Null, |heap| {
        json!({
            "inUseBytes": heap.in_use_bytes,
            "freeBytes": heap.free_bytes,
            "mmappedBytes": heap.mmapped_bytes,
            "trims": trims.trims,
            "trimmedBytes": trims.released_bytes,
        })
    })
}

/// The `data` of `/api/v1/status/tsdb`.
fn tsdb_status_json(shards: &[ShardStats], report: &CardinalityReport) -> serde_json::Value {
    json!({
        "headStats": {
            "numSeries": shards.iter().map(|s| s.series).sum::<u64>(),
            "numLabelPairs": report.num_label_pairs,
            "chunkCount": shards.iter().map(|s| s.head_chunks).sum::<u64>(),
            // An empty store answers Prometheus' empty-head bounds (MaxInt64, MinInt64).
            "minTime": shards.iter().filter_map(|s| s.min_time_ms).min().unwrap_or(i64::MAX),
            "maxTime": shards.iter().filter_map(|s| s.max_time_ms).max().unwrap_or(i64::MIN),
        },
        "seriesCountByMetricName": report.series_count_by_metric_name,
        "labelValueCountByLabelName": report.label_value_count_by_label_name,
        "memoryInBytesByLabelName": report.memory_in_bytes_by_label_name,
        "seriesCountByLabelValuePair": report.series_count_by_label_value_pair,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_a_value() {
        let config = Config::default();
        let flags = flag_values(&config);
        for arg in Args::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" || long == "version" {
                continue;
            }
            assert!(flags.contains_key(long), "flag --{long} has no value");
        }
        assert_eq!(flags["node-id"], "1");
        assert_eq!(flags["config"], "");
    }

    #[test]
    fn times_format_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_795_629_936, 385_387_000);
        assert_eq!(rfc3339(t), "2026-11-25T18:05:36.385387Z");
        assert_eq!(rfc3339(truncate_to_second(t)), "2026-11-25T18:05:36Z");
    }

    #[test]
    fn empty_store_has_prometheus_empty_head_bounds() {
        let j = tsdb_status_json(&[ShardStats::default()], &CardinalityReport::default());
        assert_eq!(j["headStats"]["minTime"], i64::MAX);
        assert_eq!(j["headStats"]["maxTime"], i64::MIN);
        assert_eq!(j["seriesCountByMetricName"], json!([]));
    }
}
