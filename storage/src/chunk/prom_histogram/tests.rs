use super::*;
use crate::histogram::{FloatHistogram, IntHistogram};
use crate::model::STALE_NAN_BITS;
use rand::{Rng, SeedableRng};

fn spans(s: &[(i32, u32)]) -> Vec<Span> {
    s.iter()
        .map(|&(offset, length)| Span { offset, length })
        .collect()
}

/// `2^k` for a normal exponent `k`, exactly.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// Schema 3, Prometheus' default zero threshold, positive buckets -2, -1, 1, 2, 3 and a
/// negative bucket 0; every count grows with `k`.
fn int_h(k: u64) -> IntHistogram {
    let positive = vec![k, 2 * k, 3 * k + 1, k, 5];
    let negative = vec![k / 2];
    IntHistogram {
        hint: ResetHint::Unknown,
        schema: 3,
        zero_threshold: pow2(-128),
        zero_count: k,
        count: k + positive.iter().sum::<u64>() + negative.iter().sum::<u64>(),
        sum: k as f64 * 1.25 - 3.0,
        positive_spans: spans(&[(-2, 2), (1, 3)]),
        positive,
        negative_spans: spans(&[(0, 1)]),
        negative,
        custom_values: vec![],
    }
}

/// [`int_h`]'s layout with fractional counts.
fn float_h(k: f64) -> FloatHistogram {
    let positive = vec![k * 0.5, k * 1.7, k * 3.1 + 0.25, k, 5.5];
    let negative = vec![k / 3.0];
    FloatHistogram {
        hint: ResetHint::Unknown,
        schema: 3,
        zero_threshold: pow2(-128),
        zero_count: k * 0.1,
        count: k * 0.1 + positive.iter().sum::<f64>() + negative.iter().sum::<f64>(),
        sum: k * 7.3,
        positive_spans: spans(&[(-2, 2), (1, 3)]),
        positive,
        negative_spans: spans(&[(0, 1)]),
        negative,
        custom_values: vec![],
    }
}

fn int_s(t: i64, h: IntHistogram) -> HistogramSample {
    HistogramSample {
        t,
        h: HistogramValue::Int(h),
    }
}

fn float_s(t: i64, h: FloatHistogram) -> HistogramSample {
    HistogramSample {
        t,
        h: HistogramValue::Float(h),
    }
}

fn with_hint<C: Count>(mut h: Histogram<C>, hint: ResetHint) -> Histogram<C> {
    h.hint = hint;
    h
}

fn unhinted(v: &HistogramValue) -> HistogramValue {
    match v {
        HistogramValue::Int(h) => HistogramValue::Int(with_hint(h.clone(), ResetHint::Unknown)),
        HistogramValue::Float(h) => HistogramValue::Float(with_hint(h.clone(), ResetHint::Unknown)),
    }
}

/// Encodes, decodes every chunk, and checks the samples come back bit for bit (hints apart:
/// the callers check those) with each chunk's time range and encoding right.
fn round_trip(samples: &[HistogramSample]) -> (Vec<PromHistogramChunk>, Vec<HistogramSample>) {
    for s in samples {
        s.h.validate().unwrap();
    }
    let chunks = encode(samples);
    let mut back = Vec::new();
    for c in &chunks {
        let d = decode(c.encoding, &c.data).unwrap();
        assert!(!d.is_empty() && d.len() <= PROM_HISTOGRAM_SAMPLES_MAX);
        assert_eq!(
            usize::from(u16::from_be_bytes([c.data[0], c.data[1]])),
            d.len()
        );
        assert_eq!((c.min_time_ms, c.max_time_ms), (d[0].t, d[d.len() - 1].t));
        for s in &d {
            let want = match s.h {
                HistogramValue::Int(_) => ENCODING_HISTOGRAM,
                HistogramValue::Float(_) => ENCODING_FLOAT_HISTOGRAM,
            };
            assert_eq!(c.encoding, want);
        }
        back.extend(d);
    }
    assert_eq!(back.len(), samples.len());
    for (i, (want, got)) in samples.iter().zip(&back).enumerate() {
        assert_eq!(want.t, got.t, "sample {i}");
        assert!(
            unhinted(&want.h).identical(&unhinted(&got.h)),
            "sample {i}: {want:?} came back as {got:?}"
        );
    }
    (chunks, back)
}

fn headers(chunks: &[PromHistogramChunk]) -> Vec<u8> {
    chunks.iter().map(|c| c.data[2]).collect()
}

fn lens(chunks: &[PromHistogramChunk]) -> Vec<u16> {
    chunks
        .iter()
        .map(|c| u16::from_be_bytes([c.data[0], c.data[1]]))
        .collect()
}

fn hints(samples: &[HistogramSample]) -> Vec<ResetHint> {
    samples
        .iter()
        .map(|s| match &s.h {
            HistogramValue::Int(h) => h.hint,
            HistogramValue::Float(h) => h.hint,
        })
        .collect()
}

use ResetHint::{Gauge, NotReset, Reset, Unknown};

#[test]
fn integer_exponential_histograms_round_trip() {
    let samples: Vec<_> = (0..30)
        .map(|i| int_s(1_000 + 15_000 * i + (i * i % 7), int_h(3 * i as u64)))
        .collect();
    let (chunks, back) = round_trip(&samples);
    assert_eq!(headers(&chunks), [HEADER_UNKNOWN]);
    // Byte 3 is the zero threshold: 2^-128 as one byte.
    assert_eq!(chunks[0].data[3], 116);
    let mut want = vec![NotReset; 30];
    want[0] = Unknown;
    assert_eq!(hints(&back), want);
}

#[test]
fn float_exponential_histograms_round_trip() {
    let samples: Vec<_> = (0..40)
        .map(|i| float_s(-60_000 + 10_000 * i, float_h(i as f64 * 1.37)))
        .collect();
    let (chunks, back) = round_trip(&samples);
    assert_eq!(headers(&chunks), [HEADER_UNKNOWN]);
    assert_eq!(hints(&back)[1..], [NotReset; 39]);
}

#[test]
fn timestamps_of_every_varbit_width_round_trip() {
    let ts = [
        i64::MIN + 1,
        -5_000_000_000_000,
        -3,
        0,
        1,
        3,
        8,
        40,
        300,
        3_000,
        200_000,
        30_000_000,
        1 << 50,
        1 << 62,
        i64::MAX,
    ];
    let ints: Vec<_> = ts.iter().map(|&t| int_s(t, int_h(2))).collect();
    let (chunks, _) = round_trip(&ints);
    assert_eq!(chunks.len(), 1);
    let floats: Vec<_> = ts.iter().map(|&t| float_s(t, float_h(2.0))).collect();
    round_trip(&floats);
}

#[test]
fn zero_thresholds_round_trip() {
    // (threshold, the layout's first byte)
    let cases = [
        (0.0, 0),
        (pow2(-128), 116),
        (pow2(-243), 1),
        (pow2(10), 254),
        (pow2(-244), 255),
        (pow2(11), 255),
        (0.001, 255),
        (3.0, 255),
    ];
    let ints: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, &(z, _))| {
            int_s(
                i as i64,
                IntHistogram {
                    zero_threshold: z,
                    ..int_h(4)
                },
            )
        })
        .collect();
    let floats: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, &(z, _))| {
            float_s(
                i as i64,
                FloatHistogram {
                    zero_threshold: z,
                    ..float_h(4.0)
                },
            )
        })
        .collect();
    for samples in [ints, floats] {
        let (chunks, back) = round_trip(&samples);
        let first_bytes: Vec<u8> = chunks.iter().map(|c| c.data[3]).collect();
        let want: Vec<u8> = cases.iter().map(|c| c.1).collect();
        assert_eq!(first_bytes, want);
        // A new threshold: Prometheus does not look for a reset.
        assert!(headers(&chunks).iter().all(|&h| h == HEADER_UNKNOWN));
        assert!(hints(&back).iter().all(|&h| h == Unknown));
    }
}

fn nhcb(bounds: &[f64], k: u64) -> IntHistogram {
    let positive: Vec<u64> = (0..=bounds.len() as u64).map(|i| i * k + 1).collect();
    IntHistogram {
        hint: ResetHint::Unknown,
        schema: CUSTOM_BUCKETS_SCHEMA,
        zero_threshold: 0.0,
        zero_count: 0,
        count: positive.iter().sum(),
        sum: k as f64 * 0.75,
        positive_spans: spans(&[(0, positive.len() as u32)]),
        positive,
        negative_spans: vec![],
        negative: vec![],
        custom_values: bounds.to_vec(),
    }
}

#[test]
fn custom_buckets_round_trip() {
    let compact = [0.0, 0.001, 0.25, 1.0, 2.5, 10.0, 33_554.43];
    let arbitrary = [-10.0, 1e-9, 0.123_456_7, 33_554.431, 1e6];
    for bounds in [&compact[..], &arbitrary[..]] {
        let ints: Vec<_> = (0..5)
            .map(|i| int_s(i * 1000, nhcb(bounds, i as u64)))
            .collect();
        let floats: Vec<_> = (0..5)
            .map(|i| float_s(i * 1000, nhcb(bounds, i as u64).to_float()))
            .collect();
        for samples in [ints, floats] {
            let (chunks, _) = round_trip(&samples);
            assert_eq!(lens(&chunks), [5]);
        }
    }
    // New bounds: Prometheus calls that a counter reset.
    let samples = [
        int_s(0, nhcb(&compact, 1)),
        int_s(1, nhcb(&compact, 2)),
        int_s(2, nhcb(&[0.5, 1.0], 3)),
    ];
    let (chunks, back) = round_trip(&samples);
    assert_eq!(headers(&chunks), [HEADER_UNKNOWN, HEADER_RESET]);
    assert_eq!(hints(&back), [Unknown, NotReset, Reset]);
}

/// Bits each custom bound takes: a varbit uint of thousandths + 1, or `0` + 64 bits.
#[test]
fn custom_bound_sizes() {
    for (bound, bits) in [
        (0.0, 5),
        (0.001, 5),
        (0.5, 13),
        (33_554.43, 32),
        (33_554.431, 65),
        (33_554.44, 65),
        (-1.0, 65),
        (0.1, 13),
        (0.000_5, 65),
        (f64::NAN, 65),
    ] {
        let (mut buf, mut free) = (Vec::new(), 0u8);
        put_custom_bound(
            &mut BitWriter {
                buf: &mut buf,
                free: &mut free,
            },
            bound,
        );
        assert_eq!(buf.len() * 8 - usize::from(free), bits, "bound {bound}");
        let back = read_custom_bound(&mut BitReader::new(&buf)).unwrap();
        assert_eq!(back.to_bits(), bound.to_bits(), "bound {bound}");
    }
}

#[test]
fn layout_changes_start_new_chunks() {
    // A new positive bucket (5) with nothing going down: no reset, as Prometheus' appender
    // sees it (it would recode its chunk instead).
    let mut wider = int_h(3);
    wider.positive_spans = spans(&[(-2, 2), (1, 4)]);
    wider.positive.push(2);
    wider.count += 2;
    // A new negative bucket.
    let mut wider_neg = wider.clone();
    wider_neg.negative_spans = spans(&[(0, 1), (3, 1)]);
    wider_neg.negative.push(1);
    wider_neg.count += 1;
    // Another schema.
    let other_schema = IntHistogram {
        schema: 2,
        ..wider_neg.clone()
    };
    let samples = [
        int_s(10, int_h(1)),
        int_s(20, int_h(2)),
        int_s(30, wider),
        int_s(40, wider_neg),
        int_s(50, other_schema.clone()),
        int_s(60, other_schema),
    ];
    let (chunks, back) = round_trip(&samples);
    assert_eq!(lens(&chunks), [2, 1, 1, 2]);
    assert_eq!(
        headers(&chunks),
        [
            HEADER_UNKNOWN,
            HEADER_NOT_RESET,
            HEADER_NOT_RESET,
            HEADER_UNKNOWN
        ]
    );
    assert_eq!(
        hints(&back),
        [Unknown, NotReset, NotReset, NotReset, Unknown, NotReset]
    );

    // An unused (zero) bucket that disappears is no reset either.
    let mut zeros = int_h(0);
    zeros.positive = vec![0, 0, 1, 0, 5];
    let mut dropped = zeros.clone();
    dropped.positive_spans = spans(&[(-1, 1), (1, 3)]);
    dropped.positive = vec![0, 1, 0, 5];
    let (chunks, _) = round_trip(&[int_s(0, zeros), int_s(1, dropped)]);
    assert_eq!(headers(&chunks), [HEADER_UNKNOWN, HEADER_NOT_RESET]);
}

#[test]
fn counter_resets_start_new_chunks() {
    // A bucket goes down while the count does not.
    let mut bucket_down = int_h(5);
    bucket_down.positive[0] -= 1;
    bucket_down.zero_count += 1;
    // A bucket in use disappears (into the zero bucket: no other count goes down).
    let mut bucket_gone = int_h(7);
    bucket_gone.positive_spans = spans(&[(-1, 1), (1, 3)]);
    let gone = bucket_gone.positive.remove(0);
    bucket_gone.zero_count += gone;
    let samples = [
        int_s(0, int_h(4)),
        int_s(1, int_h(5)),
        int_s(2, with_hint(int_h(6), Reset)),
        int_s(3, int_h(7)),
        int_s(4, int_h(1)),
        int_s(5, int_h(5)),
        int_s(6, bucket_down),
        int_s(7, int_h(6)),
        int_s(8, bucket_gone),
    ];
    let (chunks, back) = round_trip(&samples);
    assert_eq!(lens(&chunks), [2, 2, 2, 2, 1]);
    assert_eq!(
        headers(&chunks),
        [
            HEADER_UNKNOWN,
            HEADER_RESET,
            HEADER_RESET,
            HEADER_RESET,
            HEADER_RESET
        ]
    );
    assert_eq!(
        hints(&back),
        [
            Unknown, NotReset, Reset, NotReset, Reset, NotReset, Reset, NotReset, Reset
        ]
    );

    let floats = [
        float_s(0, float_h(3.0)),
        float_s(1, float_h(2.0)),
        float_s(2, float_h(2.5)),
        float_s(3, with_hint(float_h(2.6), Reset)),
    ];
    let (chunks, back) = round_trip(&floats);
    assert_eq!(
        headers(&chunks),
        [HEADER_UNKNOWN, HEADER_RESET, HEADER_RESET]
    );
    assert_eq!(hints(&back), [Unknown, Reset, NotReset, Reset]);
}

#[test]
fn gauge_histograms() {
    let g = |k| with_hint(int_h(k), Gauge);
    let mut g_wider = g(1);
    g_wider.negative_spans = spans(&[(0, 2)]);
    g_wider.negative.push(4);
    g_wider.count += 4;
    let samples = [
        int_s(0, g(5)),
        int_s(1, g(2)),
        int_s(2, g(7)),
        int_s(3, g_wider),
        int_s(4, int_h(3)),
        int_s(5, int_h(4)),
        int_s(6, g(0)),
    ];
    let (chunks, back) = round_trip(&samples);
    assert_eq!(lens(&chunks), [3, 1, 2, 1]);
    assert_eq!(
        headers(&chunks),
        [HEADER_GAUGE, HEADER_GAUGE, HEADER_UNKNOWN, HEADER_GAUGE]
    );
    assert_eq!(
        hints(&back),
        [Gauge, Gauge, Gauge, Gauge, Unknown, NotReset, Gauge]
    );

    let floats: Vec<_> = [3.0, 1.0, 2.0, 0.5]
        .iter()
        .enumerate()
        .map(|(i, &k)| float_s(i as i64, with_hint(float_h(k), Gauge)))
        .collect();
    let (chunks, back) = round_trip(&floats);
    assert_eq!(headers(&chunks), [HEADER_GAUGE]);
    assert_eq!(hints(&back), [Gauge; 4]);
}

#[test]
fn stale_markers_round_trip() {
    let stale = IntHistogram::stale_marker;
    let samples = [
        int_s(0, int_h(1)),
        int_s(10, int_h(2)),
        int_s(20, stale()),
        int_s(35, stale()),
        int_s(40, int_h(3)),
        int_s(50, stale()),
    ];
    let (chunks, back) = round_trip(&samples);
    // After a stale marker only stale markers join a chunk.
    assert_eq!(lens(&chunks), [4, 2]);
    assert_eq!(headers(&chunks), [HEADER_UNKNOWN, HEADER_UNKNOWN]);
    for i in [2, 3, 5] {
        let HistogramValue::Int(h) = &back[i].h else {
            panic!("not an integer histogram")
        };
        assert_eq!(h.sum.to_bits(), STALE_NAN_BITS);
        assert!(h.identical(&stale()));
    }

    // A stale marker first, and in a gauge chunk.
    let samples = [
        int_s(0, stale()),
        int_s(1, with_hint(int_h(1), Gauge)),
        int_s(2, stale()),
        int_s(3, int_h(2)),
    ];
    let (chunks, back) = round_trip(&samples);
    assert_eq!(lens(&chunks), [1, 2, 1]);
    assert_eq!(
        headers(&chunks),
        [HEADER_UNKNOWN, HEADER_GAUGE, HEADER_UNKNOWN]
    );
    assert_eq!(hints(&back), [Unknown, Gauge, Unknown, Unknown]);

    let fstale = FloatHistogram::stale_marker;
    let floats = [
        float_s(0, fstale()),
        float_s(5, fstale()),
        float_s(10, float_h(1.0)),
        float_s(20, float_h(1.5)),
        float_s(30, fstale()),
        float_s(40, fstale()),
        float_s(50, float_h(2.0)),
    ];
    let (chunks, _) = round_trip(&floats);
    assert_eq!(lens(&chunks), [2, 4, 1]);
}

#[test]
fn chunks_are_cut_at_the_sample_maximum() {
    let samples: Vec<_> = (0..250)
        .map(|i| int_s(i * 15_000, int_h(i as u64)))
        .collect();
    let (chunks, back) = round_trip(&samples);
    assert_eq!(lens(&chunks), [120, 120, 10]);
    assert_eq!(
        headers(&chunks),
        [HEADER_UNKNOWN, HEADER_NOT_RESET, HEADER_NOT_RESET]
    );
    assert_eq!(
        (chunks[1].min_time_ms, chunks[1].max_time_ms),
        (120 * 15_000, 239 * 15_000)
    );
    let h = hints(&back);
    assert_eq!(
        (h[0], h[119], h[120], h[240]),
        (Unknown, NotReset, NotReset, NotReset)
    );

    let floats: Vec<_> = (0..121).map(|i| float_s(i, float_h(i as f64))).collect();
    let (chunks, _) = round_trip(&floats);
    assert_eq!(lens(&chunks), [120, 1]);
}

#[test]
fn empty_input_and_empty_chunks() {
    assert!(encode(&[]).is_empty());
    for enc in [ENCODING_HISTOGRAM, ENCODING_FLOAT_HISTOGRAM] {
        assert_eq!(decode(enc, &[0, 0, 0]).unwrap(), []);
        assert!(decode(enc, &[]).is_err());
        assert!(decode(enc, &[0, 0]).is_err());
    }
    assert!(decode(1, &[0, 0, 0]).is_err());
}

#[test]
fn a_kind_change_starts_a_new_chunk() {
    let samples = [
        int_s(0, int_h(1)),
        int_s(1, int_h(2)),
        float_s(2, float_h(3.0)),
        float_s(3, float_h(4.0)),
        int_s(4, int_h(5)),
    ];
    let (chunks, _) = round_trip(&samples);
    let encodings: Vec<i32> = chunks.iter().map(|c| c.encoding).collect();
    assert_eq!(
        encodings,
        [
            ENCODING_HISTOGRAM,
            ENCODING_FLOAT_HISTOGRAM,
            ENCODING_HISTOGRAM
        ]
    );
    assert_eq!(headers(&chunks), [HEADER_UNKNOWN; 3]);
}

/// Widths of varbit numbers at each bucket's edges (prefix + value bits), as `varbit.go`
/// chooses them, and their round trip.
mod bytes;
