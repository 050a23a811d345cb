//! The notifier's replicated state and its commands: the configuration, the alerts received,
//! the aggregation groups with their timers, the silences, the notification log and the
//! outbox. Applying a command depends only on the command and the state (DESIGN.md,
//! "Determinism"): time comes from the command (the leader's clock, never allowed to go
//! back), ids from the leader or from counters in the state.
//!
//! A notification is put in the outbox when its group is flushed (a [`NotifierCommand::Tick`]
//! at or after the group's next flush time), before anyone sends it; the leader sends what is
//! pending and marks it delivered; a new leader sends what the old one left pending. So every
//! notification goes out at least once while a majority of the ruler group lives.
//!
//! - `alerts.rs`: receiving alerts, and putting them in the groups of the routes they take.
//! - `flush.rs`: flushing due groups through inhibition, time intervals, silences and the
//!   notification log into the outbox (Alertmanager's notification pipeline).
//! - `outbox.rs`: deliveries, failures, give-ups, and forgetting what is old.
//! - `silences.rs`: creating, updating and expiring silences.

mod alerts;
mod flush;
mod outbox;
mod silences;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::alert::Alert;
use super::config::NotifierConfig;
use super::silence::Silence;

pub use outbox::{Delivery, Notification};

/// How long expired silences and notification-log entries are kept (Alertmanager's
/// `--data.retention` default, 120 h).
pub const RETENTION_MS: i64 = 120 * 3_600_000;

/// How long a finished outbox entry (delivered, superseded, given up) stays visible.
pub const OUTBOX_DONE_RETENTION_MS: i64 = 3_600_000;

/// The configuration as stored: its text, its parsed form, and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig {
    /// The YAML as given.
    pub yaml: String,
    /// The validated configuration.
    pub config: NotifierConfig,
    /// The template files its `templates` globs matched, by name, with their text (read by
    /// whoever imported the configuration: the notifier itself reads no file).
    pub template_files: BTreeMap<String, String>,
    /// Where it came from.
    pub source: ConfigSource,
    /// When it was set (ms, the command's time).
    pub set_at_ms: i64,
}

/// Where the notifier's configuration came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigSource {
    /// The API (`tidemarkctl notifier set`), by whom (for the audit trail).
    Api {
        /// Who set it, as the request identified itself.
        by: String,
    },
    /// A node's `--notifier-config` file.
    File {
        /// The node whose configuration names it.
        node: u64,
        /// The file's path as configured.
        path: String,
    },
}

/// An aggregation group: the alerts of one route with the same group labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggrGroup {
    /// The route's id (its key and position).
    pub route_id: String,
    /// Alertmanager's group key, `{route key}:{group labels}`.
    pub key: String,
    /// The receiver of its route.
    pub receiver: String,
    /// The labels it groups by, with their values.
    pub labels: BTreeMap<String, String>,
    /// The fingerprints of its alerts.
    pub alerts: BTreeSet<u64>,
    /// When it flushes next (ms).
    pub next_flush_ms: i64,
    /// Whether it has flushed at least once (then new alerts wait for `group_interval`).
    pub has_flushed: bool,
}

/// What was last notified for a group to one integration of a receiver (Alertmanager's
/// notification log).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    /// Fingerprints of the alerts that were firing in it.
    pub firing: BTreeSet<u64>,
    /// Fingerprints of the alerts that were resolved in it.
    pub resolved: BTreeSet<u64>,
    /// When the notification was flushed (ms).
    pub flushed_at_ms: i64,
    /// When it was delivered (ms); `repeat_interval` counts from then.
    pub sent_at_ms: i64,
}

/// The notification log's key: group key, receiver and integration (kind and index among
/// the receiver's integrations of that kind, as Alertmanager's log names it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NflogKey {
    /// The group key.
    pub group_key: String,
    /// The receiver's name.
    pub receiver: String,
    /// The integration's kind (`webhook`, `email`, `pagerduty`, `sms`).
    pub kind: String,
    /// Its index among the receiver's integrations of that kind.
    pub integration: u32,
}

/// Counters kept in the replicated state (so that every node reports the same).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifierTotals {
    /// Alerts received (each alert of each `PutAlerts`).
    pub alerts_received: u64,
    /// Notifications put in the outbox.
    pub notifications: u64,
    /// Notifications delivered.
    pub delivered: u64,
    /// Deliveries reported again for a notification already delivered (known duplicates).
    pub delivered_again: u64,
    /// Failed attempts.
    pub failed_attempts: u64,
    /// Notifications replaced by a newer one for the same group before delivery.
    pub superseded: u64,
    /// Notifications given up.
    pub given_up: u64,
}

/// The notifier's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifierState {
    /// The configuration; none: alerts are kept, nothing is routed or sent.
    pub config: Option<StoredConfig>,
    /// The notifier's clock: the latest time a command carried (ms).
    pub now_ms: i64,
    /// Alerts by fingerprint.
    pub alerts: BTreeMap<u64, Alert>,
    /// Aggregation groups by route id and group key.
    pub groups: BTreeMap<(String, String), AggrGroup>,
    /// Silences by id.
    pub silences: BTreeMap<String, Silence>,
    /// The notification log.
    pub nflog: BTreeMap<NflogKey, NflogEntry>,
    /// The outbox by notification id.
    pub outbox: BTreeMap<u64, Notification>,
    /// The next notification's id.
    pub next_id: u64,
    /// Counters.
    pub totals: NotifierTotals,
}

/// A command of the notifier (carried in the ruler group's log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NotifierCommand {
    /// Sets (or with `None` removes) the configuration; the groups are rebuilt from the
    /// alerts held, as Alertmanager rebuilds its dispatcher on a reload.
    SetConfig {
        /// The leader's clock.
        now_ms: i64,
        /// The configuration.
        config: Option<Box<StoredConfig>>,
    },
    /// Alerts received (from the ruler or an API client), validated by the leader.
    PutAlerts {
        /// The leader's clock.
        now_ms: i64,
        /// The alerts; those without an end were given `resolve_timeout` by the leader.
        alerts: Vec<Alert>,
    },
    /// Time passes: due groups flush, old things are forgotten.
    Tick {
        /// The leader's clock.
        now_ms: i64,
    },
    /// Notifications a receiver accepted.
    Delivered {
        /// The leader's clock.
        now_ms: i64,
        /// Their ids.
        ids: Vec<u64>,
    },
    /// An attempt failed; the next one is not before `retry_at_ms`.
    Failed {
        /// The leader's clock.
        now_ms: i64,
        /// The notification.
        id: u64,
        /// What the receiver answered.
        error: String,
        /// When to try again (ms; the leader's backoff with jitter).
        retry_at_ms: i64,
    },
    /// The leader stopped trying.
    GaveUp {
        /// The leader's clock.
        now_ms: i64,
        /// The notification.
        id: u64,
        /// Why.
        error: String,
    },
    /// Creates or updates a silence. An existing `silence.id` is updated in place when
    /// Alertmanager would allow it, else it is expired and the silence is created as
    /// `new_id`; an unknown id creates the silence under it.
    SetSilence {
        /// The leader's clock.
        now_ms: i64,
        /// The silence (its id: the one to update, or the new one).
        silence: Silence,
        /// The id to create under when the update cannot keep the id.
        new_id: String,
    },
    /// Expires a silence (no-op when absent or expired).
    ExpireSilence {
        /// The leader's clock.
        now_ms: i64,
        /// Its id.
        id: String,
        /// Who expired it.
        by: String,
    },
}

impl NotifierCommand {
    /// The command's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            NotifierCommand::SetConfig { .. } => "set notifier config",
            NotifierCommand::PutAlerts { .. } => "put alerts",
            NotifierCommand::Tick { .. } => "notifier tick",
            NotifierCommand::Delivered { .. } => "notifications delivered",
            NotifierCommand::Failed { .. } => "notification failed",
            NotifierCommand::GaveUp { .. } => "notification given up",
            NotifierCommand::SetSilence { .. } => "set silence",
            NotifierCommand::ExpireSilence { .. } => "expire silence",
        }
    }

    /// The command with the proposing leader's time `now_ms` in place of the time of the
    /// node that received the request: a node with a wrong clock then cannot move the
    /// notifier's clock. Times derived from the receipt time move with it (the end of an
    /// alert posted without one, `updatedAt`s).
    pub fn restamped(mut self, now_ms: i64) -> Self {
        let shift = now_ms - self.now_ms();
        match &mut self {
            NotifierCommand::SetConfig { now_ms: t, config } => {
                *t = now_ms;
                if let Some(c) = config {
                    c.set_at_ms = now_ms;
                }
            }
            NotifierCommand::PutAlerts { now_ms: t, alerts } => {
                *t = now_ms;
                for a in alerts {
                    a.updated_at_ms = now_ms;
                    if a.timeout {
                        a.ends_at_ms = a.ends_at_ms.saturating_add(shift);
                    }
                }
            }
            NotifierCommand::SetSilence {
                now_ms: t, silence, ..
            } => {
                *t = now_ms;
                silence.updated_at_ms = now_ms;
            }
            NotifierCommand::Tick { now_ms: t }
            | NotifierCommand::Delivered { now_ms: t, .. }
            | NotifierCommand::Failed { now_ms: t, .. }
            | NotifierCommand::GaveUp { now_ms: t, .. }
            | NotifierCommand::ExpireSilence { now_ms: t, .. } => *t = now_ms,
        }
        self
    }

    fn now_ms(&self) -> i64 {
        match self {
            NotifierCommand::SetConfig { now_ms, .. }
            | NotifierCommand::PutAlerts { now_ms, .. }
            | NotifierCommand::Tick { now_ms }
            | NotifierCommand::Delivered { now_ms, .. }
            | NotifierCommand::Failed { now_ms, .. }
            | NotifierCommand::GaveUp { now_ms, .. }
            | NotifierCommand::SetSilence { now_ms, .. }
            | NotifierCommand::ExpireSilence { now_ms, .. } => *now_ms,
        }
    }
}

impl NotifierState {
    /// Applies `cmd` (deterministic; never fails).
    pub fn apply(&mut self, cmd: &NotifierCommand) {
        // Leaders' clocks differ: the notifier's never goes back.
        self.now_ms = self.now_ms.max(cmd.now_ms());
        let now = self.now_ms;
        match cmd {
            NotifierCommand::SetConfig { config, .. } => {
                self.config = config.as_deref().cloned();
                self.regroup(now);
            }
            NotifierCommand::PutAlerts { alerts, .. } => self.put_alerts(alerts, now),
            NotifierCommand::Tick { .. } => {
                self.flush_due(now);
                self.forget_old(now);
            }
            NotifierCommand::Delivered { ids, .. } => self.delivered(ids, now),
            NotifierCommand::Failed {
                id,
                error,
                retry_at_ms,
                ..
            } => self.failed(*id, error, *retry_at_ms),
            NotifierCommand::GaveUp { id, error, .. } => self.gave_up(*id, error, now),
            NotifierCommand::SetSilence {
                silence, new_id, ..
            } => self.set_silence(silence, new_id, now),
            NotifierCommand::ExpireSilence { id, .. } => {
                if let Some(s) = self.silences.get_mut(id) {
                    s.expire(now);
                }
            }
        }
    }

    /// Whether this state shows the effect of `cmd` (a client's change; the leader's own
    /// commands always count as shown), so that a client reads its own change.
    pub fn shows(&self, cmd: &NotifierCommand) -> bool {
        match cmd {
            NotifierCommand::SetConfig { config, .. } => {
                let shown = |c: &StoredConfig| (c.yaml.clone(), c.template_files.clone());
                self.config.as_ref().map(shown) == config.as_deref().map(shown)
            }
            NotifierCommand::SetSilence {
                silence, new_id, ..
            } => [&silence.id, new_id].iter().any(|id| {
                self.silences.get(*id).is_some_and(|s| {
                    s.matchers == silence.matchers && s.ends_at_ms == silence.ends_at_ms
                })
            }),
            // Expired at the state's clock, which may be ahead of the command's.
            NotifierCommand::ExpireSilence { id, now_ms, .. } => self
                .silences
                .get(id)
                .is_none_or(|s| s.ends_at_ms <= self.now_ms.max(*now_ms)),
            NotifierCommand::PutAlerts { .. }
            | NotifierCommand::Tick { .. }
            | NotifierCommand::Delivered { .. }
            | NotifierCommand::Failed { .. }
            | NotifierCommand::GaveUp { .. } => true,
        }
    }

    /// The configuration, if one is set.
    pub fn config(&self) -> Option<&NotifierConfig> {
        self.config.as_ref().map(|c| &c.config)
    }

    /// When the earliest group flushes next, if any group exists.
    pub fn next_flush_ms(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush_ms).min()
    }
}
