//! Golden bytes of Prometheus' XOR chunk as this encoder writes it, on the inputs of storage's
//! golden tests, pinned in storage's `golden_tests/prometheus.hex`: the bytes stay the same when
//! the encoder moves (until then, the inputs and the file are read from storage's tree).

#[path = "../../../../storage/src/chunk/xor/golden_tests/cases.rs"]
mod cases;

use super::*;
use cases::{cases, check_golden, read_golden};
use tidemark_storage::model::STALE_NAN_BITS;

const PROMETHEUS: &str =
    include_str!("../../../../storage/src/chunk/xor/golden_tests/prometheus.hex");

fn encode(samples: &[Sample]) -> XorChunk {
    let mut enc = XorEncoder::new();
    for s in samples {
        enc.append(s.t, s.v);
    }
    enc.finish().expect("non-empty")
}

#[test]
fn prometheus_bytes_are_unchanged() {
    check_golden(PROMETHEUS, |samples| encode(samples).data);
}

/// The pinned bytes decode to their inputs bit for bit, with the inputs' time range.
#[test]
fn prometheus_golden_bytes_decode() {
    for ((name, samples), (_, bytes)) in cases().iter().zip(read_golden(PROMETHEUS)) {
        let back = decode(&bytes).unwrap();
        assert_eq!(back.len(), samples.len(), "{name}");
        for (a, b) in samples.iter().zip(&back) {
            assert!(a.identical(b), "{name}: {a:?} != {b:?}");
        }
        let chunk = encode(samples);
        assert_eq!(chunk.min_time_ms, samples[0].t, "{name}");
        assert_eq!(chunk.max_time_ms, samples[samples.len() - 1].t, "{name}");
    }
}
