//! What a histogram chunk's writer and reader both keep (`histogram.md`): the previous
//! sample's bucket layout and, per field, what the next value is coded against.

use crate::chunk::bits::{BitReader, BitWriter, ByteBuf};
use crate::chunk::gorilla::{in_bit_range, read_value, signed, write_value};
use crate::chunk::xor::XorDecodeError;
use crate::chunk::xor::layout::WINDOW_UNSET;
use crate::error::{Error, Result};
use crate::histogram::{CUSTOM_VALUES_MAX, Count, Histogram, ResetHint, SPANS_MAX, Span};

/// A bucket layout: what `layoutdef` holds. Float fields as their bits, so that comparing two
/// layouts compares what is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Layout {
    pub schema: i32,
    pub zero_threshold: u64,
    pub positive: Vec<Span>,
    pub negative: Vec<Span>,
    pub custom: Vec<u64>,
}

impl Layout {
    pub fn of<C>(h: &Histogram<C>) -> Self {
        Layout {
            schema: h.schema,
            zero_threshold: h.zero_threshold.to_bits(),
            positive: h.positive_spans.clone(),
            negative: h.negative_spans.clone(),
            custom: h.custom_values.iter().map(|v| v.to_bits()).collect(),
        }
    }

    /// Whether `h` has this layout (compared without allocating: the hot path of appends).
    pub fn matches<C>(&self, h: &Histogram<C>) -> bool {
        self.schema == h.schema
            && self.zero_threshold == h.zero_threshold.to_bits()
            && self.positive == h.positive_spans
            && self.negative == h.negative_spans
            && self.custom.len() == h.custom_values.len()
            && self
                .custom
                .iter()
                .zip(&h.custom_values)
                .all(|(a, b)| *a == b.to_bits())
    }

    pub fn write<B: ByteBuf>(&self, w: &mut BitWriter<'_, B>) {
        w.varint(i64::from(self.schema));
        w.bits(self.zero_threshold, 64);
        for spans in [&self.positive, &self.negative] {
            w.uvarint(spans.len() as u64);
            for s in spans {
                w.varint(i64::from(s.offset));
                w.uvarint(u64::from(s.length));
            }
        }
        w.uvarint(self.custom.len() as u64);
        for &c in &self.custom {
            w.bits(c, 64);
        }
    }

    /// Reads a `layoutdef`. Counts it declares are bounded by the bits left (every span,
    /// custom value and bucket takes at least one), so corrupt bytes cannot ask for more
    /// memory than the chunk's size allows.
    pub fn read(r: &mut BitReader<'_>) -> Result<Self> {
        let schema = i32::try_from(r.varint()?)
            .map_err(|_| Error::Decode("histogram chunk: schema out of range".into()))?;
        let zero_threshold = r.bits(64)?;
        let mut sides = [Vec::new(), Vec::new()];
        for side in &mut sides {
            let n = bounded(r.uvarint()?, r)?;
            if n > SPANS_MAX {
                return Err(Error::Decode(format!(
                    "histogram chunk: {n} spans in a layout"
                )));
            }
            side.reserve_exact(n);
            for _ in 0..n {
                let offset = i32::try_from(r.varint()?).map_err(|_| {
                    Error::Decode("histogram chunk: span offset out of range".into())
                })?;
                let length = u32::try_from(r.uvarint()?).map_err(|_| {
                    Error::Decode("histogram chunk: span length out of range".into())
                })?;
                side.push(Span { offset, length });
            }
        }
        let n = bounded(r.uvarint()?, r)?;
        if n > CUSTOM_VALUES_MAX {
            return Err(Error::Decode(format!("histogram chunk: {n} custom bounds")));
        }
        let custom = (0..n).map(|_| r.bits(64)).collect::<Result<Vec<_>>>()?;
        let [positive, negative] = sides;
        let layout = Layout {
            schema,
            zero_threshold,
            positive,
            negative,
            custom,
        };
        let buckets = span_buckets(&layout.positive) + span_buckets(&layout.negative);
        bounded(buckets, r)?;
        Ok(layout)
    }

    /// Whether the buckets of `self` and `other` are on the same scale (a bucket index means
    /// the same bounds in both).
    fn same_scale(&self, other: &Layout) -> bool {
        self.schema == other.schema && self.custom == other.custom
    }
}

/// Buckets the spans hold.
pub(super) fn span_buckets(spans: &[Span]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

/// `n` as a count of items still to read, refused when the stream cannot hold that many.
fn bounded(n: u64, r: &BitReader<'_>) -> Result<usize> {
    if n > r.remaining_bits() as u64 {
        return Err(Error::Decode(format!(
            "histogram chunk declares {n} items, more than its bits could hold"
        )));
    }
    Ok(n as usize)
}

/// The bucket indexes the spans describe, in order (wrapping: corrupt spans give some order,
/// the same for writer and reader).
fn indexes(spans: &[Span]) -> impl Iterator<Item = i64> + '_ {
    let mut next = 0i64;
    spans.iter().flat_map(move |s| {
        next = next.wrapping_add(i64::from(s.offset));
        let start = next;
        next = next.wrapping_add(i64::from(s.length));
        (0..i64::from(s.length)).map(move |i| start.wrapping_add(i))
    })
}

/// How one kind of count is coded, and the predictor each of its fields keeps (`u64` and
/// `f64`; nothing else implements it).
pub trait CountCode: Count {
    /// The header's `kind`.
    const KIND: u8;
    type State: Clone + Default + std::fmt::Debug;
    fn write<B: ByteBuf>(w: &mut BitWriter<'_, B>, state: &mut Self::State, v: Self);
    fn read(r: &mut BitReader<'_>, state: &mut Self::State) -> Result<Self>;
}

/// An integer field's previous value and delta.
#[derive(Clone, Copy, Debug, Default)]
pub struct IntState {
    v: u64,
    delta: i64,
}

/// A float field's previous bits and xor window.
#[derive(Clone, Copy, Debug)]
pub struct FloatState {
    bits: u64,
    leading: u8,
    trailing: u8,
}

impl Default for FloatState {
    fn default() -> Self {
        FloatState {
            bits: 0,
            leading: WINDOW_UNSET,
            trailing: 0,
        }
    }
}

impl CountCode for u64 {
    const KIND: u8 = 0;
    type State = IntState;

    fn write<B: ByteBuf>(w: &mut BitWriter<'_, B>, state: &mut IntState, v: u64) {
        let delta = v.wrapping_sub(state.v) as i64;
        write_int(w, delta.wrapping_sub(state.delta));
        *state = IntState { v, delta };
    }

    fn read(r: &mut BitReader<'_>, state: &mut IntState) -> Result<u64> {
        let delta = state.delta.wrapping_add(read_int(r)?);
        let v = state.v.wrapping_add(delta as u64);
        *state = IntState { v, delta };
        Ok(v)
    }
}

impl CountCode for f64 {
    const KIND: u8 = 1;
    type State = FloatState;

    fn write<B: ByteBuf>(w: &mut BitWriter<'_, B>, state: &mut FloatState, v: f64) {
        write_float(w, state, v);
    }

    fn read(r: &mut BitReader<'_>, state: &mut FloatState) -> Result<f64> {
        read_float(r, state)
    }
}

fn write_float<B: ByteBuf>(w: &mut BitWriter<'_, B>, state: &mut FloatState, v: f64) {
    let bits = v.to_bits();
    write_value(w, bits, state.bits, &mut state.leading, &mut state.trailing);
    state.bits = bits;
}

fn read_float(r: &mut BitReader<'_>, state: &mut FloatState) -> Result<f64> {
    read_value::<Error>(r, &mut state.bits, &mut state.leading, &mut state.trailing)?;
    Ok(f64::from_bits(state.bits))
}

/// Widths of the `int` code's ranges after their prefixes '10', '110', ... '11111110' (as
/// Prometheus' `putVarbitInt`); eight ones then 64 bits for the rest.
const INT_WIDTHS: [u32; 7] = [3, 6, 9, 12, 18, 25, 56];

fn write_int<B: ByteBuf>(w: &mut BitWriter<'_, B>, dod: i64) {
    if dod == 0 {
        w.bit(false);
        return;
    }
    for (i, &n) in INT_WIDTHS.iter().enumerate() {
        if in_bit_range(dod, n) {
            // i + 1 ones, then a zero.
            let ones = i as u32 + 1;
            w.bits(((1u64 << ones) - 1) << 1, ones + 1);
            w.bits(dod as u64, n);
            return;
        }
    }
    w.bits(0xff, 8);
    w.bits(dod as u64, 64);
}

fn read_int(r: &mut BitReader<'_>) -> Result<i64> {
    let mut ones = 0;
    while ones < 8 && r.bit()? {
        ones += 1;
    }
    Ok(match ones {
        0 => 0,
        8 => r.bits(64)? as i64,
        k => {
            let n = INT_WIDTHS[k - 1];
            signed(r.bits(n)?, n)
        }
    })
}

/// Everything the next sample is coded against.
#[derive(Clone, Debug)]
pub(super) struct Predictor<C: CountCode> {
    /// Samples coded so far.
    pub count: u16,
    pub first_t: i64,
    pub t: i64,
    pub t_delta: i64,
    pub layout: Layout,
    count_state: C::State,
    zero: C::State,
    sum: FloatState,
    positive: Vec<C::State>,
    negative: Vec<C::State>,
}

impl<C: CountCode> Default for Predictor<C> {
    fn default() -> Self {
        Predictor {
            count: 0,
            first_t: 0,
            t: 0,
            t_delta: 0,
            layout: Layout::default(),
            count_state: C::State::default(),
            zero: C::State::default(),
            sum: FloatState::default(),
            positive: Vec::new(),
            negative: Vec::new(),
        }
    }
}

impl<C: CountCode> Predictor<C> {
    /// Writes sample `h` at `t` and advances. `h`'s buckets must match its spans.
    pub fn write<B: ByteBuf>(&mut self, w: &mut BitWriter<'_, B>, t: i64, h: &Histogram<C>) {
        self.write_time(w, t);
        if self.count == 0 {
            let layout = Layout::of(h);
            layout.write(w);
            self.relayout(layout);
        } else if self.layout.matches(h) {
            w.bit(false);
        } else {
            w.bit(true);
            let layout = Layout::of(h);
            layout.write(w);
            self.relayout(layout);
        }
        w.bits(h.hint as u64, 2);
        C::write(w, &mut self.count_state, h.count);
        C::write(w, &mut self.zero, h.zero_count);
        write_float(w, &mut self.sum, h.sum);
        for (state, &v) in self.positive.iter_mut().zip(&h.positive) {
            C::write(w, state, v);
        }
        for (state, &v) in self.negative.iter_mut().zip(&h.negative) {
            C::write(w, state, v);
        }
        self.count += 1;
    }

    /// Reads the next sample, into `out` (its vectors reused).
    pub fn read(&mut self, r: &mut BitReader<'_>, out: &mut Histogram<C>) -> Result<i64> {
        self.read_time(r)?;
        if self.count == 0 || r.bit()? {
            let layout = Layout::read(r)?;
            self.relayout(layout);
        }
        out.hint = ResetHint::from_wire(r.bits(2)?);
        out.schema = self.layout.schema;
        out.zero_threshold = f64::from_bits(self.layout.zero_threshold);
        out.positive_spans.clone_from(&self.layout.positive);
        out.negative_spans.clone_from(&self.layout.negative);
        out.custom_values.clear();
        out.custom_values
            .extend(self.layout.custom.iter().map(|&b| f64::from_bits(b)));
        out.count = C::read(r, &mut self.count_state)?;
        out.zero_count = C::read(r, &mut self.zero)?;
        out.sum = read_float(r, &mut self.sum)?;
        out.positive.clear();
        for state in &mut self.positive {
            out.positive.push(C::read(r, state)?);
        }
        out.negative.clear();
        for state in &mut self.negative {
            out.negative.push(C::read(r, state)?);
        }
        self.count += 1;
        Ok(self.t)
    }

    fn write_time<B: ByteBuf>(&mut self, w: &mut BitWriter<'_, B>, t: i64) {
        match self.count {
            0 => {
                w.varint(t);
                self.first_t = t;
            }
            1 => {
                self.t_delta = t.wrapping_sub(self.t);
                w.varint(self.t_delta);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                crate::chunk::gorilla::write_dod(w, delta.wrapping_sub(self.t_delta));
                self.t_delta = delta;
            }
        }
        self.t = t;
    }

    fn read_time(&mut self, r: &mut BitReader<'_>) -> Result<()> {
        match self.count {
            0 => {
                self.t = r.varint()?;
                self.first_t = self.t;
            }
            1 => {
                self.t_delta = r.varint()?;
                self.t = self.t.wrapping_add(self.t_delta);
            }
            _ => {
                let dod = crate::chunk::gorilla::read_dod::<XorDecodeError>(r)?;
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
            }
        }
        Ok(())
    }

    /// Takes `layout`, carrying each shared bucket's predictor over (`histogram.md`).
    fn relayout(&mut self, layout: Layout) {
        let same_scale = self.count > 0 && self.layout.same_scale(&layout);
        self.positive = carry(
            &self.positive,
            &self.layout.positive,
            &layout.positive,
            same_scale,
        );
        self.negative = carry(
            &self.negative,
            &self.layout.negative,
            &layout.negative,
            same_scale,
        );
        self.layout = layout;
    }
}

/// The predictors of buckets `new` from those of buckets `old` (`states`, one per old bucket):
/// a bucket at an index the old layout had keeps its predictor when `same_scale`.
fn carry<S: Clone + Default>(states: &[S], old: &[Span], new: &[Span], same_scale: bool) -> Vec<S> {
    let n = span_buckets(new) as usize;
    if !same_scale {
        return vec![S::default(); n];
    }
    let mut out = Vec::with_capacity(n);
    let mut old_idx = indexes(old).zip(states).peekable();
    for idx in indexes(new) {
        while old_idx.next_if(|(o, _)| *o < idx).is_some() {}
        match old_idx.peek() {
            Some((o, s)) if *o == idx => out.push((*s).clone()),
            _ => out.push(S::default()),
        }
    }
    out
}
