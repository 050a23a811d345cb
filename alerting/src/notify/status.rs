//! What the API shows about an alert at a time (Alertmanager's marker): the receivers its
//! routes lead to, the silences and alerts that mute it, the time intervals that hold its
//! notifications back, and its state.

use super::alert::{Alert, fingerprint_hex};
use super::inhibit::Inhibitor;
use super::route;
use super::state::NotifierState;

/// An alert's status at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertView {
    /// The receivers of the routes it takes, in route order, without repeats.
    pub receivers: Vec<String>,
    /// Active silences that mute it.
    pub silenced_by: Vec<String>,
    /// Fingerprints (hex) of alerts that inhibit it.
    pub inhibited_by: Vec<String>,
    /// Time intervals that hold its routes' notifications back now.
    pub muted_by: Vec<String>,
}

impl AlertView {
    /// `suppressed` when silenced or inhibited, else `active` (Alertmanager's states).
    pub fn state(&self) -> &'static str {
        if self.silenced_by.is_empty() && self.inhibited_by.is_empty() {
            "active"
        } else {
            "suppressed"
        }
    }
}

impl NotifierState {
    /// The views of alerts at `now_ms` (the inhibitions computed once for all of them).
    pub fn views(&self, now_ms: i64) -> Views<'_> {
        Views {
            state: self,
            inhibitor: self
                .config()
                .map(|c| Inhibitor::new(&c.inhibit_rules, self.alerts.iter(), now_ms)),
            now_ms,
        }
    }
}

/// Alerts' statuses at one time.
pub struct Views<'a> {
    state: &'a NotifierState,
    inhibitor: Option<Inhibitor<'a>>,
    now_ms: i64,
}

impl Views<'_> {
    /// `alert`'s status.
    pub fn of(&self, alert: &Alert) -> AlertView {
        let now_ms = self.now_ms;
        let mut view = AlertView {
            silenced_by: self
                .state
                .silences
                .values()
                .filter(|s| s.mutes(&alert.labels, now_ms))
                .map(|s| s.id.clone())
                .collect(),
            ..Default::default()
        };
        let (Some(config), Some(inhibitor)) = (self.state.config(), &self.inhibitor) else {
            return view;
        };
        if let Some(fp) = inhibitor.inhibited_by(&alert.labels) {
            view.inhibited_by.push(fingerprint_hex(fp));
        }
        for m in route::matching(&config.route, &alert.labels) {
            if !view.receivers.contains(&m.route.receiver) {
                view.receivers.push(m.route.receiver.clone());
            }
            let held = |name: &String| {
                config
                    .time_intervals
                    .get(name)
                    .is_some_and(|ti| ti.contains(now_ms))
            };
            for name in m.route.mute_time_intervals.iter().filter(|n| held(n)) {
                if !view.muted_by.contains(name) {
                    view.muted_by.push(name.clone());
                }
            }
            let active = &m.route.active_time_intervals;
            if !active.is_empty() && !active.iter().any(held) {
                for name in active {
                    if !view.muted_by.contains(name) {
                        view.muted_by.push(name.clone());
                    }
                }
            }
        }
        view
    }
}
