//! The appendable histogram chunk.

use super::predict::{CountCode, Predictor, span_buckets};
use super::{
    HISTOGRAM_HEADER_LEN, HISTOGRAM_SAMPLES_MAX, HISTOGRAM_VERSION, LAYOUT_BYTES_PER_CHUNK_MAX,
    read_header,
};
use crate::chunk::ENCODING_HISTOGRAM;
use crate::chunk::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};
use crate::histogram::{Histogram, HistogramSample, HistogramValue};

/// A histogram chunk of counts `C` (`u64` or `f64`): the encoded bytes, always a valid chunk,
/// plus what the next append is coded against.
#[derive(Clone, Debug)]
pub struct HistogramAppender<C: CountCode> {
    buf: Vec<u8>,
    /// Unused low bits in the last byte of `buf`.
    free: u8,
    /// Bytes the samples' decoded layouts take together (see [`LAYOUT_BYTES_PER_CHUNK_MAX`]).
    layout_bytes: usize,
    predictor: Predictor<C>,
}

impl<C: CountCode> Default for HistogramAppender<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: CountCode> HistogramAppender<C> {
    /// An empty chunk.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[ENCODING_HISTOGRAM, HISTOGRAM_VERSION, C::KIND, 0, 0]);
        HistogramAppender {
            buf,
            free: 0,
            layout_bytes: 0,
            predictor: Predictor::default(),
        }
    }

    /// Reopens an encoded chunk of this kind for appending: decodes it once to restore the
    /// predictors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (kind, count) = read_header(bytes)?;
        if kind != C::KIND {
            return Err(Error::Decode(format!(
                "histogram chunk of kind {kind} reopened as kind {}",
                C::KIND
            )));
        }
        let mut reader = BitReader::new(&bytes[HISTOGRAM_HEADER_LEN..]);
        let mut predictor = Predictor::<C>::default();
        let mut scratch = Histogram::default();
        let mut layout_bytes = 0;
        for _ in 0..count {
            predictor.read(&mut reader, &mut scratch)?;
            layout_bytes += scratch.layout_bytes();
        }
        let used_bits = HISTOGRAM_HEADER_LEN * 8 + reader.position_bits();
        let mut buf = bytes[..used_bits.div_ceil(8)].to_vec();
        // Bits past the last sample are padding: cleared, so appends can or into them.
        let free = ((8 - used_bits % 8) % 8) as u8;
        if let Some(last) = buf.last_mut() {
            *last &= !((1u16 << free) - 1) as u8;
        }
        Ok(HistogramAppender {
            buf,
            free,
            layout_bytes,
            predictor,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        usize::from(self.predictor.count)
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.predictor.count == 0
    }

    /// Whether another sample fits (the count is a u16).
    pub fn is_full(&self) -> bool {
        self.len() >= HISTOGRAM_SAMPLES_MAX
    }

    /// Whether `h` fits: room for a sample, and for its decoded layout within
    /// [`LAYOUT_BYTES_PER_CHUNK_MAX`].
    pub fn fits(&self, h: &Histogram<C>) -> bool {
        !self.is_full() && self.layout_bytes + h.layout_bytes() <= LAYOUT_BYTES_PER_CHUNK_MAX
    }

    /// Timestamp of the first sample (meaningless when empty).
    pub fn min_time(&self) -> i64 {
        self.predictor.first_t
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn max_time(&self) -> i64 {
        self.predictor.t
    }

    /// The encoded bytes, a valid chunk.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Appends `h` at `t`. Timestamps are expected to ascend (the codec stores any order, with
    /// wrapping arithmetic). Fails, leaving the chunk as it was, when it is full or when the
    /// buckets do not match the spans (a histogram that passed `validate` always matches).
    pub fn append(&mut self, t: i64, h: &Histogram<C>) -> Result<()> {
        if !self.fits(h) {
            return Err(Error::Decode("histogram chunk is full".into()));
        }
        let pos = span_buckets(&h.positive_spans);
        let neg = span_buckets(&h.negative_spans);
        if pos != h.positive.len() as u64 || neg != h.negative.len() as u64 {
            return Err(Error::Decode(format!(
                "histogram spans need {pos} positive and {neg} negative buckets, it has {} and {}",
                h.positive.len(),
                h.negative.len()
            )));
        }
        let mut w = BitWriter {
            buf: &mut self.buf,
            free: &mut self.free,
        };
        self.predictor.write(&mut w, t, h);
        self.layout_bytes += h.layout_bytes();
        let [hi, lo] = self.predictor.count.to_be_bytes();
        self.buf[3..HISTOGRAM_HEADER_LEN].copy_from_slice(&[hi, lo]);
        Ok(())
    }
}

/// A histogram chunk of either kind, as the head and the log hold one.
#[derive(Clone, Debug)]
pub enum HistogramChunk {
    Int(HistogramAppender<u64>),
    Float(HistogramAppender<f64>),
}

impl HistogramChunk {
    /// An empty chunk of `h`'s kind.
    pub fn for_value(h: &HistogramValue) -> Self {
        match h {
            HistogramValue::Int(_) => HistogramChunk::Int(HistogramAppender::new()),
            HistogramValue::Float(_) => HistogramChunk::Float(HistogramAppender::new()),
        }
    }

    /// Whether `h` may be appended: the same kind, and room left.
    pub fn takes(&self, h: &HistogramValue) -> bool {
        match (self, h) {
            (HistogramChunk::Int(c), HistogramValue::Int(h)) => c.fits(h),
            (HistogramChunk::Float(c), HistogramValue::Float(h)) => c.fits(h),
            _ => false,
        }
    }

    /// Appends `h` at `t`; fails, leaving the chunk as it was, when [`HistogramChunk::takes`]
    /// does not hold or the buckets do not match the spans.
    pub fn append(&mut self, t: i64, h: &HistogramValue) -> Result<()> {
        match (self, h) {
            (HistogramChunk::Int(c), HistogramValue::Int(h)) => c.append(t, h),
            (HistogramChunk::Float(c), HistogramValue::Float(h)) => c.append(t, h),
            _ => Err(Error::Decode(
                "a histogram of the other kind than its chunk".into(),
            )),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            HistogramChunk::Int(c) => c.len(),
            HistogramChunk::Float(c) => c.len(),
        }
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded bytes, a valid chunk.
    pub fn bytes(&self) -> &[u8] {
        match self {
            HistogramChunk::Int(c) => c.bytes(),
            HistogramChunk::Float(c) => c.bytes(),
        }
    }

    /// Timestamp of the first sample (meaningless when empty).
    pub fn min_time(&self) -> i64 {
        match self {
            HistogramChunk::Int(c) => c.min_time(),
            HistogramChunk::Float(c) => c.min_time(),
        }
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn max_time(&self) -> i64 {
        match self {
            HistogramChunk::Int(c) => c.max_time(),
            HistogramChunk::Float(c) => c.max_time(),
        }
    }
}

/// `samples` (ascending) as chunks: a new one where the kind changes, a chunk is full or holds
/// `bytes_max` bytes. A sample whose buckets do not match its spans is left out (validated
/// histograms always match).
pub fn encode_chunks(samples: &[HistogramSample], bytes_max: usize) -> Vec<HistogramChunk> {
    let mut chunks: Vec<HistogramChunk> = Vec::new();
    for s in samples {
        let fits = chunks
            .last()
            .is_some_and(|c| c.takes(&s.h) && c.bytes().len() < bytes_max);
        if !fits {
            chunks.push(HistogramChunk::for_value(&s.h));
        }
        if let Some(c) = chunks.last_mut() {
            // Left out: see above.
            let _ = c.append(s.t, &s.h);
        }
    }
    chunks.retain(|c| !c.is_empty());
    chunks
}
