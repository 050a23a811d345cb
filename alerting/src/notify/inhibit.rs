//! Inhibition (Alertmanager's `inhibit/inhibit.go`): a firing alert matching a rule's source
//! side mutes alerts matching its target side that have the same values of the `equal`
//! labels. An alert matching both sides is not inhibited by alerts that also match both.

use tidemark_storage::Labels;

use super::alert::Alert;
use super::config::InhibitRule;

/// The fingerprint of an alert that inhibits `labels` at `now_ms` under `rules`, among
/// `alerts` (the lowest fingerprint when several do), if any.
pub fn inhibited_by<'a>(
    rules: &[InhibitRule],
    alerts: impl Iterator<Item = (&'a u64, &'a Alert)> + Clone,
    labels: &Labels,
    now_ms: i64,
) -> Option<u64> {
    rules.iter().find_map(|rule| {
        if !rule.target_matchers.iter().all(|m| m.matches(labels)) {
            return None;
        }
        let both_sides = rule.source_matchers.iter().all(|m| m.matches(labels));
        alerts
            .clone()
            .filter(|(_, a)| {
                !a.resolved_at(now_ms)
                    && rule.source_matchers.iter().all(|m| m.matches(&a.labels))
                    && rule
                        .equal
                        .iter()
                        .all(|n| a.labels.get(n).unwrap_or("") == labels.get(n).unwrap_or(""))
                    && !(both_sides && rule.target_matchers.iter().all(|m| m.matches(&a.labels)))
            })
            .map(|(fp, _)| *fp)
            .min()
    })
}
