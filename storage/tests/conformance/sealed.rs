//! Sealed partitions re-encoded at flush (`chunk/sealed.md`): reads, digests and later writes
//! see exactly what they saw before, on every engine.

use super::*;
use tidemark_storage::model::STALE_NAN_BITS;

/// Asserts two selects hold the same series with bit-identical samples (NaN included).
pub(crate) fn assert_same(got: &[SeriesSamples], want: &[SeriesSamples]) {
    assert_eq!(names(got), names(want));
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.samples.len(), w.samples.len(), "{}", g.labels);
        for (a, b) in g.samples.iter().zip(&w.samples) {
            assert!(a.identical(b), "{}: {a:?} != {b:?}", g.labels);
        }
    }
}

/// A jittered 2-decimal counter every 15 s from `t0`, with a NaN and a stale marker.
pub(crate) fn counter_samples(seed: u64, t0: i64, n: usize) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = 100.0f64;
    (0..n)
        .map(|i| {
            v = ((v + rng.random_range(0.0..10.0)) * 100.0).round() / 100.0;
            let t = t0 + i as i64 * 15_000 + rng.random_range(-4..=4);
            let v = match i {
                17 => f64::NAN,
                50 => f64::from_bits(STALE_NAN_BITS),
                _ => v,
            };
            Sample::new(t, v)
        })
        .collect()
}

fn seal(e: &dyn Engine, index: u64, partition_start_ms: i64) {
    e.apply(S, index, &Command::Seal { partition_start_ms })
        .expect("seal");
}

/// Write, flush part of it, add out-of-order data, duplicates and conflicts, seal, flush: every
/// read returns what it returned before, and the sealed partition still refuses writes.
pub(crate) fn seal_reencodes_identically(f: &mut dyn Factory) {
    let e = f.make(EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    });
    let (a, b, c) = (up("a"), up("b"), up("c"));
    let in_order = counter_samples(3, 1000, 100);
    write(&*e, 1, &a, in_order[..60].to_vec());
    write(&*e, 2, &b, samples(&[(1000, 1.0), (2 * H + 1000, 5.0)]));
    e.flush(S, b"1").unwrap();
    write(&*e, 3, &a, in_order[60..].to_vec());
    // Out of order into partition 0: a new timestamp and a conflict with a flushed in-order
    // sample (which keeps its first value).
    write(&*e, 4, &a, samples(&[(7_000, 0.7), (in_order[10].t, 99.0)]));
    e.flush(S, b"2").unwrap();
    // Conflicts with the flushed out-of-order sample and an in-order one, an identical
    // duplicate, and a new out-of-order sample left in the head.
    write(
        &*e,
        5,
        &a,
        vec![
            Sample::new(7_000, 7.7),
            Sample::new(8_000, 0.8),
            in_order[70],
            Sample::new(in_order[80].t, -1.0),
        ],
    );
    write(&*e, 6, &c, samples(&[(2 * H + 5, 1.0)]));
    let all = [eq("__name__", "up")];
    let before = select(&*e, &all, i64::MIN, i64::MAX);
    let mut want_a = in_order.clone();
    want_a.extend(samples(&[(7_000, 0.7), (8_000, 0.8)]));
    want_a.sort_by_key(|s| s.t);
    assert_same(
        &before[..1],
        &[SeriesSamples {
            histograms: Vec::new(),
            labels: a.clone(),
            samples: want_a.clone(),
        }],
    );
    seal(&*e, 7, 0);
    assert_same(&select(&*e, &all, i64::MIN, i64::MAX), &before);
    // (The digest covers the set of sealed partitions: taken after the seal.)
    let digest = e.digest(S).unwrap();
    e.flush(S, b"3").unwrap();
    assert_same(&select(&*e, &all, i64::MIN, i64::MAX), &before);
    assert_eq!(e.digest(S).unwrap(), digest);
    // Ranges inside and across the sealed partition.
    let (lo, hi) = (in_order[20].t, in_order[40].t);
    let got = select(&*e, &[eq("job", "a")], lo, hi);
    let want: Vec<Sample> = want_a
        .iter()
        .filter(|s| s.t >= lo && s.t <= hi)
        .copied()
        .collect();
    assert_same(
        &got,
        &[SeriesSamples {
            histograms: Vec::new(),
            labels: a.clone(),
            samples: want,
        }],
    );
    let got = select(&*e, &[eq("job", "b")], 500, 2 * H + 1000);
    assert_eq!(got[0].samples, samples(&[(1000, 1.0), (2 * H + 1000, 5.0)]));
    // The sealed partition refuses writes; the next one takes them.
    write(&*e, 8, &a, samples(&[(9_000, 9.0), (2 * H + 100, 2.0)]));
    let got = select(&*e, &[eq("job", "a")], i64::MIN, i64::MAX);
    want_a.push(Sample::new(2 * H + 100, 2.0));
    assert_same(
        &got,
        &[SeriesSamples {
            histograms: Vec::new(),
            labels: a.clone(),
            samples: want_a,
        }],
    );
    let digest = e.digest(S).unwrap();
    // Later flushes leave the sealed partition alone.
    e.flush(S, b"4").unwrap();
    e.flush(S, b"5").unwrap();
    assert_eq!(e.digest(S).unwrap(), digest);
    assert_eq!(
        e.check_append(S, e.series_id(S, &a), &in_order[3..4], 10 * H, i64::MAX)
            .too_old,
        1
    );
    e.compact().unwrap();
    assert_eq!(e.digest(S).unwrap(), digest);
}

/// Sealing a partition that holds no data (in the past, or not yet reached) is harmless.
pub(crate) fn seal_partition_without_data(f: &mut dyn Factory) {
    let e = f.make(opts());
    let l = up("a");
    write(&*e, 1, &l, samples(&[(2 * H + 1000, 1.0)]));
    seal(&*e, 2, 0);
    seal(&*e, 3, 6 * H);
    e.flush(S, b"m").unwrap();
    write(
        &*e,
        4,
        &l,
        samples(&[(1000, 9.0), (2 * H + 2000, 2.0), (6 * H + 1, 9.0)]),
    );
    e.flush(S, b"m").unwrap();
    let got = select(&*e, &[eq("job", "a")], i64::MIN, i64::MAX);
    assert_eq!(
        got[0].samples,
        samples(&[(2 * H + 1000, 1.0), (2 * H + 2000, 2.0)])
    );
    // Sealing twice, and sealing the partition that has the data, after the fact.
    seal(&*e, 5, 0);
    seal(&*e, 6, 2 * H);
    e.flush(S, b"m").unwrap();
    let again = select(&*e, &[eq("job", "a")], i64::MIN, i64::MAX);
    assert_eq!(again, got);
}

/// Many series and partitions sealed one after the other, flushed at random points, match an
/// engine that never flushes.
pub(crate) fn sealing_many_series_matches_never_flushing(f: &mut dyn Factory) {
    let o = EngineOptions {
        partition_ms: H,
        chunk_samples_max: 50,
    };
    let reference = f.make(o.clone());
    let e = f.make(o);
    let mut rng = StdRng::seed_from_u64(8);
    let series: Vec<Labels> = (0..30)
        .map(|i| labels(&[("__name__", "m"), ("i", &i.to_string())]))
        .collect();
    let mut index = 0;
    let mut step = |cmd: Command, flush: bool| {
        index += 1;
        reference.apply(S, index, &cmd).unwrap();
        e.apply(S, index, &cmd).unwrap();
        if flush {
            e.flush(S, &index.to_be_bytes()).unwrap();
        }
    };
    for scrape in 0..(5 * 240) {
        let t = scrape * 15_000;
        let mut batch = WriteBatch::default();
        for (k, l) in series.iter().enumerate() {
            batch.new_series.push(l.clone());
            let v = if k % 3 == 0 {
                f64::from(rng.random_range(0..1000u32)) / 100.0
            } else {
                rng.random_range(0.0..1.0)
            };
            let mut list = vec![Sample::new(t + k as i64, v)];
            if rng.random_bool(0.05) {
                list.insert(0, Sample::new(t - 40_000 + k as i64, -v));
            }
            batch.samples.push((SeriesRef::New(k as u32), list));
        }
        step(Command::Write(batch), rng.random_bool(0.02));
        // Seal the previous hour a few minutes into the next one.
        if t % H == 5 * 60_000 && t > H {
            step(
                Command::Seal {
                    partition_start_ms: t - H - 5 * 60_000,
                },
                rng.random_bool(0.5),
            );
        }
    }
    e.flush(S, b"end").unwrap();
    assert_eq!(e.digest(S).unwrap(), reference.digest(S).unwrap());
    let all = [eq("__name__", "m")];
    assert_same(
        &select(&*e, &all, i64::MIN, i64::MAX),
        &select(&*reference, &all, i64::MIN, i64::MAX),
    );
    assert_same(
        &select(&*e, &all, H / 2, 3 * H + 17),
        &select(&*reference, &all, H / 2, 3 * H + 17),
    );
}
