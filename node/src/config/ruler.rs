//! The ruler's settings (`ruler:` in the configuration file).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidemark_alerting::rules::RuleLimits;

/// How rules are evaluated and alerts sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulerConfig {
    /// The interval of groups that name none (Prometheus' `evaluation_interval`).
    pub evaluation_interval_ms: u64,
    /// How long a firing alert waits before it is sent again (Prometheus' 1 minute).
    pub resend_delay_ms: u64,
    /// Labels added to every alert sent (Prometheus' `external_labels`), visible to templates.
    pub external_labels: BTreeMap<String, String>,
    /// The URL alerts link back to (`generatorURL`), visible to templates.
    pub external_url: String,
    /// How long one request to an Alertmanager may take.
    pub alertmanager_timeout_ms: u64,
    /// Batches of alerts queued per Alertmanager before the oldest is dropped.
    pub alertmanager_queue_batches_max: usize,
    /// Bounds on uploaded rules.
    pub limits: RuleLimits,
}

impl Default for RulerConfig {
    fn default() -> Self {
        RulerConfig {
            evaluation_interval_ms: 60_000,
            resend_delay_ms: 60_000,
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            alertmanager_timeout_ms: 10_000,
            alertmanager_queue_batches_max: 1_000,
            limits: RuleLimits::default(),
        }
    }
}
