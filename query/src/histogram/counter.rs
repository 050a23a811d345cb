//! Native histograms as counters: finding a counter reset between two samples, and the
//! change over a window of samples with resets corrected (what `rate`, `increase` and
//! `delta` extrapolate), as Prometheus 3.5 computes them.

use tidemark_storage::histogram::ResetHint;

use super::arith::{Incompatible, reduce};
use super::{Bucket, Hist, HistogramPoint};

/// Why a window's change could not be computed, or what it noticed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChangeNotes {
    /// A gauge histogram read as a counter (`rate`, `increase`).
    pub not_counter: bool,
    /// A counter histogram read as a gauge (`delta`).
    pub not_gauge: bool,
    /// Exponential and custom buckets met.
    pub mixed_schemas: bool,
    /// Custom buckets with different bounds met.
    pub incompatible_bounds: bool,
}

impl Hist {
    /// Whether a counter reset happened between `previous` and this sample: the count or a
    /// bucket went down, the schema got finer, the zero bucket narrower, or custom bounds
    /// changed (a `Gauge` hint is read as a counter's).
    pub fn detect_reset(&self, previous: &Hist) -> bool {
        match self.hint {
            ResetHint::Reset => return true,
            ResetHint::NotReset => return false,
            ResetHint::Unknown | ResetHint::Gauge => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() != previous.uses_custom_buckets()
            || (self.uses_custom_buckets() && self.custom_values != previous.custom_values)
        {
            return true;
        }
        if self.schema > previous.schema || self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (previous_zero, threshold) =
            previous.zero_count_for_larger_threshold(self.zero_threshold);
        if threshold != self.zero_threshold || self.zero_count < previous_zero {
            return true;
        }
        let above = |buckets: &[Bucket], schema: i32| -> Vec<Bucket> {
            let reduced = reduce(buckets, schema, self.schema);
            if self.uses_custom_buckets() {
                return reduced;
            }
            reduced
                .into_iter()
                .skip_while(|b| self.bound(b.index.into()) <= self.zero_threshold)
                .collect()
        };
        bucket_went_down(
            &above(&self.positive, self.schema),
            &above(&previous.positive, previous.schema),
        ) || bucket_went_down(
            &above(&self.negative, self.schema),
            &above(&previous.negative, previous.schema),
        )
    }
}

/// Whether a bucket of `previous` is populated above its count in `current` (a missing bucket
/// counts 0). As Prometheus' iteration does, once `current` has no more buckets only the next
/// bucket of `previous` is looked at.
fn bucket_went_down(current: &[Bucket], previous: &[Bucket]) -> bool {
    let mut cur = current.iter().peekable();
    for p in previous {
        while cur.peek().is_some_and(|c| c.index < p.index) {
            cur.next();
        }
        match cur.peek() {
            None => return p.count != 0.0,
            Some(c) if c.index > p.index => {
                if p.count != 0.0 {
                    return true;
                }
            }
            Some(c) => {
                if c.count < p.count {
                    return true;
                }
            }
        }
    }
    false
}

/// The change of the histograms `points` (at least two) from the first to the last, counter
/// resets corrected when `is_counter`, marked a gauge histogram, empty buckets removed;
/// `None` when the histograms cannot be combined (then `notes` says why).
pub(crate) fn change(
    points: &[HistogramPoint],
    is_counter: bool,
    notes: &mut ChangeNotes,
) -> Option<Hist> {
    let first = &points[0].h;
    let last = &points[points.len() - 1].h;
    if is_counter && (first.hint == ResetHint::Gauge || last.hint == ResetHint::Gauge) {
        notes.not_counter = true;
    }
    // A reset between the first two samples: the first one is not looked at (its layout
    // does not matter), an empty histogram of the second's layout stands for it.
    let mut prev: Hist = (**first).clone();
    if is_counter && points.len() > 1 {
        let second = &points[1].h;
        if second.detect_reset(first) {
            prev = Hist {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..Hist::default()
            };
        }
    }
    let custom = prev.uses_custom_buckets();
    if last.uses_custom_buckets() != custom {
        notes.mixed_schemas = true;
        return None;
    }
    let mut schema = prev.schema.min(last.schema);
    for p in &points[1..points.len() - 1] {
        if !is_counter {
            continue;
        }
        if p.h.hint == ResetHint::Gauge {
            notes.not_counter = true;
        }
        schema = schema.min(p.h.schema);
        if p.h.uses_custom_buckets() != custom {
            notes.mixed_schemas = true;
            return None;
        }
    }
    let combined = |r: Result<Hist, Incompatible>, notes: &mut ChangeNotes| match r {
        Ok(h) => Some(h),
        Err(Incompatible::Schema) => {
            notes.mixed_schemas = true;
            None
        }
        Err(Incompatible::Bounds) => {
            notes.incompatible_bounds = true;
            None
        }
    };
    let mut h = combined(last.at_schema(schema).sub(&prev), notes)?;
    if is_counter {
        let mut before = &prev;
        for p in &points[1..] {
            if p.h.detect_reset(before) {
                h = combined(h.add(before), notes)?;
            }
            before = &p.h;
        }
    } else if first.hint != ResetHint::Gauge || last.hint != ResetHint::Gauge {
        notes.not_gauge = true;
    }
    h.hint = ResetHint::Gauge;
    Some(h.without_empty_buckets())
}

impl Hist {
    /// The histogram at schema `target` (coarser or the same; custom buckets stay).
    pub(crate) fn at_schema(&self, target: i32) -> Hist {
        if self.uses_custom_buckets() || target >= self.schema {
            return self.clone();
        }
        Hist {
            schema: target,
            positive: reduce(&self.positive, self.schema, target),
            negative: reduce(&self.negative, self.schema, target),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn h(count: f64, positive: &[(i32, f64)]) -> Hist {
        Hist {
            count,
            sum: count,
            positive: positive
                .iter()
                .map(|&(index, count)| Bucket { index, count })
                .collect(),
            ..Hist::default()
        }
    }

    #[test]
    fn resets_are_found_in_counts_buckets_and_layout() {
        let a = h(4.0, &[(0, 2.0), (1, 2.0)]);
        assert!(!h(5.0, &[(0, 3.0), (1, 2.0)]).detect_reset(&a));
        assert!(h(3.0, &[(0, 1.0), (1, 2.0)]).detect_reset(&a));
        // The count grew but a bucket shrank.
        assert!(h(9.0, &[(0, 1.0), (1, 8.0)]).detect_reset(&a));
        // A populated bucket went missing.
        assert!(h(9.0, &[(1, 9.0)]).detect_reset(&a));
        // A finer schema is a reset; a coarser one compares merged buckets.
        let mut finer = h(5.0, &[(0, 3.0)]);
        finer.schema = 1;
        assert!(finer.detect_reset(&a));
        // At schema -1, (0.5, 1] falls in (0.25, 1] and (1, 2] in (1, 4].
        let mut coarser = h(5.0, &[(0, 2.0), (1, 3.0)]);
        coarser.schema = -1;
        assert!(!coarser.detect_reset(&a));
        coarser.positive.remove(0);
        assert!(coarser.detect_reset(&a));
        let mut hinted = h(0.0, &[]);
        hinted.hint = ResetHint::NotReset;
        assert!(!hinted.detect_reset(&a));
    }

    #[test]
    fn a_change_adds_back_what_was_there_before_each_reset() {
        let points: Vec<HistogramPoint> = [
            h(4.0, &[(0, 4.0)]),
            h(6.0, &[(0, 6.0)]),
            h(1.0, &[(0, 1.0)]),
            h(3.0, &[(0, 3.0)]),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, h)| HistogramPoint {
            t: i as i64,
            h: Arc::new(h),
        })
        .collect();
        let mut notes = ChangeNotes::default();
        let c = change(&points, true, &mut notes).unwrap();
        // 3 - 4 + 6 (before the reset).
        assert_eq!(c.count, 5.0);
        assert_eq!(
            c.positive,
            vec![Bucket {
                index: 0,
                count: 5.0
            }]
        );
        assert_eq!(c.hint, ResetHint::Gauge);
        // As a gauge: last minus first, and a counter read as a gauge is noted.
        let d = change(&points, false, &mut notes).unwrap();
        assert_eq!(d.count, -1.0);
        assert!(notes.not_gauge);
    }
}
