//! Prometheus remote-write 1.0 and 2.0 ingestion: header negotiation, snappy + protobuf
//! decoding, validation against the configured limits, and conversion into [`SeriesWrite`]s.
//! Wire types stop here: nothing past this module sees a generated protobuf type.
//!
//! Native histograms and exemplars are decoded and counted but not stored yet; the HTTP layer
//! reports them as not written.

pub mod headers;
pub mod metadata;
mod v1;
mod v2;
pub mod validate;
mod wire;

pub use headers::{Protocol, negotiate};
pub use metadata::{MetricMetadata, MetricType};

use prost::Message;

use crate::config::{NameValidation, WriteLimits};
use crate::request::SeriesWrite;
pub use validate::Refused;
use validate::{Assembler, Validator};

/// Why a remote-write request was refused as a whole; nothing of it is written. (Invalid
/// series within a valid request are set aside instead: [`Refused`].)
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    /// Content-Type, Content-Encoding or protocol version not supported (HTTP 415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body, compressed or decompressed, or its series or samples exceed a configured
    /// size (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// Undecodable body (HTTP 400); from the validator, an invalid series.
    #[error("{0}")]
    Invalid(String),
}

/// A decoded, validated write request.
#[derive(Clone, Debug, Default)]
pub struct DecodedWrite {
    /// Series with float samples, labels validated, samples sorted by timestamp. A series sent
    /// more than once in the request appears once with all its samples.
    pub series: Vec<SeriesWrite>,
    /// Float samples in `series`.
    pub samples: usize,
    /// Native histogram samples in the request (not stored yet).
    pub histograms: usize,
    /// Exemplars in the request (not stored yet).
    pub exemplars: usize,
    /// Metadata per metric name carried by the request.
    pub metadata: Vec<(String, MetricMetadata)>,
    /// Invalid series, not in `series`.
    pub refused: Refused,
}

/// Decodes and validates a remote-write body (snappy block format) of the given protocol.
pub fn decode(
    protocol: Protocol,
    body: &[u8],
    limits: &WriteLimits,
    names: NameValidation,
) -> Result<DecodedWrite, RemoteWriteError> {
    let raw = decompress(body, limits.write_decoded_bytes_max)?;
    let validator = Validator::new(limits, names);
    match protocol {
        Protocol::V1 => v1::decode(&raw, &validator),
        Protocol::V2 => {
            let req = tidemark_proto::write_v2::Request::decode(raw.as_slice()).map_err(|e| {
                RemoteWriteError::Invalid(format!("decoding remote-write 2.0 Request: {e}"))
            })?;
            v2::convert(req, &validator)
        }
    }
}

/// Snappy block-format decompression, refusing outputs above `decoded_bytes_max`.
fn decompress(body: &[u8], decoded_bytes_max: usize) -> Result<Vec<u8>, RemoteWriteError> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        RemoteWriteError::Invalid(format!("snappy decode (block format expected): {e}"))
    })?;
    if len > decoded_bytes_max {
        return Err(RemoteWriteError::TooLarge(format!(
            "decompressed body of {len} bytes exceeds the limit of {decoded_bytes_max} bytes (write_decoded_bytes_max)"
        )));
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(|e| {
        RemoteWriteError::Invalid(format!("snappy decode (block format expected): {e}"))
    })
}

/// Finishes a request: merges repeated series, sorts samples.
fn finish(assembler: Assembler, metadata: Vec<(String, MetricMetadata)>) -> DecodedWrite {
    let (series, counts, refused) = assembler.finish();
    DecodedWrite {
        series,
        samples: counts.samples,
        histograms: counts.histograms,
        exemplars: counts.exemplars,
        metadata,
        refused,
    }
}

#[cfg(test)]
pub(crate) mod tests;
