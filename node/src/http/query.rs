//! `/api/v1/query` and `/api/v1/query_range`: PromQL evaluation after a read barrier, on the
//! blocking pool, under the query timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use tidemark_query::{QueryError, QueryErrorKind, QueryResult, Value};

use super::error::ApiError;
use super::params::{Params, now_ms};
use super::{AppState, json, json_response};

/// Message when a range query asks for more points than allowed.
fn resolution_error(max: usize) -> ApiError {
    ApiError::BadParam(format!(
        "exceeded maximum resolution of {max} points per timeseries. Try decreasing the query resolution (?step=XX)"
    ))
}

/// `GET|POST /api/v1/query`: `query`, `time` (default now), `timeout`, `limit`.
#[tracing::instrument(skip_all)]
pub async fn instant(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let expr = required_query(&params)?;
    let time_ms = params.time_or("time", now_ms())?;
    let timeout = timeout(&state, &params)?;
    let limit = params.limit()?;
    let engine = state.engine.clone();
    let result = evaluate(&state, timeout, move |q| engine.instant(q, &expr, time_ms)).await?;
    Ok(respond(result, limit))
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`, `limit`.
#[tracing::instrument(skip_all)]
pub async fn range(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let expr = required_query(&params)?;
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
    let limit = params.limit()?;
    let engine = state.engine.clone();
    let result = evaluate(&state, timeout, move |q| {
        engine.range(q, &expr, start_ms, end_ms, step_ms)
    })
    .await?;
    Ok(respond(result, limit))
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

/// Runs `eval` after a read barrier, on the blocking pool, under `timeout`. On timeout the
/// evaluation is abandoned (its thread finishes in the background; the engine has no
/// cancellation yet).
pub(super) async fn evaluate<T, F>(
    state: &AppState,
    timeout: Duration,
    eval: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn tidemark_query::Querier) -> Result<T, QueryError> + Send + 'static,
{
    let work = async {
        state.backend.read_barrier().await?;
        let querier = state.backend.querier();
        let joined = tokio::task::spawn_blocking(move || eval(querier.as_ref())).await;
        match joined {
            Ok(r) => r.map_err(ApiError::from),
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

/// The success response, truncated to `limit` series with a warning.
fn respond(mut result: QueryResult, limit: Option<usize>) -> Response {
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
    json_response(json::success(&data, &result.warnings, &result.infos))
}
