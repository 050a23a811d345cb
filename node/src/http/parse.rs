//! PromQL text endpoints that evaluate nothing: `/api/v1/format_query` (the query pretty
//! printed as Prometheus prints it), `/api/v1/parse_query` (its syntax tree as JSON, for the
//! tree view of Prometheus' UI) and `/api/v1/query_exemplars`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use promql_parser::parser::Expr;
use tidemark_query::syntax::{self, Ast};

use super::error::ApiError;
use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use super::{AppState, json, json_response, promql_ast, promql_print};

/// The `query` parameter parsed under the configured bounds; an absent one is parsed as the
/// empty query (an error), as Prometheus does.
fn parse_query_param(state: &AppState, params: &Params) -> Result<Ast, String> {
    syntax::parse(
        params.get("query").unwrap_or(""),
        &state.engine.limits.syntax(),
    )
    .map_err(|e| e.message)
}

/// `GET|POST /api/v1/format_query`: `query`; answers the query pretty printed (a JSON string).
pub async fn format_query(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let ast = parse_query_param(&state, &params).map_err(|e| ApiError::param("query", e))?;
    let mut data = String::new();
    json::write_str(&mut data, &ast.walk(promql_print::prettify));
    Ok(json_response(json::success(&data, &[], &[])))
}

/// `GET|POST /api/v1/parse_query`: `query`; answers its syntax tree.
pub async fn parse_query(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let ast = parse_query_param(&state, &params).map_err(|e| ApiError::param("query", e))?;
    let tree = ast
        .walk(|e| promql_ast::translate(e).map(|t| t.to_string()))
        .map_err(|e| ApiError::param("query", e))?;
    Ok(json_response(json::success(&tree, &[], &[])))
}

/// `GET|POST /api/v1/query_exemplars`: `query`, `start`, `end`, validated as Prometheus
/// validates them. Tidemark stores no exemplars yet (remote-write exemplars are counted and
/// dropped), so a query with a selector answers an empty list, and one without a selector
/// (`1 + 1`) answers 204, as Prometheus does.
pub async fn query_exemplars(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let start = params.time_or("start", MIN_TIME_MS)?;
    let end = params.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::BadParam(
            "end timestamp must not be before start timestamp".into(),
        ));
    }
    let ast = parse_query_param(&state, &params).map_err(ApiError::BadParam)?;
    if !ast.walk(has_selector) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(json_response(json::success("[]", &[], &[])))
}

/// Whether `expr` selects series anywhere (Prometheus' `ExtractSelectors` is not empty).
fn has_selector(expr: &Expr) -> bool {
    match expr {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::Aggregate(e) => has_selector(&e.expr) || e.param.as_deref().is_some_and(has_selector),
        Expr::Unary(e) => has_selector(&e.expr),
        Expr::Binary(e) => has_selector(&e.lhs) || has_selector(&e.rhs),
        Expr::Paren(e) => has_selector(&e.expr),
        Expr::Subquery(e) => has_selector(&e.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_selector(a)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => false,
        Expr::Extension(e) => e.expr.children().iter().any(has_selector),
    }
}
