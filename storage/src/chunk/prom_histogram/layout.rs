//! The numbers and the layout of Prometheus' histogram chunks (`prom_histogram.md`,
//! "Numbers in the bit stream" and "Layout"): varbit integers (`varbit.go`), the zero
//! threshold, custom bounds and spans (`histogram_meta.go`).

use super::*;

/// Value bits of a varbit number after a prefix of `k` one bits.
pub(super) const VARBIT_WIDTHS: [u32; 9] = [0, 3, 6, 9, 12, 18, 25, 56, 64];

// ---- Varbit numbers (varbit.go) ----

/// Writes prefix `k` (`k` ones then a zero; eight ones alone) and the value's low bits.
pub(super) fn put_varbit(w: &mut BitWriter<'_>, k: usize, v: u64) {
    let prefix = if k < 8 { ((1 << k) - 1) << 1 } else { 0xff };
    w.bits(prefix, (k as u32 + 1).min(8));
    w.bits(v, VARBIT_WIDTHS[k]);
}

pub(super) fn put_varbit_int(w: &mut BitWriter<'_>, v: i64) {
    let k = (1..8).find(|&k| in_bit_range(v, VARBIT_WIDTHS[k]));
    put_varbit(w, if v == 0 { 0 } else { k.unwrap_or(8) }, v as u64);
}

pub(super) fn put_varbit_uint(w: &mut BitWriter<'_>, v: u64) {
    let k = (1..8).find(|&k| v >> VARBIT_WIDTHS[k] == 0);
    put_varbit(w, if v == 0 { 0 } else { k.unwrap_or(8) }, v);
}

/// Reads a varbit prefix; returns the value's width in bits.
pub(super) fn read_prefix(r: &mut BitReader<'_>) -> Result<u32, HistogramChunkError> {
    let mut k = 0;
    while k < 8 && gorilla::bit(r)? {
        k += 1;
    }
    Ok(VARBIT_WIDTHS[k])
}

pub(super) fn read_varbit_int(r: &mut BitReader<'_>) -> Result<i64, HistogramChunkError> {
    let n = read_prefix(r)?;
    let raw = gorilla::bits(r, n)?;
    Ok(if n % 64 == 0 {
        raw as i64
    } else {
        signed(raw, n)
    })
}

pub(super) fn read_varbit_uint(r: &mut BitReader<'_>) -> Result<u64, HistogramChunkError> {
    let n = read_prefix(r)?;
    Ok(gorilla::bits(r, n)?)
}

// ---- Layout (histogram_meta.go) ----

pub(super) fn put_zero_threshold(w: &mut BitWriter<'_>, z: f64) {
    if z == 0.0 {
        w.bits(0, 8);
        return;
    }
    let bits = z.to_bits();
    let biased = (bits >> 52) & 0x7ff;
    // A positive normal power of two 2^k with -243 <= k <= 10 takes one byte, k + 244.
    if bits >> 63 == 0 && bits & ((1 << 52) - 1) == 0 && (780..=1033).contains(&biased) {
        w.bits(biased - 779, 8);
    } else {
        w.bits(255, 8);
        w.bits(bits, 64);
    }
}

pub(super) fn read_zero_threshold(r: &mut BitReader<'_>) -> Result<f64, HistogramChunkError> {
    Ok(match gorilla::bits(r, 8)? {
        0 => 0.0,
        255 => f64::from_bits(gorilla::bits(r, 64)?),
        b => f64::from_bits((b + 779) << 52),
    })
}

pub(super) fn put_custom_bound(w: &mut BitWriter<'_>, bound: f64) {
    let milli = bound * 1000.0;
    // Go's test, NaN included: in range, and a whole number of thousandths (checked through
    // the rounded value, as `isWholeWhenMultiplied` does).
    if (0.0..=33_554_430.0).contains(&milli) && (milli.round() as u64) as f64 / 1000.0 == bound {
        put_varbit_uint(w, milli.round() as u64 + 1);
    } else {
        w.bit(false);
        w.bits(bound.to_bits(), 64);
    }
}

pub(super) fn read_custom_bound(r: &mut BitReader<'_>) -> Result<f64, HistogramChunkError> {
    Ok(match read_varbit_uint(r)? {
        0 => f64::from_bits(gorilla::bits(r, 64)?),
        v => (v - 1) as f64 / 1000.0,
    })
}

pub(super) fn put_spans(w: &mut BitWriter<'_>, spans: &[Span]) {
    put_varbit_uint(w, spans.len() as u64);
    for s in spans {
        put_varbit_uint(w, u64::from(s.length));
        put_varbit_int(w, i64::from(s.offset));
    }
}

pub(super) fn read_spans(r: &mut BitReader<'_>) -> Result<Vec<Span>, HistogramChunkError> {
    let n = read_varbit_uint(r)?;
    // Every span takes at least two bits: a bogus count fails on truncation, not allocation.
    let mut spans = Vec::new();
    for _ in 0..n {
        let length = u32::try_from(read_varbit_uint(r)?)
            .map_err(|_| invalid("span length beyond 32 bits"))?;
        let offset = i32::try_from(read_varbit_int(r)?)
            .map_err(|_| invalid("span offset beyond 32 bits"))?;
        spans.push(Span { offset, length });
    }
    Ok(spans)
}

/// The layout fields of `h` as the chunk writes them.
pub(super) fn write_layout<C>(w: &mut BitWriter<'_>, h: &Histogram<C>) {
    put_zero_threshold(w, h.zero_threshold);
    put_varbit_int(w, i64::from(h.schema));
    put_spans(w, &h.positive_spans);
    put_spans(w, &h.negative_spans);
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        put_varbit_uint(w, h.custom_values.len() as u64);
        for &b in &h.custom_values {
            put_custom_bound(w, b);
        }
    }
}

/// A decoded layout: a histogram with no counts.
pub(super) fn read_layout<C: Count>(
    r: &mut BitReader<'_>,
) -> Result<Histogram<C>, HistogramChunkError> {
    let zero_threshold = read_zero_threshold(r)?;
    let schema =
        i32::try_from(read_varbit_int(r)?).map_err(|_| invalid("schema beyond 32 bits"))?;
    let positive_spans = read_spans(r)?;
    let negative_spans = read_spans(r)?;
    let mut custom_values = Vec::new();
    if schema == CUSTOM_BUCKETS_SCHEMA {
        for _ in 0..read_varbit_uint(r)? {
            custom_values.push(read_custom_bound(r)?);
        }
    }
    Ok(Histogram {
        schema,
        zero_threshold,
        positive_spans,
        negative_spans,
        custom_values,
        ..Histogram::default()
    })
}

pub(super) fn span_buckets(spans: &[Span]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

pub(super) fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Whether `h` has the layout of `first` (float fields by their bits).
pub(super) fn same_layout<C>(first: &Histogram<C>, h: &Histogram<C>) -> bool {
    first.schema == h.schema
        && first.zero_threshold.to_bits() == h.zero_threshold.to_bits()
        && first.positive_spans == h.positive_spans
        && first.negative_spans == h.negative_spans
        && same_bits(&first.custom_values, &h.custom_values)
}
