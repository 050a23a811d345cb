//! The ruler's and the notifier's counters on `/metrics`, read at each scrape (they count on
//! the node that leads the ruler group, and stay where they were on the others):
//!
//! - `tidemark_ruler_leader` (1 where this node leads the ruler group),
//!   `tidemark_ruler_iterations_total`, `tidemark_ruler_missed_iterations_total`,
//!   `tidemark_ruler_failed_evaluations_total`, `tidemark_ruler_failed_writes_total`,
//!   `tidemark_ruler_failed_commits_total`, `tidemark_ruler_alerts_sent_total`;
//! - the sender to external Alertmanagers: `tidemark_alertmanager_alerts_sent_total`,
//!   `tidemark_alertmanager_alerts_failed_total`, `tidemark_alertmanager_batches_dropped_total`;
//! - the built-in notifier: `tidemark_notifier_attempts_total`,
//!   `tidemark_notifier_failures_total`, `tidemark_notifier_ticks_total`,
//!   `tidemark_notifier_failed_commits_total`.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::DescriptorEncoder;

use super::gauge;
use crate::http::backend::Backend;

/// Writes one counter read from `value`.
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: &AtomicU64,
) -> Result<(), std::fmt::Error> {
    super::counter(encoder, name, help, value.load(Ordering::Relaxed))
}

/// The ruler's and notifier's metrics of `backend` (nothing where it has neither).
pub(super) fn encode(
    encoder: &mut DescriptorEncoder,
    backend: &dyn Backend,
    node_id: u64,
) -> Result<(), std::fmt::Error> {
    if let Some(ruler) = backend.ruler() {
        let (leader, _) = ruler.leadership();
        gauge(
            encoder,
            "tidemark_ruler_leader",
            "1 where this node leads the ruler group (and evaluates the rules)",
            i64::from(leader == Some(node_id)),
        )?;
        let c = ruler.counters();
        for (name, help, value) in [
            (
                "tidemark_ruler_iterations",
                "Rule group iterations committed",
                &c.iterations,
            ),
            (
                "tidemark_ruler_missed_iterations",
                "Rule group iterations skipped (overruns, no leader)",
                &c.missed_iterations,
            ),
            (
                "tidemark_ruler_failed_evaluations",
                "Rule evaluations that failed",
                &c.failed_evaluations,
            ),
            (
                "tidemark_ruler_failed_writes",
                "Iterations whose recorded samples could not all be written",
                &c.failed_writes,
            ),
            (
                "tidemark_ruler_failed_commits",
                "Iterations whose commit failed (leadership lost)",
                &c.failed_commits,
            ),
            (
                "tidemark_ruler_alerts_sent",
                "Alerts handed to the notifiers",
                &c.alerts_sent,
            ),
        ] {
            counter(encoder, name, help, value)?;
        }
        let n = ruler.notify_counters();
        for (name, help, value) in [
            (
                "tidemark_alertmanager_alerts_sent",
                "Alerts delivered to external Alertmanagers (2xx)",
                &n.sent,
            ),
            (
                "tidemark_alertmanager_alerts_failed",
                "Alerts whose request to an external Alertmanager failed",
                &n.errors,
            ),
            (
                "tidemark_alertmanager_batches_dropped",
                "Alert batches dropped because an Alertmanager's queue was full",
                &n.dropped,
            ),
        ] {
            counter(encoder, name, help, value)?;
        }
    }
    if let Some(notifier) = backend.notifier() {
        let c = notifier.counters();
        for (name, help, value) in [
            (
                "tidemark_notifier_attempts",
                "Notifications the built-in notifier attempted on this node",
                &c.attempts,
            ),
            (
                "tidemark_notifier_failures",
                "Notification attempts that failed on this node",
                &c.failures,
            ),
            (
                "tidemark_notifier_ticks",
                "Built-in notifier ticks committed by this node",
                &c.ticks,
            ),
            (
                "tidemark_notifier_failed_commits",
                "Built-in notifier commits that failed (leadership lost, timeouts)",
                &c.failed_commits,
            ),
        ] {
            counter(encoder, name, help, value)?;
        }
    }
    Ok(())
}
