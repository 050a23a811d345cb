//! Adding and subtracting native histograms as Prometheus 3.5 does: the result takes the
//! coarser schema of the two (finer buckets merge into it), the wider zero bucket (widened
//! further while its threshold would cut a populated bucket), and custom buckets combine only
//! with custom buckets of the same bounds.

use tidemark_storage::histogram::ResetHint;

use super::{Bucket, Hist, bound};

/// Why two histograms cannot be combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incompatible {
    /// One has exponential buckets, the other custom ones.
    Schema,
    /// Both have custom buckets, with different bounds.
    Bounds,
}

impl Hist {
    /// `self + other`.
    pub fn add(&self, other: &Hist) -> Result<Hist, Incompatible> {
        let mut h = self.combine(other, 1.0)?;
        h.hint = added_hint(self.hint, other.hint);
        Ok(h)
    }

    /// `self - other` (the hint stays `self`'s).
    pub fn sub(&self, other: &Hist) -> Result<Hist, Incompatible> {
        self.combine(other, -1.0)
    }

    fn combine(&self, other: &Hist, sign: f64) -> Result<Hist, Incompatible> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(Incompatible::Schema);
        }
        if self.uses_custom_buckets() && !same_floats(&self.custom_values, &other.custom_values) {
            return Err(Incompatible::Bounds);
        }
        let mut h = self.clone();
        if !h.uses_custom_buckets() {
            let other_zero = h.reconcile_zero_buckets(other);
            h.zero_count += sign * other_zero;
        }
        h.count += sign * other.count;
        h.sum += sign * other.sum;
        if h.uses_custom_buckets() {
            h.positive = merge(&h.positive, &other.positive, sign, |_| false);
            return Ok(h);
        }
        let schema = h.schema.min(other.schema);
        let (hp, hn) = (
            reduce(&h.positive, h.schema, schema),
            reduce(&h.negative, h.schema, schema),
        );
        let (op, on) = (
            reduce(&other.positive, other.schema, schema),
            reduce(&other.negative, other.schema, schema),
        );
        // `other`'s buckets that lie inside the (reconciled) zero bucket are in its zero
        // count already.
        let threshold = h.zero_threshold;
        let inside = |index: i32| bound(index.into(), schema, &[]) <= threshold;
        h.schema = schema;
        h.positive = merge(&hp, &op, sign, inside);
        h.negative = merge(&hn, &on, sign, inside);
        Ok(h)
    }

    /// Widens the zero buckets of `self` and `other` to a common threshold (the larger one,
    /// moved up to a bucket boundary where it would cut a populated bucket). `self` is
    /// changed; `other`'s zero count at that threshold is returned.
    fn reconcile_zero_buckets(&mut self, other: &Hist) -> f64 {
        let (mut other_count, mut other_threshold) = (other.zero_count, other.zero_threshold);
        while other_threshold != self.zero_threshold {
            if self.zero_threshold > other_threshold {
                (other_count, other_threshold) =
                    other.zero_count_for_larger_threshold(self.zero_threshold);
            }
            if other_threshold > self.zero_threshold {
                (self.zero_count, self.zero_threshold) =
                    self.zero_count_for_larger_threshold(other_threshold);
                self.trim_buckets_in_zero_bucket();
            }
        }
        other_count
    }

    /// The zero count the histogram would have with threshold `larger`, and that threshold,
    /// moved up to the upper bound of a populated bucket it falls in.
    pub(crate) fn zero_count_for_larger_threshold(&self, mut larger: f64) -> (f64, f64) {
        if larger == self.zero_threshold {
            return (self.zero_count, larger);
        }
        'outer: loop {
            let mut count = self.zero_count;
            for b in &self.positive {
                let index = i64::from(b.index);
                let (lower, upper) = (self.bound(index - 1), self.bound(index));
                if lower >= larger {
                    break;
                }
                count += b.count;
                if upper > larger {
                    if b.count != 0.0 {
                        larger = upper;
                    }
                    break;
                }
            }
            for b in &self.negative {
                let index = i64::from(b.index);
                let (lower, upper) = (-self.bound(index), -self.bound(index - 1));
                if upper <= -larger {
                    break;
                }
                count += b.count;
                if lower < -larger {
                    if b.count != 0.0 {
                        // The positive side must be looked at again with this threshold.
                        larger = -lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (count, larger);
        }
    }

    /// Removes the buckets inside the zero bucket (their counts are in the zero count), and
    /// with them every empty bucket (as Prometheus' compaction there does).
    fn trim_buckets_in_zero_bucket(&mut self) {
        let threshold = self.zero_threshold;
        let schema = self.schema;
        let custom = self.custom_values.clone();
        for b in &mut self.positive {
            if bound(i64::from(b.index) - 1, schema, &custom) >= threshold {
                break;
            }
            b.count = 0.0;
        }
        for b in &mut self.negative {
            if -bound(i64::from(b.index) - 1, schema, &custom) <= -threshold {
                break;
            }
            b.count = 0.0;
        }
        self.positive.retain(|b| b.count != 0.0);
        self.negative.retain(|b| b.count != 0.0);
    }
}

/// The hint of a sum: a gauge with anything is a gauge, an unknown with anything unknown, and a
/// reset with a non-reset (which should not meet) unknown too.
fn added_hint(a: ResetHint, b: ResetHint) -> ResetHint {
    match (a, b) {
        _ if a == b => a,
        (ResetHint::Gauge, _) | (_, ResetHint::Gauge) => ResetHint::Gauge,
        _ => ResetHint::Unknown,
    }
}

/// Buckets at a coarser schema: each bucket joins the one of `target` it falls in
/// (`target <= schema`).
pub(crate) fn reduce(buckets: &[Bucket], schema: i32, target: i32) -> Vec<Bucket> {
    if schema == target {
        return buckets.to_vec();
    }
    let shift = (schema - target).clamp(0, 31) as u32;
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        // Fits: shifting right only brings an index nearer to zero.
        let index = (((i64::from(b.index) - 1) >> shift) + 1) as i32;
        match out.last_mut() {
            Some(last) if last.index == index => last.count += b.count,
            _ => out.push(Bucket {
                index,
                count: b.count,
            }),
        }
    }
    out
}

/// `a + sign * b` bucket by bucket (both sorted by index); `b`'s buckets for which `skip`
/// holds are left out.
fn merge(a: &[Bucket], b: &[Bucket], sign: f64, skip: impl Fn(i32) -> bool) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    loop {
        let next_b = b.get(j).filter(|x| !skip(x.index));
        if j < b.len() && next_b.is_none() {
            j += 1;
            continue;
        }
        match (a.get(i), next_b) {
            (None, None) => return out,
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (None, Some(y)) => {
                out.push(Bucket {
                    index: y.index,
                    count: sign * y.count,
                });
                j += 1;
            }
            (Some(x), Some(y)) => {
                if x.index < y.index {
                    out.push(*x);
                    i += 1;
                } else if y.index < x.index {
                    out.push(Bucket {
                        index: y.index,
                        count: sign * y.count,
                    });
                    j += 1;
                } else {
                    out.push(Bucket {
                        index: x.index,
                        count: x.count + sign * y.count,
                    });
                    i += 1;
                    j += 1;
                }
            }
        }
    }
}

/// Whether two lists of bounds are the same numbers.
fn same_floats(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(schema: i32, zero: (f64, f64), positive: &[(i32, f64)]) -> Hist {
        Hist {
            schema,
            zero_threshold: zero.0,
            zero_count: zero.1,
            count: zero.1 + positive.iter().map(|b| b.1).sum::<f64>(),
            positive: positive
                .iter()
                .map(|&(index, count)| Bucket { index, count })
                .collect(),
            ..Hist::default()
        }
    }

    fn pairs(b: &[Bucket]) -> Vec<(i32, f64)> {
        b.iter().map(|b| (b.index, b.count)).collect()
    }

    #[test]
    fn sums_take_the_coarser_schema() {
        // Schema 1 buckets 1..=4 are (1, 1.41], (1.41, 2], (2, 2.83], (2.83, 4]: at schema 0
        // they are (1, 2] twice and (2, 4] twice.
        let fine = h(1, (0.0, 0.0), &[(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]);
        let coarse = h(0, (0.0, 0.0), &[(1, 10.0)]);
        let sum = fine.add(&coarse).unwrap();
        assert_eq!(sum.schema, 0);
        assert_eq!(pairs(&sum.positive), vec![(1, 13.0), (2, 7.0)]);
        assert_eq!(sum.count, 20.0);
        assert_eq!(coarse.add(&fine).unwrap().positive, sum.positive);
        let diff = sum.sub(&coarse).unwrap();
        assert_eq!(pairs(&diff.positive), vec![(1, 3.0), (2, 7.0)]);
    }

    #[test]
    fn zero_buckets_widen_to_a_bucket_boundary() {
        // Threshold 0.5 meets a populated (0.5, 1] bucket of the other: fine. Threshold 0.7
        // would cut it, so the common threshold becomes 1.
        let a = h(0, (0.7, 1.0), &[(1, 1.0)]);
        let b = h(0, (0.5, 2.0), &[(0, 3.0), (1, 4.0)]);
        let sum = a.add(&b).unwrap();
        assert_eq!(sum.zero_threshold, 1.0);
        assert_eq!(sum.zero_count, 6.0);
        assert_eq!(pairs(&sum.positive), vec![(1, 5.0)]);
        assert_eq!(sum.count, 11.0);
    }

    #[test]
    fn custom_buckets_combine_only_with_the_same_bounds() {
        let mut a = h(-53, (0.0, 0.0), &[(0, 1.0), (1, 2.0)]);
        a.custom_values = vec![1.0, 2.0].into();
        let mut b = a.clone();
        assert_eq!(
            pairs(&a.add(&b).unwrap().positive),
            vec![(0, 2.0), (1, 4.0)]
        );
        b.custom_values = vec![1.0, 3.0].into();
        assert_eq!(a.add(&b), Err(Incompatible::Bounds));
        assert_eq!(a.add(&h(0, (0.0, 0.0), &[])), Err(Incompatible::Schema));
    }

    #[test]
    fn hints_of_a_sum() {
        use ResetHint::*;
        assert_eq!(added_hint(NotReset, NotReset), NotReset);
        assert_eq!(added_hint(Gauge, Unknown), Gauge);
        assert_eq!(added_hint(Reset, Gauge), Gauge);
        assert_eq!(added_hint(Reset, NotReset), Unknown);
        assert_eq!(added_hint(Unknown, Reset), Unknown);
    }
}
