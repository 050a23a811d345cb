//! Flushes at any point, whole or part-way, and seals: every read returns each sample once, and
//! the content digest does not depend on when flushes happened.

use super::*;

pub(crate) fn seal_partition(f: &mut dyn Factory) {
    let e = f.make(opts());
    let l = up("a");
    write(&*e, 1, &l, samples(&[(1000, 1.0), (2 * H + 1000, 2.0)]));
    // The newest sample is at 2 H + 1000: partition 0 ends at 2 H.
    assert_eq!(e.sealable_partitions(S, 1001), Vec::<i64>::new());
    assert_eq!(e.sealable_partitions(S, 1000), vec![0]);
    assert_eq!(e.sealable_partitions(S, 0), vec![0]);
    e.apply(
        S,
        2,
        &Command::Seal {
            partition_start_ms: 0,
        },
    )
    .unwrap();
    assert_eq!(e.sealable_partitions(S, 0), Vec::<i64>::new());
    e.flush(S, b"m").unwrap();
    assert_eq!(e.sealable_partitions(S, 0), Vec::<i64>::new());
    // A late sample into the sealed partition is dropped on every replica alike.
    write(&*e, 3, &l, samples(&[(2000, 9.0), (2 * H + 2000, 3.0)]));
    let got = select(&*e, &[eq("job", "a")], 0, 4 * H);
    assert_eq!(
        got[0].samples,
        samples(&[(1000, 1.0), (2 * H + 1000, 2.0), (2 * H + 2000, 3.0)])
    );
    // Postings of the sealed partition still answer (from the backend where it has one).
    assert_eq!(e.label_values(S, "job", &[], 0, 1000).unwrap(), set(&["a"]));
    assert_eq!(
        names(&select(&*e, &[m(MatchOp::Regex, "job", "a|b")], 0, 1000)),
        vec![r#"up{job="a"}"#]
    );
    assert_eq!(
        e.check_append(
            S,
            e.series_id(S, &l),
            &samples(&[(3000, 1.0)]),
            10 * H,
            i64::MAX
        )
        .too_old,
        1
    );
}

/// Reads stay exact (every sample once) while the head's chunks are flushed part-way, cut,
/// flushed again and finally sealed: the store then holds earlier copies of head chunks, which
/// reads may skip, and at last a sealed chunk, which they must not.
pub(crate) fn reads_exact_across_partial_flushes(f: &mut dyn Factory) {
    let e = f.make(EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 5,
    });
    let l = up("a");
    let mut expected = Vec::new();
    let mut index = 0;
    for i in 0..23 {
        let s = Sample::new(1000 + i * 15_000, i as f64);
        expected.push(s);
        index += 1;
        write(&*e, index, &l, vec![s]);
        if i % 3 == 1 {
            e.flush(S, b"m").unwrap();
        }
        assert_eq!(
            select(&*e, &[eq("job", "a")], 0, 2 * H)[0].samples,
            expected
        );
        // A range that starts inside the series.
        let from = expected[expected.len() / 2].t;
        let tail: Vec<Sample> = expected.iter().filter(|x| x.t >= from).copied().collect();
        assert_eq!(select(&*e, &[eq("job", "a")], from, 2 * H)[0].samples, tail);
    }
    // One sample in the next partition, then seal the first one.
    let next = Sample::new(2 * H + 1000, -1.0);
    index += 1;
    write(&*e, index, &l, vec![next]);
    index += 1;
    e.apply(
        S,
        index,
        &Command::Seal {
            partition_start_ms: 0,
        },
    )
    .unwrap();
    expected.push(next);
    for _ in 0..2 {
        assert_eq!(
            select(&*e, &[eq("job", "a")], 0, 4 * H)[0].samples,
            expected
        );
        e.flush(S, b"m").unwrap();
    }
    assert_eq!(
        select(&*e, &[eq("job", "a")], 0, 4 * H)[0].samples,
        expected
    );
}

/// A flush while a select is part-way through its series moves the remaining series' closed
/// chunks from the head to the store: the rest of the select must still see them.
pub(crate) fn flush_during_select_loses_nothing(f: &mut dyn Factory) {
    let e = f.make(EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 5,
    });
    let jobs = ["a", "b", "c"];
    let expected: Vec<Sample> = (0..17)
        .map(|i| Sample::new(1000 + i * 15_000, i as f64))
        .collect();
    let mut index = 0;
    for job in jobs {
        index += 1;
        write(&*e, index, &up(job), expected[..12].to_vec());
    }
    // Flushed once, so that the store holds chunks of every series before the select; then
    // enough samples to close another chunk that only the head holds.
    e.flush(S, b"m").unwrap();
    for job in jobs {
        index += 1;
        write(&*e, index, &up(job), expected[12..].to_vec());
    }
    let mut it = e
        .select(S, &[m(MatchOp::Regex, "job", ".+")], 0, 2 * H)
        .unwrap();
    let first = it.next().unwrap().unwrap();
    e.flush(S, b"m").unwrap();
    let rest: Vec<SeriesSamples> = it.collect::<Result<_, _>>().unwrap();
    assert_eq!(rest.len(), 2);
    for s in std::iter::once(&first).chain(&rest) {
        assert_eq!(s.samples, expected, "{}", s.labels);
    }
}

/// A deterministic workload: new series, in-order and out-of-order samples, duplicates,
/// conflicts, seals and an expiry, in `n` entries.
pub(crate) fn workload(seed: u64, n: usize) -> Vec<Command> {
    let mut rng = StdRng::seed_from_u64(seed);
    let all: Vec<Labels> = (0..40)
        .map(|i| {
            labels(&[
                ("__name__", "m"),
                ("i", &i.to_string()),
                ("k", &(i % 3).to_string()),
            ])
        })
        .collect();
    let mut cmds = Vec::new();
    let mut now = 0i64;
    for step in 0..n {
        if step % 25 == 24 {
            cmds.push(Command::Seal {
                partition_start_ms: (now / (2 * H) - 1) * 2 * H,
            });
            continue;
        }
        if step == n * 3 / 4 {
            cmds.push(Command::Expire { before_ms: 2 * H });
            continue;
        }
        if step == n / 2 || step == n * 5 / 6 {
            // A per-metric retention's expiry of a few series, then a whole partition.
            let p = (now / (2 * H) - 1) * 2 * H;
            cmds.push(Command::ExpirePartition {
                tier: tidemark_storage::Tier::Raw,
                partition_start_ms: p,
                scope: if step == n / 2 {
                    tidemark_storage::ExpireScope::Series(vec![1, 4, 5, 30])
                } else {
                    tidemark_storage::ExpireScope::All
                },
            });
            continue;
        }
        if step % 40 == 39 {
            // Ids up to 40 exist by now or are ignored alike by every engine.
            let mut series: Vec<u32> = (0..3).map(|_| rng.random_range(0..45)).collect();
            series.sort_unstable();
            series.dedup();
            let mint_ms = now - rng.random_range(0..2 * H);
            cmds.push(Command::Delete {
                series,
                mint_ms,
                maxt_ms: mint_ms + rng.random_range(0..H),
            });
            continue;
        }
        now += rng.random_range(0..20 * 60_000);
        let k = rng.random_range(1..6);
        let picks: Vec<usize> = (0..k).map(|_| rng.random_range(0..all.len())).collect();
        let mut batch = WriteBatch::default();
        for (j, &p) in picks.iter().enumerate() {
            batch.new_series.push(all[p].clone());
            let mut t = now - rng.random_range(0..3 * 60_000);
            let mut list = Vec::new();
            for _ in 0..rng.random_range(0..8) {
                t += rng.random_range(-20_000..40_000);
                list.push(Sample::new(t, f64::from(rng.random_range(0..4u8))));
            }
            list.sort_by_key(|s| s.t);
            batch.samples.push((SeriesRef::New(j as u32), list));
        }
        cmds.push(Command::Write(batch));
    }
    cmds
}

pub(crate) fn digest_ignores_flush_timing(f: &mut dyn Factory) {
    let cmds = workload(5, 150);
    let a = f.make(EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    });
    let b = f.make(EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 7,
    });
    let mut rng = StdRng::seed_from_u64(9);
    for (i, c) in cmds.iter().enumerate() {
        let index = i as u64 + 1;
        a.apply(S, index, c).unwrap();
        b.apply(S, index, c).unwrap();
        if rng.random_bool(0.3) {
            b.flush(S, &index.to_be_bytes()).unwrap();
        }
        if i % 40 == 39 {
            assert_eq!(
                a.digest(S).unwrap(),
                b.digest(S).unwrap(),
                "after entry {index}"
            );
        }
    }
    assert_eq!(a.digest(S).unwrap(), b.digest(S).unwrap());
    let sa = select(&*a, &[eq("__name__", "m")], i64::MIN, i64::MAX);
    let sb = select(&*b, &[eq("__name__", "m")], i64::MIN, i64::MAX);
    assert_eq!(sa, sb);
    assert!(!sa.is_empty());
    // A different log gives a different digest.
    let c = f.make(opts());
    for (i, cmd) in cmds.iter().take(100).enumerate() {
        c.apply(S, i as u64 + 1, cmd).unwrap();
    }
    assert_ne!(c.digest(S).unwrap(), a.digest(S).unwrap());
}

pub(crate) fn many_series_is_not_quadratic(f: &mut dyn Factory) {
    let e = f.make(opts());
    let start = std::time::Instant::now();
    let series: Vec<Labels> = (0..10_000)
        .map(|i| {
            labels(&[
                ("__name__", "cpu"),
                ("instance", &format!("host-{i}")),
                ("pool", &format!("p{}", i % 100)),
            ])
        })
        .collect();
    let mut index = 0;
    // 100 scrapes; each entry carries 1,000 series.
    for scrape in 0..100i64 {
        for group in series.chunks(1000) {
            let mut batch = WriteBatch::default();
            for l in group {
                let r = match e.series_id(S, l) {
                    Some(id) => SeriesRef::Id(id),
                    None => {
                        batch.new_series.push(l.clone());
                        SeriesRef::New(batch.new_series.len() as u32 - 1)
                    }
                };
                batch
                    .samples
                    .push((r, vec![Sample::new(scrape * 15_000, scrape as f64)]));
            }
            index += 1;
            e.apply(S, index, &Command::Write(batch)).unwrap();
        }
        if scrape % 25 == 24 {
            e.flush(S, b"m").unwrap();
        }
    }
    let applied = start.elapsed();
    let got = select(&*e, &[eq("pool", "p7")], 0, i64::MAX);
    assert_eq!(got.len(), 100);
    assert!(got.iter().all(|s| s.samples.len() == 100));
    let n = e
        .select(S, &[eq("__name__", "cpu")], 0, i64::MAX)
        .unwrap()
        .count();
    assert_eq!(n, 10_000);
    assert_eq!(e.stats(S).series, 10_000);
    println!(
        "10k series x 100 samples: apply {applied:?}, total {:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed().as_secs() < 120,
        "took {:?}",
        start.elapsed()
    );
}
