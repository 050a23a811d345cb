//! An alert as the notifier holds it (Alertmanager's `types.Alert`): what a sender posted,
//! merged with what it posted before, and whether it is firing at a given time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidemark_storage::Labels;

/// An alert in the notifier's store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Its labels: its identity.
    pub labels: Labels,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt` (ms).
    pub starts_at_ms: i64,
    /// `endsAt` (ms): resolved from then on.
    pub ends_at_ms: i64,
    /// `generatorURL`.
    pub generator_url: String,
    /// When the notifier last received it (ms, the command's time).
    pub updated_at_ms: i64,
    /// Whether `endsAt` was not given and is `resolve_timeout` after receipt.
    pub timeout: bool,
}

impl Alert {
    /// An alert of this cluster's ruler, received at `now_ms` (it always carries an end).
    pub fn from_ruler(a: &crate::eval::OutgoingAlert, now_ms: i64) -> Alert {
        Alert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at_ms: a.starts_at_ms,
            ends_at_ms: a.ends_at_ms,
            generator_url: a.generator_url.clone(),
            updated_at_ms: now_ms,
            timeout: false,
        }
    }

    /// Its fingerprint (Prometheus' `LabelSet.Fingerprint`, so that it matches Alertmanager's).
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Whether it is resolved at `now_ms`.
    pub fn resolved_at(&self, now_ms: i64) -> bool {
        self.ends_at_ms <= now_ms
    }

    /// `self` and a newer copy `newer` of the same alert as one (Alertmanager's `Merge`):
    /// the newer one's fields, the earliest start, and the later end unless the newer copy
    /// resolves it or the later end is only a timeout.
    pub fn merge(&self, newer: &Alert) -> Alert {
        if newer.updated_at_ms < self.updated_at_ms {
            return newer.merge(self);
        }
        let mut res = newer.clone();
        res.starts_at_ms = self.starts_at_ms.min(newer.starts_at_ms);
        let newer_resolved = newer.resolved_at(newer.updated_at_ms);
        if newer_resolved {
            // The latest explicit resolution wins when both are resolved.
            if self.resolved_at(newer.updated_at_ms) && self.ends_at_ms > newer.ends_at_ms {
                res.ends_at_ms = self.ends_at_ms;
            }
        } else if self.ends_at_ms > newer.ends_at_ms && !self.timeout {
            res.ends_at_ms = self.ends_at_ms;
            res.timeout = false;
        }
        res
    }

    /// Whether `newer`, received for the same labels, continues this alert (their active
    /// ranges overlap) rather than starting a new one (Alertmanager's store merges only then).
    pub fn overlaps(&self, newer: &Alert) -> bool {
        let ends_inside =
            newer.ends_at_ms > self.starts_at_ms && newer.ends_at_ms < self.ends_at_ms;
        let starts_inside =
            newer.starts_at_ms > self.starts_at_ms && newer.starts_at_ms < self.ends_at_ms;
        ends_inside || starts_inside
    }
}

/// Prometheus' label-set fingerprint: FNV-1a 64 over each name and value, each followed by
/// the byte 0xff, in name order (an empty set hashes to the offset basis).
pub fn fingerprint(labels: &Labels) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let add = |mut h: u64, bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
        h
    };
    labels.iter().fold(OFFSET, |h, l| {
        let h = add(h, l.name.as_bytes());
        let h = add(h, &[0xff]);
        let h = add(h, l.value.as_bytes());
        add(h, &[0xff])
    })
}

/// A fingerprint as Alertmanager prints it (16 hex digits).
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// A label set as Prometheus' `LabelSet.String` prints it: `{a="b", c="d"}`, values quoted
/// as Go's `%q`.
pub fn labels_string<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let pairs: Vec<String> = labels
        .into_iter()
        .map(|(n, v)| format!("{n}={}", crate::template::go_quote(v)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(start: i64, end: i64, updated: i64, timeout: bool) -> Alert {
        Alert {
            labels: Labels::from_pairs(&[("alertname", "A")]),
            annotations: BTreeMap::new(),
            starts_at_ms: start,
            ends_at_ms: end,
            generator_url: String::new(),
            updated_at_ms: updated,
            timeout,
        }
    }

    #[test]
    fn fingerprints_are_prometheus_ones() {
        // model.LabelSet{}.Fingerprint() and a two-label set, as Go computes them.
        assert_eq!(fingerprint(&Labels::default()), 0xcbf29ce484222325);
        let ls = Labels::from_pairs(&[("alertname", "TestAlert"), ("job", "node")]);
        assert_eq!(fingerprint_hex(fingerprint(&ls)).len(), 16);
        assert_ne!(
            fingerprint(&ls),
            fingerprint(&Labels::from_pairs(&[("alertname", "TestAlert")]))
        );
    }

    #[test]
    fn merging_keeps_the_earliest_start_and_the_right_end() {
        let old = alert(100, 1_000, 10, false);
        // A newer copy that is still firing with an earlier end keeps the old explicit end.
        let newer = alert(200, 900, 20, false);
        let m = old.merge(&newer);
        assert_eq!((m.starts_at_ms, m.ends_at_ms), (100, 1_000));
        // ... but not when the old end was only a timeout.
        let m = alert(100, 1_000, 10, true).merge(&newer);
        assert_eq!(m.ends_at_ms, 900);
        // A newer copy that resolves it wins.
        let m = old.merge(&alert(200, 15, 20, false));
        assert_eq!(m.ends_at_ms, 15);
        // Order of the arguments does not matter: the younger is the newer.
        assert_eq!(newer.merge(&old), old.merge(&newer));
    }

    #[test]
    fn label_sets_print_as_prometheus_does() {
        assert_eq!(
            labels_string([("alertname", "A\"b"), ("job", "x")]),
            r#"{alertname="A\"b", job="x"}"#
        );
        assert_eq!(labels_string([]), "{}");
    }
}
