//! `/api/v1/query` and `/api/v1/query_range`: PromQL evaluation after a read barrier, on the
//! blocking pool, under the query timeout.
//!
//! With a non-empty `stats` parameter the answer carries `data.stats` as Prometheus' does:
//! `timings.evalTotalTime` (the engine's work), `timings.execQueueTime` (read barrier and the
//! wait for a blocking thread), `timings.execTotalTime` (both), and `samples`:
//! `totalQueryableSamples` counted as Prometheus counts it (per step, with
//! `totalQueryableSamplesPerStep` for `stats=all`) and `peakSamples`, which is Tidemark's own
//! measure (samples loaded plus the largest intermediate result; see
//! `tidemark_query::SampleCounts`). Prometheus' finer timers (`queryPreparationTime`,
//! `innerEvalTime`, `resultSortTime`) have no counterpart and are left out rather than made up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tidemark_query::{QueryError, QueryErrorKind, QueryResult, RangeQuery, TierPinned, Value};

use super::error::ApiError;
use super::params::{Consistency, Params};
use super::{AppState, json, json_response};
use crate::clock::now_ms;

/// Message when a range query asks for more points than allowed.
fn resolution_error(max: usize) -> ApiError {
    ApiError::BadParam(format!(
        "exceeded maximum resolution of {max} points per timeseries. Try decreasing the query resolution (?step=XX)"
    ))
}

/// `GET|POST /api/v1/query`: `query`, `time` (default now), `timeout`, `limit`, `stats`,
/// `consistency`, `tier`.
#[tracing::instrument(skip_all)]
pub async fn instant(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let limit = params.limit()?;
    let time_ms = params.time_or("time", now_ms())?;
    let timeout = timeout(&state, &params)?;
    let expr = required_query(&params)?;
    // The engine stops at the request's timeout itself: nothing keeps running once we answer.
    let engine = state.engine.with_timeout_ms(timeout.as_millis() as u64);
    let tier = params.tier()?;
    let (result, timings) =
        evaluate_timed(
            &state,
            timeout,
            params.consistency()?,
            move |q| match tier {
                Some(t) => engine.instant(&TierPinned::new(q, t), &expr, time_ms),
                None => engine.instant(q, &expr, time_ms),
            },
        )
        .await?;
    Ok(respond(
        result,
        limit,
        StatsLevel::of(&params).map(|l| (l, timings)),
    ))
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`, `limit`,
/// `stats`, `consistency`, `tier`, `nocache`.
///
/// Answered through the results cache (`tidemark_query::results_cache`) unless the request
/// asks for `stats` (whose counts are of the whole evaluation), sets `nocache=1` or sends
/// `Cache-Control: no-cache` (or `no-store`).
#[tracing::instrument(skip_all)]
pub async fn range(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let limit = params.limit()?;
    let start_ms = params.time("start")?;
    let end_ms = params.time("end")?;
    if end_ms < start_ms {
        return Err(ApiError::param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ms = params
        .duration_ms("step")?
        .ok_or_else(|| ApiError::param("step", "missing"))?;
    if step_ms <= 0 {
        return Err(ApiError::param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let points = end_ms.saturating_sub(start_ms) / step_ms;
    let points_max = state.config.query.points_per_series_max;
    if points as u64 > points_max as u64 {
        return Err(resolution_error(points_max));
    }
    let timeout = timeout(&state, &params)?;
    let expr = required_query(&params)?;
    // The engine stops at the request's timeout itself: nothing keeps running once we answer.
    let engine = state.engine.with_timeout_ms(timeout.as_millis() as u64);
    let tier = params.tier()?;
    let stats = StatsLevel::of(&params);
    let cache = (state.results_cache.enabled() && stats.is_none() && !no_cache(&params, &headers))
        .then(|| state.results_cache.clone());
    let (result, timings) = evaluate_timed(&state, timeout, params.consistency()?, move |q| {
        let pinned;
        let q: &dyn tidemark_query::Querier = match tier {
            Some(t) => {
                pinned = TierPinned::new(q, t);
                &pinned
            }
            None => q,
        };
        let Some(cache) = cache else {
            return engine.range(q, &expr, start_ms, end_ms, step_ms);
        };
        let variant = tier.map_or("", |t| t.name());
        let query = RangeQuery {
            text: &expr,
            start_ms,
            end_ms,
            step_ms,
            variant,
        };
        cache.range(&engine, q, &query, now_ms())
    })
    .await?;
    Ok(respond(result, limit, stats.map(|l| (l, timings))))
}

/// Whether a range query asks not to be answered from the cache: `nocache=1` (or `true`), as
/// VictoriaMetrics takes it, or `Cache-Control: no-cache` / `no-store`.
fn no_cache(params: &Params, headers: &HeaderMap) -> bool {
    let param = matches!(params.get("nocache"), Some("1" | "true"));
    let header = headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| {
            let d = d.trim();
            d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("no-store")
        });
    param || header
}

/// A timestamp in seconds as Go's JSON encoder writes a float: whole seconds without a
/// fraction (`1700000000`, not `1700000000.0`).
fn go_seconds(t_ms: i64) -> serde_json::Value {
    if t_ms % 1000 == 0 {
        serde_json::json!(t_ms / 1000)
    } else {
        serde_json::json!(t_ms as f64 / 1000.0)
    }
}

/// How much of `data.stats` an answer carries.
#[derive(Clone, Copy, PartialEq)]
enum StatsLevel {
    /// Timings and sample totals: any non-empty `stats` value, as in Prometheus.
    Totals,
    /// Per-step sample counts on top: `stats=all`.
    PerStep,
}

impl StatsLevel {
    fn of(params: &Params) -> Option<StatsLevel> {
        match params.get("stats")? {
            "" => None,
            "all" => Some(StatsLevel::PerStep),
            _ => Some(StatsLevel::Totals),
        }
    }
}

fn required_query(params: &Params) -> Result<String, ApiError> {
    params
        .get("query")
        .map(str::to_string)
        .ok_or_else(|| ApiError::param("query", "missing"))
}

/// The query timeout: the configured one, or the `timeout` parameter when it is shorter.
fn timeout(state: &AppState, params: &Params) -> Result<Duration, ApiError> {
    let configured = state.config.query.timeout_ms;
    let ms = match params.duration_ms("timeout")? {
        Some(t) if t <= 0 => return Err(ApiError::param("timeout", "timeout must be positive")),
        Some(t) => (t as u64).min(configured),
        None => configured,
    };
    Ok(Duration::from_millis(ms))
}

/// How long a query waited and ran.
#[derive(Clone, Copy, Debug)]
pub(super) struct EvalTimings {
    /// From the request to the start of evaluation: read barrier, wait for a blocking thread.
    pub queue: Duration,
    /// The evaluation itself.
    pub eval: Duration,
}

/// Runs `eval` after a read barrier (unless `consistency` is `Follower`), on the blocking pool, under `timeout`. On timeout the
/// evaluation is abandoned (its thread finishes in the background; the engine has no
/// cancellation yet).
pub(super) async fn evaluate<T, F>(
    state: &AppState,
    timeout: Duration,
    consistency: Consistency,
    eval: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn tidemark_query::Querier) -> Result<T, QueryError> + Send + 'static,
{
    evaluate_timed(state, timeout, consistency, eval)
        .await
        .map(|(v, _)| v)
}

/// [`evaluate`], also answering how long the evaluation waited and ran.
pub(super) async fn evaluate_timed<T, F>(
    state: &AppState,
    timeout: Duration,
    consistency: Consistency,
    eval: F,
) -> Result<(T, EvalTimings), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn tidemark_query::Querier) -> Result<T, QueryError> + Send + 'static,
{
    let requested = Instant::now();
    let work = async {
        let slot = state.query_slots.acquire().await.inspect_err(|_| {
            state.metrics.query_refused();
        })?;
        let querier = state
            .backend
            .reader(
                consistency == Consistency::Linearizable,
                state.config.query.samples_max as u64,
            )
            .await?;
        let joined = tokio::task::spawn_blocking(move || {
            // Held until the evaluation ends, even if the request timed out before.
            let _slot = slot;
            let started = Instant::now();
            let result = eval(querier.as_ref());
            (result, started, started.elapsed())
        })
        .await;
        match joined {
            Ok((r, started, eval)) => {
                let timings = EvalTimings {
                    queue: started.saturating_duration_since(requested),
                    eval,
                };
                state.metrics.query(timings.queue, timings.eval);
                r.map(|v| (v, timings)).map_err(ApiError::from)
            }
            Err(e) => Err(QueryError::new(
                QueryErrorKind::Internal,
                format!("query task failed: {e}"),
            )
            .into()),
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(QueryError::new(
            QueryErrorKind::Timeout,
            format!(
                "query timed out in expression evaluation after {} ms",
                timeout.as_millis()
            ),
        )
        .into()),
    }
}

/// The success response, truncated to `limit` series with a warning, with `data.stats` when
/// asked for.
fn respond(
    mut result: QueryResult,
    limit: Option<usize>,
    stats: Option<(StatsLevel, EvalTimings)>,
) -> Response {
    if let Some(limit) = limit {
        let truncated = match &mut result.value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            result
                .warnings
                .push("results truncated due to limit".into());
        }
    }
    let mut data = String::new();
    json::write_query_data(&mut data, &result.value);
    if let Some((level, t)) = stats {
        let counts = &result.samples;
        let mut samples = serde_json::json!({
            "totalQueryableSamples": counts.total_queryable,
            "peakSamples": counts.peak,
        });
        if level == StatsLevel::PerStep {
            samples["totalQueryableSamplesPerStep"] = counts
                .per_step
                .iter()
                .map(|&(t, n)| serde_json::json!([go_seconds(t), n]))
                .collect();
        }
        let stats = serde_json::json!({
            "timings": {
                "evalTotalTime": t.eval.as_secs_f64(),
                "execQueueTime": t.queue.as_secs_f64(),
                "execTotalTime": (t.queue + t.eval).as_secs_f64(),
            },
            "samples": samples,
        });
        json::push_field(&mut data, "stats", &stats.to_string());
    }
    json_response(json::success(&data, &result.warnings, &result.infos))
}
