use super::golden_tests::{DOD_BUCKET_EDGES, with_second_deltas};
use super::*;
use crate::chunk::bits::BitWriter;
use crate::chunk::decode_range;
use crate::error::{Error, Result};
use crate::model::{STALE_NAN_BITS, Sample};
use rand::{Rng, SeedableRng, rngs::StdRng};

const LAYOUTS: [XorLayout; 2] = [XorLayout::Tidemark, XorLayout::Prometheus];

fn encode_in(layout: XorLayout, samples: &[Sample]) -> XorChunk {
    let mut c = XorChunk::with_layout(layout);
    for s in samples {
        c.append(s.t, s.v).unwrap();
    }
    c
}

fn encode(samples: &[Sample]) -> XorChunk {
    encode_in(XorLayout::Tidemark, samples)
}

/// `bytes` in `layout` decode to `samples` bit for bit (`what` names them in a failure).
pub(super) fn assert_decodes_to(layout: XorLayout, bytes: &[u8], samples: &[Sample], what: &str) {
    let back: Vec<Sample> = XorIter::with_layout(bytes, layout)
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(back.len(), samples.len(), "{what} ({layout:?})");
    for (a, b) in samples.iter().zip(&back) {
        assert!(a.identical(b), "{what} ({layout:?}): {a:?} != {b:?}");
    }
}

/// In both layouts: the bytes decode to `samples` bit for bit, and the chunk spans their time
/// range; a Tidemark chunk reopened for append continues the same stream.
fn assert_round_trip(samples: &[Sample]) {
    for layout in LAYOUTS {
        let c = encode_in(layout, samples);
        assert_decodes_to(layout, c.bytes(), samples, "round trip");
        if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
            assert_eq!(
                (c.min_time(), c.max_time()),
                (first.t, last.t),
                "{layout:?}"
            );
        }
    }
    let c = encode(samples);
    // Reopening for append continues the same stream.
    if let Some((last, head)) = samples.split_last() {
        let mut reopened = XorChunk::from_bytes(encode(head).bytes()).unwrap();
        reopened.append(last.t, last.v).unwrap();
        assert_eq!(reopened.bytes(), c.bytes());
    }
}

fn realistic(rng: &mut StdRng, n: usize, jitter_ms: i64, kind: u8) -> Vec<Sample> {
    let mut t = 1_700_000_000_000i64;
    let mut counter = 0.0f64;
    (0..n)
        .map(|i| {
            t += 15_000 + rng.random_range(-jitter_ms..=jitter_ms);
            let v = match kind {
                0 => {
                    counter += f64::from(rng.random_range(0..100u32));
                    counter
                }
                1 => (rng.random_range(0.0..100.0f64) * 100.0).round() / 100.0,
                _ => (i % 7) as f64,
            };
            Sample::new(t, v)
        })
        .collect()
}

#[test]
fn random_bits_round_trip() {
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..300 {
        let n = rng.random_range(0..200);
        let mut t: i64 = rng.random();
        let samples: Vec<Sample> = (0..n)
            .map(|_| {
                t = t.wrapping_add(rng.random_range(-5_000_000..5_000_000_000));
                Sample::new(t, f64::from_bits(rng.random()))
            })
            .collect();
        assert_round_trip(&samples);
    }
}

#[test]
fn special_values_round_trip() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let vals = [
        f64::NAN,
        stale,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        1.0,
        stale,
        1.0,
    ];
    // The same kinds in another order (so other windows open and are reused), and more:
    // 1, stale, NaN, +-Inf, +-0, the smallest normal, the largest, then the lowest...
    let more = [
        &[1.0, stale, f64::NAN][..],
        &vals[2..8],
        &[f64::MIN, 5e-324, 0.1, 0.1, 123_456_789.0, stale, 1.0],
    ]
    .concat();
    for vals in [&vals[..], &more[..]] {
        let samples: Vec<Sample> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| Sample::new(i as i64 * 1000, *v))
            .collect();
        assert_round_trip(&samples);
    }
    let extremes = [
        Sample::new(i64::MIN, 1.0),
        Sample::new(i64::MAX, 2.0),
        Sample::new(0, 3.0),
        Sample::new(i64::MIN, 4.0),
    ];
    assert_round_trip(&extremes);
}

#[test]
fn realistic_series_round_trip_and_are_compact() {
    let mut rng = StdRng::seed_from_u64(2);
    for kind in 0..3 {
        for jitter in [0, 5, 500] {
            let samples = realistic(&mut rng, 120, jitter, kind);
            assert_round_trip(&samples);
            let c = encode(&samples);
            let per_sample = c.bytes().len() as f64 / 120.0;
            println!(
                "xor chunk kind={kind} jitter={jitter}ms: {} bytes, {per_sample:.2} bytes/sample",
                c.bytes().len()
            );
            assert!(per_sample < 16.0, "{per_sample} bytes/sample");
        }
    }
    // A regular-interval constant gauge is the best case: about 2 bits per sample.
    let flat: Vec<Sample> = (0..120).map(|i| Sample::new(i * 15_000, 1.0)).collect();
    assert!(encode(&flat).bytes().len() < 60);
}

#[test]
fn seek_finds_first_at_or_after() {
    let samples: Vec<Sample> = (0..100).map(|i| Sample::new(i * 10, i as f64)).collect();
    let c = encode(&samples);
    let mut it = c.iter();
    assert_eq!(it.seek(55).unwrap(), Some(Sample::new(60, 6.0)));
    assert_eq!(it.next_sample().unwrap(), Some(Sample::new(70, 7.0)));
    assert_eq!(it.seek(0).unwrap(), Some(Sample::new(80, 8.0)));
    assert_eq!(it.seek(10_000).unwrap(), None);
    let mut out = Vec::new();
    decode_range(c.bytes(), 95, 130, &mut out).unwrap();
    assert_eq!(
        out,
        vec![
            Sample::new(100, 10.0),
            Sample::new(110, 11.0),
            Sample::new(120, 12.0),
            Sample::new(130, 13.0)
        ]
    );
}

#[test]
fn corrupt_chunks_fail_cleanly() {
    let mut rng = StdRng::seed_from_u64(3);
    let samples = realistic(&mut rng, 50, 500, 1);
    let bytes = encode(&samples).bytes().to_vec();
    for cut in 0..bytes.len() - 1 {
        let r: Result<Vec<Sample>> = XorIter::new(&bytes[..cut]).and_then(|it| it.collect());
        assert!(r.is_err(), "a {cut}-byte prefix decoded");
    }
    let bytes = encode_in(XorLayout::Prometheus, &samples).into_bytes();
    for cut in 0..bytes.len() - 1 {
        let r: Result<Vec<Sample>> = XorIter::with_layout(&bytes[..cut], XorLayout::Prometheus)
            .map_err(Error::from)
            .and_then(|it| it.collect());
        assert!(r.is_err(), "a {cut}-byte prefix decoded (Prometheus)");
    }
    assert!(XorIter::new(&[9, 0, 0]).is_err());
    for _ in 0..5000 {
        let mut junk: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
        let _ = XorIter::with_layout(&junk, XorLayout::Prometheus)
            .map(|it| it.take(1000).collect::<Vec<_>>());
        if !junk.is_empty() {
            junk[0] = crate::chunk::ENCODING_XOR;
        }
        let _ = XorIter::new(&junk).map(|it| it.take(1000).collect::<Vec<_>>());
        let _ = XorChunk::from_bytes(&junk);
    }
}

#[test]
fn empty_chunk_has_header_only() {
    let c = XorChunk::new();
    assert_eq!(c.bytes(), &[crate::chunk::ENCODING_XOR, 0, 0]);
    assert_eq!(c.iter().count(), 0);
    assert!(XorChunk::from_bytes(c.bytes()).unwrap().is_empty());
    let c = XorChunk::with_layout(XorLayout::Prometheus);
    assert_eq!(c.bytes(), &[0, 0]);
    assert_eq!(c.iter().count(), 0);
}

/// Computed by hand, bit by bit, in `xor.md` (and checked against chunks a real Prometheus
/// serves in `node/tests/prometheus_remote_read.rs`).
#[test]
fn worked_example_bytes() {
    let samples = [(1000, 1.0), (2000, 1.0), (3000, 2.0)].map(|(t, v)| Sample::new(t, v));
    let chunk = encode_in(XorLayout::Prometheus, &samples);
    assert_eq!(
        chunk.bytes(),
        [
            0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x30, 0x97, 0xff,
            0xc0
        ]
    );
    assert_eq!((chunk.min_time(), chunk.max_time()), (1000, 3000));
    assert_eq!(
        encode(&samples).bytes(),
        [
            0x01, 0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xd0, 0x0f, 0x30, 0x97,
            0xff, 0xc0
        ]
    );
}

#[test]
fn every_dod_bucket_and_its_edges_round_trip() {
    let input = with_second_deltas(1_700_000_000_000, DOD_BUCKET_EDGES);
    assert_round_trip(&input);
}

#[test]
fn pseudo_random_series_round_trip() {
    // xorshift: reproducible without a dependency.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..50 {
        let mut t = (next() % 1_000_000_000) as i64;
        let mut input = Vec::new();
        for _ in 0..(1 + next() % 300) {
            let v = match round % 3 {
                0 => f64::from_bits(next()),
                1 => (next() % 1000) as f64,
                _ => (next() % 1_000_000) as f64 / 1000.0,
            };
            input.push(Sample::new(t, v));
            t += match next() % 4 {
                0 => 15_000,
                1 => 15_000 + (next() % 200) as i64 - 100,
                2 => (next() % 100_000_000) as i64,
                _ => 1,
            };
        }
        assert_round_trip(&input);
    }
}

/// A chunk of two samples: (0, 0.0), then 1 ms later the value `write` puts in the bit stream.
fn second_value(write: impl FnOnce(&mut BitWriter<'_>)) -> Vec<u8> {
    let (mut buf, mut free) = (vec![1, 0, 2], 0u8);
    let mut w = BitWriter {
        buf: &mut buf,
        free: &mut free,
    };
    w.varint(0);
    w.bits(0, 64);
    w.varint(1);
    write(&mut w);
    buf
}

fn decode_all(bytes: &[u8]) -> Result<Vec<Sample>> {
    XorIter::new(bytes)?.collect()
}

/// What the reader answers for bytes no writer produces: errors worded as they always were, a
/// value that reuses a window never opened refused, a 10-byte varint's bits past 64 dropped.
#[test]
fn malformed_chunks_get_the_same_answers() {
    let message = |r: Result<Vec<Sample>>| r.unwrap_err().to_string();
    assert_eq!(
        message(decode_all(&[1, 0])),
        "cannot decode: chunk shorter than its header"
    );
    assert_eq!(
        message(decode_all(&[9, 0, 0])),
        "cannot decode: not an xor chunk (encoding 9)"
    );
    assert_eq!(
        message(decode_all(&[1, 0, 1, 0])),
        "cannot decode: chunk bit stream truncated"
    );
    let unset_window = second_value(|w| {
        w.bits(0b10, 2);
        w.bits(1f64.to_bits(), 64);
    });
    assert_eq!(
        message(decode_all(&unset_window)),
        "cannot decode: xor value reuses a window that was never set"
    );
    let too_wide = second_value(|w| {
        w.bits(0b11, 2);
        w.bits(31, 5);
        w.bits(63, 6);
        w.bits(0, 63);
    });
    assert_eq!(
        message(decode_all(&too_wide)),
        "cannot decode: xor value window exceeds 64 bits"
    );
    let mut eleven_bytes = vec![1, 0, 1];
    eleven_bytes.extend([0xff; 10]);
    eleven_bytes.extend([0; 9]);
    assert_eq!(
        message(decode_all(&eleven_bytes)),
        "cannot decode: chunk varint longer than 10 bytes"
    );
    let mut overflowing = vec![1, 0, 1];
    overflowing.extend([0xff; 9]);
    overflowing.push(0x02);
    overflowing.extend(1f64.to_bits().to_be_bytes());
    assert_eq!(
        decode_all(&overflowing).unwrap(),
        vec![Sample::new(-(1 << 62), 1.0)]
    );
}

#[test]
fn a_full_chunk_refuses_a_sample() {
    let mut c = XorChunk::new();
    for i in 0..XOR_SAMPLES_MAX {
        c.append(i as i64, 1.0).unwrap();
    }
    assert!(c.is_full());
    let e = c.append(XOR_SAMPLES_MAX as i64, 1.0).unwrap_err();
    assert_eq!(e.to_string(), "cannot decode: xor chunk is full");
    assert_eq!(c.len(), XOR_SAMPLES_MAX);
}
