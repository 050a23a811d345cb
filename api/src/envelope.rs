//! Prometheus' JSON envelope, which every Tidemark endpoint answers in.

use serde::{Deserialize, Serialize};

/// `{"status": "success", "data": ...}` or `{"status": "error", "errorType": ..., "error":
/// ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// `success` or `error`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Prometheus' error class (`bad_data`, `unavailable`, ...), on errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The error message, on errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Envelope<T> {
    /// A success carrying `data`.
    pub fn success(data: T) -> Self {
        Envelope {
            status: "success".into(),
            data: Some(data),
            error_type: None,
            error: None,
        }
    }

    /// The data of a success, or the error as text.
    pub fn into_result(self) -> Result<T, String> {
        match (self.status.as_str(), self.data) {
            ("success", Some(data)) => Ok(data),
            _ => Err(format!(
                "{}: {}",
                self.error_type.as_deref().unwrap_or("error"),
                self.error.as_deref().unwrap_or("no data in the answer")
            )),
        }
    }
}
