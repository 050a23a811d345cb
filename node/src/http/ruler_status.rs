//! `GET /api/v1/status/ruler`: this node's view of the ruler: who leads the ruler group, the
//! ruler's counters on this node (non-zero only where it led), the Alertmanager sender's, and
//! what importing this node's rule files found (a file that differs from another node's is
//! reported here, never applied silently).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use crate::error::NodeError;

/// The answer's `data`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RulerStatus {
    leader: Option<u64>,
    term: u64,
    namespaces: usize,
    groups: usize,
    iterations: u64,
    missed_iterations: u64,
    failed_evaluations: u64,
    failed_writes: u64,
    failed_commits: u64,
    alerts_sent: u64,
    notifications_sent: u64,
    notification_errors: u64,
    notification_batches_dropped: u64,
    rule_file_conflicts: u64,
    rule_file_problems: Vec<String>,
}

/// `GET /api/v1/status/ruler`.
pub async fn ruler(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let ruler = state
        .backend
        .ruler()
        .ok_or_else(|| NodeError::NotImplemented("no ruler on this backend".into()))?;
    let (leader, term) = ruler.leadership();
    let (namespaces, groups) = ruler.with_state(|s| {
        let groups = s.namespaces.values().map(|n| n.groups.len()).sum();
        (s.namespaces.len(), groups)
    });
    let c = ruler.counters();
    let n = ruler.notify_counters();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let status = RulerStatus {
        leader,
        term,
        namespaces,
        groups,
        iterations: load(&c.iterations),
        missed_iterations: load(&c.missed_iterations),
        failed_evaluations: load(&c.failed_evaluations),
        failed_writes: load(&c.failed_writes),
        failed_commits: load(&c.failed_commits),
        alerts_sent: load(&c.alerts_sent),
        notifications_sent: load(&n.sent),
        notification_errors: load(&n.errors),
        notification_batches_dropped: load(&n.dropped),
        rule_file_conflicts: ruler.file_conflicts(),
        rule_file_problems: ruler.file_status(),
    };
    super::rules_status::success(status)
}
