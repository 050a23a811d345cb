//! Decoding and validation of whole remote-write bodies.

use prost::Message;
use tidemark_proto::{prometheus as v1pb, write_v2 as v2pb};
use tidemark_storage::{Labels, Sample, SeriesKey};

use super::*;
use crate::testing::{V2Builder, snappy, v1_body, v1_series};

mod histograms;

fn decode_default(protocol: Protocol, body: &[u8]) -> Result<DecodedWrite, RemoteWriteError> {
    decode(
        protocol,
        body,
        &DecodeLimits::default(),
        NameValidation::Utf8,
    )
}

fn invalid(r: Result<DecodedWrite, RemoteWriteError>) -> String {
    match r {
        Err(RemoteWriteError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn good_v1() {
    let mut up = v1_series(
        &[("__name__", "up"), ("job", "a")],
        &[(2000, 1.0), (1000, 0.0)],
    );
    up.histograms.push(v1pb::Histogram::default());
    up.exemplars.push(v1pb::Exemplar::default());
    let req = v1pb::WriteRequest {
        timeseries: vec![
            up,
            v1_series(&[("__name__", "x"), ("empty", "")], &[(5, f64::NAN)]),
        ],
        metadata: vec![v1pb::MetricMetadata {
            r#type: v1pb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "up".into(),
            help: "help".into(),
            unit: "".into(),
        }],
    };
    let d = decode_default(Protocol::V1, &snappy(&req.encode_to_vec())).unwrap();
    assert_eq!(d.series.len(), 2);
    assert_eq!(
        d.series[0].key.labels(),
        Labels::from_pairs(&[("__name__", "up"), ("job", "a")])
    );
    assert_eq!(
        d.series[0].samples,
        vec![Sample::new(1000, 0.0), Sample::new(2000, 1.0)]
    );
    assert_eq!(
        d.series[1].key.labels(),
        Labels::from_pairs(&[("__name__", "x")])
    );
    assert!(d.series[1].samples[0].v.is_nan());
    assert_eq!((d.samples, d.histograms, d.exemplars), (3, 1, 1));
    assert_eq!(
        d.metadata,
        vec![(
            "up".into(),
            MetricMetadata {
                metric_type: MetricType::Counter,
                help: "help".into(),
                unit: "".into()
            }
        )]
    );
}

#[test]
fn good_v2() {
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up"), ("job", "a")], &[(3, 1.0), (1, 2.0)]);
    let help = b.sym("The up metric");
    let unit = b.sym("seconds");
    let ts = b.series(&[("__name__", "up"), ("job", "b")], &[(7, 1.0)]);
    ts.metadata = Some(v2pb::Metadata {
        r#type: v2pb::metadata::MetricType::Gauge as i32,
        help_ref: help,
        unit_ref: unit,
    });
    ts.exemplars.push(v2pb::Exemplar {
        labels_refs: vec![],
        value: 1.0,
        timestamp: 7,
    });
    let h = b.series(&[("__name__", "hist")], &[]);
    h.histograms = vec![v2pb::Histogram::default(), v2pb::Histogram::default()];
    let d = decode_default(Protocol::V2, &b.body()).unwrap();
    assert_eq!(
        d.series.len(),
        2,
        "the histogram-only series carries no float samples"
    );
    assert_eq!(
        d.series[0].samples,
        vec![Sample::new(1, 2.0), Sample::new(3, 1.0)]
    );
    assert_eq!(
        d.series[1].key.labels(),
        Labels::from_pairs(&[("__name__", "up"), ("job", "b")])
    );
    assert_eq!((d.samples, d.histograms, d.exemplars), (3, 2, 1));
    assert_eq!(
        d.metadata,
        vec![(
            "up".into(),
            MetricMetadata {
                metric_type: MetricType::Gauge,
                help: "The up metric".into(),
                unit: "seconds".into()
            }
        )]
    );
}

#[test]
fn v1_body_as_v2_is_empty_by_the_reserved_fields() {
    let body = v1_body(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)])]);
    let d = decode_default(Protocol::V2, &body).unwrap();
    assert!(d.series.is_empty());
}

#[test]
fn bad_snappy_and_bad_protobuf() {
    assert!(
        invalid(decode_default(
            Protocol::V1,
            b"\xff\xff\xff\xff\xff\xff not snappy"
        ))
        .contains("snappy")
    );
    let garbage = snappy(b"\x0a\xff\xff\xff\xff\x0f garbage");
    assert!(invalid(decode_default(Protocol::V1, &garbage)).contains("WriteRequest"));
    assert!(invalid(decode_default(Protocol::V2, &garbage)).contains("Request"));
}

#[test]
fn v2_bad_symbol_refs() {
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0)])
        .labels_refs
        .push(99);
    assert!(invalid(decode_default(Protocol::V2, &b.body())).contains("odd number"));
    b.req.timeseries[0].labels_refs.push(100);
    let m = invalid(decode_default(Protocol::V2, &b.body()));
    assert!(
        m.contains("reference 99") && m.contains("symbols table"),
        "{m}"
    );
    let mut b = V2Builder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0)]).metadata = Some(v2pb::Metadata {
        r#type: 1,
        help_ref: 42,
        unit_ref: 0,
    });
    assert!(
        invalid(decode_default(Protocol::V2, &b.body())).contains("metadata help reference 42")
    );
}

#[test]
fn unsorted_labels_are_written_and_invalid_series_set_aside() {
    let body = v1_body(vec![
        v1_series(&[("job", "a"), ("__name__", "up")], &[(1, 1.0)]),
        v1_series(&[("__name__", "up"), ("a", "1"), ("a", "2")], &[(1, 1.0)]),
        v1_series(&[("__name__", "up"), ("job", "a")], &[(2, 2.0)]),
    ]);
    let d = decode_default(Protocol::V1, &body).unwrap();
    // The unsorted series and its sorted twin are one series.
    assert_eq!(d.series.len(), 1);
    assert_eq!(
        d.series[0].key,
        SeriesKey::from(&Labels::from_pairs(&[("__name__", "up"), ("job", "a")]))
    );
    assert_eq!(d.series[0].samples.len(), 2);
    assert_eq!((d.samples, d.refused.series, d.refused.samples), (2, 1, 1));
    assert!(d.refused.reasons[0].contains("duplicate label name \"a\""));
    let mut b = V2Builder::new();
    b.series(&[("job", "a"), ("__name__", "up")], &[(1, 1.0)]);
    b.series(&[("", "1"), ("__name__", "up")], &[(1, 1.0)]);
    let d = decode_default(Protocol::V2, &b.body()).unwrap();
    assert_eq!((d.series.len(), d.refused.series), (1, 1));
    assert!(d.refused.reasons[0].contains("empty label name"));
}

#[test]
fn decoded_size_limit_is_too_large() {
    let body = v1_body(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)]); 100]);
    let limits = DecodeLimits {
        write_decoded_bytes_max: 64,
        ..DecodeLimits::default()
    };
    match decode(Protocol::V1, &body, &limits, NameValidation::Utf8) {
        Err(RemoteWriteError::TooLarge(m)) => assert!(m.contains("write_decoded_bytes_max")),
        other => panic!("{other:?}"),
    }
}

/// A small 2.0 body naming one long symbol in many series: refused by its expansion (413)
/// before the labels are copied, though its compressed and decoded sizes are small.
#[test]
fn a_v2_symbol_bomb_is_too_large() {
    let long = "v".repeat(4000);
    let mut b = V2Builder::new();
    for i in 0..20_000 {
        b.series(
            &[("__name__", "bomb"), ("i", &i.to_string()), ("pad", &long)],
            &[(1, 1.0)],
        );
    }
    let body = b.body();
    let limits = DecodeLimits::default();
    let expanded = 20_000 * 4000;
    let decoded = snap::raw::decompress_len(&body).unwrap();
    assert!(decoded < expanded / 20, "{decoded} bytes decoded");
    let limits = DecodeLimits {
        write_decoded_bytes_max: expanded / 2,
        ..limits
    };
    match decode(Protocol::V2, &body, &limits, NameValidation::Utf8) {
        Err(RemoteWriteError::TooLarge(m)) => {
            assert!(
                m.contains("symbols table") && m.contains("write_decoded_bytes_max"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Within the bound, the same request is accepted whole.
    let roomy = DecodeLimits {
        write_decoded_bytes_max: 2 * expanded,
        ..DecodeLimits::default()
    };
    let d = decode(Protocol::V2, &body, &roomy, NameValidation::Utf8).unwrap();
    assert_eq!(d.series.len(), 20_000);
}

#[test]
fn request_limits_are_too_large() {
    let body = v1_body(vec![v1_series(&[("__name__", "up")], &[(1, 1.0)]); 3]);
    let too_large =
        |limits: DecodeLimits| match decode(Protocol::V1, &body, &limits, NameValidation::Utf8) {
            Err(RemoteWriteError::TooLarge(m)) => m,
            other => panic!("{other:?}"),
        };
    let m = too_large(DecodeLimits {
        series_per_request_max: 2,
        ..DecodeLimits::default()
    });
    assert!(m.contains("series_per_request_max"), "{m}");
    let m = too_large(DecodeLimits {
        samples_per_request_max: 2,
        ..DecodeLimits::default()
    });
    assert!(m.contains("samples_per_request_max"), "{m}");
}

/// The in-place 1.0 reader against prost's generated decoder on every prefix of one body:
/// both accept or both refuse, and accepted prefixes carry the same samples and metadata.
#[test]
fn v1_reader_agrees_with_prost_on_every_prefix() {
    let stale = f64::from_bits(tidemark_storage::model::STALE_NAN_BITS);
    let req = v1pb::WriteRequest {
        timeseries: vec![
            v1_series(
                &[("__name__", "a"), ("job", "x")],
                &[(-5, -0.0), (i64::MAX, f64::INFINITY)],
            ),
            v1_series(
                &[("__name__", "b"), ("empty", ""), ("z", "é")],
                &[(i64::MIN, stale), (0, 0.0)],
            ),
            v1_series(&[("__name__", "a"), ("job", "x")], &[(7, 1.5)]),
        ],
        metadata: vec![v1pb::MetricMetadata {
            r#type: v1pb::metric_metadata::MetricType::Gauge as i32,
            metric_family_name: "b".into(),
            help: "h".into(),
            unit: "u".into(),
        }],
    };
    let mut raw = req.encode_to_vec();
    // An unknown varint field (number 4) and an unknown length-delimited one (number 9).
    raw.extend_from_slice(&[0x20, 0x05, 0x4a, 0x01, 0x00]);
    let flatten = |series: Vec<(Vec<u8>, Vec<Sample>)>| {
        let mut v: Vec<(Vec<u8>, i64, u64)> = series
            .into_iter()
            .flat_map(|(k, s)| s.into_iter().map(move |x| (k.clone(), x.t, x.v.to_bits())))
            .collect();
        v.sort();
        v
    };
    let mut accepted = 0;
    for cut in 0..=raw.len() {
        let prefix = &raw[..cut];
        let ours = decode_default(Protocol::V1, &snappy(prefix));
        match (ours, v1pb::WriteRequest::decode(prefix)) {
            (Ok(d), Ok(r)) => {
                accepted += 1;
                let expected = r
                    .timeseries
                    .iter()
                    .map(|ts| {
                        let labels = Labels::new(
                            ts.labels
                                .iter()
                                .map(|l| tidemark_storage::Label::new(&l.name, &l.value))
                                .collect(),
                        );
                        let samples = ts
                            .samples
                            .iter()
                            .map(|s| Sample::new(s.timestamp, s.value))
                            .collect();
                        (labels.canonical_bytes(), samples)
                    })
                    .collect();
                let got = d
                    .series
                    .into_iter()
                    .map(|s| (s.key.canonical().to_vec(), s.samples))
                    .collect();
                assert_eq!(flatten(got), flatten(expected), "prefix of {cut} bytes");
                assert_eq!(d.metadata.len(), r.metadata.len(), "prefix of {cut} bytes");
            }
            (Err(RemoteWriteError::Invalid(_)), Err(_)) => {}
            (ours, theirs) => panic!("prefix of {cut} bytes: ours {ours:?}, prost {theirs:?}"),
        }
    }
    // The empty body, the end of each of the 4 messages and of the 2 unknown fields.
    assert_eq!(accepted, 7);
}

/// The in-place 2.0 reader against the 1.0 reader on the same series: generated requests
/// (repeated series, invalid label names, unsorted samples, series without samples) give the
/// same series, samples and refusals either way.
#[test]
fn v2_reads_what_v1_reads() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let names = ["__name__", "job", "instance", "le", "bad-name", "mode"];
    let values = ["up", "node_cpu_seconds_total", "a", "b", "0.5", ""];
    for round in 0..200 {
        let mut v2 = V2Builder::new();
        let mut v1 = Vec::new();
        for _ in 0..next(12) {
            let mut labels = vec![("__name__", values[next(2) as usize])];
            for _ in 0..next(4) {
                labels.push((names[next(6) as usize], values[next(6) as usize]));
            }
            let samples: Vec<(i64, f64)> = (0..next(5))
                .map(|_| (next(1_000) as i64 - 10, next(100) as f64 / 4.0))
                .collect();
            v2.series(&labels, &samples);
            v1.push(v1_series(&labels, &samples));
        }
        let from_v1 = decode_default(Protocol::V1, &v1_body(v1));
        let from_v2 = decode_default(Protocol::V2, &v2.body());
        match (from_v1, from_v2) {
            (Ok(a), Ok(b)) => {
                let series = |d: &DecodedWrite| {
                    d.series
                        .iter()
                        .map(|s| (s.key.clone(), s.samples.clone()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(series(&a), series(&b), "round {round}");
                assert_eq!(a.samples, b.samples, "round {round}");
                assert_eq!(a.refused, b.refused, "round {round}");
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "round {round}"),
            (a, b) => panic!("round {round}: 1.0 gave {a:?}, 2.0 gave {b:?}"),
        }
    }
}

/// `labels_refs` sent unpacked (one varint per reference, which protobuf parsers accept) reads
/// like the packed form; a symbol that is not UTF-8 refuses the request.
#[test]
fn v2_unpacked_references_and_symbols_that_are_not_utf8() {
    let request = |symbol: &[u8]| {
        let mut sample = vec![0x09];
        sample.extend_from_slice(&2.5f64.to_bits().to_le_bytes());
        sample.extend_from_slice(&[0x10, 0x07]);
        // labels_refs 1, 2 unpacked, then the sample.
        let mut ts = vec![0x08, 0x01, 0x08, 0x02, 0x12, sample.len() as u8];
        ts.extend_from_slice(&sample);
        let mut req = Vec::new();
        for s in [&b""[..], b"__name__", symbol] {
            req.extend_from_slice(&[0x22, s.len() as u8]);
            req.extend_from_slice(s);
        }
        req.extend_from_slice(&[0x2a, ts.len() as u8]);
        req.extend_from_slice(&ts);
        snappy(&req)
    };
    let d = decode_default(Protocol::V2, &request(b"up")).unwrap();
    assert_eq!(d.series.len(), 1);
    assert_eq!(
        d.series[0].key.labels(),
        Labels::from_pairs(&[("__name__", "up")])
    );
    assert_eq!(d.series[0].samples, vec![Sample::new(7, 2.5)]);
    let m = invalid(decode_default(Protocol::V2, &request(b"u\xffp")));
    assert!(m.contains("symbol #2 is not UTF-8"), "{m}");
}
