//! Remote read's XOR chunks: Prometheus' chunk encoding (storage's [`XorLayout::Prometheus`],
//! byte layout in `storage/src/chunk/xor.md`), each with its time range as the wire's `Chunk`
//! carries it, cut at [`CHUNK_SAMPLES_MAX`] samples; and the decoder tests, merging and
//! clients use. Prometheus names the encoding in `Chunk.type` (1 = XOR); that layout never
//! changes in place.

use tidemark_storage::Sample;
use tidemark_storage::chunk::xor::{self, XOR_SAMPLES_MAX, XorDecodeError, XorIter, XorLayout};

/// Samples Tidemark puts in one chunk: the head chunk size Prometheus aims for (a chunk may
/// hold up to 65,535: its count is a u16).
pub const CHUNK_SAMPLES_MAX: usize = 120;

/// An encoded chunk with its inclusive time range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorChunk {
    /// Timestamp of the first sample (ms).
    pub min_time_ms: i64,
    /// Timestamp of the last sample (ms).
    pub max_time_ms: i64,
    /// The chunk bytes, header included.
    pub data: Vec<u8>,
}

/// A chunk that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid XOR chunk: {0}")]
pub struct ChunkDecodeError(String);

impl From<XorDecodeError> for ChunkDecodeError {
    /// Worded as remote read always has.
    fn from(e: XorDecodeError) -> Self {
        let message = match e {
            XorDecodeError::ShortHeader => "shorter than its 2-byte header".to_string(),
            XorDecodeError::Truncated => "bit stream truncated".to_string(),
            XorDecodeError::VarintOverflow => "varint overflows 64 bits".to_string(),
            XorDecodeError::WindowTooWide => "xor window wider than 64 bits".to_string(),
            // Tidemark's layout only.
            XorDecodeError::NotXor(_)
            | XorDecodeError::VarintTooLong
            | XorDecodeError::WindowUnset => e.to_string(),
        };
        ChunkDecodeError(message)
    }
}

/// Appends samples to one chunk in Prometheus' layout.
pub struct XorEncoder(xor::XorChunk);

impl Default for XorEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl XorEncoder {
    /// An empty chunk.
    pub fn new() -> Self {
        XorEncoder(xor::XorChunk::with_layout(XorLayout::Prometheus))
    }

    /// Samples appended so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no sample was appended.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the chunk cannot take another sample.
    pub fn is_full(&self) -> bool {
        self.0.is_full()
    }

    /// Appends a sample; the caller keeps timestamps ascending and stops at [`Self::is_full`].
    pub fn append(&mut self, t: i64, v: f64) {
        assert!(!self.is_full(), "XOR chunk full");
        self.0
            .append(t, v)
            .expect("a chunk that is not full takes a sample");
    }

    /// The finished chunk (`None` when empty).
    pub fn finish(self) -> Option<XorChunk> {
        if self.is_empty() {
            return None;
        }
        Some(XorChunk {
            min_time_ms: self.0.min_time(),
            max_time_ms: self.0.max_time(),
            data: self.0.into_bytes(),
        })
    }
}

/// Encodes ascending samples into chunks of at most `per_chunk` samples each.
pub fn encode_chunks(samples: &[Sample], per_chunk: usize) -> Vec<XorChunk> {
    let per_chunk = per_chunk.clamp(1, XOR_SAMPLES_MAX);
    samples
        .chunks(per_chunk)
        .filter_map(|part| {
            let mut enc = XorEncoder::new();
            for s in part {
                enc.append(s.t, s.v);
            }
            enc.finish()
        })
        .collect()
}

/// Decodes every sample of a chunk.
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, ChunkDecodeError> {
    let mut it = XorIter::with_layout(data, XorLayout::Prometheus)?;
    let mut out = Vec::with_capacity(it.len());
    while let Some(s) = it.try_next_sample()? {
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(pairs: &[(i64, f64)]) -> Vec<Sample> {
        pairs.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    #[test]
    fn one_sample_and_empty() {
        assert!(XorEncoder::new().finish().is_none());
        let mut enc = XorEncoder::new();
        enc.append(-5, -0.0);
        let chunk = enc.finish().unwrap();
        // varint(-5) = zigzag 9; -0.0 is the sign bit only.
        assert_eq!(chunk.data, [0, 1, 0x09, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((chunk.min_time_ms, chunk.max_time_ms), (-5, -5));
        let back = decode(&chunk.data).unwrap();
        assert_eq!(back.len(), 1);
        assert!(back[0].identical(&Sample::new(-5, -0.0)));
    }

    #[test]
    fn chunks_are_cut_at_the_sample_limit() {
        let input: Vec<Sample> = (0..250).map(|i| Sample::new(i * 10, i as f64)).collect();
        let chunks = encode_chunks(&input, CHUNK_SAMPLES_MAX);
        assert_eq!(chunks.len(), 3);
        assert_eq!((chunks[0].min_time_ms, chunks[0].max_time_ms), (0, 1190));
        assert_eq!((chunks[2].min_time_ms, chunks[2].max_time_ms), (2400, 2490));
        let back: Vec<Sample> = chunks
            .iter()
            .flat_map(|c| decode(&c.data).unwrap())
            .collect();
        assert_eq!(back, input);
        assert!(encode_chunks(&[], CHUNK_SAMPLES_MAX).is_empty());
    }

    #[test]
    fn truncated_chunks_are_errors() {
        let input: Vec<Sample> = (0..10)
            .map(|i| Sample::new(i * 10, i as f64 * 1.5))
            .collect();
        let chunk = encode_chunks(&input, 10).remove(0);
        for len in 0..chunk.data.len() {
            assert!(decode(&chunk.data[..len]).is_err(), "prefix of {len} bytes");
        }
        assert!(decode(&[0x00, 0x00]).unwrap().is_empty());
    }

    /// What the decoder answers for bytes no encoder produces, as Prometheus' Go decoder
    /// would: the value window starts as (0, 0), so a reuse before any window reads 64 bits;
    /// a varint that overflows 64 bits is refused. Errors are worded as they always were.
    #[test]
    fn malformed_chunks_get_the_same_answers() {
        let message = |data: &[u8]| decode(data).unwrap_err().to_string();
        assert_eq!(
            message(&[0]),
            "invalid XOR chunk: shorter than its 2-byte header"
        );
        assert_eq!(
            message(&[0, 1, 0]),
            "invalid XOR chunk: bit stream truncated"
        );
        // t0 = 0, v0 = 0.0, then delta 1 and '10' with the 64 bits of 1.0.
        let mut unset_window = vec![0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x8f, 0xfc];
        unset_window.extend([0; 7]);
        assert_eq!(
            decode(&unset_window).unwrap(),
            samples(&[(0, 0.0), (1, 1.0)])
        );
        // The same, then '11' L=31 S=63.
        let too_wide = [0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xf8];
        assert_eq!(
            message(&too_wide),
            "invalid XOR chunk: xor window wider than 64 bits"
        );
        for tenth in [0x02, 0xff] {
            let mut overflowing = vec![0, 1];
            overflowing.extend([0xff; 9]);
            overflowing.push(tenth);
            overflowing.extend([0; 9]);
            assert_eq!(
                message(&overflowing),
                "invalid XOR chunk: varint overflows 64 bits"
            );
        }
    }

    #[test]
    #[should_panic(expected = "XOR chunk full")]
    fn appending_to_a_full_chunk_panics() {
        let mut enc = XorEncoder::new();
        let limit = usize::from(u16::MAX);
        for i in 0..limit {
            enc.append(i as i64, 1.0);
        }
        assert!(enc.is_full());
        enc.append(limit as i64, 1.0);
    }
}
