//! What a webhook receives: Alertmanager's webhook message, version 4
//! (`notify/webhook/webhook.go` and `template.Data`): the group's alerts with their status at
//! the time of sending (a firing alert's future end is not shown: `0001-01-01T00:00:00Z`),
//! the labels common to all of them, and the group key.

use std::collections::BTreeMap;

use serde::Serialize;

use super::alert::{Alert, fingerprint_hex};
use super::state::Notification;

/// Go's zero `time.Time` as JSON.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Alertmanager's webhook message (version 4).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMessage {
    /// The receiver's name.
    pub receiver: String,
    /// `firing` when any alert fires, else `resolved`.
    pub status: &'static str,
    /// The alerts (at most `max_alerts`).
    pub alerts: Vec<WebhookAlert>,
    /// The labels the group is defined by.
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert has with the same value.
    pub common_labels: BTreeMap<String, String>,
    /// Annotations every alert has with the same value.
    pub common_annotations: BTreeMap<String, String>,
    /// The notifier's URL.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// Always "4".
    pub version: &'static str,
    /// The group key.
    pub group_key: String,
    /// Alerts left out because of `max_alerts`.
    pub truncated_alerts: u64,
}

/// One alert of a [`WebhookMessage`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: &'static str,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; Go's zero time while it fires.
    pub ends_at: String,
    /// Where it came from.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// Its fingerprint (16 hex digits).
    pub fingerprint: String,
}

/// The message for notification `n` to `receiver`, sent at `now_ms`, with at most
/// `max_alerts` alerts (0: all).
pub fn webhook_message(
    n: &Notification,
    receiver: &str,
    external_url: &str,
    max_alerts: usize,
    now_ms: i64,
) -> WebhookMessage {
    let firing = n.alerts.iter().any(|a| !a.resolved_at(now_ms));
    let kept = if max_alerts == 0 {
        n.alerts.len()
    } else {
        max_alerts.min(n.alerts.len())
    };
    WebhookMessage {
        receiver: receiver.to_string(),
        status: if firing { "firing" } else { "resolved" },
        alerts: n.alerts[..kept]
            .iter()
            .map(|a| webhook_alert(a, now_ms))
            .collect(),
        group_labels: n.group_labels.clone(),
        common_labels: common(n.alerts.iter().map(|a| {
            a.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        })),
        common_annotations: common(n.alerts.iter().map(|a| a.annotations.clone())),
        external_url: external_url.to_string(),
        version: "4",
        group_key: n.nflog.group_key.clone(),
        truncated_alerts: (n.alerts.len() - kept) as u64,
    }
}

fn webhook_alert(a: &Alert, now_ms: i64) -> WebhookAlert {
    let resolved = a.resolved_at(now_ms);
    WebhookAlert {
        status: if resolved { "resolved" } else { "firing" },
        labels: a
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        annotations: a.annotations.clone(),
        starts_at: rfc3339(a.starts_at_ms),
        ends_at: if resolved {
            rfc3339(a.ends_at_ms)
        } else {
            ZERO_TIME.to_string()
        },
        generator_url: a.generator_url.clone(),
        fingerprint: fingerprint_hex(a.fingerprint()),
    }
}

/// The pairs every map has with the same value.
pub fn common(
    mut maps: impl Iterator<Item = BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(mut out) = maps.next() else {
        return BTreeMap::new();
    };
    for m in maps {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}

/// `t_ms` as Go's `time.Time` marshals to JSON in UTC: RFC 3339 with as many fractional
/// digits as needed (none for whole seconds).
pub fn rfc3339(t_ms: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(t_ms) else {
        return ZERO_TIME.to_string();
    };
    let ms = t_ms.rem_euclid(1000);
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if ms == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{ms:03}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}
