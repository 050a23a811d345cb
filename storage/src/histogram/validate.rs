//! The checks a histogram passes before it is written, as Prometheus' `Histogram.Validate` and
//! `FloatHistogram.Validate` make them (model/histogram, 3.5), plus the schema range its
//! appender checks.

use super::{
    CUSTOM_BUCKETS_SCHEMA, CUSTOM_VALUES_MAX, Count, EXPONENTIAL_SCHEMA_MAX,
    EXPONENTIAL_SCHEMA_MIN, Histogram, SPANS_MAX, Span,
};

/// Why a histogram is refused. The texts follow Prometheus' errors where it has one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InvalidHistogram {
    #[error(
        "histogram schema {0} is not a valid schema: exponential schemas are {EXPONENTIAL_SCHEMA_MIN}..{EXPONENTIAL_SCHEMA_MAX}, custom buckets {CUSTOM_BUCKETS_SCHEMA}"
    )]
    Schema(i32),
    #[error(
        "{side} side: span number {number} with offset {offset}: histogram has a span whose offset is negative"
    )]
    NegativeOffset {
        side: &'static str,
        number: usize,
        offset: i32,
    },
    #[error(
        "{side} side: spans need {spans} buckets, have {buckets} buckets: histogram spans specify different number of buckets than provided"
    )]
    SpansBucketsMismatch {
        side: &'static str,
        spans: u64,
        buckets: usize,
    },
    #[error(
        "{side} side: bucket number {number} has observation count of {count}: histogram has a bucket whose observation count is negative"
    )]
    NegativeBucket {
        side: &'static str,
        number: usize,
        count: f64,
    },
    #[error(
        "{buckets} observations found in buckets, but the Count field is {count}: histogram's observation count should be at least the number of observations found in the buckets"
    )]
    CountNotBigEnough { buckets: u128, count: u64 },
    #[error(
        "{buckets} observations found in buckets, but the Count field is {count}: histogram's observation count should equal the number of observations found in the buckets (in absence of NaN)"
    )]
    CountMismatch { buckets: u128, count: u64 },
    #[error(
        "custom buckets: previous bound is {previous} and current is {current}: histogram custom bounds must be in strictly increasing order"
    )]
    CustomBoundsOrder { previous: f64, current: f64 },
    #[error(
        "custom buckets: last +Inf bound must not be explicitly defined: histogram custom bounds must be finite"
    )]
    CustomBoundsInfinite,
    #[error(
        "custom buckets: span length {spans} exceeds bounds {bounds}: histogram custom bounds are too few"
    )]
    CustomBoundsTooFew { spans: u64, bounds: usize },
    #[error("custom buckets: histogram with custom bounds must have zero count of 0")]
    CustomZeroCount,
    #[error("custom buckets: histogram with custom bounds must have zero threshold of 0")]
    CustomZeroThreshold,
    #[error("custom buckets: histogram with custom bounds must not have negative spans or buckets")]
    CustomNegative,
    #[error("histogram with exponential schema must not have custom bounds")]
    ExponentialWithCustomBounds,
    #[error("histogram zero threshold {0} is not a non-negative number")]
    ZeroThreshold(f64),
    #[error("histogram has {spans} {side} spans, more than the {SPANS_MAX} Tidemark takes")]
    TooManySpans { side: &'static str, spans: usize },
    #[error("histogram has {0} custom bounds, more than the {CUSTOM_VALUES_MAX} Tidemark takes")]
    TooManyCustomValues(usize),
}

impl<C: Count> Histogram<C> {
    /// Checks the histogram as Prometheus does before it appends one. Integer histograms must
    /// have a count equal to their buckets' sum (at least that when the sum is NaN); float
    /// histograms are not held to that (rounding), only to non-negative buckets.
    pub fn validate(&self) -> Result<(), InvalidHistogram> {
        for (side, spans) in [
            ("positive", &self.positive_spans),
            ("negative", &self.negative_spans),
        ] {
            if spans.len() > SPANS_MAX {
                return Err(InvalidHistogram::TooManySpans {
                    side,
                    spans: spans.len(),
                });
            }
        }
        if self.custom_values.len() > CUSTOM_VALUES_MAX {
            return Err(InvalidHistogram::TooManyCustomValues(
                self.custom_values.len(),
            ));
        }
        if self.uses_custom_buckets() {
            check_custom_bounds(
                &self.custom_values,
                &self.positive_spans,
                self.positive.len(),
            )?;
            if self.zero_count != C::default() {
                return Err(InvalidHistogram::CustomZeroCount);
            }
            if self.zero_threshold != 0.0 {
                return Err(InvalidHistogram::CustomZeroThreshold);
            }
            if !self.negative_spans.is_empty() || !self.negative.is_empty() {
                return Err(InvalidHistogram::CustomNegative);
            }
        } else {
            if !(EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&self.schema) {
                return Err(InvalidHistogram::Schema(self.schema));
            }
            if self.zero_threshold.is_nan() || self.zero_threshold < 0.0 {
                return Err(InvalidHistogram::ZeroThreshold(self.zero_threshold));
            }
            check_spans("positive", &self.positive_spans, self.positive.len())?;
            check_spans("negative", &self.negative_spans, self.negative.len())?;
            if !self.custom_values.is_empty() {
                return Err(InvalidHistogram::ExponentialWithCustomBounds);
            }
        }
        check_buckets("positive", &self.positive)?;
        check_buckets("negative", &self.negative)?;
        self.check_count()
    }

    /// Integer histograms only (see [`Histogram::validate`]).
    fn check_count(&self) -> Result<(), InvalidHistogram> {
        let Some(count) = self.count.as_integer() else {
            return Ok(());
        };
        let buckets: u128 = self
            .positive
            .iter()
            .chain(&self.negative)
            .chain(std::iter::once(&self.zero_count))
            .filter_map(|c| c.as_integer())
            .map(u128::from)
            .sum();
        if self.sum.is_nan() {
            if buckets > u128::from(count) {
                return Err(InvalidHistogram::CountNotBigEnough { buckets, count });
            }
        } else if buckets != u128::from(count) {
            return Err(InvalidHistogram::CountMismatch { buckets, count });
        }
        Ok(())
    }
}

fn check_spans(side: &'static str, spans: &[Span], buckets: usize) -> Result<(), InvalidHistogram> {
    let mut needed = 0u64;
    for (n, span) in spans.iter().enumerate() {
        if n > 0 && span.offset < 0 {
            return Err(InvalidHistogram::NegativeOffset {
                side,
                number: n + 1,
                offset: span.offset,
            });
        }
        needed += u64::from(span.length);
    }
    if needed != buckets as u64 {
        return Err(InvalidHistogram::SpansBucketsMismatch {
            side,
            spans: needed,
            buckets,
        });
    }
    Ok(())
}

fn check_custom_bounds(
    bounds: &[f64],
    spans: &[Span],
    buckets: usize,
) -> Result<(), InvalidHistogram> {
    let mut previous = f64::NEG_INFINITY;
    for &current in bounds {
        // NaN is refused as out of order.
        if current.is_nan() || current <= previous {
            return Err(InvalidHistogram::CustomBoundsOrder { previous, current });
        }
        previous = current;
    }
    if previous == f64::INFINITY {
        return Err(InvalidHistogram::CustomBoundsInfinite);
    }
    let (mut needed, mut reach) = (0u64, 0u64);
    for (n, span) in spans.iter().enumerate() {
        if span.offset < 0 {
            return Err(InvalidHistogram::NegativeOffset {
                side: "positive",
                number: n + 1,
                offset: span.offset,
            });
        }
        needed += u64::from(span.length);
        reach += u64::from(span.length) + span.offset as u64;
    }
    if needed != buckets as u64 {
        return Err(InvalidHistogram::SpansBucketsMismatch {
            side: "positive",
            spans: needed,
            buckets,
        });
    }
    if reach > bounds.len() as u64 + 1 {
        return Err(InvalidHistogram::CustomBoundsTooFew {
            spans: reach,
            bounds: bounds.len(),
        });
    }
    Ok(())
}

fn check_buckets<C: Count>(side: &'static str, buckets: &[C]) -> Result<(), InvalidHistogram> {
    match buckets.iter().position(|c| c.to_f64() < 0.0) {
        Some(i) => Err(InvalidHistogram::NegativeBucket {
            side,
            number: i + 1,
            count: buckets[i].to_f64(),
        }),
        None => Ok(()),
    }
}
