//! Metric metadata (type, help, unit) as remote-write carries it. The node keeps it in the
//! meta group's replicated state (`node/src/meta/metadata.rs`); these types are also its
//! serialized form there (bincode, field order is the format).

use serde::{Deserialize, Serialize};

/// A metric's type as Prometheus names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
}

impl MetricType {
    /// The name in Prometheus' API (`"counter"`, `"gaugehistogram"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }
}

/// What is known about one metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetricMetadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

impl MetricMetadata {
    /// Whether it says nothing (unknown type, no help, no unit): such entries are not kept.
    pub fn is_empty(&self) -> bool {
        self.metric_type == MetricType::Unknown && self.help.is_empty() && self.unit.is_empty()
    }
}
