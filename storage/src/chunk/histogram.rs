//! Histogram chunks (encoding 4): a run of one series' native histogram samples of one kind
//! (integer or float counts), appendable, every field coded against the previous sample's.
//! Byte layout in `histogram.md`.

mod append;
mod iter;
mod predict;

pub use append::{HistogramAppender, HistogramChunk, encode_chunks};
pub use iter::HistogramIter;
pub use predict::{CountCode, FloatState, IntState};

use crate::chunk::ENCODING_HISTOGRAM;
use crate::error::{Error, Result};

/// Version of the layout in `histogram.md`.
pub const HISTOGRAM_VERSION: u8 = 1;

/// Bytes before the bit stream: encoding, version, kind, count (u16 big-endian).
pub const HISTOGRAM_HEADER_LEN: usize = 5;

/// Samples a chunk can hold (the header's count is a u16).
pub const HISTOGRAM_SAMPLES_MAX: usize = u16::MAX as usize;

/// Bytes the decoded layouts of a chunk's samples may take together (each decoded sample
/// carries a copy of its spans and custom bounds, written once per layout change): writers
/// cut a chunk before it, readers refuse a chunk beyond it, so that no chunk, however
/// corrupt, decodes into more memory than this plus its buckets.
pub const LAYOUT_BYTES_PER_CHUNK_MAX: usize = 16 << 20;

/// The header's `kind` and count, checked.
fn read_header(bytes: &[u8]) -> Result<(u8, u16)> {
    let Some(header) = bytes.get(..HISTOGRAM_HEADER_LEN) else {
        return Err(Error::Decode(
            "histogram chunk shorter than its header".into(),
        ));
    };
    if header[0] != ENCODING_HISTOGRAM {
        return Err(Error::Decode(format!(
            "not a histogram chunk (encoding {})",
            header[0]
        )));
    }
    if header[1] != HISTOGRAM_VERSION {
        return Err(Error::Decode(format!(
            "histogram chunk version {} is not known (this build reads {HISTOGRAM_VERSION})",
            header[1]
        )));
    }
    if header[2] > 1 {
        return Err(Error::Decode(format!(
            "histogram chunk of unknown kind {}",
            header[2]
        )));
    }
    Ok((header[2], u16::from_be_bytes([header[3], header[4]])))
}

#[cfg(test)]
mod tests;
