//! The bodies Alertmanager's API v2 answers errors with.

use serde::{Deserialize, Serialize};

/// An error body, in either of the two shapes Alertmanager answers (all with
/// `Content-Type: application/json`):
///
/// - [`ErrorBody::Message`]: Alertmanager's own handlers, for a request that parsed but does
///   not make sense (400), names an unknown silence in `POST /silences` (404) or failed (500):
///   a bare JSON string followed by a newline, e.g. `"start time must be before end time"`.
///   Several invalid alerts in one post are joined with `\n` into one string.
/// - [`ErrorBody::Framework`]: the go-openapi layer in front of them, for a request that does
///   not fit the spec: `{"code": ..., "message": ...}`, no trailing newline.
///
/// Untagged: a client reads whichever arrived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorBody {
    /// What the handler says went wrong.
    Message(String),
    /// A request rejected before it reached a handler.
    Framework(FrameworkError),
}

/// go-openapi's error: `code` is the HTTP status (400: body does not parse; 404: no such path;
/// 405: method not allowed; 415: not `application/json`) or, with HTTP 422, a validation code
/// (601: wrong format, e.g. `silenceID` not a UUID or `generatorURL` not a URI; 602: required
/// field missing; 612: too few items, e.g. `matchers: []`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkError {
    /// The HTTP status, or the validation code (600 and up) answered with 422.
    pub code: i32,
    /// What is wrong, naming the field, e.g. `matchers in body is required`.
    pub message: String,
}
