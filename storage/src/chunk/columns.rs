//! Column codecs shared by the sealed and rollup chunk formats (`sealed.md` describes them):
//! integer columns (constant, zigzag deltas or pco, whichever is smallest) and value columns
//! (decimal detection scaling values to integers where that is exact, else floats, with an
//! exception list for what fits neither, bit-exactly). Pure functions, no I/O.

use std::cell::RefCell;

use pco::data_types::Number;
use pco::wrapped::{FileCompressor, FileDecompressor};
use pco::{ChunkConfig, DecompressorScratch, DeltaSpec, PagingSpec};

use crate::error::{Error, Result};
use crate::varint::{Reader, put_uvarint, put_varint};

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
/// Integer columns up to this many entries (a chunk the head cut, a sparse series' partition)
/// are compressed twice, at [`SHORT_COLUMN_COMPRESSION_LEVEL`], without deltas and with
/// first-order deltas, and the shorter kept: on the benchmark dataset (`codec_bytes`) as small
/// as pco's own choice at the default level (which compresses the column once per candidate
/// delta encoding, and again), at twice the speed: 2 h partitions 1.528 bytes/sample either
/// way, encoding 4.1 -> 8.5 M samples/s; cut chunks of 120 samples 1.987 -> 1.978 bytes/sample,
/// 1.8 -> 3.8 M samples/s (XOR encoding and decoding included).
const SHORT_COLUMN: usize = 1024;
const SHORT_COLUMN_COMPRESSION_LEVEL: usize = 4;

/// How values are stored: decimal scale (or float) and the exceptions.
pub(crate) struct ValuePlan {
    /// `Some(d)`: decimal with `d` decimals; `None`: float.
    pub decimals: Option<u8>,
    /// Indexes whose value is stored bit-exactly in the exception list, ascending.
    pub exceptions: Vec<usize>,
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

pub(crate) fn plan_values(values: &[f64]) -> ValuePlan {
    let non_finite: Vec<usize> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_finite())
        .map(|(i, _)| i)
        .collect();
    let failures_max = values.len() / DECIMAL_FAILURES_PER;
    let mut best: Option<(u8, usize)> = None;
    for d in 0..=DECIMALS_MAX {
        let limit = best.map_or(failures_max, |(_, f)| f.saturating_sub(1));
        let mut failures = 0usize;
        for &v in values.iter().filter(|v| v.is_finite()) {
            if as_decimal(v, d).is_none() {
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
            exceptions: values
                .iter()
                .enumerate()
                .filter(|(_, v)| as_decimal(**v, d).is_none())
                .map(|(i, _)| i)
                .collect(),
        },
        None => ValuePlan {
            decimals: None,
            exceptions: non_finite,
        },
    }
}

/// Writes a value column: decimal (scaled to integers) when that is exact for all but a few
/// values, else floats; the rest bit-exactly in an exception list.
pub(crate) fn put_values(out: &mut Vec<u8>, values: &[f64]) -> Result<()> {
    let plan = plan_values(values);
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
        out.extend_from_slice(&values[i].to_bits().to_le_bytes());
        next = i + 1;
    }
    // Fillers at exceptions: the previous regular value (or the first one), keeping the column
    // smooth for pco.
    let is_exception = |i: usize| plan.exceptions.binary_search(&i).is_ok();
    let first_regular = (0..values.len()).find(|&i| !is_exception(i));
    match plan.decimals {
        Some(d) => {
            let mut last = first_regular.and_then(|i| as_decimal(values[i], d));
            let ints: Vec<i64> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if !is_exception(i) {
                        last = as_decimal(v, d);
                    }
                    last.unwrap_or(0)
                })
                .collect();
            put_int_column(out, &ints)
        }
        None => {
            let mut last = first_regular.map_or(0.0, |i| values[i]);
            let floats: Vec<f64> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if !is_exception(i) {
                        last = v;
                    }
                    last
                })
                .collect();
            put_float_column(out, &floats)
        }
    }
}

/// Reads a value column of `out.len()` values written by [`put_values`] into `out`.
pub(crate) fn read_values(r: &mut Reader<'_>, out: &mut [f64]) -> Result<()> {
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
            for (v, k) in out.iter_mut().zip(ints) {
                *v = (k as f64) / scale;
            }
        }
        None => {
            let floats = read_float_column(r, out.len())?;
            for (o, v) in out.iter_mut().zip(floats) {
                *o = v;
            }
        }
    }
    for (i, v) in exceptions {
        out[i] = v;
    }
    Ok(())
}

/// Writes an integer column: constant, plain zigzag deltas or pco, whichever is smallest.
pub(crate) fn put_int_column(out: &mut Vec<u8>, xs: &[i64]) -> Result<()> {
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
    let pco = if xs.len() <= SHORT_COLUMN {
        let short = |order| {
            let config = ChunkConfig::default()
                .with_compression_level(SHORT_COLUMN_COMPRESSION_LEVEL)
                .with_delta_spec(DeltaSpec::TryConsecutive(order));
            pco_compress(xs, config)
        };
        let (a, b) = (short(0)?, short(1)?);
        if a.len() <= b.len() { a } else { b }
    } else {
        pco_compress(
            xs,
            ChunkConfig::default().with_compression_level(PCO_COMPRESSION_LEVEL),
        )?
    };
    put_smaller(out, plain, pco);
    Ok(())
}

/// Moves `r` past an integer column of `n` entries written by [`put_int_column`], without
/// decoding it.
pub(crate) fn skip_int_column(r: &mut Reader<'_>, n: usize) -> Result<()> {
    match r.u8()? {
        COLUMN_CONST => {
            r.varint()?;
        }
        COLUMN_PLAIN => {
            for _ in 0..n {
                r.varint()?;
            }
        }
        COLUMN_PCO => {
            let len = r.len(1)?;
            r.bytes(len)?;
        }
        c => return Err(corrupt(&format!("unknown column codec {c}"))),
    }
    Ok(())
}

/// Reads `n` integers written by [`put_int_column`].
pub(crate) fn read_int_column(r: &mut Reader<'_>, n: usize) -> Result<Vec<i64>> {
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
    let config = ChunkConfig::default().with_compression_level(PCO_COMPRESSION_LEVEL);
    put_smaller(out, plain, pco_compress(xs, config)?);
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
fn pco_compress<T: Number>(xs: &[T], config: ChunkConfig) -> Result<Vec<u8>> {
    let encode_error = |e: pco::errors::PcoError| Error::Encode(format!("pco: {e}"));
    let config = config.with_paging_spec(PagingSpec::Exact(vec![xs.len()]));
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

fn corrupt(what: &str) -> Error {
    Error::Decode(format!("chunk column: {what}"))
}
