//! The ruler's configuration API, as Mimir's ruler answers it (what Grafana's Mimir/Cortex data
//! source and `mimirtool` speak), also under the `/prometheus` prefix:
//!
//! - `GET /config/v1/rules`: every namespace, as YAML `namespace: [groups]` (404
//!   `no rule groups found` when there is none);
//! - `GET /config/v1/rules/{namespace}`: one namespace, same layout;
//! - `POST /config/v1/rules/{namespace}`: a YAML rule group, added or replacing the group of the
//!   same name: 202 `{"status":"success",...}`; invalid: 400 with the reason;
//! - `GET|DELETE /config/v1/rules/{namespace}/{group}`: one group (404 `group does not exist`);
//! - `DELETE /config/v1/rules/{namespace}`: the namespace (404 `group namespace does not exist`).
//!
//! Errors are plain text, as Mimir's are. `X-Scope-OrgID` is accepted and ignored: Tidemark has
//! one tenant. Mutations need the admin token when one is set (`cluster.rs`). Namespaces a rule
//! file owns are read-only here. Reads answer from this node's replica of the ruler group.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tidemark_alerting::rules::{RuleGroup, parse_rule_group, to_yaml};
use tidemark_alerting::template::check_alert;

use super::AppState;
use crate::error::NodeError;
use crate::ruler::Ruler;
use crate::ruler::record::{Origin, RulerCommand, RulerState};

/// A refusal as Mimir answers it: a status and a plain-text reason.
pub struct RulesError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for RulesError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.message),
        )
            .into_response()
    }
}

fn text(status: StatusCode, message: impl Into<String>) -> RulesError {
    RulesError {
        status,
        message: message.into(),
    }
}

type Answer = Result<Response, RulesError>;

fn yaml(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/yaml")],
        body,
    )
        .into_response()
}

/// Mimir's 202 for an accepted change.
fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"success","data":null,"errorType":"","error":""}"#,
    )
        .into_response()
}

fn node_error(e: NodeError) -> RulesError {
    let status = match e.kind() {
        crate::error::ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        crate::error::ErrorKind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
        crate::error::ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        crate::error::ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    text(status, e.to_string())
}

fn ruler(state: &AppState) -> Result<Arc<Ruler>, RulesError> {
    state.backend.ruler().ok_or_else(|| {
        text(
            StatusCode::NOT_IMPLEMENTED,
            "the ruler is not available on this backend",
        )
    })
}

/// The namespaces of `state` (all, or only `only`) as the YAML layout answers them.
fn namespaces(state: &RulerState, only: Option<&str>) -> BTreeMap<String, Vec<RuleGroup>> {
    state
        .namespaces
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
        .map(|(name, ns)| {
            let groups = ns.groups.iter().map(|g| g.group.clone()).collect();
            (name.clone(), groups)
        })
        .collect()
}

/// `GET /config/v1/rules`.
pub async fn list(State(state): State<Arc<AppState>>) -> Answer {
    list_of(&state, None)
}

/// `GET /config/v1/rules/{namespace}`.
pub async fn get_namespace(
    State(state): State<Arc<AppState>>,
    Path(namespace): Path<String>,
) -> Answer {
    list_of(&state, Some(&namespace))
}

fn list_of(state: &AppState, only: Option<&str>) -> Answer {
    let ruler = ruler(state)?;
    let found = ruler.with_state(|s| namespaces(s, only));
    if found.is_empty() {
        return Err(text(StatusCode::NOT_FOUND, "no rule groups found"));
    }
    Ok(yaml(to_yaml(&found)))
}

/// `GET /config/v1/rules/{namespace}/{group}`.
pub async fn get_group(
    State(state): State<Arc<AppState>>,
    Path((namespace, group)): Path<(String, String)>,
) -> Answer {
    let ruler = ruler(&state)?;
    match ruler.with_state(|s| s.group(&namespace, &group).map(|g| g.group.clone())) {
        Some(g) => serde_yaml::to_string(&g)
            .map(yaml)
            .map_err(|e| text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        None => Err(text(StatusCode::NOT_FOUND, "group does not exist")),
    }
}

/// Refuses changes to a namespace a rule file owns.
fn check_writable(ruler: &Ruler, namespace: &str) -> Result<(), RulesError> {
    let origin = ruler.with_state(|s| s.namespaces.get(namespace).map(|n| n.origin.clone()));
    match origin {
        Some(Origin::File { node, path }) => Err(text(
            StatusCode::BAD_REQUEST,
            format!(
                "namespace {namespace:?} is loaded from rule file {path} on node {node}: it is \
                 read-only through the API"
            ),
        )),
        _ => Ok(()),
    }
}

/// `POST /config/v1/rules/{namespace}`.
pub async fn set_group(
    State(state): State<Arc<AppState>>,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Answer {
    let ruler = ruler(&state)?;
    check_writable(&ruler, &namespace)?;
    let limits = &state.config.rule_limits();
    let Ok(body) = std::str::from_utf8(&body) else {
        return Err(text(StatusCode::BAD_REQUEST, "the rule group is not UTF-8"));
    };
    let group = parse_rule_group(body, limits, &check_alert)
        .map_err(|e| text(StatusCode::BAD_REQUEST, e.to_string()))?;
    let groups_after = ruler.with_state(|s| {
        s.namespaces.get(&namespace).map_or(1, |ns| {
            ns.groups.len() + usize::from(ns.group(&group.name).is_none())
        })
    });
    if limits.groups_per_namespace_max > 0 && groups_after > limits.groups_per_namespace_max {
        return Err(text(
            StatusCode::BAD_REQUEST,
            format!(
                "per-namespace rule groups limit (limit: {} actual: {groups_after}) exceeded",
                limits.groups_per_namespace_max
            ),
        ));
    }
    let cmd = RulerCommand::SetGroup {
        namespace,
        origin: Origin::Api,
        group,
    };
    match ruler.propose(cmd).await {
        Ok(()) => Ok(accepted()),
        Err(e) => Err(node_error(e)),
    }
}

/// `DELETE /config/v1/rules/{namespace}`.
pub async fn delete_namespace(
    State(state): State<Arc<AppState>>,
    Path(namespace): Path<String>,
) -> Answer {
    let ruler = ruler(&state)?;
    check_writable(&ruler, &namespace)?;
    if !ruler.with_state(|s| s.namespaces.contains_key(&namespace)) {
        return Err(text(
            StatusCode::NOT_FOUND,
            "group namespace does not exist",
        ));
    }
    match ruler
        .propose(RulerCommand::DeleteNamespace { namespace })
        .await
    {
        Ok(()) => Ok(accepted()),
        Err(e) => Err(node_error(e)),
    }
}

/// `DELETE /config/v1/rules/{namespace}/{group}`.
pub async fn delete_group(
    State(state): State<Arc<AppState>>,
    Path((namespace, group)): Path<(String, String)>,
) -> Answer {
    let ruler = ruler(&state)?;
    check_writable(&ruler, &namespace)?;
    if ruler.with_state(|s| s.group(&namespace, &group).is_none()) {
        return Err(text(StatusCode::NOT_FOUND, "group does not exist"));
    }
    match ruler
        .propose(RulerCommand::DeleteGroup { namespace, group })
        .await
    {
        Ok(()) => Ok(accepted()),
        Err(e) => Err(node_error(e)),
    }
}
