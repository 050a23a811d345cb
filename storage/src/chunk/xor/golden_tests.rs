//! Golden bytes of the on-disk XOR chunk (`xor.md`): the exact bytes written for each input of
//! `golden_tests/cases.rs`, pinned in `golden_tests/tidemark.hex`. Chunks on disk are read back
//! for as long as they exist, so these bytes never change; a new layout takes a new encoding
//! byte instead.

mod cases;

use super::*;
use crate::model::STALE_NAN_BITS;
use cases::{cases, check_golden, read_golden};

const TIDEMARK: &str = include_str!("golden_tests/tidemark.hex");

fn encode(samples: &[Sample]) -> XorChunk {
    let mut c = XorChunk::new();
    for s in samples {
        c.append(s.t, s.v).unwrap();
    }
    c
}

#[test]
fn tidemark_bytes_are_unchanged() {
    check_golden(TIDEMARK, |samples| encode(samples).bytes().to_vec());
}

/// The pinned bytes decode to their inputs bit for bit, and reopening all but the last sample
/// then appending it writes the same bytes.
#[test]
fn tidemark_golden_bytes_decode_and_reopen() {
    for ((name, samples), (_, bytes)) in cases().iter().zip(read_golden(TIDEMARK)) {
        let back: Vec<Sample> = XorIter::new(&bytes)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(back.len(), samples.len(), "{name}");
        for (a, b) in samples.iter().zip(&back) {
            assert!(a.identical(b), "{name}: {a:?} != {b:?}");
        }
        let (last, head) = samples.split_last().unwrap();
        let mut reopened = XorChunk::from_bytes(encode(head).bytes()).unwrap();
        reopened.append(last.t, last.v).unwrap();
        assert_eq!(reopened.bytes(), &bytes[..], "{name}");
    }
}
