//! `GET /api/v1/status/notifier`: the built-in notifier as this node's replica of the ruler
//! group shows it (configuration source, alerts, groups, silences, the outbox and its
//! replicated totals, every notification not delivered yet with its attempts and last error,
//! and the latest give-ups), this node's own sending counters (non-zero only where it led),
//! and what importing this node's `--notifier-config` found (a difference with the replicated
//! configuration is reported here, never applied silently).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use tidemark_alerting::notify::state::{ConfigSource, Delivery, NotifierTotals};

use super::AppState;
use super::error::ApiError;
use super::notifier_config::notifier;

/// Give-ups listed at most (the newest).
const GIVE_UPS_SHOWN_MAX: usize = 50;

/// The answer's `data`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NotifierStatus {
    configured: bool,
    config_source: Option<String>,
    alerts: usize,
    groups: usize,
    silences: usize,
    pending: Vec<Undelivered>,
    given_up: Vec<Undelivered>,
    totals: Totals,
    node: NodeCounters,
    config_file_conflicts: u64,
    config_file_problems: Vec<String>,
}

/// A notification not delivered (pending or given up).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Undelivered {
    id: u64,
    receiver: String,
    kind: String,
    integration: u32,
    group_key: String,
    alerts: usize,
    flushed_at_ms: i64,
    attempts: u32,
    last_error: String,
}

/// The replicated totals.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Totals {
    alerts_received: u64,
    notifications: u64,
    delivered: u64,
    delivered_again: u64,
    failed_attempts: u64,
    superseded: u64,
    given_up: u64,
}

impl From<&NotifierTotals> for Totals {
    fn from(t: &NotifierTotals) -> Self {
        Totals {
            alerts_received: t.alerts_received,
            notifications: t.notifications,
            delivered: t.delivered,
            delivered_again: t.delivered_again,
            failed_attempts: t.failed_attempts,
            superseded: t.superseded,
            given_up: t.given_up,
        }
    }
}

/// This node's counters.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeCounters {
    attempts: u64,
    failures: u64,
    ticks: u64,
    failed_commits: u64,
}

/// `GET /api/v1/status/notifier`.
pub async fn status(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let n = notifier(&state)?;
    let c = n.counters();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let node = NodeCounters {
        attempts: load(&c.attempts),
        failures: load(&c.failures),
        ticks: load(&c.ticks),
        failed_commits: load(&c.failed_commits),
    };
    let (config_file_conflicts, config_file_problems) = (n.file_conflicts(), n.file_problems());
    let status = n.ruler().with_state(|s| {
        let s = &s.notifier;
        let undelivered = |n: &tidemark_alerting::notify::state::Notification| Undelivered {
            id: n.id,
            receiver: n.nflog.receiver.clone(),
            kind: n.nflog.kind.clone(),
            integration: n.nflog.integration,
            group_key: n.nflog.group_key.clone(),
            alerts: n.alerts.len(),
            flushed_at_ms: n.flushed_at_ms,
            attempts: n.attempts,
            last_error: match &n.delivery {
                Delivery::GaveUp { error, .. } => error.clone(),
                _ => n.last_error.clone(),
            },
        };
        NotifierStatus {
            configured: s.config.is_some(),
            config_source: s.config.as_ref().map(|c| match &c.source {
                ConfigSource::Api { by } => format!("api ({by})"),
                ConfigSource::File { node, path } => format!("file {path} of node {node}"),
            }),
            alerts: s.alerts.len(),
            groups: s.groups.len(),
            silences: s.silences.len(),
            pending: s.pending().map(undelivered).collect(),
            given_up: s
                .outbox
                .values()
                .rev()
                .filter(|n| matches!(n.delivery, Delivery::GaveUp { .. }))
                .take(GIVE_UPS_SHOWN_MAX)
                .map(undelivered)
                .collect(),
            totals: Totals::from(&s.totals),
            node,
            config_file_conflicts,
            config_file_problems,
        }
    });
    super::rules_status::success(status)
}
