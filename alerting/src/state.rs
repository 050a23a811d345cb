//! The committed state of rule groups and their alerts, as the ruler group holds it, and the
//! alert state machine of one alerting rule (Prometheus 3.5 `rules/alerting.go`).
//!
//! Everything here is plain data (bincode in the ruler group's record): the leader computes a
//! group's next state with [`crate::eval`], commits it, and only then sends; a new leader
//! resumes from the committed state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidemark_storage::Labels;

mod transition;

pub use transition::{Observation, Transition};

/// How long a resolved alert is kept (and re-sent as resolved) after it resolved: Prometheus'
/// `resolvedRetention`, 15 minutes.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// An alert's state (Prometheus' `AlertState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlertState {
    /// Resolved (kept for 15 minutes after resolving, so it is re-sent as resolved).
    Inactive,
    /// Active, waiting for its `for` duration.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    /// Prometheus' name of the state (`inactive`, `pending`, `firing`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule: a label set the rule's expression returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's labels: the series' labels without `__name__`, the rule's (expanded)
    /// labels, `alertname`.
    pub labels: Labels,
    /// The expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// Its state.
    pub state: AlertState,
    /// The expression's value at the last evaluation that returned the alert.
    pub value: f64,
    /// When it became active (evaluation time, ms).
    pub active_at_ms: i64,
    /// When it started firing.
    pub fired_at_ms: Option<i64>,
    /// When it resolved.
    pub resolved_at_ms: Option<i64>,
    /// When it was last sent.
    pub last_sent_at_ms: Option<i64>,
    /// The `endsAt` it was last sent with (evaluation time + 4 x max(resend delay, interval)).
    pub valid_until_ms: Option<i64>,
    /// Since when it keeps firing with its condition cleared (`keep_firing_for`).
    pub keep_firing_since_ms: Option<i64>,
}

/// A rule's health after its last evaluation (Prometheus' `ok`, `err`, `unknown`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl Health {
    /// Prometheus' name of the health (`unknown`, `ok`, `err`).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// The state of one rule of a group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// [`crate::rules::Rule::identity`] of the rule this state belongs to.
    pub identity: String,
    /// Health after the last evaluation.
    pub health: Health,
    /// The last evaluation's error, empty when it succeeded.
    pub last_error: String,
    /// When the rule was last evaluated (evaluation time, ms).
    pub last_evaluation_ms: Option<i64>,
    /// How long its last evaluation took, in seconds.
    pub evaluation_seconds: f64,
    /// Alerts (alerting rules): active ones and those resolved in the last 15 minutes, in
    /// label order.
    pub alerts: Vec<Alert>,
}

/// The committed state of one rule group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// Evaluation time of the last iteration done (ms); `None` before the first.
    pub last_evaluation_ms: Option<i64>,
    /// How long the last iteration took, in seconds.
    pub evaluation_seconds: f64,
    /// Iterations done.
    pub iterations: u64,
    /// Iterations skipped because the previous one overran or no leader ran them.
    pub missed_iterations: u64,
    /// Rule evaluations that failed.
    pub failed_evaluations: u64,
    /// One state per rule, in the group's rule order.
    pub rules: Vec<RuleState>,
}

impl Alert {
    /// A new alert, pending since `ts_ms` (what an evaluation creates for a label set it did
    /// not hold active).
    pub fn pending(
        labels: Labels,
        annotations: BTreeMap<String, String>,
        value: f64,
        ts_ms: i64,
    ) -> Self {
        Alert {
            labels,
            annotations,
            state: AlertState::Pending,
            value,
            active_at_ms: ts_ms,
            fired_at_ms: None,
            resolved_at_ms: None,
            last_sent_at_ms: None,
            valid_until_ms: None,
            keep_firing_since_ms: None,
        }
    }

    /// Whether it is pending or firing (not resolved).
    pub fn is_active(&self) -> bool {
        self.state != AlertState::Inactive
    }

    /// Whether it is firing.
    pub fn is_firing(&self) -> bool {
        self.state == AlertState::Firing
    }
}

impl RuleState {
    /// The empty state of a rule that was never evaluated.
    pub fn new(identity: impl Into<String>) -> Self {
        RuleState {
            identity: identity.into(),
            ..RuleState::default()
        }
    }

    /// The most severe state of its alerts (firing > pending > inactive); inactive when it
    /// has none (Prometheus' `AlertingRule.State`).
    pub fn state(&self) -> AlertState {
        self.alerts
            .iter()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Its pending and firing alerts (Prometheus' `ActiveAlerts`: resolved ones left out).
    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.is_active())
    }

    /// Its firing alerts.
    pub fn firing_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.is_firing())
    }
}

impl GroupState {
    /// The state `group` starts with when it replaces the group whose state this is: each rule
    /// takes the first unused rule state with its identity (Prometheus' `CopyState`, the same
    /// matching [`crate::eval::evaluate`] does), in `group`'s rule order; the group keeps its
    /// iteration counters and its last evaluation time (its schedule goes on).
    pub fn carried_to(&self, group: &crate::rules::RuleGroup) -> GroupState {
        let mut prior = crate::eval::ByIdentity::new(
            self.rules.iter().map(|r| (r.identity.clone(), r.clone())),
        );
        let rules = group
            .rules
            .iter()
            .map(|rule| {
                let identity = rule.identity();
                prior
                    .take(&identity)
                    .unwrap_or_else(|| RuleState::new(identity))
            })
            .collect();
        GroupState {
            rules,
            ..self.clone()
        }
    }

    /// The state of the rule with this [`crate::rules::Rule::identity`] (the first, if two
    /// rules share it).
    pub fn rule(&self, identity: &str) -> Option<&RuleState> {
        self.rules.iter().find(|r| r.identity == identity)
    }

    /// The pending and firing alerts of all its rules, in rule order.
    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.rules.iter().flat_map(RuleState::active_alerts)
    }

    /// The firing alerts of all its rules, in rule order.
    pub fn firing_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.rules.iter().flat_map(RuleState::firing_alerts)
    }

    /// The group's health: `Err` if a rule's last evaluation failed, else `Ok` once every rule
    /// was evaluated, else `Unknown`.
    pub fn health(&self) -> Health {
        if self.rules.iter().any(|r| r.health == Health::Err) {
            Health::Err
        } else if self.rules.iter().all(|r| r.health == Health::Ok) {
            Health::Ok
        } else {
            Health::Unknown
        }
    }
}

#[cfg(test)]
mod tests;
