use super::*;
use crate::model::STALE_NAN_BITS;
use rand::{Rng, SeedableRng, rngs::StdRng};

fn assert_round_trip(samples: &[Sample]) -> Vec<u8> {
    let bytes = encode(samples).unwrap();
    let back = decode(&bytes).unwrap();
    assert_eq!(back.len(), samples.len());
    for (i, (a, b)) in samples.iter().zip(&back).enumerate() {
        assert!(
            a.identical(b),
            "sample {i}: {a:?} ({:#x}) != {b:?} ({:#x})",
            a.v.to_bits(),
            b.v.to_bits()
        );
    }
    assert_eq!(sample_count(&bytes).unwrap(), samples.len());
    assert_eq!(min_time(&bytes).unwrap(), samples.first().map(|s| s.t));
    assert_eq!(encode(samples).unwrap(), bytes, "encoding is deterministic");
    bytes
}

const T0: i64 = 1_700_000_000_000;

/// Timestamps every `interval` ms from `T0` with up to `jitter` ms of jitter, some missed.
fn times(rng: &mut StdRng, n: usize, interval: i64, jitter: i64, miss: f64) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    let mut k = 0i64;
    while out.len() < n {
        if !rng.random_bool(miss) {
            let t = T0 + k * interval + rng.random_range(-jitter..=jitter);
            if out.last().is_none_or(|&l| t > l) {
                out.push(t);
            }
        }
        k += 1;
    }
    out
}

/// A value shape by number: counters, gauges, constants, random floats, special mixes.
fn value(rng: &mut StdRng, shape: u8, i: usize, state: &mut f64) -> f64 {
    match shape {
        // Counter with 2 decimals.
        0 => {
            *state = ((*state + rng.random_range(0.0..30.0)) * 100.0).round() / 100.0;
            *state
        }
        // Integer counter with resets.
        1 => {
            *state = if rng.random_bool(0.01) {
                0.0
            } else {
                *state + f64::from(rng.random_range(0..1000u32))
            };
            *state
        }
        // Memory gauge in 4 KiB steps.
        2 => {
            *state = (*state + f64::from(rng.random_range(-100..100i32)) * 4096.0).max(0.0);
            *state + 8.0 * 1024.0 * 1024.0 * 1024.0
        }
        // Constant.
        3 => 42.5,
        // Random float bits: anything at all.
        4 => f64::from_bits(rng.random()),
        // Uniform random floats (no short decimal form).
        5 => rng.random_range(-1e6..1e6),
        // Decimals with a sprinkle of NaN, stale markers, infinities and -0.0.
        6 => match rng.random_range(0..20) {
            0 => f64::NAN,
            1 => f64::from_bits(STALE_NAN_BITS),
            2 => f64::INFINITY,
            3 => f64::NEG_INFINITY,
            4 => -0.0,
            5 => f64::from_bits(0x7ff8_0000_dead_beef),
            _ => f64::from(rng.random_range(-500..500i32)) / 1000.0,
        },
        // Mostly decimal with rare non-decimal values (exceptions in decimal mode).
        7 => {
            if i % 40 == 7 {
                0.1 + 0.2
            } else {
                f64::from(rng.random_range(0..100u32)) / 10.0
            }
        }
        // Clock: seconds with 3 decimals.
        8 => (T0 + i as i64 * 15_000) as f64 / 1000.0,
        // Huge and tiny magnitudes.
        _ => match i % 4 {
            0 => f64::MAX,
            1 => f64::MIN_POSITIVE,
            2 => -9.0e18,
            _ => 1e300,
        },
    }
}

#[test]
fn property_round_trips_over_many_shapes() {
    let mut rng = StdRng::seed_from_u64(11);
    for case in 0..600 {
        let n = match case % 6 {
            0 => 1,
            1 => 2,
            2 => rng.random_range(3..20),
            3 => 120,
            4 => 480,
            _ => rng.random_range(20..3000),
        };
        let shape = rng.random_range(0..10u8);
        let interval = [1, 15_000, 60_000, 1000][rng.random_range(0..4)];
        let jitter = [0, 4, 200][rng.random_range(0..3)].min(interval / 3);
        let miss = [0.0, 0.01, 0.3][rng.random_range(0..3)];
        let ts = times(&mut rng, n, interval, jitter, miss);
        let mut state = 1000.0;
        let samples: Vec<Sample> = ts
            .iter()
            .enumerate()
            .map(|(i, &t)| Sample::new(t, value(&mut rng, shape, i, &mut state)))
            .collect();
        assert_round_trip(&samples);
    }
}

#[test]
fn irregular_huge_and_negative_timestamps_round_trip() {
    let mut rng = StdRng::seed_from_u64(12);
    let extremes = [
        Sample::new(i64::MIN, 1.0),
        Sample::new(-7_200_000, 2.0),
        Sample::new(0, f64::NAN),
        Sample::new(1, -0.0),
        Sample::new(i64::MAX - 1, 3.5),
        Sample::new(i64::MAX, f64::from_bits(STALE_NAN_BITS)),
    ];
    assert_round_trip(&extremes);
    assert_round_trip(&extremes[..2]);
    assert_round_trip(&[Sample::new(i64::MIN, 0.0)]);
    assert_round_trip(&[Sample::new(i64::MAX, -0.0)]);
    for _ in 0..200 {
        let n = rng.random_range(1..300);
        let mut ts: Vec<i64> = (0..n).map(|_| rng.random()).collect();
        ts.sort_unstable();
        ts.dedup();
        let samples: Vec<Sample> = ts
            .iter()
            .map(|&t| Sample::new(t, f64::from(rng.random_range(-3..3i32))))
            .collect();
        assert_round_trip(&samples);
        // Negative, irregular, small deltas.
        let mut t = -rng.random_range(0..1_000_000_000i64);
        let samples: Vec<Sample> = (0..n)
            .map(|_| {
                t += rng.random_range(1..100_000);
                Sample::new(t, rng.random_range(-1.0..1.0))
            })
            .collect();
        assert_round_trip(&samples);
    }
}

#[test]
fn special_values_are_bit_exact_in_both_kinds() {
    let specials = [
        f64::NAN,
        f64::from_bits(STALE_NAN_BITS),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::from_bits(0xfff0_0000_0000_0001),
    ];
    // Decimal series with specials: still decimal, specials as exceptions.
    let mut samples: Vec<Sample> = (0..480)
        .map(|i| Sample::new(T0 + i * 15_000, (i as f64) * 0.25))
        .collect();
    for (k, v) in specials.iter().enumerate() {
        samples[k * 60 + 3].v = *v;
    }
    let bytes = assert_round_trip(&samples);
    assert_eq!(plan_values(&samples).decimals, Some(2));
    assert!(bytes.len() < 200, "{} bytes", bytes.len());
    // Only specials.
    let only: Vec<Sample> = specials
        .iter()
        .enumerate()
        .map(|(i, v)| Sample::new(i as i64, *v))
        .collect();
    assert_round_trip(&only);
    // Float series with specials.
    let mut rng = StdRng::seed_from_u64(13);
    let mut samples: Vec<Sample> = (0..480)
        .map(|i| Sample::new(T0 + i * 15_000, rng.random_range(0.0..1.0)))
        .collect();
    for (k, v) in specials.iter().enumerate() {
        samples[k * 50].v = *v;
    }
    assert_round_trip(&samples);
    assert_eq!(plan_values(&samples).decimals, None);
}

#[test]
fn decimal_detection_picks_the_smallest_scale() {
    let series = |vals: &[f64]| -> Vec<Sample> {
        vals.iter()
            .enumerate()
            .map(|(i, v)| Sample::new(i as i64, *v))
            .collect()
    };
    assert_eq!(plan_values(&series(&[1.0, 2.0, 4096.0])).decimals, Some(0));
    assert_eq!(plan_values(&series(&[1.5, 2.25, 3.0])).decimals, Some(2));
    assert_eq!(
        plan_values(&series(&[1_700_000_000.123, 0.001])).decimals,
        Some(3)
    );
    assert_eq!(plan_values(&series(&[1e-7, 1.0])).decimals, None);
    assert_eq!(plan_values(&series(&[0.1 + 0.2])).decimals, None);
    assert_eq!(plan_values(&series(&[1e300, 1.0])).decimals, None);
    // A rare non-decimal value becomes an exception instead of forcing float mode.
    let mut v: Vec<f64> = (0..64).map(f64::from).collect();
    v[10] = 0.1 + 0.2;
    let plan = plan_values(&series(&v));
    assert_eq!((plan.decimals, plan.exceptions), (Some(0), vec![10]));
}

#[test]
fn grid_interval_ignores_jitter_and_gaps() {
    let mut rng = StdRng::seed_from_u64(14);
    for _ in 0..50 {
        let ts = times(&mut rng, 480, 15_000, 4, 0.02);
        let samples: Vec<Sample> = ts.iter().map(|&t| Sample::new(t, 1.0)).collect();
        assert_eq!(grid_interval(&samples), 15_000);
    }
    assert_eq!(grid_interval(&[Sample::new(5, 1.0)]), 0);
    assert_eq!(
        grid_interval(&[Sample::new(5, 1.0), Sample::new(12, 1.0)]),
        7
    );
}

#[test]
fn typical_series_are_compact() {
    let mut rng = StdRng::seed_from_u64(15);
    // Regular timestamps, constant value: a few bytes in all.
    let flat: Vec<Sample> = (0..480)
        .map(|i| Sample::new(T0 + i * 15_000, 1.0))
        .collect();
    let bytes = assert_round_trip(&flat);
    assert!(bytes.len() < 24, "{} bytes", bytes.len());
    // Jittered 2-decimal counter with uniformly random increments of 0 to 30 (11.5 bits of
    // entropy per value, 3.2 per timestamp): close to that.
    let ts = times(&mut rng, 480, 15_000, 4, 0.0);
    let mut state = 1000.0;
    let samples: Vec<Sample> = ts
        .iter()
        .enumerate()
        .map(|(i, &t)| Sample::new(t, value(&mut rng, 0, i, &mut state)))
        .collect();
    let bytes = assert_round_trip(&samples);
    let per_sample = bytes.len() as f64 / 480.0;
    println!("jittered 2-decimal counter: {per_sample:.2} bytes/sample");
    assert!(per_sample < 2.3, "{per_sample} bytes/sample");
}

#[test]
fn decode_range_clips_and_appends() {
    let samples: Vec<Sample> = (0..100).map(|i| Sample::new(i * 10, i as f64)).collect();
    let bytes = encode(&samples).unwrap();
    let mut out = vec![Sample::new(-5, 7.0)];
    decode_range(&bytes, 95, 130, &mut out).unwrap();
    let want: Vec<Sample> = [
        (-5, 7.0),
        (100, 10.0),
        (110, 11.0),
        (120, 12.0),
        (130, 13.0),
    ]
    .iter()
    .map(|&(t, v)| Sample::new(t, v))
    .collect();
    assert_eq!(out, want);
    decode_range(&bytes, 2000, 3000, &mut out).unwrap();
    decode_range(&bytes, -100, -1, &mut out).unwrap();
    assert_eq!(out.len(), 5);
    decode_range(&bytes, i64::MIN, i64::MAX, &mut out).unwrap();
    assert_eq!(out.len(), 105);
    // A failed decode leaves `out` as it was.
    assert!(decode_into(&bytes[..bytes.len() - 1], &mut out).is_err());
    assert_eq!(out.len(), 105);
}

#[test]
fn empty_chunk_round_trips() {
    let bytes = assert_round_trip(&[]);
    assert_eq!(bytes, vec![ENCODING_SEALED, SEALED_VERSION, 0]);
}

#[test]
fn invalid_input_is_rejected() {
    let unsorted = [Sample::new(2, 1.0), Sample::new(1, 1.0)];
    assert!(matches!(encode(&unsorted), Err(Error::Encode(_))));
    let dup = [Sample::new(1, 1.0), Sample::new(1, 2.0)];
    assert!(matches!(encode(&dup), Err(Error::Encode(_))));
}

#[test]
fn corrupt_chunks_fail_cleanly() {
    let mut rng = StdRng::seed_from_u64(16);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for shape in 0..10u8 {
        for n in [1usize, 2, 5, 120, 480] {
            let ts = times(&mut rng, n, 15_000, 4, 0.05);
            let mut state = 100.0;
            let samples: Vec<Sample> = ts
                .iter()
                .enumerate()
                .map(|(i, &t)| Sample::new(t, value(&mut rng, shape, i, &mut state)))
                .collect();
            inputs.push(encode(&samples).unwrap());
        }
    }
    for bytes in &inputs {
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "a {cut}-byte prefix decoded"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "trailing byte accepted");
        // Flipped bits and overwritten bytes: an error or some samples, never a panic, and
        // whatever decodes has strictly ascending timestamps.
        for _ in 0..300 {
            let mut junk = bytes.clone();
            let i = rng.random_range(0..junk.len());
            if rng.random_bool(0.5) {
                junk[i] ^= 1 << rng.random_range(0..8);
            } else {
                junk[i] = rng.random();
            }
            if let Ok(s) = decode(&junk) {
                assert!(s.windows(2).all(|w| w[0].t < w[1].t));
            }
        }
    }
    assert!(decode(&[]).is_err());
    assert!(decode(&[ENCODING_SEALED]).is_err());
    assert!(decode(&[ENCODING_SEALED, SEALED_VERSION + 1, 0]).is_err());
    assert!(decode(&[crate::chunk::ENCODING_XOR, 0, 0]).is_err());
    // A huge declared count is refused before anything is allocated.
    let mut huge = vec![ENCODING_SEALED, SEALED_VERSION];
    put_uvarint(&mut huge, u64::MAX);
    assert!(decode(&huge).is_err());
    for _ in 0..20_000 {
        let mut junk: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
        if junk.len() >= 2 {
            junk[0] = ENCODING_SEALED;
            junk[1] = SEALED_VERSION;
        }
        if let Ok(s) = decode(&junk) {
            assert!(s.windows(2).all(|w| w[0].t < w[1].t));
        }
    }
}
