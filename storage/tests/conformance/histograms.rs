//! Native histogram samples: applied with floats in one entry, merged on read (first applied
//! wins), hidden by deletes and expiry, kept out of sealed partitions, covered by the digest.

use super::*;
use tidemark_storage::histogram::{
    FloatHistogram, HistogramSample, HistogramValue, IntHistogram, Span,
};

fn int(t: i64, count: u64) -> HistogramSample {
    HistogramSample {
        t,
        h: HistogramValue::Int(IntHistogram {
            count,
            sum: count as f64 * 0.5,
            positive_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            positive: vec![count],
            ..IntHistogram::default()
        }),
    }
}

fn float(t: i64, count: f64) -> HistogramSample {
    HistogramSample {
        t,
        h: HistogramValue::Float(FloatHistogram {
            count,
            zero_count: count,
            ..FloatHistogram::default()
        }),
    }
}

/// Writes floats and histograms of one series in one entry, as a leader would.
fn write_both(e: &dyn Engine, index: u64, l: &Labels, f: Vec<Sample>, h: Vec<HistogramSample>) {
    let (new_series, r) = match e.series_id(S, l) {
        Some(id) => (vec![], SeriesRef::Id(id)),
        None => (vec![l.clone()], SeriesRef::New(0)),
    };
    let cmd = Command::Write(WriteBatch {
        new_series,
        samples: if f.is_empty() { vec![] } else { vec![(r, f)] },
        histograms: vec![(r, h)],
    });
    e.apply(S, index, &cmd).expect("apply");
}

fn times(h: &[HistogramSample]) -> Vec<i64> {
    h.iter().map(|s| s.t).collect()
}

fn same(got: &[HistogramSample], want: &[HistogramSample]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(a, b)| a.t == b.t && a.h.identical(&b.h))
}

fn rpc() -> Labels {
    labels(&[("__name__", "rpc_seconds"), ("job", "a")])
}

pub(crate) fn histograms_apply_and_select_with_floats(f: &mut dyn Factory) {
    let e = f.make(opts());
    write_both(
        &*e,
        1,
        &rpc(),
        samples(&[(1000, 1.0)]),
        vec![int(1000, 1), int(2000, 2)],
    );
    write_both(&*e, 2, &up("a"), vec![], vec![float(1500, 0.5)]);
    // In order, a kind switch, out of order, a duplicate and a conflict.
    write_both(
        &*e,
        3,
        &rpc(),
        vec![],
        vec![float(3000, 3.0), int(2500, 9), int(2000, 2), int(1000, 7)],
    );
    let got = select(&*e, &[m(MatchOp::NotEqual, "job", "")], 0, 10_000);
    assert_eq!(
        names(&got),
        vec![r#"rpc_seconds{job="a"}"#, r#"up{job="a"}"#]
    );
    assert_eq!(got[0].samples, samples(&[(1000, 1.0)]));
    let want = [int(1000, 1), int(2000, 2), int(2500, 9), float(3000, 3.0)];
    assert!(same(&got[0].histograms, &want), "{:?}", got[0].histograms);
    assert!(
        got[1].samples.is_empty(),
        "a series of histograms only is selected"
    );
    assert!(same(&got[1].histograms, &[float(1500, 0.5)]));
    // Clipped to the range.
    let got = select(&*e, &[eq("__name__", "rpc_seconds")], 1500, 2600);
    assert_eq!(times(&got[0].histograms), vec![2000, 2500]);
    assert!(got[0].samples.is_empty());
    // Postings and label values know the histogram-only series.
    assert_eq!(
        e.label_values(S, "__name__", &[], 0, 10_000).unwrap(),
        set(&["rpc_seconds", "up"])
    );
    let stats = e.stats(S);
    assert_eq!(stats.series, 2);
    assert_eq!(stats.max_time_ms, Some(3000));
}

pub(crate) fn histograms_stay_out_of_sealed_partitions(f: &mut dyn Factory) {
    let e = f.make(opts());
    write_both(&*e, 1, &rpc(), vec![], vec![int(1000, 1)]);
    e.apply(
        S,
        2,
        &Command::Seal {
            partition_start_ms: 0,
        },
    )
    .unwrap();
    write_both(
        &*e,
        3,
        &rpc(),
        vec![],
        vec![int(2000, 2), int(2 * H + 1, 3)],
    );
    let id = e.series_id(S, &rpc()).unwrap();
    let backfill = Command::Backfill(WriteBatch {
        new_series: vec![],
        samples: vec![(SeriesRef::Id(id), samples(&[(3000, 1.0)]))],
        histograms: vec![(SeriesRef::Id(id), vec![int(4000, 4)])],
    });
    e.apply(S, 4, &backfill).unwrap();
    let got = select(&*e, &[eq("__name__", "rpc_seconds")], 0, 10 * H);
    assert_eq!(times(&got[0].histograms), vec![1000, 2 * H + 1]);
    assert_eq!(
        got[0].samples,
        samples(&[(3000, 1.0)]),
        "the float backfill enters"
    );
}

pub(crate) fn deletes_and_expiry_hide_histograms(f: &mut dyn Factory) {
    let e = f.make(opts());
    write_both(
        &*e,
        1,
        &rpc(),
        vec![],
        vec![int(1000, 1), int(2000, 2), int(2 * H, 3)],
    );
    write_both(&*e, 2, &up("a"), vec![], vec![int(1000, 1)]);
    let id = e.series_id(S, &rpc()).unwrap();
    e.apply(
        S,
        3,
        &Command::Delete {
            series: vec![id],
            mint_ms: 1500,
            maxt_ms: 2500,
        },
    )
    .unwrap();
    let got = select(&*e, &[eq("__name__", "rpc_seconds")], 0, 10 * H);
    assert_eq!(times(&got[0].histograms), vec![1000, 2 * H]);
    e.apply(
        S,
        4,
        &Command::ExpirePartition {
            tier: tidemark_storage::Tier::Raw,
            partition_start_ms: 0,
            scope: tidemark_storage::command::ExpireScope::All,
        },
    )
    .unwrap();
    let got = select(&*e, &[m(MatchOp::NotEqual, "job", "")], 0, 10 * H);
    assert_eq!(names(&got), vec![r#"rpc_seconds{job="a"}"#]);
    assert_eq!(times(&got[0].histograms), vec![2 * H]);
}

pub(crate) fn the_digest_covers_histograms(f: &mut dyn Factory) {
    let digest = |f: &mut dyn Factory, h: Vec<HistogramSample>| {
        let e = f.make(opts());
        write_both(&*e, 1, &rpc(), samples(&[(1000, 1.0)]), h);
        e.digest(S).unwrap()
    };
    let floats_only = digest(f, vec![]);
    let a = digest(f, vec![int(1000, 1)]);
    assert_eq!(a, digest(f, vec![int(1000, 1)]));
    assert_ne!(a, floats_only);
    assert_ne!(a, digest(f, vec![int(1000, 2)]));
    assert_ne!(a, digest(f, vec![float(1000, 1.0)]));
    // A series of floats only digests as before histograms existed.
    let e = f.make(opts());
    write(&*e, 1, &rpc(), samples(&[(1000, 1.0)]));
    assert_eq!(e.digest(S).unwrap(), floats_only);
}

/// A log of histogram writes: in order, out of order, repeated, kind and layout changes,
/// across partitions, with a seal, a delete and a per-series expiry in between. The first
/// entry creates the three series (ids 0, 1, 2).
fn histogram_log(n: usize) -> Vec<Command> {
    let mut rng = StdRng::seed_from_u64(42);
    let mut cmds = vec![Command::Write(WriteBatch {
        new_series: vec![rpc(), up("a"), up("b")],
        samples: vec![],
        histograms: (0..3)
            .map(|k| (SeriesRef::New(k), vec![int(0, 0)]))
            .collect(),
    })];
    for i in 0..n {
        let id = rng.random_range(0..3u32);
        let t0 = (i as i64) * 120_000 + rng.random_range(-600_000..1_000);
        let hs: Vec<HistogramSample> = (0..rng.random_range(1..4))
            .map(|j| {
                let t = t0 + j * 5_000;
                match rng.random_range(0..5) {
                    0 => float(t, rng.random_range(0.0..10.0)),
                    _ => int(t, rng.random_range(0..50)),
                }
            })
            .collect();
        cmds.push(Command::Write(WriteBatch {
            new_series: vec![],
            samples: vec![],
            histograms: vec![(SeriesRef::Id(id), hs)],
        }));
        match i {
            60 => cmds.push(Command::Seal {
                partition_start_ms: 0,
            }),
            90 => cmds.push(Command::Delete {
                series: vec![0],
                mint_ms: 2 * H,
                maxt_ms: 2 * H + 60_000,
            }),
            _ => {}
        }
    }
    cmds.push(Command::ExpirePartition {
        tier: tidemark_storage::Tier::Raw,
        partition_start_ms: 2 * H,
        scope: tidemark_storage::command::ExpireScope::Series(vec![1]),
    });
    cmds
}

pub(crate) fn histograms_read_the_same_whatever_the_flushes(f: &mut dyn Factory) {
    let cmds = histogram_log(150);
    let never = f.make(opts());
    let often = f.make(opts());
    for (i, cmd) in cmds.iter().enumerate() {
        let index = i as u64 + 1;
        never.apply(S, index, cmd).unwrap();
        often.apply(S, index, cmd).unwrap();
        if i % 7 == 3 {
            often.flush(S, b"m").unwrap();
        }
    }
    let all = [m(MatchOp::NotEqual, "job", "")];
    let (a, b) = (
        select(&*never, &all, 0, 100 * H),
        select(&*often, &all, 0, 100 * H),
    );
    assert_eq!(names(&a), names(&b));
    let total: usize = a.iter().map(|s| s.histograms.len()).sum();
    assert!(total > 150, "the log holds {total} histograms");
    for (x, y) in a.iter().zip(&b) {
        assert!(same(&x.histograms, &y.histograms), "{}", x.labels);
        assert!(x.histograms.windows(2).all(|w| w[0].t < w[1].t));
    }
    // Ranges that cut chunks.
    for (lo, hi) in [(H, 2 * H), (2 * H + 30_000, 2 * H + 90_000), (-H, 1)] {
        let (a, b) = (select(&*never, &all, lo, hi), select(&*often, &all, lo, hi));
        assert_eq!(names(&a), names(&b));
        for (x, y) in a.iter().zip(&b) {
            assert!(same(&x.histograms, &y.histograms));
        }
    }
    assert_eq!(never.digest(S).unwrap(), often.digest(S).unwrap());
}

#[cfg(feature = "rocksdb")]
#[test]
fn histograms_survive_reopen_and_expire_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let open = || tidemark_storage::RocksEngine::open(dir.path(), opts()).expect("open");
    let name = [eq("__name__", "rpc_seconds")];
    {
        let e = open();
        let h = vec![int(1000, 1), int(2000, 2), int(1500, 9)];
        write_both(&e, 1, &rpc(), samples(&[(500, 1.0)]), h);
        e.flush(S, b"m").unwrap();
        // Not flushed: the log replays it after a restart.
        write_both(&e, 2, &rpc(), vec![], vec![int(3000, 3)]);
    }
    let e = open();
    assert_eq!(e.applied_index(S), 1);
    let got = select(&e, &name, 0, 10 * H);
    assert_eq!(times(&got[0].histograms), vec![1000, 1500, 2000]);
    assert_eq!(got[0].samples, samples(&[(500, 1.0)]));
    // The last in-order timestamp came back: 2000 is not in order (reads keep the stored
    // one), 3000 is.
    write_both(&e, 2, &rpc(), vec![], vec![int(2000, 5), int(3000, 3)]);
    let want = [int(1000, 1), int(1500, 9), int(2000, 2), int(3000, 3)];
    assert!(same(&select(&e, &name, 0, 10 * H)[0].histograms, &want));
    e.flush(S, b"m").unwrap();
    drop(e);
    // In order from 1000 and from 3000; out of order 1500, and the second 2000, which the
    // restarted head could not see was stored.
    assert_eq!(histogram_chunk_keys(dir.path()), 4);
    let e = open();
    assert!(same(&select(&e, &name, 0, 10 * H)[0].histograms, &want));
    let expire = Command::ExpirePartition {
        tier: tidemark_storage::Tier::Raw,
        partition_start_ms: 0,
        scope: tidemark_storage::command::ExpireScope::All,
    };
    e.apply(S, 3, &expire).unwrap();
    e.flush(S, b"m").unwrap();
    drop(e);
    assert_eq!(
        histogram_chunk_keys(dir.path()),
        0,
        "expiry deletes them on disk"
    );
    let e = open();
    assert!(select(&e, &name, 0, 10 * H).is_empty());
}

/// Keys of histogram chunks (tier byte 0x10) in a closed store.
#[cfg(feature = "rocksdb")]
fn histogram_chunk_keys(path: &std::path::Path) -> usize {
    let mut opts = rocksdb::Options::default();
    tidemark_storage::rocks::set_chunk_merge_operator(&mut opts);
    let names = rocksdb::DB::list_cf(&opts, path).unwrap();
    let db = rocksdb::DB::open_cf_for_read_only(&opts, path, &names, false).unwrap();
    let cf = db.cf_handle("chunks").unwrap();
    db.iterator_cf(cf, rocksdb::IteratorMode::Start)
        .filter(|kv| kv.as_ref().unwrap().0[4] == 0x10)
        .count()
}

pub(crate) fn check_histograms_answers_what_apply_would_keep(f: &mut dyn Factory) {
    let e = f.make(opts());
    let key = SeriesKey::from(&rpc());
    let check = |e: &dyn Engine, samples: &[HistogramSample]| {
        let mut answers = e.check_histograms(S, &[(&key, samples)], 10 * 60_000);
        answers.pop().unwrap()
    };
    // A new series: everything taken but a repeat (identical: a duplicate; another value: a
    // conflict), first come first served.
    let (id, c) = check(
        &*e,
        &[int(1000, 1), int(1000, 1), int(2000, 2), int(2000, 3)],
    );
    assert_eq!(id, None);
    assert_eq!(times(&c.accepted), vec![1000, 2000]);
    assert_eq!((c.duplicates, c.conflicting, c.too_old), (1, 1, 0));
    write_both(&*e, 1, &rpc(), samples(&[(1500, 1.0)]), c.accepted);
    for flushed in [false, true] {
        if flushed {
            e.flush(S, b"m").unwrap();
        }
        let (id, c) = check(
            &*e,
            &[
                int(1000, 1),     // stored, identical
                int(1200, 5),     // out of order, new
                float(1500, 1.0), // a float is stored there
                int(2000, 7),     // stored, another value
                int(3000, 3),     // in order
            ],
        );
        assert_eq!(id, e.series_id(S, &rpc()), "flushed: {flushed}");
        assert_eq!(times(&c.accepted), vec![1200, 3000]);
        assert_eq!((c.duplicates, c.conflicting, c.too_old), (1, 2, 0));
    }
    // A series of floats only: a histogram at a float's timestamp conflicts with it.
    write(&*e, 2, &up("f"), samples(&[(5000, 1.0)]));
    let fkey = SeriesKey::from(&up("f"));
    let (_, c) = e
        .check_histograms(
            S,
            &[(&fkey, &[int(5000, 1), int(6000, 1)][..])],
            10 * 60_000,
        )
        .pop()
        .unwrap();
    assert_eq!((times(&c.accepted), c.conflicting), (vec![6000], 1));
    // Older than the shard's newest sample minus the window, or in a sealed partition.
    write_both(&*e, 3, &up("a"), vec![], vec![int(3 * H, 1)]);
    let (_, c) = check(
        &*e,
        &[int(3 * H - 11 * 60_000, 1), int(3 * H - 9 * 60_000, 1)],
    );
    assert_eq!(
        (times(&c.accepted), c.too_old),
        (vec![3 * H - 9 * 60_000], 1)
    );
    e.apply(
        S,
        4,
        &Command::Seal {
            partition_start_ms: 2 * H,
        },
    )
    .unwrap();
    let (_, c) = check(&*e, &[int(3 * H - 60_000, 1)]);
    assert_eq!((c.accepted.len(), c.too_old), (0, 1));
}
