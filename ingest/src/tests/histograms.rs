//! Native histograms in remote-write 1.0 and 2.0 bodies.

use prost::Message;
use tidemark_proto::{prometheus as v1pb, write_v2 as v2pb};
use tidemark_storage::histogram::{
    CUSTOM_BUCKETS_SCHEMA, HistogramSample, HistogramValue, ResetHint, Span,
};

use super::decode_default;
use crate::testing::{V2Builder, snappy, v1_series};
use crate::{Protocol, histogram::to_wire};

/// Prometheus' integer histogram of 5 observations: 1 in the zero bucket, buckets 1, 2 and 4
/// of schema 0 holding 2, 1 and 1 (deltas 2, -1, 0 in two spans).
fn int_wire(t: i64) -> v1pb::Histogram {
    use v1pb::histogram::{Count, ZeroCount};
    v1pb::Histogram {
        count: Some(Count::CountInt(5)),
        zero_count: Some(ZeroCount::ZeroCountInt(1)),
        sum: 12.5,
        schema: 0,
        zero_threshold: 1e-128,
        positive_spans: vec![
            v1pb::BucketSpan {
                offset: 1,
                length: 2,
            },
            v1pb::BucketSpan {
                offset: 1,
                length: 1,
            },
        ],
        positive_deltas: vec![2, -1, 0],
        reset_hint: v1pb::histogram::ResetHint::No as i32,
        timestamp: t,
        ..Default::default()
    }
}

fn float_wire(t: i64) -> v1pb::Histogram {
    use v1pb::histogram::Count;
    v1pb::Histogram {
        count: Some(Count::CountFloat(2.5)),
        sum: 1.0,
        schema: CUSTOM_BUCKETS_SCHEMA,
        positive_spans: vec![v1pb::BucketSpan {
            offset: 0,
            length: 2,
        }],
        positive_counts: vec![0.5, 2.0],
        custom_values: vec![0.25],
        reset_hint: v1pb::histogram::ResetHint::Gauge as i32,
        timestamp: t,
        ..Default::default()
    }
}

fn v1_request(histograms: Vec<v1pb::Histogram>, samples: &[(i64, f64)]) -> Vec<u8> {
    let mut s = v1_series(&[("__name__", "rpc_seconds"), ("job", "a")], samples);
    s.histograms = histograms;
    snappy(
        &v1pb::WriteRequest {
            timeseries: vec![s],
            metadata: vec![],
        }
        .encode_to_vec(),
    )
}

#[test]
fn integer_deltas_become_absolute_counts() {
    let d = decode_default(
        Protocol::V1,
        &v1_request(vec![int_wire(2000), int_wire(1000)], &[]),
    )
    .unwrap();
    assert!(d.series.is_empty(), "no float samples");
    assert_eq!(d.histograms, 2);
    let [s] = &d.histogram_series[..] else {
        panic!("{:?}", d.histogram_series)
    };
    assert_eq!(
        s.samples.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![1000, 2000]
    );
    let HistogramValue::Int(h) = &s.samples[0].h else {
        panic!("an integer histogram")
    };
    assert_eq!(h.positive, vec![2, 1, 1]);
    assert_eq!(
        h.positive_spans,
        vec![
            Span {
                offset: 1,
                length: 2
            },
            Span {
                offset: 1,
                length: 1
            }
        ]
    );
    assert_eq!(
        (h.count, h.zero_count, h.sum, h.hint),
        (5, 1, 12.5, ResetHint::NotReset)
    );
    // And back to the wire as it came.
    assert_eq!(to_wire(&s.samples[1]), int_wire(2000));
}

#[test]
fn float_and_custom_bucket_histograms_are_kept_as_floats() {
    let d = decode_default(Protocol::V1, &v1_request(vec![float_wire(7)], &[(7, 1.0)])).unwrap();
    assert_eq!((d.samples, d.histograms), (1, 1));
    let s = &d.histogram_series[0].samples[0];
    let HistogramValue::Float(h) = &s.h else {
        panic!("a float histogram")
    };
    assert_eq!(
        (h.positive.clone(), h.custom_values.clone()),
        (vec![0.5, 2.0], vec![0.25])
    );
    assert_eq!(h.hint, ResetHint::Gauge);
    let mut back = float_wire(7);
    back.zero_count = Some(v1pb::histogram::ZeroCount::ZeroCountFloat(0.0));
    assert_eq!(to_wire(s), back);
}

#[test]
fn an_invalid_histogram_is_refused_alone_with_its_reason() {
    let mut negative = int_wire(1);
    negative.positive_deltas = vec![2, -3, 0];
    let mut mismatch = int_wire(2);
    mismatch.count = Some(v1pb::histogram::Count::CountInt(6));
    let mut schema = int_wire(3);
    schema.schema = 9;
    let body = v1_request(vec![negative, mismatch, schema, int_wire(4)], &[(4, 1.0)]);
    let d = decode_default(Protocol::V1, &body).unwrap();
    assert_eq!(
        (d.samples, d.histograms),
        (1, 1),
        "the float and the valid histogram stay"
    );
    assert_eq!(d.histogram_series[0].samples[0].t, 4);
    assert_eq!(d.refused.series, 0);
    assert_eq!(d.refused.histograms, 3);
    let reasons = d.refused.histogram_reasons.join("\n");
    for want in [
        "bucket number 2 has a negative observation count",
        "the Count field is 6",
        "histogram schema 9 is not a valid schema",
    ] {
        assert!(reasons.contains(want), "{want:?} not in {reasons}");
    }
    assert!(
        reasons.contains(r#"__name__="rpc_seconds""#),
        "names the series: {reasons}"
    );
}

#[test]
fn histograms_of_an_invalid_series_are_refused_with_it() {
    let mut s = v1_series(&[("job", "no name")], &[(1, 1.0)]);
    s.histograms = vec![int_wire(1), int_wire(2)];
    let body = snappy(
        &v1pb::WriteRequest {
            timeseries: vec![s],
            metadata: vec![],
        }
        .encode_to_vec(),
    );
    let d = decode_default(Protocol::V1, &body).unwrap();
    assert_eq!((d.refused.series, d.refused.samples), (1, 3));
    assert!(d.histogram_series.is_empty());
}

#[test]
fn bytes_that_are_not_a_histogram_fail_the_request() {
    let mut s = v1_series(&[("__name__", "x")], &[]).encode_to_vec();
    // Field 4 (histograms), length-delimited, holding a truncated varint.
    s.extend([0x22, 0x02, 0x08, 0xff]);
    let mut body = vec![0x0a, s.len() as u8];
    body.extend(s);
    let err = decode_default(Protocol::V1, &snappy(&body)).unwrap_err();
    assert!(err.to_string().contains("histogram"), "{err}");
}

#[test]
fn remote_write_2_histograms_decode_like_1_0() {
    let mut b = V2Builder::new();
    let ts = b.series(&[("__name__", "rpc_seconds"), ("job", "a")], &[]);
    // The 2.0 message has the same fields and numbers as 1.0's.
    ts.histograms = [int_wire(10), float_wire(20)]
        .iter()
        .map(|h| v2pb::Histogram::decode(&h.encode_to_vec()[..]).unwrap())
        .collect();
    let d = decode_default(Protocol::V2, &b.body()).unwrap();
    let got: Vec<&HistogramSample> = d.histogram_series[0].samples.iter().collect();
    assert_eq!(got.len(), 2);
    assert!(matches!(got[0].h, HistogramValue::Int(_)));
    assert!(matches!(got[1].h, HistogramValue::Float(_)));
    assert_eq!(to_wire(got[0]), int_wire(10));
}

#[test]
fn histograms_past_the_sample_limit_fail_the_request_undecoded() {
    let limits = crate::DecodeLimits {
        samples_per_request_max: 5,
        ..crate::DecodeLimits::default()
    };
    // Empty messages are valid histograms (count 0): two bytes each on the wire.
    let body = v1_request(vec![v1pb::Histogram::default(); 6], &[]);
    let err = crate::decode(Protocol::V1, &body, &limits, crate::NameValidation::Utf8).unwrap_err();
    assert!(
        matches!(&err, crate::RemoteWriteError::TooLarge(m) if m.contains("samples_per_request_max")),
        "{err}"
    );
    let body = v1_request(vec![v1pb::Histogram::default(); 5], &[]);
    let d = crate::decode(Protocol::V1, &body, &limits, crate::NameValidation::Utf8).unwrap();
    assert_eq!(d.histograms, 5);
}

#[test]
fn every_invalid_histogram_is_counted_and_a_few_named() {
    let mut bad = int_wire(1);
    bad.schema = 9;
    let d = decode_default(Protocol::V1, &v1_request(vec![bad; 10], &[])).unwrap();
    assert_eq!(d.refused.histograms, 10);
    assert_eq!(d.refused.histogram_reasons.len(), 3);
}
