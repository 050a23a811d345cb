//! Chunk codecs: compressed runs of one series' samples. Every stored chunk starts with an
//! encoding byte, so that new formats (native histograms) can sit beside the old ones and
//! readers know which codec a stored chunk uses. Layouts: `chunk/xor.md` (the head's appendable
//! chunks, and Prometheus' XOR chunk that remote read streams), `chunk/sealed.md` (one chunk
//! per series per sealed partition), `chunk/histogram.md` (native histogram samples).

pub mod bits;
mod columns;
pub(crate) mod gorilla;
pub mod histogram;
pub mod prom_histogram;
pub mod rollup;
pub mod sealed;
pub mod shared_times;
pub mod xor;

pub use xor::{ChunkTail, XorChunk, XorIter};

use crate::error::{Error, Result};
use crate::model::Sample;

/// Encoding byte of [`XorChunk`]s in Tidemark's layout (Gorilla delta-of-delta timestamps, XOR
/// floats).
pub const ENCODING_XOR: u8 = 1;

/// Encoding byte of sealed chunks ([`sealed`]: grid-residual timestamps, decimal + pco values).
pub const ENCODING_SEALED: u8 = 2;

/// Encoding byte of rollup chunks ([`rollup`]: one series' rollup windows as columns).
pub const ENCODING_ROLLUP: u8 = 3;

/// Encoding byte of histogram chunks ([`histogram`]: native histogram samples).
pub const ENCODING_HISTOGRAM: u8 = 4;

/// Bytes before a Tidemark-layout XOR chunk's payload: encoding (u8) and sample count (u16,
/// big-endian).
pub const HEADER_LEN: usize = 3;

/// Appends the samples of an encoded chunk with `mint_ms <= t <= maxt_ms` to `out`.
pub fn decode_range(bytes: &[u8], mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>) -> Result<()> {
    match bytes.first() {
        Some(&ENCODING_XOR) => {
            let mut it = XorIter::new(bytes)?;
            out.reserve(it.len());
            let mut next = it.seek(mint_ms)?;
            while let Some(s) = next {
                if s.t > maxt_ms {
                    break;
                }
                out.push(s);
                next = it.next_sample()?;
            }
            Ok(())
        }
        Some(&ENCODING_SEALED) => sealed::decode_range(bytes, mint_ms, maxt_ms, out),
        Some(&ENCODING_HISTOGRAM) => Err(Error::Decode(
            "a histogram chunk where float samples were expected".into(),
        )),
        Some(&e) => Err(Error::Decode(format!("unknown chunk encoding {e}"))),
        None => Err(Error::Decode("empty chunk".into())),
    }
}

/// Number of samples an encoded chunk declares.
pub fn sample_count(bytes: &[u8]) -> Result<usize> {
    match bytes.first() {
        Some(&ENCODING_XOR) => Ok(XorIter::new(bytes)?.len()),
        Some(&ENCODING_SEALED) => sealed::sample_count(bytes),
        Some(&ENCODING_HISTOGRAM) => Ok(histogram::HistogramIter::new(bytes)?.len()),
        Some(&e) => Err(Error::Decode(format!("unknown chunk encoding {e}"))),
        None => Err(Error::Decode("empty chunk".into())),
    }
}
