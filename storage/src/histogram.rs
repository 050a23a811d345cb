//! Native histograms: the value type of a histogram sample, as Prometheus models it
//! (`model/histogram`): sparse buckets of an exponential schema (or custom bounds) described
//! by spans, a zero bucket, a count and a sum. Integer histograms are what instrumented code
//! observes; float histograms are what `rate()`, aggregation or a float producer gives.
//!
//! Bucket counts are held as absolute counts in both kinds (Prometheus' integer histograms
//! carry deltas between neighbouring buckets; the remote-write decoder converts). A histogram
//! that reaches storage passed [`Histogram::validate`].

mod validate;

pub use validate::InvalidHistogram;

use crate::model::{STALE_NAN_BITS, is_stale_nan};

/// Schema of custom-bucket histograms (NHCB): the bucket bounds are `custom_values`.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// Smallest exponential schema (each bucket 2^16 times wider than the last).
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;

/// Largest exponential schema (bucket bounds grow by 2^(2^-8)).
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

/// Spans per side a histogram may have (Prometheus sets none; real histograms have a few):
/// every decoded sample carries its layout, so the layout is bounded.
pub const SPANS_MAX: usize = 1024;

/// Custom bucket bounds a histogram may have.
pub const CUSTOM_VALUES_MAX: usize = 1024;

/// What the producer says about a counter reset before this sample (remote-write's
/// `ResetHint`; the numbers are its wire values).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ResetHint {
    /// Readers compare with the previous sample to find a reset.
    #[default]
    Unknown = 0,
    /// The first sample after a counter reset.
    Reset = 1,
    /// No counter reset since the previous sample.
    NotReset = 2,
    /// A gauge histogram: counts go up and down, resets do not exist.
    Gauge = 3,
}

impl ResetHint {
    /// The hint of a wire value; values outside 0..=3 read as `Unknown`, as protobuf enums do.
    pub fn from_wire(v: u64) -> Self {
        match v {
            1 => ResetHint::Reset,
            2 => ResetHint::NotReset,
            3 => ResetHint::Gauge,
            _ => ResetHint::Unknown,
        }
    }
}

/// A run of consecutive buckets: `offset` is the gap from the end of the previous span (for
/// the first span, the index of its first bucket; may be negative there only).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// A bucket count: `u64` in integer histograms, `f64` in float ones.
pub trait Count: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The count as a float (PromQL evaluates float histograms only).
    fn to_f64(self) -> f64;
    /// Whether the count is the same value, bit for bit (floats: NaN payloads included).
    fn same_bits(self, other: Self) -> bool;
    /// The count of an integer histogram; `None` for floats.
    fn as_integer(self) -> Option<u64>;
}

impl Count for u64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn same_bits(self, other: Self) -> bool {
        self == other
    }
    fn as_integer(self) -> Option<u64> {
        Some(self)
    }
}

impl Count for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn same_bits(self, other: Self) -> bool {
        self.to_bits() == other.to_bits()
    }
    fn as_integer(self) -> Option<u64> {
        None
    }
}

/// One native histogram.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Histogram<C> {
    pub hint: ResetHint,
    /// Exponential schema (`EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX`) or
    /// [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Observations with an absolute value up to this fall into the zero bucket.
    pub zero_threshold: f64,
    pub zero_count: C,
    /// Observations in all (an integer histogram's count may exceed its buckets' sum only
    /// when `sum` is NaN: a NaN observation lands in no bucket).
    pub count: C,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    /// Absolute counts of the positive buckets the spans describe, in index order.
    pub positive: Vec<C>,
    pub negative_spans: Vec<Span>,
    /// Absolute counts of the negative buckets, in index order.
    pub negative: Vec<C>,
    /// Upper bounds of the custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`] only), ascending;
    /// the last bucket's bound is +Inf and not listed.
    pub custom_values: Vec<f64>,
}

/// A histogram with integer counts.
pub type IntHistogram = Histogram<u64>;

/// A histogram with float counts.
pub type FloatHistogram = Histogram<f64>;

impl<C: Count> Histogram<C> {
    /// Prometheus' stale marker for a histogram series: a histogram whose sum is the stale NaN.
    pub fn stale_marker() -> Self {
        Histogram {
            sum: f64::from_bits(STALE_NAN_BITS),
            ..Histogram::default()
        }
    }

    /// Whether this is a stale marker.
    pub fn is_stale(&self) -> bool {
        is_stale_nan(self.sum)
    }

    /// Whether the buckets use custom bounds.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Whether `other` is the same histogram bit for bit (float fields by their bits), so that
    /// a repeated write of it is a no-op and a different one at the same timestamp a conflict.
    pub fn identical(&self, other: &Self) -> bool {
        let same =
            |a: &[C], b: &[C]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_bits(*y));
        let same_f = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        };
        self.hint == other.hint
            && self.schema == other.schema
            && self.zero_threshold.to_bits() == other.zero_threshold.to_bits()
            && self.zero_count.same_bits(other.zero_count)
            && self.count.same_bits(other.count)
            && self.sum.to_bits() == other.sum.to_bits()
            && self.positive_spans == other.positive_spans
            && same(&self.positive, &other.positive)
            && self.negative_spans == other.negative_spans
            && same(&self.negative, &other.negative)
            && same_f(&self.custom_values, &other.custom_values)
    }

    /// The same histogram with float counts.
    pub fn to_float(&self) -> FloatHistogram {
        let floats = |v: &[C]| v.iter().map(|c| c.to_f64()).collect();
        FloatHistogram {
            hint: self.hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count.to_f64(),
            count: self.count.to_f64(),
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            positive: floats(&self.positive),
            negative_spans: self.negative_spans.clone(),
            negative: floats(&self.negative),
            custom_values: self.custom_values.clone(),
        }
    }

    /// Buckets, both signs.
    pub fn bucket_count(&self) -> usize {
        self.positive.len() + self.negative.len()
    }

    /// Bytes a decoded copy of the bucket layout (spans and custom bounds) takes.
    pub fn layout_bytes(&self) -> usize {
        (self.positive_spans.len() + self.negative_spans.len()) * std::mem::size_of::<Span>()
            + self.custom_values.len() * std::mem::size_of::<f64>()
    }
}

/// A histogram of either kind.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HistogramValue {
    Int(IntHistogram),
    Float(FloatHistogram),
}

impl HistogramValue {
    /// Whether `other` is the same kind and the same histogram bit for bit.
    pub fn identical(&self, other: &Self) -> bool {
        match (self, other) {
            (HistogramValue::Int(a), HistogramValue::Int(b)) => a.identical(b),
            (HistogramValue::Float(a), HistogramValue::Float(b)) => a.identical(b),
            _ => false,
        }
    }

    /// The histogram with float counts (what PromQL evaluates).
    pub fn to_float(&self) -> FloatHistogram {
        match self {
            HistogramValue::Int(h) => h.to_float(),
            HistogramValue::Float(h) => h.clone(),
        }
    }

    /// Whether this is a stale marker.
    pub fn is_stale(&self) -> bool {
        match self {
            HistogramValue::Int(h) => h.is_stale(),
            HistogramValue::Float(h) => h.is_stale(),
        }
    }

    /// Checks the histogram as Prometheus' `Validate` does.
    pub fn validate(&self) -> Result<(), InvalidHistogram> {
        match self {
            HistogramValue::Int(h) => h.validate(),
            HistogramValue::Float(h) => h.validate(),
        }
    }
}

/// A histogram at a timestamp.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistogramSample {
    pub t: i64,
    pub h: HistogramValue,
}

#[cfg(test)]
mod tests;
