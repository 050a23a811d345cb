//! The built-in notifier's settings (`notifier:` in the configuration file): how the ruler
//! group's leader sends what the notifier's outbox holds, and the bounds of its state. What
//! is routed where is the replicated `alertmanager.yml`, not these.

use serde::{Deserialize, Serialize};

/// How the built-in notifier sends, and its bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierSettings {
    /// How long one attempt to deliver a notification may take, unless the integration sets
    /// its own `timeout`.
    pub send_timeout_ms: u64,
    /// The first retry's delay after a failed attempt; it doubles per attempt, with jitter.
    pub retry_initial_ms: u64,
    /// The longest delay between two attempts.
    pub retry_max_ms: u64,
    /// How long after its group flushed a notification is given up (recorded and shown,
    /// never silent); a newer notification for the same group replaces it before that.
    pub give_up_after_ms: u64,
    /// Attempts in flight at once.
    pub sends_in_flight_max: usize,
    /// Alerts the notifier holds at most; an API post beyond is refused (429).
    pub alerts_max: usize,
    /// Silences (active, pending, and expired ones in their retention) at most.
    pub silences_max: usize,
    /// How often the leader checks for due groups and pending notifications.
    pub tick_ms: u64,
    /// How often the leader commits a tick even when no group is due, to expire what is old.
    pub maintenance_interval_ms: u64,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            send_timeout_ms: 10_000,
            retry_initial_ms: 1_000,
            retry_max_ms: 60_000,
            give_up_after_ms: 24 * 3_600_000,
            sends_in_flight_max: 64,
            alerts_max: 100_000,
            silences_max: 10_000,
            tick_ms: 200,
            maintenance_interval_ms: 30_000,
        }
    }
}
