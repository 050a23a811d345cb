//! Reading a histogram chunk's samples in stored order, with `seek`.

use super::predict::Predictor;
use super::{HISTOGRAM_HEADER_LEN, LAYOUT_BYTES_PER_CHUNK_MAX, read_header};
use crate::chunk::bits::BitReader;
use crate::error::Result;
use crate::histogram::{Histogram, HistogramSample, HistogramValue};

/// Iterates a histogram chunk's samples in stored order.
#[derive(Clone)]
pub struct HistogramIter<'a> {
    reader: BitReader<'a>,
    count: u16,
    read: u16,
    decoder: Decoder,
    /// Bytes of the decoded samples' layouts so far (bounded by
    /// [`LAYOUT_BYTES_PER_CHUNK_MAX`]).
    layout_bytes: usize,
    failed: bool,
}

#[derive(Clone)]
enum Decoder {
    Int(Predictor<u64>),
    Float(Predictor<f64>),
}

impl<'a> HistogramIter<'a> {
    /// An iterator over an encoded histogram chunk (header included).
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        let (kind, count) = read_header(bytes)?;
        let decoder = match kind {
            0 => Decoder::Int(Predictor::default()),
            _ => Decoder::Float(Predictor::default()),
        };
        Ok(HistogramIter {
            reader: BitReader::new(&bytes[HISTOGRAM_HEADER_LEN..]),
            count,
            read: 0,
            decoder,
            layout_bytes: 0,
            failed: false,
        })
    }

    /// Number of samples the header declares.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the chunk declares no sample.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The next sample, `Ok(None)` at the end, `Err` on a corrupt chunk (and `None` after).
    pub fn next_sample(&mut self) -> Result<Option<HistogramSample>> {
        if self.read >= self.count || self.failed {
            return Ok(None);
        }
        let r = match &mut self.decoder {
            Decoder::Int(p) => {
                let mut h = Histogram::default();
                p.read(&mut self.reader, &mut h).map(|t| HistogramSample {
                    t,
                    h: HistogramValue::Int(h),
                })
            }
            Decoder::Float(p) => {
                let mut h = Histogram::default();
                p.read(&mut self.reader, &mut h).map(|t| HistogramSample {
                    t,
                    h: HistogramValue::Float(h),
                })
            }
        };
        let r = r.and_then(|s| {
            self.layout_bytes += match &s.h {
                HistogramValue::Int(h) => h.layout_bytes(),
                HistogramValue::Float(h) => h.layout_bytes(),
            };
            if self.layout_bytes > LAYOUT_BYTES_PER_CHUNK_MAX {
                return Err(crate::error::Error::Decode(
                    "histogram chunk: its samples' layouts exceed the chunk's bound".into(),
                ));
            }
            Ok(s)
        });
        match r {
            Ok(s) => {
                self.read += 1;
                Ok(Some(s))
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Advances to the first sample with timestamp `>= t` and returns it (samples are assumed
    /// to ascend). Does not move backwards.
    pub fn seek(&mut self, t: i64) -> Result<Option<HistogramSample>> {
        while let Some(s) = self.next_sample()? {
            if s.t >= t {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }
}

impl Iterator for HistogramIter<'_> {
    type Item = Result<HistogramSample>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_sample().transpose()
    }
}
