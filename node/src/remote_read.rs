//! Prometheus remote-read (`POST /api/v1/read`), so that a Prometheus can use Tidemark as its
//! `remote_read` backend.
//!
//! A request is a snappy-compressed protobuf `prometheus.ReadRequest`: queries (time range,
//! label matchers, hints) and the response types the client accepts, in order of preference.
//! The answer is either `SAMPLES` (one snappy-compressed `ReadResponse`) or
//! `STREAMED_XOR_CHUNKS` (a stream of CRC-checked frames, one `ChunkedReadResponse` each,
//! chunks in Prometheus' XOR encoding: `frame.rs`, `xor.rs`; native histograms in Prometheus'
//! histogram and float-histogram chunk encodings, `tidemark_storage::chunk::prom_histogram`).
//! Prometheus 3.x asks for streamed chunks first. Native histograms are answered in both
//! response types.
//!
//! Behaviour follows Prometheus' own server (`storage/remote/read_handler.go`): errors are
//! plain text, 400 for an undecodable request, an unsupported response type or an exceeded
//! sample limit, 500 for other failures (an invalid matcher included); a failure of the
//! shards keeps the status the rest of the API gives it (503 without a leader, for example).
//! Tidemark reads linearizably (a read barrier first), sorts series by labels in both response
//! types, and bounds every request (`limits.remote_read_*`: body size, samples, series, frame
//! size, concurrent requests). Unlike Prometheus, streamed responses are bounded by the sample
//! limit too: a query's series are gathered (as compressed chunks) to be sorted before the
//! first frame is sent, so that a limit or a failure is still an HTTP error status.
//!
//! As in Prometheus, a frame holds one series and a series larger than
//! `remote_read_frame_bytes_max` continues in the next frames. Prometheus' 3.5 client reads
//! every frame as a series of its own, so such a series (about 500,000 samples in one query at
//! the default 1 MiB) reaches its PromQL engine twice; raising the limit (its reader accepts
//! 50 MB frames) avoids that.
//!
//! Wire types stop here: the request decoder turns them into storage
//! [`Matcher`](tidemark_storage::Matcher)s, the response builders turn storage series into them.

pub mod frame;
mod request;
mod response;
pub mod xor;

pub use request::{DecodedRead, ReadQuery, ResponseType, decode_request, negotiate};
pub use response::{Budget, ChunkedSeries, SelectedSeries, chunked_series, frames, samples_result};

use tidemark_query::QueryError;

use crate::error::NodeError;

/// The request header naming the remote-read protocol version (Prometheus sends `0.1.0`).
pub const VERSION_HEADER: &str = "x-prometheus-remote-read-version";

/// Content-Type of a `STREAMED_XOR_CHUNKS` response.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Content-Type of a `SAMPLES` response (with `Content-Encoding: snappy`).
pub const SAMPLES_CONTENT_TYPE: &str = "application/x-protobuf";

/// Why a remote-read request failed. The HTTP layer gives each its status, as Prometheus' own
/// server does (`http/remote_read.rs`).
#[derive(Debug, thiserror::Error)]
pub enum RemoteReadError {
    /// Undecodable body, unsupported version or response types, or an exceeded sample or
    /// series limit (400, as Prometheus answers these).
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than `limits.remote_read_body_bytes_max` (413).
    #[error("{0}")]
    TooLarge(String),
    /// Anything else Prometheus answers with a 500, such as an invalid matcher.
    #[error("{0}")]
    Internal(String),
    /// A failure of the querier, with the status the query API gives it.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A failure of the shards (the read barrier), with the status the API gives it.
    #[error(transparent)]
    Node(#[from] NodeError),
}

#[cfg(test)]
mod golden_tests;
