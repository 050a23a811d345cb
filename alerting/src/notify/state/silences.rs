//! Creating, updating and expiring silences (Alertmanager's `Silences.Set`): an update keeps
//! the silence's id when Alertmanager would allow it; otherwise the old one is expired and the
//! new one created under the id the leader chose for that case.

use super::NotifierState;
use crate::notify::silence::Silence;

impl NotifierState {
    pub(super) fn set_silence(&mut self, silence: &Silence, new_id: &str, now: i64) {
        let mut new = silence.clone();
        new.updated_at_ms = now;
        if let Some(old) = self.silences.get_mut(&silence.id) {
            if old.can_update_to(&new, now) {
                *old = new;
                return;
            }
            old.expire(now);
            new.id = new_id.to_string();
        }
        // A new silence does not start in the past.
        new.starts_at_ms = new.starts_at_ms.max(now);
        self.silences.insert(new.id.clone(), new);
    }

    /// The id a [`super::NotifierCommand::SetSilence`] of `silence` ended up under: its own
    /// when it shows it, else `new_id` (for the API's answer, read after the commit).
    pub fn silence_id_after_set(&self, silence: &Silence, new_id: &str) -> String {
        match self.silences.get(&silence.id) {
            Some(s) if s.matchers == silence.matchers && s.ends_at_ms == silence.ends_at_ms => {
                silence.id.clone()
            }
            _ => new_id.to_string(),
        }
    }
}
