//! Silences: what `POST /api/v2/silences` takes and answers, and what `GET /api/v2/silences`
//! and `GET /api/v2/silence/{id}` answer.

use serde::{Deserialize, Serialize};

use super::LabelSet;

/// One label matcher of a silence. `isEqual: false` negates it (`!=`, `!~`); `isRegex: true`
/// makes `value` a regex anchored at both ends. Field order as Alertmanager emits it:
/// `isEqual`, `isRegex`, `name`, `value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// `true` (the default when absent on read) for `=`/`=~`, `false` for `!=`/`!~`. Always
    /// written, as Alertmanager and `amtool` write it.
    #[serde(default = "is_equal_default")]
    pub is_equal: bool,
    /// Whether `value` is a regex. Required on read: Alertmanager answers 422 without it.
    pub is_regex: bool,
    /// The label name.
    pub name: String,
    /// The value or regex to match.
    pub value: String,
}

/// `isEqual`'s default in the OpenAPI spec.
fn is_equal_default() -> bool {
    true
}

/// A silence as a client posts it: a new one without `id`, a change to an existing one with
/// it (Alertmanager may answer a new id when the change cannot be made in place, e.g. to an
/// expired silence). Field order as go-swagger writes it: `id`, then the silence's fields
/// alphabetically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    /// The silence to change; absent to create one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Free-form key-value pairs (Alertmanager 0.32 and later). Omitted when empty.
    #[serde(default, skip_serializing_if = "LabelSet::is_empty")]
    pub annotations: LabelSet,
    /// Why the silence exists. Required (may be empty).
    pub comment: String,
    /// Who created it. Required (may be empty).
    pub created_by: String,
    /// When it ends, RFC 3339; must be after `startsAt` and not in the past.
    pub ends_at: String,
    /// The alerts it silences: all matchers must match. At least one, and at least one matcher
    /// must not match the empty string.
    pub matchers: Vec<Matcher>,
    /// When it starts, RFC 3339; a time in the past becomes now.
    pub starts_at: String,
}

/// A silence as Alertmanager answers it. Field order as Alertmanager emits it: `id`, `status`,
/// `updatedAt`, then `annotations` (omitted when empty), `comment`, `createdBy`, `endsAt`,
/// `matchers`, `startsAt`. All times are UTC (`Z`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    /// A UUID (version 4), lowercase.
    pub id: String,
    /// Pending, active or expired, as of the answer.
    pub status: SilenceStatus,
    /// When the silence was last created, changed or expired.
    pub updated_at: String,
    /// Free-form key-value pairs (Alertmanager 0.32 and later). Omitted when empty.
    #[serde(default, skip_serializing_if = "LabelSet::is_empty")]
    pub annotations: LabelSet,
    /// Why the silence exists.
    pub comment: String,
    /// Who created it.
    pub created_by: String,
    /// When it ends (or ended: expiring a silence sets this to the time of expiry).
    pub ends_at: String,
    /// The alerts it silences: all matchers must match.
    pub matchers: Vec<Matcher>,
    /// When it starts (or started).
    pub starts_at: String,
}

/// The `status` of a [`GettableSilence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceStatus {
    /// Where the silence stands.
    pub state: SilenceState,
}

/// A silence's state, from its start and end and the time of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Ended (`endsAt` is past), kept until Alertmanager's retention drops it.
    Expired,
    /// Started and not ended: it silences matching alerts.
    Active,
    /// Not yet started.
    Pending,
}

/// The answer to `POST /api/v2/silences`: `{"silenceID": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSilencesAnswer {
    /// The id of the silence created or changed.
    #[serde(rename = "silenceID")]
    pub silence_id: String,
}
