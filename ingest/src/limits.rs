//! What decoding checks received series against: the naming rules and the bounds of one
//! request (the node's `name_validation` and `limits:` settings).

use serde::{Deserialize, Serialize};

/// Which metric and label names are accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameValidation {
    /// Prometheus 3: any non-empty UTF-8 string.
    #[default]
    Utf8,
    /// Prometheus 2: `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, `[a-zA-Z_][a-zA-Z0-9_]*` for
    /// label names.
    Legacy,
}

/// Bounds on one write request; each error that one of them causes names its setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Decompressed (snappy) body size, and what a 2.0 body's symbol references expand to
    /// (`write_decoded_bytes_max`).
    pub write_decoded_bytes_max: usize,
    /// Labels of one series, `__name__` included (`labels_per_series_max`).
    pub labels_per_series_max: usize,
    /// Bytes of one label name (`label_name_bytes_max`).
    pub label_name_bytes_max: usize,
    /// Bytes of one label value (`label_value_bytes_max`).
    pub label_value_bytes_max: usize,
    /// Series in one request (`series_per_request_max`).
    pub series_per_request_max: usize,
    /// Float and native histogram samples in one request (`samples_per_request_max`).
    pub samples_per_request_max: usize,
}

impl Default for DecodeLimits {
    /// The node's defaults (`docs/tidemark.example.yaml`).
    fn default() -> Self {
        DecodeLimits {
            write_decoded_bytes_max: 256 * 1024 * 1024,
            labels_per_series_max: 64,
            label_name_bytes_max: 1024,
            label_value_bytes_max: 4096,
            series_per_request_max: 100_000,
            samples_per_request_max: 1_000_000,
        }
    }
}
