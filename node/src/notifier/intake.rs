//! Alerts received, made into the notifier's form before they are proposed (Alertmanager's
//! `postAlertsHandler`): a missing start is the receipt time (or the end, when only that is
//! given); a missing end is `resolve_timeout` after receipt and marked as a timeout; empty
//! label values are dropped; an alert without labels, with an end before its start, or with
//! an invalid label name is refused with a reason, and the valid ones of the same post are
//! kept.

use std::collections::BTreeMap;

use tidemark_alerting::notify::alert::Alert;
use tidemark_storage::{Label, Labels};

/// An alert as a sender posted it, times parsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Posted {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt`, if given.
    pub starts_at_ms: Option<i64>,
    /// `endsAt`, if given.
    pub ends_at_ms: Option<i64>,
    /// `generatorURL`.
    pub generator_url: String,
}

/// The valid alerts of `posted`, received at `now_ms`, and a reason for each refused one.
pub fn accept(
    posted: Vec<Posted>,
    now_ms: i64,
    resolve_timeout_ms: i64,
) -> (Vec<Alert>, Vec<String>) {
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for p in posted {
        let starts_at_ms = p.starts_at_ms.or(p.ends_at_ms).unwrap_or(now_ms);
        let (ends_at_ms, timeout) = match p.ends_at_ms {
            Some(t) => (t, false),
            None => (now_ms + resolve_timeout_ms, true),
        };
        let labels: Vec<Label> = p
            .labels
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| Label::new(n, v))
            .collect();
        if labels.is_empty() {
            errors.push("at least one label pair required".to_string());
            continue;
        }
        if let Some(bad) = labels.iter().find(|l| !valid_label_name(&l.name)) {
            errors.push(format!("invalid label set: invalid name {:?}", bad.name));
            continue;
        }
        if ends_at_ms < starts_at_ms {
            errors.push("start time must be before end time".to_string());
            continue;
        }
        if let Some((k, _)) = p.annotations.iter().find(|(k, _)| !valid_label_name(k)) {
            errors.push(format!("invalid annotations: invalid name {k:?}"));
            continue;
        }
        valid.push(Alert {
            labels: Labels::new(labels),
            annotations: p.annotations,
            starts_at_ms,
            ends_at_ms,
            generator_url: p.generator_url,
            updated_at_ms: now_ms,
            timeout,
        });
    }
    (valid, errors)
}

/// Alertmanager 0.33 validates label names as UTF-8 (its default): any non-empty valid
/// string; Rust strings are always UTF-8.
fn valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(labels: &[(&str, &str)], start: Option<i64>, end: Option<i64>) -> Posted {
        Posted {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            starts_at_ms: start,
            ends_at_ms: end,
            ..Default::default()
        }
    }

    #[test]
    fn missing_times_are_filled_as_alertmanager_fills_them() {
        let (ok, errs) = accept(
            vec![
                posted(&[("alertname", "A")], None, None),
                posted(&[("alertname", "B")], None, Some(500)),
                posted(&[("alertname", "C")], Some(100), Some(900)),
            ],
            1_000,
            300_000,
        );
        assert!(errs.is_empty());
        assert_eq!(
            (ok[0].starts_at_ms, ok[0].ends_at_ms, ok[0].timeout),
            (1_000, 301_000, true)
        );
        assert_eq!(
            (ok[1].starts_at_ms, ok[1].ends_at_ms, ok[1].timeout),
            (500, 500, false)
        );
        assert_eq!((ok[2].starts_at_ms, ok[2].ends_at_ms), (100, 900));
        assert!(ok.iter().all(|a| a.updated_at_ms == 1_000));
    }

    #[test]
    fn invalid_alerts_are_refused_and_the_rest_kept() {
        let (ok, errs) = accept(
            vec![
                posted(&[], None, None),
                posted(&[("alertname", "")], None, None),
                posted(&[("alertname", "A")], Some(900), Some(100)),
                posted(&[("alertname", "B"), ("empty", "")], None, None),
            ],
            1_000,
            300_000,
        );
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].labels, Labels::from_pairs(&[("alertname", "B")]));
        assert_eq!(
            errs,
            [
                "at least one label pair required",
                "at least one label pair required",
                "start time must be before end time"
            ]
        );
    }
}
