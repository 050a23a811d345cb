//! `GET /api/v2/status` and `GET /api/v2/receivers`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::State;
use tidemark_api::alertmanager::{
    AlertmanagerConfig, AlertmanagerStatus, ClusterState, ClusterStatus, Receiver, VersionInfo,
    rfc3339_ms,
};

use super::{Answer, json, notifier};
use crate::http::AppState;

/// `GET /api/v2/status`: the configuration as set with its secrets masked (as Alertmanager
/// shows it; the admin endpoint shows it whole), this node's uptime, and the cluster as
/// "ready" (Tidemark's notifier is one replicated state, not gossiping peers: no peers are
/// listed).
pub async fn status(State(state): State<Arc<AppState>>) -> Answer {
    let n = notifier(&state)?;
    let original = n.ruler().with_state(|s| {
        s.notifier
            .config
            .as_ref()
            .map(|c| tidemark_alerting::notify::config::masked(&c.yaml))
            .unwrap_or_default()
    });
    let started_ms = state
        .started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok(json(&AlertmanagerStatus {
        cluster: ClusterStatus {
            name: None,
            peers: Vec::new(),
            status: ClusterState::Ready,
        },
        config: AlertmanagerConfig { original },
        uptime: rfc3339_ms(started_ms),
        version_info: VersionInfo {
            branch: option_env!("TIDEMARK_GIT_BRANCH")
                .unwrap_or("unknown")
                .into(),
            build_date: option_env!("TIDEMARK_BUILD_DATE")
                .unwrap_or("unknown")
                .into(),
            build_user: option_env!("TIDEMARK_BUILD_USER")
                .unwrap_or("unknown")
                .into(),
            go_version: "rust".into(),
            revision: option_env!("TIDEMARK_GIT_REVISION")
                .unwrap_or("unknown")
                .into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    }))
}

/// `GET /api/v2/receivers`: every receiver of the configuration, by name.
pub async fn receivers(State(state): State<Arc<AppState>>) -> Answer {
    let n = notifier(&state)?;
    let names: Vec<String> = n.ruler().with_state(|s| {
        s.notifier
            .config()
            .map(|c| c.receivers.keys().cloned().collect())
            .unwrap_or_default()
    });
    let out: Vec<Receiver> = names
        .into_iter()
        .map(|name| Receiver {
            labels: BTreeMap::from([("name".to_string(), name.clone())]),
            name,
        })
        .collect();
    Ok(json(&out))
}
