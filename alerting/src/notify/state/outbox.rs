//! The outbox: notifications recorded before they are sent, and what became of each; and
//! forgetting what is old (expired silences, notification-log entries and finished
//! notifications past their retention, resolved alerts no group holds).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{NflogEntry, NflogKey, NotifierState, OUTBOX_DONE_RETENTION_MS, RETENTION_MS};
use crate::notify::alert::Alert;

/// A notification: one group's alerts for one integration of a receiver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Its id.
    pub id: u64,
    /// The group, receiver and integration it is for.
    pub nflog: NflogKey,
    /// The route that grouped it.
    pub route_id: String,
    /// The group's labels.
    pub group_labels: BTreeMap<String, String>,
    /// The alerts it carries, as they were when the group flushed.
    pub alerts: Vec<Alert>,
    /// The group's firing alerts at the flush (for the notification log).
    pub firing: BTreeSet<u64>,
    /// The group's resolved alerts at the flush (for the notification log).
    pub resolved: BTreeSet<u64>,
    /// When the group flushed it (ms).
    pub flushed_at_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: String,
    /// Not to be tried before (ms).
    pub retry_at_ms: i64,
    /// What became of it.
    pub delivery: Delivery,
}

/// What became of a notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Delivery {
    /// Not delivered yet: the leader sends it.
    Pending,
    /// The receiver accepted it.
    Delivered {
        /// When (ms).
        at_ms: i64,
    },
    /// A newer notification for the same group and integration replaced it before delivery.
    Superseded {
        /// The newer one.
        by: u64,
        /// When (ms).
        at_ms: i64,
    },
    /// The leader stopped trying.
    GaveUp {
        /// When (ms).
        at_ms: i64,
        /// The last error.
        error: String,
    },
}

impl Delivery {
    /// When it finished, if it has.
    fn finished_at_ms(&self) -> Option<i64> {
        match self {
            Delivery::Pending => None,
            Delivery::Delivered { at_ms }
            | Delivery::Superseded { at_ms, .. }
            | Delivery::GaveUp { at_ms, .. } => Some(*at_ms),
        }
    }
}

impl NotifierState {
    /// The notifications waiting to be sent, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &Notification> {
        self.outbox
            .values()
            .filter(|n| n.delivery == Delivery::Pending)
    }

    pub(super) fn delivered(&mut self, ids: &[u64], now: i64) {
        for id in ids {
            let Some(n) = self.outbox.get_mut(id) else {
                continue;
            };
            match n.delivery {
                Delivery::Delivered { .. } => {
                    self.totals.delivered_again += 1;
                    continue;
                }
                // Sent by a leader that had not seen it replaced or given up: it was
                // delivered all the same.
                Delivery::Pending | Delivery::Superseded { .. } | Delivery::GaveUp { .. } => {}
            }
            n.delivery = Delivery::Delivered { at_ms: now };
            self.totals.delivered += 1;
            // The log keeps the newest flush delivered, whatever order deliveries came in.
            let newer = self
                .nflog
                .get(&n.nflog)
                .is_none_or(|e| e.flushed_at_ms <= n.flushed_at_ms);
            if newer {
                self.nflog.insert(
                    n.nflog.clone(),
                    NflogEntry {
                        firing: n.firing.clone(),
                        resolved: n.resolved.clone(),
                        flushed_at_ms: n.flushed_at_ms,
                        sent_at_ms: now,
                    },
                );
            }
        }
    }

    pub(super) fn failed(&mut self, id: u64, error: &str, retry_at_ms: i64) {
        if let Some(n) = self.outbox.get_mut(&id) {
            self.totals.failed_attempts += 1;
            n.attempts += 1;
            n.last_error = error.to_string();
            n.retry_at_ms = n.retry_at_ms.max(retry_at_ms);
        }
    }

    pub(super) fn gave_up(&mut self, id: u64, error: &str, now: i64) {
        if let Some(n) = self.outbox.get_mut(&id)
            && n.delivery == Delivery::Pending
        {
            n.delivery = Delivery::GaveUp {
                at_ms: now,
                error: error.to_string(),
            };
            self.totals.given_up += 1;
        }
    }

    pub(super) fn forget_old(&mut self, now: i64) {
        self.silences
            .retain(|_, s| s.ends_at_ms.saturating_add(RETENTION_MS) > now);
        self.nflog
            .retain(|_, e| e.sent_at_ms.saturating_add(RETENTION_MS) > now);
        self.outbox.retain(|_, n| {
            n.delivery
                .finished_at_ms()
                .is_none_or(|t| t.saturating_add(OUTBOX_DONE_RETENTION_MS) > now)
        });
        let grouped: BTreeSet<u64> = self
            .groups
            .values()
            .flat_map(|g| g.alerts.iter().copied())
            .collect();
        self.alerts
            .retain(|fp, a| !a.resolved_at(now) || grouped.contains(fp));
    }
}
