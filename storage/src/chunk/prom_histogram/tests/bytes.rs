//! The bytes themselves: varbit widths at every edge, golden chunks derived bit by bit from
//! Prometheus' format, and decoding of truncated, corrupt and random input.

use super::*;

#[test]
fn varbit_bucket_edges() {
    let ints: [(i64, usize); 22] = [
        (0, 1),
        (1, 5),
        (-3, 5),
        (4, 5),
        (-4, 9),
        (5, 9),
        (32, 9),
        (-31, 9),
        (33, 13),
        (-32, 13),
        (256, 13),
        (257, 17),
        (2048, 17),
        (2049, 24),
        (131_072, 24),
        (131_073, 32),
        (16_777_216, 32),
        (16_777_217, 64),
        (1 << 55, 64),
        ((1 << 55) + 1, 72),
        (i64::MIN, 72),
        (i64::MAX, 72),
    ];
    for (v, bits) in ints {
        let (mut buf, mut free) = (Vec::new(), 0u8);
        put_varbit_int(
            &mut BitWriter {
                buf: &mut buf,
                free: &mut free,
            },
            v,
        );
        assert_eq!(buf.len() * 8 - usize::from(free), bits, "int {v}");
        assert_eq!(read_varbit_int(&mut BitReader::new(&buf)).unwrap(), v);
    }
    let uints: [(u64, usize); 16] = [
        (0, 1),
        (7, 5),
        (8, 9),
        (63, 9),
        (64, 13),
        (511, 13),
        (512, 17),
        (4095, 17),
        (4096, 24),
        (262_143, 24),
        (262_144, 32),
        (33_554_431, 32),
        (33_554_432, 64),
        ((1 << 56) - 1, 64),
        (1 << 56, 72),
        (u64::MAX, 72),
    ];
    for (v, bits) in uints {
        let (mut buf, mut free) = (Vec::new(), 0u8);
        put_varbit_uint(
            &mut BitWriter {
                buf: &mut buf,
                free: &mut free,
            },
            v,
        );
        assert_eq!(buf.len() * 8 - usize::from(free), bits, "uint {v}");
        assert_eq!(read_varbit_uint(&mut BitReader::new(&buf)).unwrap(), v);
    }
    // -1 in the 3-bit bucket: `10` then 111 (two's complement), padded: 1011_1000.
    let (mut buf, mut free) = (Vec::new(), 0u8);
    put_varbit_int(
        &mut BitWriter {
            buf: &mut buf,
            free: &mut free,
        },
        -1,
    );
    assert_eq!(buf, [0b1011_1000]);
}

/// Two integer samples, bits derived by hand from `histogram.go`, `histogram_meta.go`,
/// `varbit.go` and `xorWrite`.
///
/// Sample 1: t 1000, schema 0, zero threshold 2^-128, zero count 1, count 4, sum 3.0, positive
/// span {offset 0, length 2} with counts [1, 2] (Prometheus' bucket values [1, 1]).
/// Sample 2: t 2000, zero count 1, count 6, sum 5.0, counts [2, 3] (bucket values [2, 1]).
///
/// ```text
/// header       00 02 | 00                         2 samples, unknown counter reset
/// threshold    0111_0100                          2^-128 = 0.5 * 2^-127: byte -127 + 243 = 116
/// schema 0     0
/// +spans       10 001 | 10 010 | 0                count 1; length 2; offset 0
/// -spans       0                                  count 0
/// t 1000       11110 001111101000                 12-bit bucket (-2047..=2048)
/// count 4      10 100
/// zero count 1 10 001
/// sum 3.0      0x4008_0000_0000_0000              64 raw bits (now byte aligned at bit 48)
/// buckets      10 001 | 10 001                    bucket values 1, 1
/// t dod 1000   11110 001111101000                 delta 1000, previous delta 0
/// count dod 2  10 010
/// zero dod 0   0
/// sum xor      1 1 01011 000011 111               5.0 ^ 3.0 = 0x001C_0000_0000_0000: new
///                                                 window, 11 leading zeros, 3 bits, 50 trailing
/// bucket dods  10 001 | 0                         values [2, 1] - [1, 1] = deltas [1, 0]
/// ```
///
/// In bytes after the header: 01110100 01000110 01000111 10001111 10100010 10010001, the sum's
/// eight bytes, then 10001100 01111100 01111101 00010010 01101011 00001111 11000100 (one
/// padding bit): 167 bits in 21 bytes.
#[test]
fn golden_integer_chunk() {
    let h1 = IntHistogram {
        hint: ResetHint::Unknown,
        schema: 0,
        zero_threshold: pow2(-128),
        zero_count: 1,
        count: 4,
        sum: 3.0,
        positive_spans: spans(&[(0, 2)]),
        positive: vec![1, 2],
        ..IntHistogram::default()
    };
    let h2 = IntHistogram {
        count: 6,
        sum: 5.0,
        positive: vec![2, 3],
        ..h1.clone()
    };
    let chunks = encode(&[int_s(1000, h1), int_s(2000, h2)]);
    assert_eq!(chunks.len(), 1);
    let want: [u8; 24] = [
        0x00, 0x02, 0x00, // header
        0x74, 0x46, 0x47, 0x8F, 0xA2, 0x91, // layout, t, count, zero count
        0x40, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // sum
        0x8C, 0x7C, 0x7D, 0x12, 0x6B, 0x0F, 0xC4, // buckets, sample 2
    ];
    assert_eq!(chunks[0].data, want);
    assert_eq!(chunks[0].encoding, ENCODING_HISTOGRAM);
    round_trip(&decode(ENCODING_HISTOGRAM, &want).unwrap());
}

/// Two float gauge samples with custom buckets, bits derived by hand from
/// `float_histogram.go` and `histogram_meta.go`.
///
/// Both samples: schema -53, zero threshold 0, bounds [-1.0, 0.5], positive span {0, 2} with
/// counts [1.0, 1.0], zero count 0, count 2.0, sum 1.0, hint Gauge; at t 0 and t 15.
///
/// ```text
/// header         00 02 | 11000000                 2 samples, gauge
/// threshold      00000000                         0
/// schema -53     1110 111001011                   9-bit bucket: 512 - 53 = 459
/// +spans         10 001 | 10 010 | 0
/// -spans         0
/// bounds         10 010                           2 bounds
///   -1.0         0 + 0xBFF0_0000_0000_0000        negative: varbit uint 0, then 64 bits
///   0.5          1110 111110101                   500 + 1 = 501 in the 9-bit bucket
/// t 0            0
/// count 2.0      0x4000_0000_0000_0000            raw
/// zero count 0.0 64 zero bits
/// sum 1.0        0x3FF0_0000_0000_0000
/// buckets        0x3FF0_0000_0000_0000 twice
/// t dod 15       110 001111                       6-bit bucket
/// xors           0 0 0 0 0                        count, zero count, sum, two buckets equal
/// ```
///
/// 451 bits: 57 bytes after the header, five bits of padding.
#[test]
fn golden_float_gauge_chunk() {
    let h = FloatHistogram {
        hint: ResetHint::Gauge,
        schema: CUSTOM_BUCKETS_SCHEMA,
        zero_threshold: 0.0,
        zero_count: 0.0,
        count: 2.0,
        sum: 1.0,
        positive_spans: spans(&[(0, 2)]),
        positive: vec![1.0, 1.0],
        custom_values: vec![-1.0, 0.5],
        ..FloatHistogram::default()
    };
    let chunks = encode(&[float_s(0, h.clone()), float_s(15, h)]);
    assert_eq!(chunks.len(), 1);
    let mut want = vec![0x00, 0x02, 0xC0];
    // threshold, schema, spans, bound count, the first bit of -1.0's 64
    want.extend([0x00, 0xEE, 0x5C, 0x64, 0x49]);
    want.extend([0x7F, 0xE0, 0, 0, 0, 0, 0]); // the rest of -1.0
    // 0.5's 13 bits straddle these three; then t 0 and count 2.0's first bits (010)
    want.extend([0x01, 0xDF, 0x52]);
    want.extend([0; 15]); // count 2.0's other bits, zero count
    for _ in 0..3 {
        // sum and both buckets: 1.0 from 5 bits into a byte (00000 001 | 11111 111 | 1 0000000)
        // and 45 zero bits more, the next value again 5 bits into a byte
        want.extend([0x01, 0xFF, 0x80, 0, 0, 0, 0, 0]);
    }
    // 00000 110 | 001111 0 0 | 000 and padding: t dod 15 and the five zero xors
    want.extend([0x06, 0x3C, 0x00]);
    assert_eq!(want.len(), 3 + 57);
    assert_eq!(chunks[0].data, want);
    assert_eq!(chunks[0].encoding, ENCODING_FLOAT_HISTOGRAM);
    let back = decode(ENCODING_FLOAT_HISTOGRAM, &want).unwrap();
    assert_eq!(hints(&back), [Gauge, Gauge]);
}

/// A stale marker as a chunk's first sample: the empty layout and counts 0, then the stale
/// NaN's 64 bits.
///
/// ```text
/// header      00 01 | 00
/// threshold   00000000
/// schema, +spans, -spans, t 0, count, zero count: 0 0 0 0 0 0
/// sum         0x7FF0_0000_0000_0002
/// ```
///
/// After the header: 00000000, then 000000 + the sum's 64 bits + 2 padding bits.
#[test]
fn golden_stale_first_chunk() {
    let chunks = encode(&[int_s(0, IntHistogram::stale_marker())]);
    let want = [
        0x00, 0x01, 0x00, 0x00, 0x01, 0xFF, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
    ];
    assert_eq!(chunks[0].data, want);
}

/// Chunks of several shapes, for the robustness tests.
fn sample_chunks() -> Vec<PromHistogramChunk> {
    let mut samples: Vec<_> = (0..6).map(|i| int_s(i * 1000, int_h(i as u64))).collect();
    samples.push(int_s(7000, IntHistogram::stale_marker()));
    samples.extend((0..4).map(|i| int_s(8000 + i, nhcb(&[-3.0, 0.5, 1e9], i as u64))));
    samples.extend((0..6).map(|i| float_s(9000 + i * 10, float_h(i as f64))));
    samples.push(float_s(10_000, FloatHistogram::stale_marker()));
    samples.extend((0..3).map(|i| float_s(11_000 + i, nhcb(&[0.5, 2.0], i as u64).to_float())));
    encode(&samples)
}

#[test]
fn truncated_chunks_fail_without_panicking() {
    for c in sample_chunks() {
        for len in 0..c.data.len() {
            assert!(
                decode(c.encoding, &c.data[..len]).is_err(),
                "a {len}-byte prefix of a {}-byte chunk decoded",
                c.data.len()
            );
        }
        // The other encoding reads the same bytes wrongly, but must not panic.
        let other = ENCODING_HISTOGRAM + ENCODING_FLOAT_HISTOGRAM - c.encoding;
        let _ = decode(other, &c.data);
    }
}

#[test]
fn corrupt_and_random_bytes_do_not_panic() {
    for c in sample_chunks() {
        for bit in 0..c.data.len() * 8 {
            let mut data = c.data.clone();
            data[bit / 8] ^= 0x80 >> (bit % 8);
            let _ = decode(c.encoding, &data);
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for i in 0..5000 {
        let len = rng.random_range(0..96);
        let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if i % 2 == 0 && len >= 2 {
            data[0] = 0xff;
            data[1] = 0xff;
        }
        for enc in [ENCODING_HISTOGRAM, ENCODING_FLOAT_HISTOGRAM] {
            let _ = decode(enc, &data);
        }
    }
}

/// A few hundred bytes declaring many zero-length spans and 65,535 samples would decode into
/// gigabytes of layout copies: refused.
#[test]
fn layout_copies_are_bounded() {
    let mut buf = vec![0xff, 0xff, 0x00];
    let mut free = 0u8;
    let mut w = BitWriter {
        buf: &mut buf,
        free: &mut free,
    };
    w.bits(0, 8); // zero threshold 0
    put_varbit_int(&mut w, 0); // schema
    put_varbit_uint(&mut w, 2000);
    for _ in 0..2000 {
        put_varbit_uint(&mut w, 0);
        put_varbit_int(&mut w, 0);
    }
    put_varbit_uint(&mut w, 0); // no negative spans
    put_varbit_int(&mut w, 0); // t
    put_varbit_uint(&mut w, 0);
    put_varbit_uint(&mut w, 0);
    w.bits(1.0f64.to_bits(), 64);
    for _ in 1..0xffff {
        w.bits(0, 4); // t dod, count dod, zero count dod, sum unchanged
    }
    let err = decode(ENCODING_HISTOGRAM, &buf).unwrap_err();
    assert!(err.to_string().contains("layout"), "{err}");
}
