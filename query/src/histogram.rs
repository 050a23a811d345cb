//! Native histograms as PromQL evaluates them ([`Hist`]): float counts, every bucket named by
//! its index (storage keeps them as spans over a dense list; PromQL adds, subtracts and
//! compares buckets by index, which a sorted list of `(index, count)` makes direct), and the
//! bucket boundaries of each schema, which the query API, `histogram_quantile` and
//! `histogram_fraction` read.
//!
//! Empty buckets inside the stored spans are kept: Prometheus keeps them too, and a few of its
//! rules look at whether a side has buckets at all.

mod arith;
pub(crate) mod counter;
pub(crate) mod stats;

pub use arith::Incompatible;

use std::sync::Arc;

use tidemark_storage::histogram::{
    CUSTOM_BUCKETS_SCHEMA, FloatHistogram, HistogramValue, ResetHint, Span,
};

/// One bucket: its index in the histogram's schema and its count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub index: i32,
    pub count: f64,
}

/// A native histogram with float counts, as the query engine holds it (the default: an
/// empty schema-0 histogram).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hist {
    /// What readers know about a counter reset before this sample: `Gauge` for gauge
    /// histograms, else `Unknown` (as Prometheus reads them: whether a reset happened is
    /// found by comparing with the previous sample).
    pub hint: ResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    /// Positive buckets by ascending index.
    pub positive: Vec<Bucket>,
    /// Negative buckets by ascending index (index `i` holds values in
    /// `[-bound(i), -bound(i-1))`).
    pub negative: Vec<Bucket>,
    /// Upper bounds of custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`]), ascending.
    pub custom_values: Arc<[f64]>,
}

/// A histogram at a timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPoint {
    pub t: i64,
    pub h: Arc<Hist>,
}

/// A bucket with its boundaries, as the query API lists it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketRange {
    pub lower: f64,
    pub upper: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
    pub count: f64,
}

impl BucketRange {
    /// The boundary rule as the query API's JSON writes it: 0 `(l, u]`, 1 `[l, u)`, 2
    /// `(l, u)`, 3 `[l, u]`.
    pub fn boundary_rule(&self) -> u8 {
        match (self.lower_inclusive, self.upper_inclusive) {
            (true, true) => 3,
            (true, false) => 1,
            (false, true) => 0,
            (false, false) => 2,
        }
    }
}

impl Hist {
    /// The histogram a stored sample holds.
    pub fn from_stored(v: &HistogramValue) -> Hist {
        let f = v.to_float();
        Hist {
            hint: match f.hint {
                ResetHint::Gauge => ResetHint::Gauge,
                _ => ResetHint::Unknown,
            },
            schema: f.schema,
            zero_threshold: f.zero_threshold,
            zero_count: f.zero_count,
            count: f.count,
            sum: f.sum,
            positive: expand(&f.positive_spans, &f.positive),
            negative: expand(&f.negative_spans, &f.negative),
            custom_values: f.custom_values.into(),
        }
    }

    /// The histogram as storage holds it: consecutive indexes become one span.
    pub fn to_stored(&self) -> FloatHistogram {
        let (positive_spans, positive) = spans_of(&self.positive);
        let (negative_spans, negative) = spans_of(&self.negative);
        FloatHistogram {
            hint: self.hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            count: self.count,
            sum: self.sum,
            positive_spans,
            positive,
            negative_spans,
            negative,
            custom_values: self.custom_values.to_vec(),
        }
    }

    /// Whether the buckets use custom bounds (NHCB).
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// The upper bound of bucket `index` (positive side; a negative bucket's lower bound is
    /// its negation).
    pub fn bound(&self, index: i64) -> f64 {
        bound(index, self.schema, &self.custom_values)
    }

    /// The zero bucket, `[-threshold, threshold]`.
    fn zero_bucket(&self) -> BucketRange {
        BucketRange {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
        }
    }

    fn positive_range(&self, b: &Bucket) -> BucketRange {
        let lower = self.bound(i64::from(b.index) - 1);
        let upper = self.bound(b.index.into());
        let (lower_inclusive, upper_inclusive) = if self.uses_custom_buckets() {
            (b.index == 0, true)
        } else {
            (lower < 0.0, upper > 0.0)
        };
        self.clamp_to_zero_bucket(BucketRange {
            lower,
            upper,
            lower_inclusive,
            upper_inclusive,
            count: b.count,
        })
    }

    fn negative_range(&self, b: &Bucket) -> BucketRange {
        let lower = -self.bound(b.index.into());
        let upper = -self.bound(i64::from(b.index) - 1);
        self.clamp_to_zero_bucket(BucketRange {
            lower,
            upper,
            lower_inclusive: lower < 0.0,
            upper_inclusive: upper > 0.0,
            count: b.count,
        })
    }

    /// A bucket that reaches into the zero bucket ends at its threshold.
    fn clamp_to_zero_bucket(&self, mut r: BucketRange) -> BucketRange {
        let z = self.zero_threshold;
        if r.upper < 0.0 && r.upper > -z {
            r.upper = -z;
        } else if r.lower > 0.0 && r.lower < z {
            r.lower = z;
        }
        r
    }

    /// Every bucket from the lowest values up: negative buckets, the zero bucket when it
    /// counts anything, positive buckets. Empty buckets inside spans are included.
    pub fn buckets_ascending(&self) -> impl Iterator<Item = BucketRange> + '_ {
        let negative = self.negative.iter().rev().map(|b| self.negative_range(b));
        let zero = (self.zero_count > 0.0).then(|| self.zero_bucket());
        let positive = self.positive.iter().map(|b| self.positive_range(b));
        negative.chain(zero).chain(positive)
    }

    /// Every bucket from the highest values down.
    pub fn buckets_descending(&self) -> impl Iterator<Item = BucketRange> + '_ {
        let positive = self.positive.iter().rev().map(|b| self.positive_range(b));
        let zero = (self.zero_count > 0.0).then(|| self.zero_bucket());
        let negative = self.negative.iter().map(|b| self.negative_range(b));
        positive.chain(zero).chain(negative)
    }

    /// The histogram with every count and the sum multiplied by `factor` (Prometheus'
    /// `Mul`); the bucket layout stays.
    pub fn scaled(&self, factor: f64) -> Hist {
        let scale = |v: &[Bucket]| {
            v.iter()
                .map(|b| Bucket {
                    index: b.index,
                    count: b.count * factor,
                })
                .collect()
        };
        Hist {
            zero_count: self.zero_count * factor,
            count: self.count * factor,
            sum: self.sum * factor,
            positive: scale(&self.positive),
            negative: scale(&self.negative),
            ..self.clone()
        }
    }

    /// The histogram with every count and the sum divided by `divisor` (Prometheus' `Div`:
    /// division by zero removes every bucket).
    pub fn divided(&self, divisor: f64) -> Hist {
        if divisor == 0.0 {
            return Hist {
                zero_count: self.zero_count / divisor,
                count: self.count / divisor,
                sum: self.sum / divisor,
                positive: Vec::new(),
                negative: Vec::new(),
                ..self.clone()
            };
        }
        let div = |v: &[Bucket]| {
            v.iter()
                .map(|b| Bucket {
                    index: b.index,
                    count: b.count / divisor,
                })
                .collect()
        };
        Hist {
            zero_count: self.zero_count / divisor,
            count: self.count / divisor,
            sum: self.sum / divisor,
            positive: div(&self.positive),
            negative: div(&self.negative),
            ..self.clone()
        }
    }

    /// Whether `other` is the same histogram, float fields by their bits and bucket layouts
    /// alike (Prometheus' `Equals`; the hint does not count).
    pub fn same_bits(&self, other: &Hist) -> bool {
        let same = |a: &[Bucket], b: &[Bucket]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.index == y.index && x.count.to_bits() == y.count.to_bits())
        };
        self.schema == other.schema
            && self.count.to_bits() == other.count.to_bits()
            && self.sum.to_bits() == other.sum.to_bits()
            && (!self.uses_custom_buckets() || self.custom_values == other.custom_values)
            && self.zero_threshold == other.zero_threshold
            && self.zero_count.to_bits() == other.zero_count.to_bits()
            && same(&self.positive, &other.positive)
            && same(&self.negative, &other.negative)
    }

    /// The histogram as Prometheus prints it (`count_values` makes it a label value):
    /// `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`, non-empty buckets from
    /// the lowest up, numbers as Go's `%g` prints them.
    pub fn go_string(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{{count:{}, sum:{}", go_g(self.count), go_g(self.sum));
        let mut bucket = |r: BucketRange| {
            if r.count != 0.0 {
                let _ = write!(
                    out,
                    ", {}{},{}{}:{}",
                    if r.lower_inclusive { '[' } else { '(' },
                    go_g(r.lower),
                    go_g(r.upper),
                    if r.upper_inclusive { ']' } else { ')' },
                    go_g(r.count)
                );
            }
        };
        // Bucket bounds as they are, not cut at the zero bucket.
        for b in self.negative.iter().rev() {
            let (lower, upper) = (
                -self.bound(b.index.into()),
                -self.bound(i64::from(b.index) - 1),
            );
            bucket(BucketRange {
                lower,
                upper,
                lower_inclusive: lower < 0.0,
                upper_inclusive: upper > 0.0,
                count: b.count,
            });
        }
        if self.zero_count != 0.0 {
            bucket(self.zero_bucket());
        }
        for b in &self.positive {
            let (lower, upper) = (
                self.bound(i64::from(b.index) - 1),
                self.bound(b.index.into()),
            );
            let (lower_inclusive, upper_inclusive) = if self.uses_custom_buckets() {
                (b.index == 0, true)
            } else {
                (lower < 0.0, upper > 0.0)
            };
            bucket(BucketRange {
                lower,
                upper,
                lower_inclusive,
                upper_inclusive,
                count: b.count,
            });
        }
        out.push('}');
        out
    }

    /// Bytes the histogram takes in memory, roughly.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Hist>()
            + (self.positive.len() + self.negative.len()) * std::mem::size_of::<Bucket>()
            + self.custom_values.len() * std::mem::size_of::<f64>()
    }

    /// The same histogram without empty buckets (for comparisons that ignore them).
    pub fn without_empty_buckets(&self) -> Hist {
        let keep = |v: &[Bucket]| v.iter().filter(|b| b.count != 0.0).copied().collect();
        Hist {
            positive: keep(&self.positive),
            negative: keep(&self.negative),
            ..self.clone()
        }
    }
}

/// `f` as Go's `%g` prints it: the shortest digits that read back as `f`, in exponent form
/// (two exponent digits at least) below 1e-4 and from 1e6 on.
pub fn go_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Buckets with their indexes from spans and a dense list of counts.
fn expand(spans: &[Span], counts: &[f64]) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(counts.len());
    let mut index = 0i32;
    let mut counts = counts.iter();
    for (i, span) in spans.iter().enumerate() {
        index = if i == 0 {
            span.offset
        } else {
            index.saturating_add(span.offset)
        };
        for _ in 0..span.length {
            match counts.next() {
                Some(&count) => out.push(Bucket { index, count }),
                None => return out,
            }
            index = index.saturating_add(1);
        }
    }
    out
}

/// Spans and dense counts of buckets sorted by index.
fn spans_of(buckets: &[Bucket]) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut next = 0i64;
    for b in buckets {
        let index = i64::from(b.index);
        match spans.last_mut() {
            Some(span) if index == next => span.length += 1,
            _ => spans.push(Span {
                offset: if spans.is_empty() {
                    b.index
                } else {
                    i32::try_from(index - next).unwrap_or(i32::MAX)
                },
                length: 1,
            }),
        }
        next = index + 1;
    }
    (spans, buckets.iter().map(|b| b.count).collect())
}

/// The upper bound of bucket `index` in `schema` (`custom`: the custom bounds; index -1 is
/// the lower bound of the first custom bucket, -Inf, and `custom.len()` the last one's, +Inf).
pub(crate) fn bound(index: i64, schema: i32, custom: &[f64]) -> f64 {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        return match usize::try_from(index) {
            Err(_) => f64::NEG_INFINITY,
            Ok(i) if i >= custom.len() => f64::INFINITY,
            Ok(i) => custom[i],
        };
    }
    if schema < 0 {
        // Bucket boundaries are powers of 2^(2^-schema).
        let exp = index << (-schema).clamp(0, 8);
        if exp == 1024 {
            // The last finite bucket ends at the largest float: the next one counts ±Inf.
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let per_octave = 1i64 << schema.clamp(0, 8);
    let frac_index = index & (per_octave - 1);
    let frac = (frac_index as f64 / per_octave as f64).exp2() / 2.0;
    let exp = (index >> schema.clamp(0, 8)) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

/// `frac * 2^exp`, through subnormals to 0 and to infinity as the exponent goes.
fn ldexp(frac: f64, exp: i64) -> f64 {
    let mut x = frac;
    let mut e = exp.clamp(-2200, 2200);
    while e > 1023 {
        x *= f64::from_bits(0x7FE0_0000_0000_0000); // 2^1023
        e -= 1023;
    }
    while e < -1022 {
        x *= f64::from_bits(0x0010_0000_0000_0000); // 2^-1022
        e += 1022;
    }
    x * f64::from_bits(((e + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests;
