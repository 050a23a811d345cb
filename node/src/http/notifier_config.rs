//! The built-in notifier's configuration through the API (`tidemarkctl notifier get|set`):
//!
//! - `GET /api/v1/admin/notifier/config`: the `alertmanager.yml` as set (`application/yaml`),
//!   404 when none is;
//! - `PUT|POST /api/v1/admin/notifier/config`: a new `alertmanager.yml`, or Mimir's shape
//!   `{template_files: {NAME: TEXT}, alertmanager_config: TEXT}` when it names template files,
//!   validated (400 with every problem), then committed in the ruler group; the configuration is from then on
//!   the API's (a node's `--notifier-config` that differs is reported, not applied);
//! - `DELETE /api/v1/admin/notifier/config`: no configuration (alerts are kept, not routed);
//! - `POST /-/reload`: re-reads this node's `--notifier-config` (as SIGHUP does).
//!
//! Every change is logged with who made it (`X-Tidemark-User`, or the client's user agent).
//! These paths need the admin token when one is set (`cluster.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tidemark_alerting::notify::config::parse;
use tidemark_alerting::notify::state::{ConfigSource, NotifierCommand, RETENTION_MS, StoredConfig};

use super::AppState;
use super::error::ApiError;
use crate::error::NodeError;
use crate::notifier::BuiltinNotifier;

/// Who made a change, as the request says: `X-Tidemark-User`, else its user agent.
pub fn actor(headers: &HeaderMap) -> String {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    get("x-tidemark-user")
        .or_else(|| get("user-agent").map(|ua| format!("unnamed client ({ua})")))
        .unwrap_or_else(|| "unnamed client".into())
}

pub(super) fn notifier(state: &AppState) -> Result<Arc<BuiltinNotifier>, ApiError> {
    state.backend.notifier().ok_or_else(|| {
        ApiError::from(NodeError::NotImplemented(
            "this server has no notifier".into(),
        ))
    })
}

/// A configuration with its template files, in Mimir's shape (what its Alertmanager
/// configuration API takes): `template_files: {NAME: TEXT}` and `alertmanager_config: TEXT`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WithTemplates {
    #[serde(default)]
    template_files: BTreeMap<String, String>,
    alertmanager_config: String,
}

/// `GET /api/v1/admin/notifier/config`: the `alertmanager.yml` as set, or, when it came with
/// template files, Mimir's shape with them.
pub async fn get(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let n = notifier(&state)?;
    let stored = n.ruler().with_state(|s| {
        s.notifier
            .config
            .as_ref()
            .map(|c| (c.yaml.clone(), c.template_files.clone()))
    });
    Ok(match stored {
        Some((yaml, files)) => {
            let body = if files.is_empty() {
                yaml
            } else {
                serde_yaml::to_string(&WithTemplates {
                    template_files: files,
                    alertmanager_config: yaml,
                })
                .map_err(|e| ApiError::from(NodeError::Internal(e.to_string())))?
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/yaml")],
                body,
            )
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            "no notifier configuration is set\n".to_string(),
        )
            .into_response(),
    })
}

/// `PUT|POST /api/v1/admin/notifier/config`: an `alertmanager.yml`, or Mimir's shape with the
/// template files its `templates` name (a plain `alertmanager.yml` that names templates is
/// refused: the notifier reads no file).
pub async fn set(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let n = notifier(&state)?;
    let bad = |e: String| ApiError::from(NodeError::BadRequest(e));
    let text =
        std::str::from_utf8(&body).map_err(|_| bad("the configuration is not UTF-8".into()))?;
    let mimir = serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .is_some_and(|v| v.get("alertmanager_config").is_some());
    let (yaml, template_files) = if mimir {
        let w: WithTemplates =
            serde_yaml::from_str(text).map_err(|e| bad(format!("configuration: {e}")))?;
        (w.alertmanager_config, w.template_files)
    } else {
        (text.to_string(), BTreeMap::new())
    };
    let config = parse(&yaml).map_err(bad)?;
    if !config.templates.is_empty() && template_files.is_empty() {
        return Err(bad(
            "the configuration names template files (templates:) but carries none: send them \
             as Mimir's API takes them, {template_files: {NAME: TEXT}, alertmanager_config: \
             TEXT} (tidemarkctl notifier set does)"
                .into(),
        ));
    }
    crate::notifier::templates::parse(&template_files).map_err(bad)?;
    let by = actor(&headers);
    let now_ms = n.ruler().clock().now_ms();
    let warnings = config.warnings(RETENTION_MS);
    n.propose(NotifierCommand::SetConfig {
        now_ms,
        config: Some(Box::new(StoredConfig {
            yaml,
            config,
            template_files,
            source: ConfigSource::Api { by: by.clone() },
            set_at_ms: now_ms,
        })),
    })
    .await?;
    tracing::info!(by = %by, warnings = ?warnings, "notifier configuration set through the API");
    Ok(success(&warnings))
}

/// `DELETE /api/v1/admin/notifier/config`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let n = notifier(&state)?;
    let by = actor(&headers);
    let now_ms = n.ruler().clock().now_ms();
    n.propose(NotifierCommand::SetConfig {
        now_ms,
        config: None,
    })
    .await?;
    tracing::info!(by = %by, "notifier configuration removed through the API");
    Ok(success(&[]))
}

/// `POST /-/reload`.
pub async fn reload(State(state): State<Arc<AppState>>) -> Response {
    let Ok(n) = notifier(&state) else {
        return (StatusCode::OK, "").into_response();
    };
    match n.reload().await {
        Ok(()) => (StatusCode::OK, "").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

/// `{"status":"success","warnings":[...]}`.
fn success(warnings: &[String]) -> Response {
    let body = serde_json::json!({"status": "success", "warnings": warnings});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
