//! Inhibition (Alertmanager's `inhibit/inhibit.go`): a firing alert matching a rule's source
//! side mutes alerts matching its target side that have the same values of the `equal`
//! labels. An alert matching both sides is not inhibited by alerts that also match both.
//!
//! An [`Inhibitor`] is built once for a time and a set of alerts: per rule, the firing
//! source alerts indexed by their `equal` values, so that asking about one alert costs a
//! lookup per rule, not a scan of every alert.

use std::collections::BTreeMap;

use tidemark_storage::Labels;

use super::alert::Alert;
use super::config::InhibitRule;

/// The inhibiting alerts of every rule at one time.
pub struct Inhibitor<'a> {
    rules: Vec<RuleIndex<'a>>,
}

/// One rule's firing source alerts by their `equal` values: the lowest fingerprint of any,
/// and the lowest of those that do not also match the target side.
struct RuleIndex<'a> {
    rule: &'a InhibitRule,
    any: BTreeMap<Vec<&'a str>, u64>,
    source_only: BTreeMap<Vec<&'a str>, u64>,
}

fn equal_values<'l>(rule: &InhibitRule, labels: &'l Labels) -> Vec<&'l str> {
    rule.equal
        .iter()
        .map(|n| labels.get(n).unwrap_or(""))
        .collect()
}

fn keep_lowest<'a>(map: &mut BTreeMap<Vec<&'a str>, u64>, key: Vec<&'a str>, fp: u64) {
    map.entry(key)
        .and_modify(|f| *f = (*f).min(fp))
        .or_insert(fp);
}

impl<'a> Inhibitor<'a> {
    /// The inhibitor of `rules` over `alerts` at `now_ms` (resolved alerts inhibit nothing).
    pub fn new(
        rules: &'a [InhibitRule],
        alerts: impl Iterator<Item = (&'a u64, &'a Alert)> + Clone,
        now_ms: i64,
    ) -> Self {
        let rules = rules
            .iter()
            .map(|rule| {
                let mut index = RuleIndex {
                    rule,
                    any: BTreeMap::new(),
                    source_only: BTreeMap::new(),
                };
                for (fp, a) in alerts.clone() {
                    if a.resolved_at(now_ms)
                        || !rule.source_matchers.iter().all(|m| m.matches(&a.labels))
                    {
                        continue;
                    }
                    let key = equal_values(rule, &a.labels);
                    if !rule.target_matchers.iter().all(|m| m.matches(&a.labels)) {
                        keep_lowest(&mut index.source_only, key.clone(), *fp);
                    }
                    keep_lowest(&mut index.any, key, *fp);
                }
                index
            })
            .collect();
        Inhibitor { rules }
    }

    /// The fingerprint of an alert that inhibits `labels` (the first rule's, the lowest
    /// fingerprint when several do), if any.
    pub fn inhibited_by(&self, labels: &Labels) -> Option<u64> {
        self.rules.iter().find_map(|r| {
            if !r.rule.target_matchers.iter().all(|m| m.matches(labels)) {
                return None;
            }
            let both_sides = r.rule.source_matchers.iter().all(|m| m.matches(labels));
            let key = equal_values(r.rule, labels);
            if both_sides {
                r.source_only.get(&key).copied()
            } else {
                r.any.get(&key).copied()
            }
        })
    }
}
