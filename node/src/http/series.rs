//! The metadata query endpoints: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/{name}/values`. `match[]` selectors are parsed with promql-parser; each is a
//! union of matcher sets (`{a="1" or b="2"}`), and several `match[]` are a union too.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Response;
use tidemark_query::QueryError;
use tidemark_query::syntax::SyntaxLimits;
use tidemark_storage::{Labels, Matcher};

use super::error::ApiError;
use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use super::query::evaluate;
use super::{AppState, json, json_response};

/// Warning when a `limit` cut the result.
const TRUNCATED: &str = "results truncated due to limit";

/// The matcher sets of one `match[]` selector: a series matches the selector when it matches
/// every matcher of any set.
pub fn parse_selector(s: &str, limits: &SyntaxLimits) -> Result<Vec<Vec<Matcher>>, ApiError> {
    crate::selector::parse(s, limits).map_err(|e| ApiError::param("match[]", e))
}

/// Every matcher set of every `match[]` parameter (empty when there is none).
pub(super) fn matcher_sets(
    params: &Params,
    limits: &SyntaxLimits,
) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut sets = Vec::new();
    for s in params.all("match[]") {
        sets.extend(parse_selector(s, limits)?);
    }
    Ok(sets)
}

fn query_timeout(state: &AppState) -> Duration {
    Duration::from_millis(state.config.query.timeout_ms)
}

/// `GET|POST /api/v1/series`: `match[]` (required), `start`, `end`, `limit`.
#[tracing::instrument(skip_all)]
pub async fn series(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = matcher_sets(&params, &state.engine.limits.syntax())?;
    if sets.is_empty() {
        return Err(ApiError::BadParam("no match[] parameter provided".into()));
    }
    let (start, end) = range(&params)?;
    let limit = params.limit()?;
    // Every shard stops at one more than the caller's `limit` or `query.series_max`, which
    // tells whether there were more: no node holds or sends every match of a broad selector.
    let series_max = state.config.query.series_max;
    let capped = limit.is_none_or(|l| l > series_max);
    let want = limit
        .unwrap_or(usize::MAX)
        .min(series_max)
        .saturating_add(1);
    let found = evaluate(
        &state,
        query_timeout(&state),
        params.consistency()?,
        move |q| {
            let mut all = BTreeSet::<Labels>::new();
            for set in &sets {
                all.extend(q.series_limited(set, start, end, want)?);
                tidemark_storage::keep_first(&mut all, want);
            }
            if capped && all.len() > series_max {
                return Err(QueryError::execution(format!(
                    "more than {series_max} series match (query.series_max): narrow the \
                     selectors or the time range, or pass a limit of at most {series_max}"
                )));
            }
            Ok(all)
        },
    )
    .await?;
    let (found, warnings) = truncate(found.into_iter(), limit);
    let mut data = String::from("[");
    for (i, labels) in found.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        json::write_labels(&mut data, labels);
    }
    data.push(']');
    Ok(json_response(json::success(&data, &warnings, &[])))
}

/// `GET|POST /api/v1/labels`: `match[]` (optional), `start`, `end`, `limit`.
#[tracing::instrument(skip_all)]
pub async fn labels(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = matcher_sets(&params, &state.engine.limits.syntax())?;
    let (start, end) = range(&params)?;
    let limit = params.limit()?;
    let names = evaluate(
        &state,
        query_timeout(&state),
        params.consistency()?,
        move |q| {
            if sets.is_empty() {
                return q.label_names(&[], start, end);
            }
            let mut all = BTreeSet::new();
            for set in &sets {
                all.extend(q.label_names(set, start, end)?);
            }
            Ok(all)
        },
    )
    .await?;
    Ok(strings_response(names, limit))
}

/// `GET /api/v1/label/{name}/values`: `match[]` (optional), `start`, `end`, `limit`.
#[tracing::instrument(skip_all)]
pub async fn label_values(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    if name.is_empty() {
        return Err(ApiError::BadParam("invalid label name: empty".into()));
    }
    let sets = matcher_sets(&params, &state.engine.limits.syntax())?;
    let (start, end) = range(&params)?;
    let limit = params.limit()?;
    let values = evaluate(
        &state,
        query_timeout(&state),
        params.consistency()?,
        move |q| {
            if sets.is_empty() {
                return q.label_values(&name, &[], start, end);
            }
            let mut all = BTreeSet::new();
            for set in &sets {
                all.extend(q.label_values(&name, set, start, end)?);
            }
            Ok(all)
        },
    )
    .await?;
    Ok(strings_response(values, limit))
}

/// `start` and `end`, defaulting to all time.
fn range(params: &Params) -> Result<(i64, i64), ApiError> {
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    Ok((start, end))
}

fn truncate<T>(
    items: impl ExactSizeIterator<Item = T>,
    limit: Option<usize>,
) -> (Vec<T>, Vec<String>) {
    match limit {
        Some(l) if items.len() > l => (items.take(l).collect(), vec![TRUNCATED.to_string()]),
        _ => (items.collect(), Vec::new()),
    }
}

fn strings_response(items: BTreeSet<String>, limit: Option<usize>) -> Response {
    let (items, warnings) = truncate(items.into_iter(), limit);
    let data = json::string_array(items.iter().map(String::as_str));
    json_response(json::success(&data, &warnings, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_storage::MatchOp;

    fn show(sets: &[Vec<Matcher>]) -> Vec<Vec<(String, MatchOp, String)>> {
        sets.iter()
            .map(|s| {
                s.iter()
                    .map(|m| (m.name.clone(), m.op, m.value.clone()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn selectors_become_matcher_sets() {
        let sets =
            parse_selector(r#"up{job=~"a.*", env!="prod"}"#, &SyntaxLimits::default()).unwrap();
        assert_eq!(
            show(&sets),
            vec![vec![
                ("__name__".into(), MatchOp::Equal, "up".into()),
                ("job".into(), MatchOp::Regex, "a.*".into()),
                ("env".into(), MatchOp::NotEqual, "prod".into()),
            ]]
        );
        let sets = parse_selector(r#"{a="1" or b!~"2"}"#, &SyntaxLimits::default()).unwrap();
        assert_eq!(
            show(&sets),
            vec![
                vec![("a".into(), MatchOp::Equal, "1".into())],
                vec![("b".into(), MatchOp::NotRegex, "2".into())]
            ]
        );
        assert_eq!(
            show(&parse_selector("up", &SyntaxLimits::default()).unwrap()),
            vec![vec![("__name__".into(), MatchOp::Equal, "up".into())]]
        );
    }

    #[test]
    fn non_selectors_are_bad_data() {
        for bad in [
            "sum(up)",
            "up + 1",
            "rate(up[5m])",
            "up[5m]",
            "up offset 5m",
            "{",
            r#"{job=~".*"}"#,
        ] {
            let e = parse_selector(bad, &SyntaxLimits::default()).unwrap_err();
            assert_eq!(e.status_and_type().1, "bad_data", "{bad}");
        }
    }
}
