//! Sealed chunk: all of one series' samples in a sealed partition, timestamps as residuals from
//! a regular grid, values as scaled decimals (or floats) compressed with pco, special values in
//! an exception list. Byte layout and encoder choices in `sealed.md`. Pure functions, no I/O.

#[cfg(test)]
mod tests;

use super::ENCODING_SEALED;
use super::columns::{put_int_column, put_values, read_int_column, read_values};
use crate::error::{Error, Result};
use crate::model::Sample;
use crate::varint::{Reader, put_uvarint, put_varint};

/// Layout version written after the encoding byte.
pub const SEALED_VERSION: u8 = 1;

/// Samples one sealed chunk may hold; a partition with more is sealed into several chunks.
pub const SEALED_SAMPLES_MAX: usize = 1 << 20;

/// Encodes `samples` (strictly ascending timestamps, at most [`SEALED_SAMPLES_MAX`]) as one
/// sealed chunk. Any f64 bit pattern round-trips.
pub fn encode(samples: &[Sample]) -> Result<Vec<u8>> {
    if samples.len() > SEALED_SAMPLES_MAX {
        return Err(Error::Encode(format!(
            "{} samples exceed the sealed chunk limit of {SEALED_SAMPLES_MAX}",
            samples.len()
        )));
    }
    if samples.windows(2).any(|w| w[0].t >= w[1].t) {
        return Err(Error::Encode(
            "sealed chunk timestamps must strictly ascend".into(),
        ));
    }
    let mut out = vec![ENCODING_SEALED, SEALED_VERSION];
    put_uvarint(&mut out, samples.len() as u64);
    let Some(first) = samples.first() else {
        return Ok(out);
    };
    let interval = grid_interval(samples);
    put_varint(&mut out, first.t);
    put_varint(&mut out, interval);
    if samples.len() >= 2 {
        let residuals: Vec<i64> = samples
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, s)| s.t.wrapping_sub(grid_time(first.t, interval, i)))
            .collect();
        put_int_column(&mut out, &residuals)?;
    }
    let values: Vec<f64> = samples.iter().map(|s| s.v).collect();
    put_values(&mut out, &values)?;
    Ok(out)
}

/// Decodes a sealed chunk into `out` (appending; on error `out` is left as it was).
pub fn decode_into(bytes: &[u8], out: &mut Vec<Sample>) -> Result<()> {
    let start = out.len();
    let decoded = decode_appending(bytes, out);
    if decoded.is_err() {
        out.truncate(start);
    }
    decoded
}

fn decode_appending(bytes: &[u8], out: &mut Vec<Sample>) -> Result<()> {
    let mut r = Reader::new(bytes);
    let count = header(&mut r)?;
    if count == 0 {
        return finish(&r);
    }
    let t0 = r.varint()?;
    let interval = r.varint()?;
    let start = out.len();
    out.reserve(count);
    out.push(Sample::new(t0, 0.0));
    if count >= 2 {
        let residuals = read_int_column(&mut r, count - 1)?;
        for (i, res) in residuals.into_iter().enumerate() {
            let t = grid_time(t0, interval, i + 1).wrapping_add(res);
            if t <= out[out.len() - 1].t {
                return Err(corrupt("timestamps do not ascend"));
            }
            out.push(Sample::new(t, 0.0));
        }
    }
    let mut values = vec![0.0; count];
    read_values(&mut r, &mut values)?;
    for (s, v) in out[start..].iter_mut().zip(values) {
        s.v = v;
    }
    finish(&r)
}

/// Decodes a whole sealed chunk.
pub fn decode(bytes: &[u8]) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    decode_into(bytes, &mut out)?;
    Ok(out)
}

/// Appends the samples of a sealed chunk with `mint_ms <= t <= maxt_ms` to `out`.
pub fn decode_range(bytes: &[u8], mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>) -> Result<()> {
    if min_time(bytes)?.is_none_or(|t| t > maxt_ms) {
        return Ok(());
    }
    let start = out.len();
    decode_into(bytes, out)?;
    // Sorted: keep the range by moving it to the front of the decoded part.
    let lo = start + out[start..].partition_point(|s| s.t < mint_ms);
    let hi = start + out[start..].partition_point(|s| s.t <= maxt_ms);
    out.copy_within(lo..hi, start);
    out.truncate(start + (hi - lo));
    Ok(())
}

/// Number of samples a sealed chunk declares (reads only its header).
pub fn sample_count(bytes: &[u8]) -> Result<usize> {
    header(&mut Reader::new(bytes))
}

/// First timestamp of a sealed chunk (reads only its header); `None` when it is empty.
pub fn min_time(bytes: &[u8]) -> Result<Option<i64>> {
    let mut r = Reader::new(bytes);
    if header(&mut r)? == 0 {
        return Ok(None);
    }
    Ok(Some(r.varint()?))
}

fn corrupt(what: &str) -> Error {
    Error::Decode(format!("sealed chunk: {what}"))
}

/// Reads a version 1 header (encoding, version, sample count within the limit): the count.
pub(super) fn header(r: &mut Reader<'_>) -> Result<usize> {
    if r.u8()? != ENCODING_SEALED {
        return Err(corrupt("not a sealed chunk"));
    }
    let version = r.u8()?;
    if version != SEALED_VERSION {
        return Err(corrupt(&format!("unknown version {version}")));
    }
    let count = r.uvarint()?;
    match usize::try_from(count) {
        Ok(n) if n <= SEALED_SAMPLES_MAX => Ok(n),
        _ => Err(corrupt(&format!("sample count {count} exceeds the limit"))),
    }
}

fn finish(r: &Reader<'_>) -> Result<()> {
    if r.remaining() != 0 {
        return Err(corrupt("trailing bytes"));
    }
    Ok(())
}

/// Test shim: the value plan of `samples`' values.
#[cfg(test)]
fn plan_values(samples: &[Sample]) -> super::columns::ValuePlan {
    super::columns::plan_values(&samples.iter().map(|s| s.v).collect::<Vec<_>>())
}

/// The grid time of sample `i` (wrapping, so that any timestamps round-trip).
fn grid_time(t0: i64, interval: i64, i: usize) -> i64 {
    t0.wrapping_add(interval.wrapping_mul(i as i64))
}

/// The dominant sampling interval: the mean of the deltas close to the median delta, rounded.
/// Averaging over runs of regular deltas cancels per-scrape jitter (each run telescopes), so
/// residuals stay within the jitter instead of drifting by one ms per sample.
fn grid_interval(samples: &[Sample]) -> i64 {
    let mut deltas: Vec<i64> = samples
        .windows(2)
        .map(|w| w[1].t.wrapping_sub(w[0].t))
        .collect();
    if deltas.is_empty() {
        return 0;
    }
    let mid = deltas.len() / 2;
    let median = *deltas.select_nth_unstable(mid).1;
    let slack = (median / 2).abs();
    let (lo, hi) = (median.saturating_sub(slack), median.saturating_add(slack));
    let (mut sum, mut n) = (0i128, 0i128);
    for &d in &deltas {
        if d >= lo && d <= hi {
            sum += i128::from(d);
            n += 1;
        }
    }
    if n == 0 {
        return median;
    }
    // Round half away from zero.
    let mean = (2 * sum + n * sum.signum()) / (2 * n);
    i64::try_from(mean).unwrap_or(median)
}
