//! Silences (Alertmanager's `silence/silence.go`): matchers that mute the alerts they match
//! between a start and an end, their states, and which changes keep a silence's id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidemark_storage::Labels;

use super::matcher::Matcher;

/// A silence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Its id (a UUID chosen by the leader that proposed it).
    pub id: String,
    /// The alerts it mutes: those all of these match.
    pub matchers: Vec<Matcher>,
    /// When it starts muting (ms).
    pub starts_at_ms: i64,
    /// When it stops (ms).
    pub ends_at_ms: i64,
    /// When it was last changed (ms, the command's time).
    pub updated_at_ms: i64,
    /// Who made it (`createdBy`).
    pub created_by: String,
    /// Why (`comment`).
    pub comment: String,
    /// Free-form pairs (`annotations`, Alertmanager 0.32 and later).
    pub annotations: BTreeMap<String, String>,
}

/// A silence's state at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceState {
    /// Not started yet.
    Pending,
    /// Muting.
    Active,
    /// Ended.
    Expired,
}

impl SilenceState {
    /// The state's name in Alertmanager's API.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// Its state at `now_ms`: active in `[starts_at, ends_at)`.
    pub fn state(&self, now_ms: i64) -> SilenceState {
        if now_ms < self.starts_at_ms {
            SilenceState::Pending
        } else if now_ms < self.ends_at_ms {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether it mutes `labels` at `now_ms`.
    pub fn mutes(&self, labels: &Labels, now_ms: i64) -> bool {
        self.state(now_ms) == SilenceState::Active
            && self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Whether `new` may replace this silence under the same id at `now_ms` (Alertmanager's
    /// `canUpdate`): same matchers; an active one keeps its start and may not end in the
    /// past; a pending one may not start in the past; an expired one never changes.
    pub fn can_update_to(&self, new: &Silence, now_ms: i64) -> bool {
        if self.matchers != new.matchers {
            return false;
        }
        match self.state(now_ms) {
            SilenceState::Active => {
                new.starts_at_ms == self.starts_at_ms && new.ends_at_ms >= now_ms
            }
            SilenceState::Pending => new.starts_at_ms >= now_ms,
            SilenceState::Expired => false,
        }
    }

    /// Ends it at `now_ms` (Alertmanager's `expire`): a pending one never starts. `false`
    /// when it had already ended.
    pub fn expire(&mut self, now_ms: i64) -> bool {
        match self.state(now_ms) {
            SilenceState::Expired => false,
            SilenceState::Pending => {
                self.starts_at_ms = now_ms;
                self.ends_at_ms = now_ms;
                self.updated_at_ms = now_ms;
                true
            }
            SilenceState::Active => {
                self.ends_at_ms = now_ms;
                self.updated_at_ms = now_ms;
                true
            }
        }
    }
}
