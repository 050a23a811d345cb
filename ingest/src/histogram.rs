//! A remote-write `Histogram` message (the same fields in 1.0 and 2.0) into a validated
//! [`HistogramSample`]. Integer histograms carry their buckets as deltas between neighbours;
//! they become absolute counts here. Histograms are far rarer than float samples, so the
//! generated type decodes them.

use prost::Message;
use tidemark_proto::prometheus as pb;
use tidemark_storage::histogram::{
    FloatHistogram, HistogramSample, HistogramValue, IntHistogram, ResetHint, Span,
};

/// Why one histogram sample is not written (it names no series: the caller adds that).
pub type Reason = String;

/// Most reasons kept per series for its invalid histograms (each is counted).
pub(crate) const REASONS_PER_SERIES_MAX: usize = 3;

/// A series' histogram messages as a decoder meets them: decoded while the request may still
/// hold them (`budget`), counted after.
#[derive(Debug, Default)]
pub(crate) struct SeriesHistograms {
    pub valid: Vec<HistogramSample>,
    pub invalid: usize,
    pub reasons: Vec<String>,
    pub undecoded: usize,
}

impl SeriesHistograms {
    /// Takes one `Histogram` message; fails only when its bytes are not one.
    pub fn take(&mut self, buf: &[u8], budget: usize) -> Result<(), String> {
        if self.valid.len() + self.invalid >= budget {
            self.undecoded += 1;
            return Ok(());
        }
        match decode(buf)? {
            Ok(h) => self.valid.push(h),
            Err(reason) => {
                self.invalid += 1;
                if self.reasons.len() < REASONS_PER_SERIES_MAX {
                    self.reasons.push(reason);
                }
            }
        }
        Ok(())
    }
}

/// Decodes one `Histogram` message. `Err(Ok(reason))`: the sample is invalid and set aside;
/// `Err(Err(message))`: the bytes are not a `Histogram`, which fails the request.
pub(crate) fn decode(buf: &[u8]) -> Result<Result<HistogramSample, Reason>, String> {
    let h = pb::Histogram::decode(buf).map_err(|e| format!("histogram: {e}"))?;
    Ok(convert(h))
}

/// A decoded message into a validated sample.
fn convert(h: pb::Histogram) -> Result<HistogramSample, Reason> {
    use pb::histogram::{Count, ZeroCount};
    let hint = ResetHint::from_wire(h.reset_hint as u64);
    let spans = |s: &[pb::BucketSpan]| {
        s.iter()
            .map(|s| Span {
                offset: s.offset,
                length: s.length,
            })
            .collect::<Vec<_>>()
    };
    let value = match h.count {
        // Prometheus reads a histogram as float when its count is (`IsFloatHistogram`); the
        // zero count of the other kind reads as 0, as Go's getters give it.
        Some(Count::CountFloat(count)) => {
            let zero_count = match h.zero_count {
                Some(ZeroCount::ZeroCountFloat(z)) => z,
                _ => 0.0,
            };
            HistogramValue::Float(FloatHistogram {
                hint,
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                zero_count,
                count,
                sum: h.sum,
                positive_spans: spans(&h.positive_spans),
                positive: h.positive_counts,
                negative_spans: spans(&h.negative_spans),
                negative: h.negative_counts,
                custom_values: h.custom_values,
            })
        }
        count => {
            let count = match count {
                Some(Count::CountInt(c)) => c,
                _ => 0,
            };
            let zero_count = match h.zero_count {
                Some(ZeroCount::ZeroCountInt(z)) => z,
                _ => 0,
            };
            HistogramValue::Int(IntHistogram {
                hint,
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                zero_count,
                count,
                sum: h.sum,
                positive_spans: spans(&h.positive_spans),
                positive: absolute("positive", &h.positive_deltas)?,
                negative_spans: spans(&h.negative_spans),
                negative: absolute("negative", &h.negative_deltas)?,
                custom_values: h.custom_values,
            })
        }
    };
    value
        .validate()
        .map_err(|e| format!("histogram at {}: {e}", h.timestamp))?;
    Ok(HistogramSample {
        t: h.timestamp,
        h: value,
    })
}

/// Absolute bucket counts from an integer histogram's deltas; a running count below zero (or
/// beyond i64) is refused as Prometheus refuses it.
fn absolute(side: &str, deltas: &[i64]) -> Result<Vec<u64>, Reason> {
    let mut running = 0i64;
    deltas
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            running = running
                .checked_add(d)
                .filter(|c| *c >= 0)
                .ok_or_else(|| {
                    format!(
                        "{side} side: bucket number {} has a negative observation count: histogram has a bucket whose observation count is negative",
                        i + 1
                    )
                })?;
            Ok(running as u64)
        })
        .collect()
}

/// The sample as remote-write and remote-read send it (integer buckets as deltas).
pub fn to_wire(s: &HistogramSample) -> pb::Histogram {
    use pb::histogram::{Count, ZeroCount};
    let spans = |s: &[Span]| {
        s.iter()
            .map(|s| pb::BucketSpan {
                offset: s.offset,
                length: s.length,
            })
            .collect()
    };
    match &s.h {
        HistogramValue::Int(h) => pb::Histogram {
            count: Some(Count::CountInt(h.count)),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Some(ZeroCount::ZeroCountInt(h.zero_count)),
            negative_spans: spans(&h.negative_spans),
            negative_deltas: deltas(&h.negative),
            positive_spans: spans(&h.positive_spans),
            positive_deltas: deltas(&h.positive),
            reset_hint: h.hint as i32,
            timestamp: s.t,
            custom_values: h.custom_values.clone(),
            ..Default::default()
        },
        HistogramValue::Float(h) => pb::Histogram {
            count: Some(Count::CountFloat(h.count)),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Some(ZeroCount::ZeroCountFloat(h.zero_count)),
            negative_spans: spans(&h.negative_spans),
            negative_counts: h.negative.clone(),
            positive_spans: spans(&h.positive_spans),
            positive_counts: h.positive.clone(),
            reset_hint: h.hint as i32,
            timestamp: s.t,
            custom_values: h.custom_values.clone(),
            ..Default::default()
        },
    }
}

/// Deltas between neighbouring buckets (wrapping: absolute counts beyond i64 round-trip).
fn deltas(counts: &[u64]) -> Vec<i64> {
    let mut prev = 0u64;
    counts
        .iter()
        .map(|&c| {
            let d = c.wrapping_sub(prev) as i64;
            prev = c;
            d
        })
        .collect()
}
