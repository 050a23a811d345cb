//! Prometheus remote-write 1.0 and 2.0 ingestion: header negotiation, snappy + protobuf
//! decoding, validation against the configured limits, and conversion into [`SeriesWrite`]s.
//! Wire types stop here: nothing past this crate sees a generated protobuf type. No I/O: bytes
//! in, series out, so that the fuzz targets (`fuzz/`) run it without a database.
//!
//! Native histograms are decoded and validated into [`HistogramWrite`]s; exemplars are counted
//! but not stored yet.

pub mod headers;
pub mod histogram;
mod limits;
pub mod metadata;
pub mod testing;
mod v1;
mod v2;
pub mod validate;
mod wire;

pub use headers::{Protocol, negotiate};
pub use limits::{DecodeLimits, NameValidation};
pub use metadata::{MetricMetadata, MetricType};

use serde::{Deserialize, Serialize};
use tidemark_storage::histogram::HistogramSample;
use tidemark_storage::{Sample, SeriesKey};

pub use validate::Refused;
use validate::{Assembler, Validator};

/// One series' samples in a write request, already validated (label names, sorting, limits).
/// Also what nodes send each other (bincode): the field order is part of that format.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeriesWrite {
    /// The series, in its canonical encoding (one allocation per series on the hot path).
    pub key: SeriesKey,
    /// Sorted by timestamp.
    pub samples: Vec<Sample>,
}

/// One series' native histogram samples in a write request, validated, sorted by timestamp.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistogramWrite {
    pub key: SeriesKey,
    pub samples: Vec<HistogramSample>,
}

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
    /// Series with native histogram samples, validated, sorted by timestamp (a series may
    /// also be in `series` with float samples).
    pub histogram_series: Vec<HistogramWrite>,
    /// Valid native histogram samples in `histogram_series`.
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
    limits: &DecodeLimits,
    names: NameValidation,
) -> Result<DecodedWrite, RemoteWriteError> {
    let raw = decompress(body, limits.write_decoded_bytes_max)?;
    let validator = Validator::new(limits, names);
    match protocol {
        Protocol::V1 => v1::decode(&raw, &validator),
        Protocol::V2 => v2::decode(&raw, &validator),
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
    let (series, histogram_series, counts, refused) = assembler.finish();
    DecodedWrite {
        series,
        histogram_series,
        samples: counts.samples,
        histograms: counts.histograms,
        exemplars: counts.exemplars,
        metadata,
        refused,
    }
}

#[cfg(test)]
mod tests;
