//! Bounds of the HTTP server itself (`http_server:`), before any handler runs.

use serde::{Deserialize, Serialize};

/// How long a client may take and how many may be connected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerLimits {
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection stays open waiting for the next request; the connection is
    /// closed after.
    pub header_read_timeout_ms: u64,
    /// The longest pause while a request body arrives; a body stalled longer ends the
    /// request (408).
    pub body_read_timeout_ms: u64,
    /// Connections open at once; a connection beyond is answered 503 with `Retry-After` and
    /// closed.
    pub connections_max: usize,
}

impl Default for HttpServerLimits {
    fn default() -> Self {
        HttpServerLimits {
            header_read_timeout_ms: 30_000,
            body_read_timeout_ms: 60_000,
            connections_max: 4_096,
        }
    }
}
