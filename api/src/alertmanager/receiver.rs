//! Receivers: the list `GET /api/v2/receivers` answers, and the references alerts and groups
//! carry.

use serde::{Deserialize, Serialize};

use super::LabelSet;

/// A receiver as `GET /api/v2/receivers` lists it (every receiver in the configuration, in
/// configuration order, referenced by a route or not). Field order as Alertmanager emits it:
/// `labels`, `name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    /// The receiver's labels (Alertmanager 0.33 and later), which `receiver_matchers` filters
    /// on; 0.33 always includes `name`. Omitted when empty, and absent from older versions.
    #[serde(default, skip_serializing_if = "LabelSet::is_empty")]
    pub labels: LabelSet,
    /// The receiver's name, as in the configuration.
    pub name: String,
}

/// A reference to a receiver by name: an alert's `receivers` and a group's `receiver`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverReference {
    /// The receiver's name, as in the configuration.
    pub name: String,
}
