//! `limitk` and `limit_ratio` (experimental in Prometheus 3.5, `--enable-feature=
//! promql-experimental-functions`): per group and step, the first k elements in input order,
//! or the elements whose label set hashes into the ratio's share of the hash space. Both keep
//! native histograms as they are, and their labels.

use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::{Groups, group_labels};
use crate::error::QueryError;
use crate::eval::{Evaluator, Series, positions};
use crate::histogram::go_g;

/// The largest and smallest parameter as Prometheus' `fParams` computes them (Go's
/// `math.Max`/`math.Min`: NaN as soon as one step is NaN).
fn go_max_min(params: &[f64]) -> (f64, f64) {
    let go_max = |a: f64, b: f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.max(b)
        }
    };
    let go_min = |a: f64, b: f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.min(b)
        }
    };
    params.iter().fold((-f64::MAX, f64::MAX), |(hi, lo), &x| {
        (go_max(hi, x), go_min(lo, x))
    })
}

/// Go's `%v` of a parameter that is not an integer.
fn overflow(k: f64) -> QueryError {
    QueryError::execution(format!("Scalar value {} overflows int64", go_g(k)))
}

/// Whether series `i` of `input` has an element (float or histogram) at `step`.
fn present(s: &Series, step: usize) -> bool {
    s.values[step].is_some() || s.hist(step).is_some()
}

/// Copies series `i`'s element at `step` into the output series that `out_of[i]` names
/// (added on first use).
fn keep(
    input: &[Series],
    i: usize,
    step: usize,
    steps: usize,
    out_of: &mut [Option<usize>],
    out: &mut Vec<Series>,
) {
    let o = *out_of[i].get_or_insert_with(|| {
        out.push(Series::new(input[i].labels.clone(), vec![None; steps]));
        out.len() - 1
    });
    out[o].values[step] = input[i].values[step];
    if let Some(h) = input[i].hist(step) {
        if out[o].hists.is_empty() {
            out[o].hists = vec![None; steps];
        }
        out[o].hists[step] = Some(h.clone());
    }
}

/// `limitk(k, input)`: per group and step the first `k` elements, in input order (Prometheus
/// takes them as its series come). Nothing at all when every step's k is below 1.
pub(crate) fn limitk(
    ev: &Evaluator<'_>,
    input: &[Series],
    modifier: &Option<LabelModifier>,
    k: &[f64],
) -> Result<Vec<Series>, QueryError> {
    let steps = k.len();
    if go_max_min(k).0 < 1.0 {
        return Ok(Vec::new());
    }
    let groups = Groups::new(input, |l| group_labels(l, modifier));
    let members = groups.members();
    let mut out_of: Vec<Option<usize>> = vec![None; input.len()];
    let mut out: Vec<Series> = Vec::new();
    for (step, &k_step) in k.iter().enumerate() {
        ev.check_deadline()?;
        // Prometheus checks k only when there is something to take.
        if !input.iter().any(|s| present(s, step)) {
            continue;
        }
        if !(k_step <= i64::MAX as f64 && k_step >= i64::MIN as f64) {
            return Err(overflow(k_step));
        }
        let k_step = k_step as i64;
        if k_step < 1 {
            continue;
        }
        for group in &members {
            let taken = group.iter().filter(|&&i| present(&input[i], step));
            for &i in taken.take(k_step as usize) {
                keep(input, i, step, steps, &mut out_of, &mut out);
            }
        }
    }
    Ok(out)
}

/// The share of the hash space `labels` falls at, in `[0, 1]`: Prometheus' label-set hash
/// over the largest u64. Prometheus 3.5 (built with its default `stringlabels`) hashes its
/// flat label encoding with xxHash64: every name and value preceded by its length, one byte
/// below 255, else the byte 255 and three bytes little-endian.
fn offset(labels: &tidemark_storage::Labels) -> f64 {
    let mut bytes = Vec::with_capacity(64);
    let mut put = |s: &str| {
        let n = s.len();
        if n < 255 {
            bytes.push(n as u8);
        } else {
            bytes.extend_from_slice(&[255, n as u8, (n >> 8) as u8, (n >> 16) as u8]);
        }
        bytes.extend_from_slice(s.as_bytes());
    };
    for l in labels.iter() {
        put(&l.name);
        put(&l.value);
    }
    xxhash_rust::xxh64::xxh64(&bytes, 0) as f64 / u64::MAX as f64
}

/// Whether an element at hash share `offset` is in the sample of ratio `r` (in `[-1, 1]`):
/// a positive ratio takes the shares below it, a negative one the shares from `1 + r` up, so
/// that `r` and `r - 1` split the series between them.
fn in_sample(r: f64, offset: f64) -> bool {
    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
}

/// `limit_ratio(r, input)`: per step the elements whose label set's hash share is within the
/// ratio (Prometheus' `HashRatioSampler`), the same series at every step for the same ratio.
/// A ratio outside `[-1, 1]` is capped, with Prometheus' warning.
pub(crate) fn limit_ratio(
    ev: &Evaluator<'_>,
    a: &AggregateExpr,
    input: &[Series],
    r: &[f64],
) -> Result<Vec<Series>, QueryError> {
    let steps = r.len();
    let (max, min) = go_max_min(r);
    if max == 0.0 && min == 0.0 {
        return Ok(Vec::new());
    }
    for (bad, to) in [(max, 1.0), (min, -1.0)] {
        if (to > 0.0 && bad > to) || (to < 0.0 && bad < to) {
            ev.warn(ev.at_arg(
                format!(
                    "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                    go_g(bad),
                    go_g(to)
                ),
                positions::aggregate_addr(a),
                0,
            ));
        }
    }
    let offsets: Vec<f64> = input.iter().map(|s| offset(&s.labels)).collect();
    let mut out_of: Vec<Option<usize>> = vec![None; input.len()];
    let mut out: Vec<Series> = Vec::new();
    for (step, &r_step) in r.iter().enumerate() {
        ev.check_deadline()?;
        if !input.iter().any(|s| present(s, step)) {
            continue;
        }
        if r_step.is_nan() {
            return Err(QueryError::execution("Ratio value NaN is NaN"));
        }
        if r_step == 0.0 {
            continue;
        }
        let r_step = r_step.clamp(-1.0, 1.0);
        for (i, s) in input.iter().enumerate() {
            if present(s, step) && in_sample(r_step, offsets[i]) {
                keep(input, i, step, steps, &mut out_of, &mut out);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_their_complements_split_the_series() {
        for offset in [0.0, 0.1, 0.5, 0.79, 0.8, 0.999] {
            for r in [0.2, 0.5, 0.8] {
                assert_ne!(
                    in_sample(r, offset),
                    in_sample(r - 1.0, offset),
                    "r {r}, offset {offset}"
                );
            }
            assert!(in_sample(1.0, offset) && in_sample(-1.0, offset));
        }
    }

    #[test]
    fn labels_hash_over_their_length_prefixed_encoding() {
        let long = "v".repeat(300);
        let labels = tidemark_storage::Labels::from_pairs(&[("a", "b"), ("c", &long)]);
        let mut want = vec![1, b'a', 1, b'b', 1, b'c', 255, 44, 1, 0];
        want.extend_from_slice(long.as_bytes());
        let expected = xxhash_rust::xxh64::xxh64(&want, 0) as f64 / u64::MAX as f64;
        assert_eq!(offset(&labels), expected);
    }

    #[test]
    fn parameters_reduce_as_go_does() {
        assert_eq!(go_max_min(&[0.5, 2.0, -3.0]), (2.0, -3.0));
        let (max, min) = go_max_min(&[0.5, f64::NAN, 2.0]);
        assert!(max.is_nan() && min.is_nan());
    }
}
