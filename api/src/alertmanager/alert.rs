//! Alerts: what `POST /api/v2/alerts` takes and what `GET /api/v2/alerts` and
//! `GET /api/v2/alerts/groups` answer.

use serde::{Deserialize, Serialize};

use super::{LabelSet, ReceiverReference};

/// One alert as a sender posts it (`POST /api/v2/alerts` takes an array of them, and answers
/// 200 with an empty body). Only `labels` is required. Field order as go-swagger writes it:
/// `annotations`, `endsAt`, `startsAt`, then `generatorURL`, `labels`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    /// Informational key-value pairs (`summary`, `description`, `runbook_url`, ...); not part of
    /// the alert's identity. Omitted when empty.
    #[serde(default, skip_serializing_if = "LabelSet::is_empty")]
    pub annotations: LabelSet,
    /// When the alert resolves, RFC 3339. Absent (or [`GO_ZERO_TIME`](super::GO_ZERO_TIME), which
    /// Go clients such as `amtool` send): Alertmanager sets now + `resolve_timeout` and keeps
    /// extending it while the alert is re-sent. In the past: the alert is resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// When the alert started firing, RFC 3339. Absent (or the Go zero time): `endsAt` if that
    /// is set, else the time Alertmanager received it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// Link back to the rule that produced the alert (Prometheus' graph URL). Must parse as a
    /// URI, or Alertmanager answers 422.
    #[serde(
        rename = "generatorURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generator_url: Option<String>,
    /// The alert's identity. Required, and at least one label must have a non-empty value
    /// (empty values are dropped), or Alertmanager answers 400.
    pub labels: LabelSet,
}

/// One alert as Alertmanager answers it, in `GET /api/v2/alerts` (sorted by fingerprint) and in
/// every [`AlertGroup`]. Field order as Alertmanager emits it: `annotations`, `endsAt`,
/// `fingerprint`, `receivers`, `startsAt`, `status`, `updatedAt`, then `generatorURL` (omitted
/// when empty) and `labels`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    /// The alert's annotations; always written, `{}` when there are none.
    pub annotations: LabelSet,
    /// When the alert resolves (or resolved), RFC 3339 with milliseconds.
    pub ends_at: String,
    /// 16 lowercase hex digits: the FNV-1a-based fingerprint of the label set (Prometheus'
    /// `model.LabelSet.Fingerprint`).
    pub fingerprint: String,
    /// The receivers the routing tree sends the alert to, in route order.
    pub receivers: Vec<ReceiverReference>,
    /// When the alert started firing, RFC 3339 with milliseconds.
    pub starts_at: String,
    /// Whether it is active, silenced, inhibited or muted.
    pub status: AlertStatus,
    /// When Alertmanager last received the alert.
    pub updated_at: String,
    /// Link back to the rule that produced the alert. `None`, never `Some("")`: Alertmanager
    /// omits an empty URL.
    #[serde(
        rename = "generatorURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generator_url: Option<String>,
    /// The alert's identity.
    pub labels: LabelSet,
}

/// Where an alert stands. Field order as Alertmanager emits it; the three lists are always
/// written, `[]` when empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// Fingerprints of the alerts that inhibit this one.
    pub inhibited_by: Vec<String>,
    /// Names of the time intervals (`mute_time_intervals`, inactive `active_time_intervals`)
    /// that mute the alert's group; only set in `/alerts/groups`. Defaults to empty on read:
    /// Alertmanager before 0.28 does not write it.
    #[serde(default)]
    pub muted_by: Vec<String>,
    /// Ids of the silences that silence this alert.
    pub silenced_by: Vec<String>,
    /// The state the three lists sum up to.
    pub state: AlertState,
}

/// An alert's state as Alertmanager writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Received, but not yet through the silencer and inhibitor.
    Unprocessed,
    /// Firing and neither silenced, inhibited nor muted.
    Active,
    /// Silenced, inhibited or muted.
    Suppressed,
}

/// One aggregation group (`GET /api/v2/alerts/groups`): the alerts one route's `group_by`
/// puts together for one receiver. Field order as Alertmanager emits it: `alerts`, `labels`,
/// `receiver`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertGroup {
    /// The group's alerts.
    pub alerts: Vec<GettableAlert>,
    /// The values of the route's `group_by` labels that define the group.
    pub labels: LabelSet,
    /// The receiver the group notifies.
    pub receiver: ReceiverReference,
}
