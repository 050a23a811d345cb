//! Alertmanager's HTTP API v2, served by the built-in notifier on every node, at `/api/v2/*` and
//! under `/alertmanager/api/v2/*` (where Grafana's Alertmanager data source of the Mimir kind
//! looks), so that `amtool`, Grafana and any Prometheus (as its Alertmanager) work against
//! Tidemark. Prometheus' own `GET /api/v1/alerts` keeps its meaning.
//!
//! - `alerts.rs`: `GET|POST /api/v2/alerts`, `GET /api/v2/alerts/groups`;
//! - `silences.rs`: `GET|POST /api/v2/silences`, `GET|DELETE /api/v2/silence/{id}`;
//! - `status.rs`: `GET /api/v2/status`, `GET /api/v2/receivers`.
//!
//! Answers and errors are shaped as Alertmanager 0.33 shapes them (`tidemark_api::alertmanager`):
//! plain JSON, a handler's refusal as a JSON string, a malformed request as
//! `{"code":..,"message":..}`. Reads answer from this node's replica of the ruler group;
//! changes are committed through its leader. Silence changes need the admin token when one is
//! set (`cluster.rs`) and are logged with who made them.

mod alerts;
mod silences;
mod status;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tidemark_api::alertmanager::FrameworkError;

use super::AppState;
use crate::error::NodeError;
use crate::notifier::BuiltinNotifier;

/// The routes, at `/api/v2` and `/alertmanager/api/v2`.
pub fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new();
    for prefix in ["", "/alertmanager"] {
        r = r
            .route(
                &format!("{prefix}/api/v2/alerts"),
                get(alerts::list).post(alerts::post),
            )
            .route(
                &format!("{prefix}/api/v2/alerts/groups"),
                get(alerts::groups),
            )
            .route(
                &format!("{prefix}/api/v2/silences"),
                get(silences::list).post(silences::post),
            )
            .route(
                &format!("{prefix}/api/v2/silence/{{id}}"),
                get(silences::get_one).delete(silences::expire),
            )
            .route(&format!("{prefix}/api/v2/status"), get(status::status))
            .route(
                &format!("{prefix}/api/v2/receivers"),
                get(status::receivers),
            );
    }
    r
}

/// A refusal as Alertmanager answers it.
#[derive(Debug)]
pub enum AmError {
    /// A handler's refusal: the message as a JSON string, then a newline.
    Message(StatusCode, String),
    /// A request the API's validation refused: `{"code":..,"message":..}`.
    Framework(StatusCode, i32, String),
    /// An empty answer with this status (404 of an unknown silence).
    Empty(StatusCode),
}

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        match self {
            AmError::Message(status, msg) => {
                let body = format!("{}\n", serde_json::Value::String(msg));
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            AmError::Framework(status, code, message) => {
                let body =
                    serde_json::to_string(&FrameworkError { code, message }).unwrap_or_default();
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            AmError::Empty(status) => status.into_response(),
        }
    }
}

impl From<NodeError> for AmError {
    fn from(e: NodeError) -> Self {
        let status = match &e {
            NodeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NodeError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            NodeError::Timeout(_) | NodeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AmError::Message(status, e.to_string())
    }
}

type Answer = Result<Response, AmError>;

/// The node's notifier, or 501.
fn notifier(state: &AppState) -> Result<Arc<BuiltinNotifier>, AmError> {
    state.backend.notifier().ok_or_else(|| {
        AmError::Message(
            StatusCode::NOT_IMPLEMENTED,
            "this server has no notifier".into(),
        )
    })
}

/// A 200 with `value` as JSON.
fn json<T: serde::Serialize>(value: &T) -> Response {
    let body = serde_json::to_string(value).unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A boolean query parameter as Go's swagger reads it: absent or empty: `default`; one of
/// Alertmanager's true words: true; anything else: false.
fn flag(params: &[(String, String)], name: &str, default: bool) -> bool {
    match params.iter().rev().find(|(k, _)| k == name) {
        None => default,
        Some((_, v)) if v.is_empty() => default,
        Some((_, v)) => matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "y" | "t" | "ok" | "enabled" | "checked" | "selected"
        ),
    }
}

/// The values of a repeatable query parameter.
fn values<'a>(params: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    params
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
