//! Sealed chunk: all of one series' samples in a sealed partition, timestamps as residuals from
//! a regular grid, values as scaled decimals (or floats) compressed with pco, special values in
//! an exception list. Byte layout and encoder choices in `sealed.md`. Pure functions, no I/O.

#[cfg(test)]
mod tests;

use std::cell::RefCell;

use pco::data_types::Number;
use pco::wrapped::{FileCompressor, FileDecompressor};
use pco::{ChunkConfig, DecompressorScratch, PagingSpec};

use super::ENCODING_SEALED;
use crate::error::{Error, Result};
use crate::model::Sample;
use crate::varint::{Reader, put_uvarint, put_varint};

/// Layout version written after the encoding byte.
pub const SEALED_VERSION: u8 = 1;

/// Samples one sealed chunk may hold; a partition with more is sealed into several chunks.
pub const SEALED_SAMPLES_MAX: usize = 1 << 20;

/// Largest number of decimals tried by decimal detection.
const DECIMALS_MAX: u8 = 6;
/// `10^d` for every `d` decimal detection may choose (all exact in f64).
const POW10: [f64; DECIMALS_MAX as usize + 1] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6];
/// Decimal mode tolerates at most one non-decimal finite value per this many samples.
const DECIMAL_FAILURES_PER: usize = 16;

const KIND_DECIMAL: u8 = 0;
const KIND_FLOAT: u8 = 1;
const COLUMN_CONST: u8 = 0;
const COLUMN_PLAIN: u8 = 1;
const COLUMN_PCO: u8 = 2;
/// pco's compression level (0 to 12; its default). On the benchmark dataset (`codec_bytes`)
/// level 4 is 0.1% (2 h) to 0.7% (24 h) larger at about twice the encoding speed.
const PCO_COMPRESSION_LEVEL: usize = pco::DEFAULT_COMPRESSION_LEVEL;

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
    put_values(&mut out, samples)?;
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
    read_values(&mut r, &mut out[start..])?;
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

fn header(r: &mut Reader<'_>) -> Result<usize> {
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

/// How values are stored: decimal scale (or float) and the exceptions.
struct ValuePlan {
    /// `Some(d)`: decimal with `d` decimals; `None`: float.
    decimals: Option<u8>,
    /// Indexes whose value is stored bit-exactly in the exception list, ascending.
    exceptions: Vec<usize>,
}

/// Whether `v` is `k / 10^d` exactly for an integer `k` (bit-exact through the decoder's
/// formula), returning `k`.
fn as_decimal(v: f64, d: u8) -> Option<i64> {
    let scaled = (v * POW10[usize::from(d)]).round();
    // Rejects NaN and values outside i64 (where `as` would saturate).
    if scaled.is_nan() || scaled.abs() >= 9.2e18 {
        return None;
    }
    let k = scaled as i64;
    ((k as f64) / POW10[usize::from(d)])
        .to_bits()
        .eq(&v.to_bits())
        .then_some(k)
}

fn plan_values(samples: &[Sample]) -> ValuePlan {
    let non_finite: Vec<usize> = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.v.is_finite())
        .map(|(i, _)| i)
        .collect();
    let failures_max = samples.len() / DECIMAL_FAILURES_PER;
    let mut best: Option<(u8, usize)> = None;
    for d in 0..=DECIMALS_MAX {
        let limit = best.map_or(failures_max, |(_, f)| f.saturating_sub(1));
        let mut failures = 0usize;
        for s in samples.iter().filter(|s| s.v.is_finite()) {
            if as_decimal(s.v, d).is_none() {
                failures += 1;
                if failures > limit {
                    break;
                }
            }
        }
        if failures <= limit {
            best = Some((d, failures));
            if failures == 0 {
                break;
            }
        }
    }
    match best {
        Some((d, 0)) => ValuePlan {
            decimals: Some(d),
            exceptions: non_finite,
        },
        Some((d, _)) => ValuePlan {
            decimals: Some(d),
            exceptions: samples
                .iter()
                .enumerate()
                .filter(|(_, s)| as_decimal(s.v, d).is_none())
                .map(|(i, _)| i)
                .collect(),
        },
        None => ValuePlan {
            decimals: None,
            exceptions: non_finite,
        },
    }
}

fn put_values(out: &mut Vec<u8>, samples: &[Sample]) -> Result<()> {
    let plan = plan_values(samples);
    match plan.decimals {
        Some(d) => {
            out.push(KIND_DECIMAL);
            out.push(d);
        }
        None => out.push(KIND_FLOAT),
    }
    put_uvarint(out, plan.exceptions.len() as u64);
    let mut next = 0usize;
    for &i in &plan.exceptions {
        put_uvarint(out, (i - next) as u64);
        out.extend_from_slice(&samples[i].v.to_bits().to_le_bytes());
        next = i + 1;
    }
    // Fillers at exceptions: the previous regular value (or the first one), keeping the column
    // smooth for pco.
    let is_exception = |i: usize| plan.exceptions.binary_search(&i).is_ok();
    let first_regular = (0..samples.len()).find(|&i| !is_exception(i));
    match plan.decimals {
        Some(d) => {
            let mut last = first_regular.and_then(|i| as_decimal(samples[i].v, d));
            let ints: Vec<i64> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if !is_exception(i) {
                        last = as_decimal(s.v, d);
                    }
                    last.unwrap_or(0)
                })
                .collect();
            put_int_column(out, &ints)
        }
        None => {
            let mut last = first_regular.map_or(0.0, |i| samples[i].v);
            let floats: Vec<f64> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if !is_exception(i) {
                        last = s.v;
                    }
                    last
                })
                .collect();
            put_float_column(out, &floats)
        }
    }
}

fn read_values(r: &mut Reader<'_>, out: &mut [Sample]) -> Result<()> {
    let decimals = match r.u8()? {
        KIND_DECIMAL => {
            let d = r.u8()?;
            if d > DECIMALS_MAX {
                return Err(corrupt(&format!("{d} decimals")));
            }
            Some(d)
        }
        KIND_FLOAT => None,
        k => return Err(corrupt(&format!("unknown value kind {k}"))),
    };
    let n_exceptions = r.len(9)?;
    let mut exceptions = Vec::with_capacity(n_exceptions);
    let mut next = 0usize;
    for _ in 0..n_exceptions {
        let gap = usize::try_from(r.uvarint()?).map_err(|_| corrupt("exception index"))?;
        let i = next
            .checked_add(gap)
            .filter(|&i| i < out.len())
            .ok_or_else(|| corrupt("exception index out of range"))?;
        exceptions.push((i, f64::from_bits(r.u64_le()?)));
        next = i + 1;
    }
    match decimals {
        Some(d) => {
            let ints = read_int_column(r, out.len())?;
            let scale = POW10[usize::from(d)];
            for (s, k) in out.iter_mut().zip(ints) {
                s.v = (k as f64) / scale;
            }
        }
        None => {
            let floats = read_float_column(r, out.len())?;
            for (s, v) in out.iter_mut().zip(floats) {
                s.v = v;
            }
        }
    }
    for (i, v) in exceptions {
        out[i].v = v;
    }
    Ok(())
}

fn put_int_column(out: &mut Vec<u8>, xs: &[i64]) -> Result<()> {
    if xs.iter().all(|&x| x == xs[0]) {
        out.push(COLUMN_CONST);
        put_varint(out, xs[0]);
        return Ok(());
    }
    let mut plain = Vec::new();
    let mut prev = 0i64;
    for &x in xs {
        put_varint(&mut plain, x.wrapping_sub(prev));
        prev = x;
    }
    put_smaller(out, plain, pco_compress(xs)?);
    Ok(())
}

fn read_int_column(r: &mut Reader<'_>, n: usize) -> Result<Vec<i64>> {
    match r.u8()? {
        COLUMN_CONST => Ok(vec![r.varint()?; n]),
        COLUMN_PLAIN => {
            let mut prev = 0i64;
            (0..n)
                .map(|_| {
                    prev = prev.wrapping_add(r.varint()?);
                    Ok(prev)
                })
                .collect()
        }
        COLUMN_PCO => {
            let len = r.len(1)?;
            pco_decompress(r.bytes(len)?, n)
        }
        c => Err(corrupt(&format!("unknown column codec {c}"))),
    }
}

fn put_float_column(out: &mut Vec<u8>, xs: &[f64]) -> Result<()> {
    if xs.iter().all(|x| x.to_bits() == xs[0].to_bits()) {
        out.push(COLUMN_CONST);
        out.extend_from_slice(&xs[0].to_bits().to_le_bytes());
        return Ok(());
    }
    let plain: Vec<u8> = xs.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
    put_smaller(out, plain, pco_compress(xs)?);
    Ok(())
}

fn read_float_column(r: &mut Reader<'_>, n: usize) -> Result<Vec<f64>> {
    match r.u8()? {
        COLUMN_CONST => Ok(vec![f64::from_bits(r.u64_le()?); n]),
        COLUMN_PLAIN => {
            if r.remaining() < n.saturating_mul(8) {
                return Err(corrupt("float column truncated"));
            }
            (0..n).map(|_| Ok(f64::from_bits(r.u64_le()?))).collect()
        }
        COLUMN_PCO => {
            let len = r.len(1)?;
            pco_decompress(r.bytes(len)?, n)
        }
        c => Err(corrupt(&format!("unknown column codec {c}"))),
    }
}

/// Writes the plain or the pco form of a column, whichever is shorter (plain on a tie).
fn put_smaller(out: &mut Vec<u8>, plain: Vec<u8>, pco: Vec<u8>) {
    let mut len_prefix = Vec::new();
    put_uvarint(&mut len_prefix, pco.len() as u64);
    if plain.len() <= len_prefix.len() + pco.len() {
        out.push(COLUMN_PLAIN);
        out.extend_from_slice(&plain);
    } else {
        out.push(COLUMN_PCO);
        out.extend_from_slice(&len_prefix);
        out.extend_from_slice(&pco);
    }
}

fn pco_error(e: pco::errors::PcoError) -> Error {
    corrupt(&format!("pco: {e}"))
}

/// `xs` as a wrapped pco file: header, chunk metadata and one page.
fn pco_compress<T: Number>(xs: &[T]) -> Result<Vec<u8>> {
    let encode_error = |e: pco::errors::PcoError| Error::Encode(format!("pco: {e}"));
    let config = ChunkConfig::default()
        .with_compression_level(PCO_COMPRESSION_LEVEL)
        .with_paging_spec(PagingSpec::Exact(vec![xs.len()]));
    let file = FileCompressor::default();
    let mut out = Vec::new();
    file.write_header(&mut out).map_err(encode_error)?;
    let mut chunk = file.chunk_compressor(xs, &config).map_err(encode_error)?;
    chunk.write_meta(&mut out).map_err(encode_error)?;
    chunk.write_page(0, &mut out).map_err(encode_error)?;
    Ok(out)
}

thread_local! {
    /// pco's decompression scratch, reused by every column this thread decodes: allocating it
    /// afresh was about a fifth of decoding a short sealed column (perf, benchmark queries).
    static PCO_SCRATCH: RefCell<DecompressorScratch> = RefCell::new(DecompressorScratch::default());
}

/// Decodes `n` numbers written by [`pco_compress`], which must use all of `bytes`.
fn pco_decompress<T: Number + Default>(bytes: &[u8], n: usize) -> Result<Vec<T>> {
    let (file, rest) = FileDecompressor::new(bytes).map_err(pco_error)?;
    let (chunk, rest) = file.chunk_decompressor::<T, _>(rest).map_err(pco_error)?;
    PCO_SCRATCH.with_borrow_mut(|scratch| {
        let mut page = chunk
            .page_decompressor_with_scratch(rest, n, scratch)
            .map_err(pco_error)?;
        let mut xs = vec![T::default(); n];
        let progress = page.read(&mut xs).map_err(pco_error)?;
        if progress.n_processed != n || !progress.finished {
            return Err(corrupt("pco page is short"));
        }
        if !page.into_src().is_empty() {
            return Err(corrupt("trailing bytes after the pco page"));
        }
        Ok(xs)
    })
}
