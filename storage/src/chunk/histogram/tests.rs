use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{HistogramAppender, HistogramIter};
use crate::histogram::{
    CUSTOM_BUCKETS_SCHEMA, FloatHistogram, Histogram, HistogramSample, HistogramValue,
    IntHistogram, ResetHint, Span,
};

fn span(offset: i32, length: u32) -> Span {
    Span { offset, length }
}

fn int_hist(positive_spans: Vec<Span>, positive: Vec<u64>, sum: f64) -> IntHistogram {
    let count = positive.iter().sum();
    Histogram {
        positive_spans,
        positive,
        count,
        sum,
        ..Histogram::default()
    }
}

fn decode_all(bytes: &[u8]) -> Vec<(i64, HistogramValue)> {
    HistogramIter::new(bytes)
        .unwrap()
        .map(|s| s.map(|s| (s.t, s.h)))
        .collect::<crate::Result<_>>()
        .unwrap()
}

fn assert_same(got: &[(i64, HistogramValue)], want: &[(i64, HistogramValue)]) {
    assert_eq!(got.len(), want.len());
    for (i, ((gt, gh), (wt, wh))) in got.iter().zip(want).enumerate() {
        assert_eq!(gt, wt, "timestamp of sample {i}");
        assert!(gh.identical(wh), "sample {i}: got {gh:?}, want {wh:?}");
    }
}

#[test]
fn worked_example_bytes() {
    let mut c = HistogramAppender::<u64>::new();
    c.append(1000, &int_hist(vec![span(1, 1)], vec![2], 3.0))
        .unwrap();
    // Header, t0, the layout (schema, threshold, spans, no custom value), then the bits of
    // chunk/histogram.md's worked example.
    let mut want = vec![0x04, 0x01, 0x00, 0x00, 0x01, 0xd0, 0x0f, 0x00];
    want.extend([0; 8]);
    want.extend([0x01, 0x02, 0x01, 0x00, 0x00]);
    // '00' hint, '10' 010 count, '0' zero count, '11' 00001 001100 + 12 bits of 3.0's xor
    // window, '10' 010 bucket.
    let bits =
        "00".to_owned() + "10010" + "0" + "11" + "00001" + "001100" + "100000000001" + "10010";
    let mut padded = bits.clone();
    while !padded.len().is_multiple_of(8) {
        padded.push('0');
    }
    for byte in padded.as_bytes().chunks(8) {
        want.push(u8::from_str_radix(std::str::from_utf8(byte).unwrap(), 2).unwrap());
    }
    assert_eq!(c.bytes(), &want[..], "bits: {bits}");
    assert_same(
        &decode_all(c.bytes()),
        &[(
            1000,
            HistogramValue::Int(int_hist(vec![span(1, 1)], vec![2], 3.0)),
        )],
    );
}

#[test]
fn a_steady_counter_costs_a_few_bits_per_field() {
    let mut c = HistogramAppender::<u64>::new();
    let spans = vec![span(-2, 4), span(3, 6)];
    let mut want = Vec::new();
    for i in 0..120u64 {
        let buckets: Vec<u64> = (0..10).map(|b| i * (b + 1)).collect();
        let h = int_hist(spans.clone(), buckets, i as f64 * 1.5);
        c.append(1_000 + 15_000 * i as i64, &h).unwrap();
        want.push((1_000 + 15_000 * i as i64, HistogramValue::Int(h)));
    }
    assert_same(&decode_all(c.bytes()), &want);
    // Every field's second difference is 0 from the third sample on: a bit each for time,
    // layout, count, zero count and 10 buckets, 2 for the hint, plus the sum's xor.
    let per_sample = c.bytes().len() as f64 / 120.0;
    assert!(per_sample < 6.0, "{per_sample} bytes per sample");
}

#[test]
fn a_bucket_that_appears_keeps_the_others_predictors() {
    // 20 buckets each growing by 1000 per sample; at sample 10 one bucket appears in the
    // middle. With the predictors carried over, the 20 old buckets stay at one bit each.
    let steady = |i: u64, extra: bool| {
        let (spans, mut buckets) = if extra {
            (vec![span(0, 10), span(0, 11)], vec![0; 21])
        } else {
            (vec![span(0, 10), span(1, 10)], vec![0; 20])
        };
        for (b, v) in buckets.iter_mut().enumerate() {
            *v = 1000 * i + b as u64;
        }
        if extra {
            buckets[10] = 7;
        }
        int_hist(spans, buckets, 0.0)
    };
    let mut c = HistogramAppender::<u64>::new();
    for i in 0..10 {
        c.append(i as i64 * 1000, &steady(i, false)).unwrap();
    }
    let before = c.bytes().len();
    c.append(10_000, &steady(10, true)).unwrap();
    c.append(11_000, &steady(11, true)).unwrap();
    // The change: the layout (~30 bytes); the 20 old buckets shifted right by one index from
    // position 10 on must still code as dod 0 at the sample after.
    let grown = c.bytes().len() - before;
    assert!(
        grown < 48,
        "two samples across a layout change took {grown} bytes"
    );
    let got = decode_all(c.bytes());
    assert_eq!(got.len(), 12);
    assert!(got[11].1.identical(&HistogramValue::Int(steady(11, true))));
}

#[test]
fn float_histograms_round_trip_with_nan_and_stale_sums() {
    let mut c = HistogramAppender::<f64>::new();
    let mut want = Vec::new();
    let samples: Vec<FloatHistogram> = vec![
        Histogram {
            schema: 3,
            zero_threshold: 1e-128,
            zero_count: 0.5,
            count: 4.25,
            sum: 10.0,
            positive_spans: vec![span(5, 2)],
            positive: vec![1.25, 2.5],
            negative_spans: vec![span(-3, 1)],
            negative: vec![0.0],
            hint: ResetHint::Gauge,
            ..Histogram::default()
        },
        Histogram {
            sum: f64::NAN,
            ..Histogram::default()
        },
        Histogram::stale_marker(),
        Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            sum: 1.0,
            positive_spans: vec![span(0, 3)],
            positive: vec![1.0, 1.0, 1.0],
            custom_values: vec![0.1, 0.5],
            ..Histogram::default()
        },
    ];
    for (i, h) in samples.into_iter().enumerate() {
        c.append(i as i64 * 7, &h).unwrap();
        want.push((i as i64 * 7, HistogramValue::Float(h)));
    }
    assert_same(&decode_all(c.bytes()), &want);
    let HistogramValue::Float(stale) = &decode_all(c.bytes())[2].1 else {
        panic!("kind")
    };
    assert!(stale.is_stale());
}

/// Schema, positive and negative spans, custom values.
type TestLayout = (i32, Vec<Span>, Vec<Span>, Vec<f64>);

/// A random histogram on one of a few layouts, so that layouts repeat and change.
fn random_int(rng: &mut StdRng, prev: Option<&IntHistogram>) -> IntHistogram {
    let layouts: [TestLayout; 4] = [
        (0, vec![span(0, 3)], vec![], vec![]),
        (0, vec![span(-1, 2), span(2, 3)], vec![span(0, 1)], vec![]),
        (
            -4,
            vec![span(i32::MIN, 1), span(i32::MAX, 2)],
            vec![],
            vec![],
        ),
        (
            CUSTOM_BUCKETS_SCHEMA,
            vec![span(0, 2), span(1, 1)],
            vec![],
            vec![1.0, 2.0, 4.0],
        ),
    ];
    let keep = prev.is_some() && rng.random_bool(0.8);
    let (schema, pos, neg, custom) = match prev {
        Some(p) if keep => (
            p.schema,
            p.positive_spans.clone(),
            p.negative_spans.clone(),
            p.custom_values.clone(),
        ),
        _ => layouts[rng.random_range(0..layouts.len())].clone(),
    };
    let value = |rng: &mut StdRng, i: usize, prev: Option<&Vec<u64>>| match rng.random_range(0..4) {
        0 => rng.random(),
        _ => prev
            .and_then(|p| p.get(i))
            .copied()
            .unwrap_or(0)
            .wrapping_add(rng.random_range(0..50)),
    };
    let n = |s: &[Span]| s.iter().map(|s| s.length as usize).sum::<usize>();
    let positive = (0..n(&pos))
        .map(|i| value(rng, i, prev.map(|p| &p.positive)))
        .collect();
    let negative = (0..n(&neg))
        .map(|i| value(rng, i, prev.map(|p| &p.negative)))
        .collect();
    Histogram {
        hint: ResetHint::from_wire(rng.random_range(0..4)),
        schema,
        zero_threshold: if rng.random_bool(0.5) {
            0.0
        } else {
            rng.random()
        },
        zero_count: value(rng, 0, None),
        count: rng.random(),
        sum: f64::from_bits(rng.random()),
        positive_spans: pos,
        positive,
        negative_spans: neg,
        negative,
        custom_values: custom,
    }
}

fn random_time(rng: &mut StdRng, t: i64) -> i64 {
    match rng.random_range(0..5) {
        0 => rng.random(),
        _ => t.wrapping_add(rng.random_range(-5..100_000)),
    }
}

#[test]
fn random_sequences_round_trip_and_reopen_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..200 {
        let n = rng.random_range(1..60);
        let mut whole = HistogramAppender::<u64>::new();
        let mut want = Vec::new();
        let (mut t, mut prev) = (0i64, None::<IntHistogram>);
        for _ in 0..n {
            t = random_time(&mut rng, t);
            let h = random_int(&mut rng, prev.as_ref());
            whole.append(t, &h).unwrap();
            want.push((t, HistogramValue::Int(h.clone())));
            prev = Some(h);
        }
        assert_same(&decode_all(whole.bytes()), &want);
        // Reopened at every length, then appended to: the same bytes as written in one go.
        let cut = rng.random_range(0..=n);
        let mut part = HistogramAppender::<u64>::new();
        for (t, h) in &want[..cut] {
            let HistogramValue::Int(h) = h else {
                unreachable!()
            };
            part.append(*t, h).unwrap();
        }
        let mut reopened = HistogramAppender::<u64>::from_bytes(part.bytes()).unwrap();
        for (t, h) in &want[cut..] {
            let HistogramValue::Int(h) = h else {
                unreachable!()
            };
            reopened.append(*t, h).unwrap();
        }
        assert_eq!(reopened.bytes(), whole.bytes());
        assert_eq!(
            (reopened.min_time(), reopened.max_time()),
            (whole.min_time(), whole.max_time())
        );
    }
}

#[test]
fn random_float_sequences_round_trip() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..200 {
        let mut c = HistogramAppender::<f64>::new();
        let mut want = Vec::new();
        let mut t = 0;
        let mut prev: Option<IntHistogram> = None;
        for _ in 0..rng.random_range(1..40) {
            t = random_time(&mut rng, t);
            let int = random_int(&mut rng, prev.as_ref());
            let mut h = int.to_float();
            if rng.random_bool(0.3) {
                h.sum = f64::from_bits(crate::model::STALE_NAN_BITS);
            }
            for b in h.positive.iter_mut() {
                if rng.random_bool(0.2) {
                    *b = f64::from_bits(rng.random());
                }
            }
            c.append(t, &h).unwrap();
            want.push((t, HistogramValue::Float(h)));
            prev = Some(int);
        }
        assert_same(&decode_all(c.bytes()), &want);
    }
}

#[test]
fn corrupt_and_truncated_chunks_are_errors_not_panics() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = HistogramAppender::<u64>::new();
    let mut prev = None;
    for i in 0..30 {
        let h = random_int(&mut rng, prev.as_ref());
        c.append(i * 1000, &h).unwrap();
        prev = Some(h);
    }
    let bytes = c.bytes().to_vec();
    for len in 0..bytes.len() {
        let read =
            HistogramIter::new(&bytes[..len]).map(|it| it.collect::<crate::Result<Vec<_>>>());
        assert!(
            matches!(read, Err(_) | Ok(Err(_))),
            "a chunk cut at {len} bytes read as whole"
        );
        assert!(HistogramAppender::<u64>::from_bytes(&bytes[..len]).is_err());
    }
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..b.len());
            b[i] ^= 1 << rng.random_range(0..8);
        }
        // Whatever it reads, it ends.
        if let Ok(it) = HistogramIter::new(&b) {
            let _ = it.take(100).count();
        }
    }
    assert!(
        HistogramAppender::<f64>::from_bytes(&bytes).is_err(),
        "reopened as the other kind"
    );
    let mut wrong_version = bytes.clone();
    wrong_version[1] = 2;
    assert!(HistogramIter::new(&wrong_version).is_err());
}

#[test]
fn buckets_that_do_not_match_their_spans_are_refused_and_leave_the_chunk_alone() {
    let mut c = HistogramAppender::<u64>::new();
    c.append(1, &int_hist(vec![span(0, 2)], vec![1, 1], 0.0))
        .unwrap();
    let before = c.bytes().to_vec();
    assert!(
        c.append(2, &int_hist(vec![span(0, 3)], vec![1, 1], 0.0))
            .is_err()
    );
    assert_eq!(c.bytes(), &before[..]);
    assert_eq!(c.len(), 1);
}

#[test]
fn seek_finds_the_first_sample_at_or_after() {
    let mut c = HistogramAppender::<u64>::new();
    for t in [10, 20, 30] {
        c.append(t, &int_hist(vec![span(0, 1)], vec![t as u64], 0.0))
            .unwrap();
    }
    let mut it = HistogramIter::new(c.bytes()).unwrap();
    assert_eq!(it.seek(15).unwrap().map(|s| s.t), Some(20));
    assert_eq!(
        it.seek(15).unwrap().map(|s| s.t),
        Some(30),
        "seek does not move backwards"
    );
    assert!(it.seek(31).unwrap().is_none());
    assert_eq!(crate::chunk::sample_count(c.bytes()).unwrap(), 3);
    let mut floats = Vec::new();
    assert!(crate::chunk::decode_range(c.bytes(), 0, 100, &mut floats).is_err());
}

#[test]
fn layouts_are_bounded_per_chunk_and_writers_cut_before_the_bound() {
    use crate::histogram::SPANS_MAX;
    // Zero-length spans: the largest layout without a bucket, 8 KiB decoded per sample.
    let wide = IntHistogram {
        positive_spans: vec![span(0, 0); SPANS_MAX],
        ..IntHistogram::default()
    };
    assert_eq!(wide.validate(), Ok(()));
    let samples: Vec<HistogramSample> = (0..2100)
        .map(|t| HistogramSample {
            t,
            h: HistogramValue::Int(wide.clone()),
        })
        .collect();
    let chunks = super::encode_chunks(&samples, usize::MAX);
    assert_eq!(chunks.len(), 2, "2048 samples of 8 KiB layouts fill 16 MiB");
    let mut total = 0;
    for c in &chunks {
        let read: Vec<_> = HistogramIter::new(c.bytes())
            .unwrap()
            .collect::<crate::Result<_>>()
            .unwrap();
        total += read.len();
    }
    assert_eq!(total, 2100);
    let mut too_wide = wide.clone();
    too_wide.positive_spans.push(span(0, 0));
    assert!(too_wide.validate().is_err());
    assert!(
        HistogramAppender::<u64>::new().append(0, &too_wide).is_ok(),
        "the codec takes what validation refuses, one sample at a time"
    );
}
