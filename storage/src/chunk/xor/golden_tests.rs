//! Golden bytes of both layouts (`xor.md`): the exact bytes written for each input of
//! `golden_tests/cases.rs`, pinned in `golden_tests/tidemark.hex` and
//! `golden_tests/prometheus.hex`. Tidemark chunks on disk are read back for as long as they
//! exist, and Prometheus decodes its layout with its own code, so these bytes never change; a
//! new on-disk layout takes a new encoding byte instead.

mod cases;

use super::tests::assert_decodes_to;
use super::*;
use crate::error::Result;
use crate::model::{STALE_NAN_BITS, Sample};
use cases::{cases, check_golden, read_golden};

pub(super) use cases::{DOD_BUCKET_EDGES, with_second_deltas};

const TIDEMARK: &str = include_str!("golden_tests/tidemark.hex");
const PROMETHEUS: &str = include_str!("golden_tests/prometheus.hex");

fn encode(layout: XorLayout, samples: &[Sample]) -> XorChunk {
    let mut c = XorChunk::with_layout(layout);
    for s in samples {
        c.append(s.t, s.v).unwrap();
    }
    c
}

/// The pinned bytes decode to their inputs bit for bit, and the chunk that wrote them spans
/// the inputs' time range.
fn assert_golden_bytes_decode(layout: XorLayout, golden: &str) {
    for ((name, samples), (_, bytes)) in cases().iter().zip(read_golden(golden)) {
        assert_decodes_to(layout, &bytes, samples, name);
        let chunk = encode(layout, samples);
        assert_eq!(chunk.min_time(), samples[0].t, "{name}");
        assert_eq!(chunk.max_time(), samples[samples.len() - 1].t, "{name}");
    }
}

#[test]
fn tidemark_bytes_are_unchanged() {
    check_golden(TIDEMARK, |samples| {
        encode(XorLayout::Tidemark, samples).bytes().to_vec()
    });
    // The default chunk is the on-disk one.
    assert_eq!(XorChunk::new().layout(), XorLayout::Tidemark);
}

/// Also through the default reader, and reopening all but the last sample then appending it
/// writes the same bytes.
#[test]
fn tidemark_golden_bytes_decode_and_reopen() {
    assert_golden_bytes_decode(XorLayout::Tidemark, TIDEMARK);
    for ((name, samples), (_, bytes)) in cases().iter().zip(read_golden(TIDEMARK)) {
        let back: Vec<Sample> = XorIter::new(&bytes)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(back.len(), samples.len(), "{name}");
        assert!(
            back.iter().zip(samples).all(|(a, b)| a.identical(b)),
            "{name}"
        );
        let (last, head) = samples.split_last().unwrap();
        let mut reopened = XorChunk::from_bytes(encode(XorLayout::Tidemark, head).bytes()).unwrap();
        reopened.append(last.t, last.v).unwrap();
        assert_eq!(reopened.bytes(), &bytes[..], "{name}");
    }
}

#[test]
fn prometheus_bytes_are_unchanged() {
    check_golden(PROMETHEUS, |samples| {
        encode(XorLayout::Prometheus, samples).into_bytes()
    });
}

#[test]
fn prometheus_golden_bytes_decode() {
    assert_golden_bytes_decode(XorLayout::Prometheus, PROMETHEUS);
}
