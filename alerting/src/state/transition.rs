//! The alert state machine of one alerting rule (Prometheus 3.5 `AlertingRule.Eval` after the
//! query, `Alert.needsSending`, `AlertingRule.sendAlerts`): what one evaluation's result does
//! to the rule's alerts, and which alerts are due to be sent.
//!
//! ```text
//!            returned                    returned, now - active_at >= for
//!   (none) ───────────▶ Pending ───────────────────────────────────────▶ Firing
//!                          │ not returned: dropped                         │ not returned (and
//!                          ▼                                               │ keep_firing_for over)
//!                       (none) ◀── 15 min after resolved_at ── Inactive ◀──┘
//! ```
//!
//! An inactive (resolved) alert whose label set is returned again is replaced by a new pending
//! one.

use std::collections::BTreeMap;

use tidemark_storage::Labels;

use super::{Alert, AlertState, RESOLVED_RETENTION_MS, RuleState};

/// What one evaluation returned for one label set of an alerting rule (labels already final:
/// series labels, rule labels, `alertname`).
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// The expression's value.
    pub value: f64,
}

/// The evaluation's time and the rule's settings the state machine needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The evaluation time (ms).
    pub ts_ms: i64,
    /// The rule's `for` (ms): how long an alert is pending before it fires.
    pub for_ms: i64,
    /// The rule's `keep_firing_for` (ms); 0 for none.
    pub keep_firing_for_ms: i64,
    /// The group's `limit` of pending and firing alerts; 0 for none.
    pub limit: u64,
}

impl RuleState {
    /// Advances the rule's alerts by one successful query result, `found` (Prometheus'
    /// `AlertingRule.Eval` from the query on).
    ///
    /// Returned label sets update the value and annotations of their pending or firing alert
    /// (keeping `active_at`), or start a new pending one; pending alerts not returned are
    /// dropped; firing alerts not returned resolve, unless `keep_firing_for` still holds them;
    /// resolved alerts are dropped [`RESOLVED_RETENTION_MS`] after they resolved; pending alerts
    /// fire once they have been active for `for`.
    ///
    /// More than `limit` pending and firing alerts afterwards is an error, and then the rule's
    /// alerts are all dropped, as Prometheus does.
    pub fn advance(
        &mut self,
        found: BTreeMap<Labels, Observation>,
        at: &Transition,
    ) -> Result<(), String> {
        let ts = at.ts_ms;
        let mut alerts: BTreeMap<Labels, Alert> = std::mem::take(&mut self.alerts)
            .into_iter()
            .map(|a| (a.labels.clone(), a))
            .collect();
        for (labels, seen) in &found {
            match alerts.get_mut(labels) {
                Some(alert) if alert.is_active() => {
                    alert.value = seen.value;
                    alert.annotations = seen.annotations.clone();
                }
                _ => {
                    let alert =
                        Alert::pending(labels.clone(), seen.annotations.clone(), seen.value, ts);
                    alerts.insert(labels.clone(), alert);
                }
            }
        }

        let mut active = 0u64;
        alerts.retain(|labels, alert| {
            if found.contains_key(labels) {
                alert.keep_firing_since_ms = None;
            } else {
                let keep_firing = alert.state == AlertState::Firing
                    && at.keep_firing_for_ms > 0
                    && ts - *alert.keep_firing_since_ms.get_or_insert(ts) < at.keep_firing_for_ms;
                if keep_firing {
                    active += 1;
                    return true;
                }
                let expired = alert
                    .resolved_at_ms
                    .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS);
                if alert.state == AlertState::Pending || expired {
                    return false;
                }
                if alert.state != AlertState::Inactive {
                    alert.state = AlertState::Inactive;
                    alert.resolved_at_ms = Some(ts);
                }
                return true;
            }
            active += 1;
            if alert.state == AlertState::Pending && ts - alert.active_at_ms >= at.for_ms {
                alert.state = AlertState::Firing;
                alert.fired_at_ms = Some(ts);
            }
            true
        });

        if at.limit > 0 && active > at.limit {
            // `self.alerts` stays empty: Prometheus drops all of the rule's alerts.
            return Err(format!(
                "exceeded limit of {} with {active} alerts",
                at.limit
            ));
        }
        self.alerts = alerts.into_values().collect();
        Ok(())
    }

    /// Marks the alerts due to be sent at `ts_ms` as sent and returns them (Prometheus'
    /// `sendAlerts`): firing ones not sent within `resend_delay_ms`, and resolved ones not sent
    /// since they resolved; never pending ones. A sent alert is valid until
    /// `ts_ms + 4 x max(resend_delay_ms, interval_ms)`, which allows two failed evaluations or
    /// sends before Alertmanager resolves it on its own.
    pub fn take_due(&mut self, ts_ms: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let delta_ms = resend_delay_ms.max(interval_ms);
        let mut due = Vec::new();
        for alert in &mut self.alerts {
            if alert.needs_sending(ts_ms, resend_delay_ms) {
                alert.last_sent_at_ms = Some(ts_ms);
                alert.valid_until_ms = Some(ts_ms.saturating_add(delta_ms.saturating_mul(4)));
                due.push(alert.clone());
            }
        }
        due
    }
}

impl Alert {
    /// Whether it is due to be sent at `ts_ms` (Prometheus' `needsSending`): never while
    /// pending; at once if it resolved after it was last sent; else once `resend_delay_ms` has
    /// passed since it was last sent.
    pub fn needs_sending(&self, ts_ms: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        // `None < Some(_)`: resolved and never sent counts as resolved since the last send.
        if self.resolved_at_ms.is_some() && self.resolved_at_ms > self.last_sent_at_ms {
            return true;
        }
        match self.last_sent_at_ms {
            None => true,
            Some(sent) => sent.saturating_add(resend_delay_ms) < ts_ms,
        }
    }

    /// The `endsAt` it is sent with: when it resolved, else how long the last send is valid.
    pub fn ends_at_ms(&self) -> Option<i64> {
        self.resolved_at_ms.or(self.valid_until_ms)
    }
}
