//! Metric metadata (type, help, unit) received with remote-write, kept in memory per metric name
//! for `/api/v1/metadata`. Bounded: once `metrics_max` names are known, new names are ignored
//! (known names are still updated). Not replicated and not persisted: it is a convenience for
//! dashboards, rebuilt from the next writes after a restart.

/// A metric's type as Prometheus names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
