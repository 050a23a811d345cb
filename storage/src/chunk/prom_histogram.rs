//! Prometheus' own native-histogram chunks, bit for bit as Prometheus v3.5 writes them
//! (`tsdb/chunkenc/histogram.go`, `float_histogram.go`, `histogram_meta.go`, `varbit.go`):
//! encoding 2 (integer counts) and 3 (float counts), which remote read streams to Prometheus'
//! own decoder. Tidemark's stored histogram chunks are [`super::histogram`]. Byte layout,
//! chunk cuts and counter-reset headers in `prom_histogram.md`.

use super::bits::{BitReader, BitWriter};
use super::gorilla::{self, in_bit_range, read_value, signed, write_value};
use super::histogram::LAYOUT_BYTES_PER_CHUNK_MAX;
use super::xor::XorDecodeError;
use super::xor::layout::WINDOW_UNSET;
use crate::histogram::{
    CUSTOM_BUCKETS_SCHEMA, Count, Histogram, HistogramSample, HistogramValue, ResetHint, Span,
};
use crate::model::is_stale_nan;

/// Prometheus' chunk encoding numbers as remote read's `Chunk.type` carries them.
pub const ENCODING_HISTOGRAM: i32 = 2;
pub const ENCODING_FLOAT_HISTOGRAM: i32 = 3;

/// Samples per chunk Tidemark cuts at (Prometheus' head cuts histogram chunks near 120 samples
/// too, or by size).
pub const PROM_HISTOGRAM_SAMPLES_MAX: usize = 120;

/// Bytes before the bit stream: sample count (2) and counter-reset header (1).
const HEADER_LEN: usize = 3;

/// The counter-reset header bits of byte 2.
const HEADER_MASK: u8 = 0b1100_0000;
const HEADER_UNKNOWN: u8 = 0b0000_0000;
const HEADER_NOT_RESET: u8 = 0b0100_0000;
const HEADER_RESET: u8 = 0b1000_0000;
const HEADER_GAUGE: u8 = 0b1100_0000;

/// One encoded chunk with its inclusive time range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromHistogramChunk {
    /// [`ENCODING_HISTOGRAM`] or [`ENCODING_FLOAT_HISTOGRAM`].
    pub encoding: i32,
    /// Timestamp of the first sample (ms).
    pub min_time_ms: i64,
    /// Timestamp of the last sample (ms).
    pub max_time_ms: i64,
    /// The chunk bytes, header included.
    pub data: Vec<u8>,
}

/// Bytes that do not decode as a histogram chunk of the given encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid histogram chunk: {0}")]
pub struct HistogramChunkError(String);

impl From<XorDecodeError> for HistogramChunkError {
    fn from(e: XorDecodeError) -> Self {
        HistogramChunkError(e.to_string())
    }
}

fn invalid(message: impl Into<String>) -> HistogramChunkError {
    HistogramChunkError(message.into())
}

/// Encodes ascending samples (unique timestamps; histograms that passed
/// [`Histogram::validate`]) into Prometheus chunks, cut as the module documentation says.
pub fn encode(samples: &[HistogramSample]) -> Vec<PromHistogramChunk> {
    let mut out = Vec::new();
    let mut rest = samples;
    while let Some(first) = rest.first() {
        let used = match first.h {
            HistogramValue::Int(_) => encode_run::<u64>(rest, &mut out),
            HistogramValue::Float(_) => encode_run::<f64>(rest, &mut out),
        };
        rest = &rest[used..];
    }
    out
}

/// Decodes one chunk of either encoding into its samples; errors (never panics) on any
/// malformed input, an unknown encoding included.
pub fn decode(encoding: i32, data: &[u8]) -> Result<Vec<HistogramSample>, HistogramChunkError> {
    match encoding {
        ENCODING_HISTOGRAM => decode_kind::<u64>(data),
        ENCODING_FLOAT_HISTOGRAM => decode_kind::<f64>(data),
        other => Err(invalid(format!("unknown encoding {other}"))),
    }
}

mod layout;
use layout::*;

// ---- Counter resets (the checks of Prometheus' `appendable`) ----

/// What Prometheus' appender concludes about counter histogram `h` following `prev`, in its
/// order: `HEADER_NOT_RESET` means `h` could join `prev`'s chunk.
fn reset_header<C: PromCount>(prev: &Histogram<C>, h: &Histogram<C>) -> u8 {
    if h.hint == ResetHint::Reset || h.count < prev.count {
        return HEADER_RESET;
    }
    if h.schema != prev.schema || h.zero_threshold != prev.zero_threshold {
        return HEADER_UNKNOWN;
    }
    let bounds_changed =
        h.schema == CUSTOM_BUCKETS_SCHEMA && !same_bits(&h.custom_values, &prev.custom_values);
    let buckets_down = sides(prev)
        .into_iter()
        .zip(sides(h))
        .any(|((a_spans, a), (b_spans, b))| buckets_reset(a_spans, a, b_spans, b));
    if bounds_changed || h.zero_count < prev.zero_count || buckets_down {
        return HEADER_RESET;
    }
    HEADER_NOT_RESET
}

/// Spans and counts of each side.
fn sides<C>(h: &Histogram<C>) -> [(&[Span], &[C]); 2] {
    [
        (&h.positive_spans, &h.positive),
        (&h.negative_spans, &h.negative),
    ]
}

/// Bucket indices the spans describe, in order.
fn bucket_indices(spans: &[Span]) -> impl Iterator<Item = i64> + '_ {
    spans
        .iter()
        .scan(0i64, |next, s| {
            let start = *next + i64::from(s.offset);
            *next = start + i64::from(s.length);
            Some(start..*next)
        })
        .flatten()
}

/// Whether going from buckets `a` to `b` is a reset: a bucket of `a` went down, or is missing
/// from `b` while its count was not zero.
fn buckets_reset<C: PromCount>(a_spans: &[Span], a: &[C], b_spans: &[Span], b: &[C]) -> bool {
    let mut b_buckets = bucket_indices(b_spans).zip(b.iter().copied()).peekable();
    for (index, count) in bucket_indices(a_spans).zip(a.iter().copied()) {
        while b_buckets.next_if(|&(i, _)| i < index).is_some() {}
        let reset = match b_buckets.peek() {
            Some(&(i, now)) if i == index => count > now,
            _ => count != C::default(),
        };
        if reset {
            return true;
        }
    }
    false
}

// ---- The two sample codings ----

/// A float field: raw in a chunk's first sample, then xor against its previous value in its
/// own window.
#[derive(Clone, Copy, Default)]
struct XorField {
    bits: u64,
    leading: u8,
    trailing: u8,
}

impl XorField {
    fn new(leading: u8) -> Self {
        XorField {
            leading,
            ..XorField::default()
        }
    }

    fn put(&mut self, w: &mut BitWriter<'_>, v: f64, first: bool) {
        if first {
            w.bits(v.to_bits(), 64);
        } else {
            write_value(
                w,
                v.to_bits(),
                self.bits,
                &mut self.leading,
                &mut self.trailing,
            );
        }
        self.bits = v.to_bits();
    }

    fn get(&mut self, r: &mut BitReader<'_>, first: bool) -> Result<f64, HistogramChunkError> {
        if first {
            self.bits = gorilla::bits(r, 64)?;
        } else {
            read_value::<XorDecodeError>(r, &mut self.bits, &mut self.leading, &mut self.trailing)?;
        }
        Ok(f64::from_bits(self.bits))
    }
}

/// What differs between integer and float chunks: the fields after the timestamp.
trait PromCount: Count + PartialOrd {
    const ENCODING: i32;
    /// A chunk's coding state past its timestamps: what the previous sample left.
    type State;
    /// The state at a chunk's start; `window` is what each xor field's window starts as.
    fn state(positive: usize, negative: usize, window: u8) -> Self::State;
    /// Writes the fields of `h` (already emptied when stale) after its timestamp.
    fn write(st: &mut Self::State, w: &mut BitWriter<'_>, h: &Histogram<Self>, first: bool);
    /// Reads the fields after a timestamp: a histogram with counts and sum, no layout.
    fn read(
        st: &mut Self::State,
        r: &mut BitReader<'_>,
        first: bool,
    ) -> Result<Histogram<Self>, HistogramChunkError>;
    fn of(v: &HistogramValue) -> Option<&Histogram<Self>>;
    fn wrap(h: Histogram<Self>) -> HistogramValue;
}

/// An integer chunk's state: Go's `HistogramAppender` fields (bucket values as Prometheus'
/// integer histograms hold them, positive then negative).
#[derive(Default)]
struct IntState {
    positive: usize,
    count: u64,
    zero_count: u64,
    count_delta: i64,
    zero_count_delta: i64,
    sum: XorField,
    buckets: Vec<i64>,
    bucket_deltas: Vec<i64>,
}

/// The bucket values of one side: the first count, then differences to the previous bucket.
fn to_bucket_values(counts: &[u64], n: usize, out: &mut Vec<i64>) {
    let mut prev = 0u64;
    for i in 0..n {
        let c = counts.get(i).copied().unwrap_or(0);
        out.push(c.wrapping_sub(prev) as i64);
        prev = c;
    }
}

/// Absolute counts of one side from its bucket values (negative ones are malformed).
fn from_bucket_values(values: &[i64]) -> Result<Vec<u64>, HistogramChunkError> {
    let mut current = 0i64;
    values
        .iter()
        .map(|&v| {
            current = current.wrapping_add(v);
            u64::try_from(current).map_err(|_| invalid("negative bucket count"))
        })
        .collect()
}

impl PromCount for u64 {
    const ENCODING: i32 = ENCODING_HISTOGRAM;
    type State = IntState;

    fn state(positive: usize, negative: usize, window: u8) -> IntState {
        IntState {
            positive,
            sum: XorField::new(window),
            buckets: vec![0; positive + negative],
            bucket_deltas: vec![0; positive + negative],
            ..IntState::default()
        }
    }

    fn write(st: &mut IntState, w: &mut BitWriter<'_>, h: &Histogram<u64>, first: bool) {
        let stale = h.is_stale();
        let n = st.buckets.len();
        let mut values = Vec::with_capacity(n);
        if !stale {
            to_bucket_values(&h.positive, st.positive, &mut values);
            to_bucket_values(&h.negative, n - st.positive, &mut values);
        }
        if first {
            put_varbit_uint(w, h.count);
            put_varbit_uint(w, h.zero_count);
            st.sum.put(w, h.sum, true);
            for &v in &values {
                put_varbit_int(w, v);
            }
            st.buckets = values;
        } else {
            let count_delta = h.count.wrapping_sub(st.count) as i64;
            let zero_count_delta = h.zero_count.wrapping_sub(st.zero_count) as i64;
            if stale {
                put_varbit_int(w, 0);
                put_varbit_int(w, 0);
            } else {
                put_varbit_int(w, count_delta.wrapping_sub(st.count_delta));
                put_varbit_int(w, zero_count_delta.wrapping_sub(st.zero_count_delta));
            }
            st.sum.put(w, h.sum, false);
            for (i, &v) in values.iter().enumerate() {
                let delta = v.wrapping_sub(st.buckets[i]);
                put_varbit_int(w, delta.wrapping_sub(st.bucket_deltas[i]));
                st.bucket_deltas[i] = delta;
                st.buckets[i] = v;
            }
            st.count_delta = count_delta;
            st.zero_count_delta = zero_count_delta;
        }
        st.count = h.count;
        st.zero_count = h.zero_count;
    }

    fn read(
        st: &mut IntState,
        r: &mut BitReader<'_>,
        first: bool,
    ) -> Result<Histogram<u64>, HistogramChunkError> {
        if first {
            st.count = read_varbit_uint(r)?;
            st.zero_count = read_varbit_uint(r)?;
            st.sum.get(r, true)?;
            for b in &mut st.buckets {
                *b = read_varbit_int(r)?;
            }
        } else {
            st.count_delta = st.count_delta.wrapping_add(read_varbit_int(r)?);
            st.count = st.count.wrapping_add(st.count_delta as u64);
            st.zero_count_delta = st.zero_count_delta.wrapping_add(read_varbit_int(r)?);
            st.zero_count = st.zero_count.wrapping_add(st.zero_count_delta as u64);
            // A later stale marker has no buckets (the decoder drops its counts).
            if !is_stale_nan(st.sum.get(r, false)?) {
                for (b, d) in st.buckets.iter_mut().zip(&mut st.bucket_deltas) {
                    *d = d.wrapping_add(read_varbit_int(r)?);
                    *b = b.wrapping_add(*d);
                }
            }
        }
        let (positive, negative) = st.buckets.split_at(st.positive);
        Ok(Histogram {
            count: st.count,
            zero_count: st.zero_count,
            sum: f64::from_bits(st.sum.bits),
            positive: from_bucket_values(positive)?,
            negative: from_bucket_values(negative)?,
            ..Histogram::default()
        })
    }

    fn of(v: &HistogramValue) -> Option<&Histogram<u64>> {
        match v {
            HistogramValue::Int(h) => Some(h),
            HistogramValue::Float(_) => None,
        }
    }

    fn wrap(h: Histogram<u64>) -> HistogramValue {
        HistogramValue::Int(h)
    }
}

/// A float chunk's state: every field's previous value and window, buckets positive then
/// negative.
struct FloatState {
    positive: usize,
    count: XorField,
    zero_count: XorField,
    sum: XorField,
    buckets: Vec<XorField>,
}

/// The first `n` counts of a side (zeros past its end: a histogram that disagrees with its
/// spans still makes a chunk that decodes).
fn padded(side: &[f64], n: usize) -> impl Iterator<Item = f64> + '_ {
    (0..n).map(move |i| side.get(i).copied().unwrap_or(0.0))
}

impl PromCount for f64 {
    const ENCODING: i32 = ENCODING_FLOAT_HISTOGRAM;
    type State = FloatState;

    fn state(positive: usize, negative: usize, window: u8) -> FloatState {
        FloatState {
            positive,
            count: XorField::new(window),
            zero_count: XorField::new(window),
            sum: XorField::new(window),
            buckets: vec![XorField::new(window); positive + negative],
        }
    }

    fn write(st: &mut FloatState, w: &mut BitWriter<'_>, h: &Histogram<f64>, first: bool) {
        let fields = [&mut st.count, &mut st.zero_count, &mut st.sum];
        for (field, v) in fields.into_iter().zip([h.count, h.zero_count, h.sum]) {
            field.put(w, v, first);
        }
        let n_neg = st.buckets.len() - st.positive;
        let values = padded(&h.positive, st.positive).chain(padded(&h.negative, n_neg));
        if !h.is_stale() {
            for (field, v) in st.buckets.iter_mut().zip(values) {
                field.put(w, v, first);
            }
        }
    }

    fn read(
        st: &mut FloatState,
        r: &mut BitReader<'_>,
        first: bool,
    ) -> Result<Histogram<f64>, HistogramChunkError> {
        for field in [&mut st.count, &mut st.zero_count, &mut st.sum] {
            field.get(r, first)?;
        }
        // A later stale marker has no buckets; a first one has its (empty) layout's.
        if first || !is_stale_nan(f64::from_bits(st.sum.bits)) {
            for field in &mut st.buckets {
                field.get(r, first)?;
            }
        }
        let value = |f: &XorField| f64::from_bits(f.bits);
        let (positive, negative) = st.buckets.split_at(st.positive);
        Ok(Histogram {
            count: value(&st.count),
            zero_count: value(&st.zero_count),
            sum: value(&st.sum),
            positive: positive.iter().map(value).collect(),
            negative: negative.iter().map(value).collect(),
            ..Histogram::default()
        })
    }

    fn of(v: &HistogramValue) -> Option<&Histogram<f64>> {
        match v {
            HistogramValue::Float(h) => Some(h),
            HistogramValue::Int(_) => None,
        }
    }

    fn wrap(h: Histogram<f64>) -> HistogramValue {
        HistogramValue::Float(h)
    }
}

// ---- Encoding ----

/// One chunk being written.
struct ChunkWriter<'a, C: PromCount> {
    buf: Vec<u8>,
    free: u8,
    len: usize,
    /// The first sample, whose layout every later non-stale sample must have.
    first: &'a Histogram<C>,
    last: &'a Histogram<C>,
    gauge: bool,
    min_t: i64,
    t: i64,
    t_delta: i64,
    state: C::State,
}

/// A stale marker as Prometheus writes it: the sum, nothing else.
fn emptied<C: Count>(h: &Histogram<C>) -> Histogram<C> {
    Histogram {
        sum: h.sum,
        ..Histogram::default()
    }
}

impl<'a, C: PromCount> ChunkWriter<'a, C> {
    fn new(t: i64, h: &'a Histogram<C>, header: u8) -> Self {
        let written = if h.is_stale() { &emptied(h) } else { h };
        let mut buf = vec![0, 0, header];
        let mut free = 0;
        let mut w = BitWriter {
            buf: &mut buf,
            free: &mut free,
        };
        write_layout(&mut w, written);
        let positive = span_buckets(&written.positive_spans) as usize;
        let negative = span_buckets(&written.negative_spans) as usize;
        let mut state = C::state(positive, negative, WINDOW_UNSET);
        put_varbit_int(&mut w, t);
        C::write(&mut state, &mut w, written, true);
        ChunkWriter {
            buf,
            free,
            len: 1,
            first: h,
            last: h,
            gauge: header == HEADER_GAUGE,
            min_t: t,
            t,
            t_delta: 0,
            state,
        }
    }

    /// Whether `h` may join this chunk.
    fn takes(&self, h: &Histogram<C>) -> bool {
        if self.len >= PROM_HISTOGRAM_SAMPLES_MAX {
            return false;
        }
        if h.is_stale() {
            return true;
        }
        let gauge = h.hint == ResetHint::Gauge;
        !self.last.is_stale()
            && gauge == self.gauge
            && same_layout(self.first, h)
            && (gauge || reset_header(self.last, h) == HEADER_NOT_RESET)
    }

    fn append(&mut self, t: i64, h: &'a Histogram<C>) {
        let written = if h.is_stale() { &emptied(h) } else { h };
        let delta = t.wrapping_sub(self.t);
        let mut w = BitWriter {
            buf: &mut self.buf,
            free: &mut self.free,
        };
        put_varbit_int(&mut w, delta.wrapping_sub(self.t_delta));
        C::write(&mut self.state, &mut w, written, false);
        self.t = t;
        self.t_delta = delta;
        self.last = h;
        self.len += 1;
    }

    fn finish(mut self) -> PromHistogramChunk {
        self.buf[..2].copy_from_slice(&(self.len as u16).to_be_bytes());
        PromHistogramChunk {
            encoding: C::ENCODING,
            min_time_ms: self.min_t,
            max_time_ms: self.t,
            data: self.buf,
        }
    }
}

/// The header of a chunk that starts with `h`, after chunk `prev` (of the same kind) if any.
fn new_chunk_header<C: PromCount>(h: &Histogram<C>, prev: Option<&ChunkWriter<'_, C>>) -> u8 {
    if h.is_stale() {
        return HEADER_UNKNOWN;
    }
    match h.hint {
        ResetHint::Gauge => HEADER_GAUGE,
        ResetHint::Reset => HEADER_RESET,
        _ => match prev {
            Some(p) if !p.gauge && !p.last.is_stale() => reset_header(p.last, h),
            _ => HEADER_UNKNOWN,
        },
    }
}

/// Encodes the leading run of samples of kind `C`; returns how many it took.
fn encode_run<C: PromCount>(
    samples: &[HistogramSample],
    out: &mut Vec<PromHistogramChunk>,
) -> usize {
    let mut chunk: Option<ChunkWriter<'_, C>> = None;
    let mut used = 0;
    for s in samples {
        let Some(h) = C::of(&s.h) else { break };
        used += 1;
        if let Some(c) = chunk.as_mut()
            && c.takes(h)
        {
            c.append(s.t, h);
            continue;
        }
        let header = new_chunk_header(h, chunk.as_ref());
        if let Some(done) = chunk.replace(ChunkWriter::new(s.t, h, header)) {
            out.push(done.finish());
        }
    }
    if let Some(done) = chunk {
        out.push(done.finish());
    }
    used
}

// ---- Decoding ----

/// The hint of sample `index` of a chunk with counter-reset header `header`.
fn hint_of(header: u8, index: usize) -> ResetHint {
    match (header, index) {
        (HEADER_GAUGE, _) => ResetHint::Gauge,
        (HEADER_RESET, 0) => ResetHint::Reset,
        (HEADER_NOT_RESET, _) | (_, 1..) => ResetHint::NotReset,
        _ => ResetHint::Unknown,
    }
}

fn decode_kind<C: PromCount>(data: &[u8]) -> Result<Vec<HistogramSample>, HistogramChunkError> {
    let Some(&[hi, lo, flags]) = data.get(..HEADER_LEN) else {
        return Err(invalid("shorter than its 3-byte header"));
    };
    let n = usize::from(u16::from_be_bytes([hi, lo]));
    let header = flags & HEADER_MASK;
    let mut out = Vec::with_capacity(n.min(PROM_HISTOGRAM_SAMPLES_MAX));
    if n == 0 {
        return Ok(out);
    }
    let mut r = BitReader::new(&data[HEADER_LEN..]);
    let layout = read_layout::<C>(&mut r)?;
    let positive = span_buckets(&layout.positive_spans);
    let negative = span_buckets(&layout.negative_spans);
    // The first sample takes at least a bit per bucket: a bogus layout fails here, before
    // bucket vectors are allocated for it.
    if positive + negative > r.remaining_bits() as u64 {
        return Err(XorDecodeError::Truncated.into());
    }
    let mut state = C::state(positive as usize, negative as usize, 0);
    let layout_bytes = layout.layout_bytes();
    let mut layout_total = 0usize;
    let (mut t, mut t_delta) = (0i64, 0i64);
    for i in 0..n {
        if i == 0 {
            t = read_varbit_int(&mut r)?;
        } else {
            t_delta = t_delta.wrapping_add(read_varbit_int(&mut r)?);
            t = t.wrapping_add(t_delta);
        }
        let counts = C::read(&mut state, &mut r, i == 0)?;
        let h = if counts.is_stale() {
            Histogram::stale_marker()
        } else {
            // Each sample carries a copy of the layout: bound what a small chunk expands to.
            layout_total += layout_bytes;
            if layout_total > LAYOUT_BYTES_PER_CHUNK_MAX {
                return Err(invalid("layout copies exceed the per-chunk bound"));
            }
            Histogram {
                hint: hint_of(header, i),
                schema: layout.schema,
                zero_threshold: layout.zero_threshold,
                positive_spans: layout.positive_spans.clone(),
                negative_spans: layout.negative_spans.clone(),
                custom_values: layout.custom_values.clone(),
                ..counts
            }
        };
        out.push(HistogramSample { t, h: C::wrap(h) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
