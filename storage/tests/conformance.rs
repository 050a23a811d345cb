//! The `Engine` conformance suite (STYLE rule 2): every test runs against `MemEngine` and
//! `RocksEngine`. Rocks-only tests (flush, drop, reopen, replay) follow at the end.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng, rngs::StdRng};
use tidemark_storage::{
    Command, Engine, EngineOptions, Labels, MatchOp, Matcher, MemEngine, Sample, SeriesKey,
    SeriesRef, SeriesSamples, ShardId, WriteBatch,
};

/// Builds fresh engines for one test.
trait Factory {
    fn make(&mut self, opts: EngineOptions) -> Box<dyn Engine>;
}

struct MemFactory;

impl Factory for MemFactory {
    fn make(&mut self, opts: EngineOptions) -> Box<dyn Engine> {
        Box::new(MemEngine::new(opts))
    }
}

#[cfg(feature = "rocksdb")]
struct RocksFactory {
    dir: tempfile::TempDir,
    n: usize,
}

#[cfg(feature = "rocksdb")]
impl Factory for RocksFactory {
    fn make(&mut self, opts: EngineOptions) -> Box<dyn Engine> {
        self.n += 1;
        let path = self.dir.path().join(format!("db{}", self.n));
        let e = tidemark_storage::RocksEngine::open(path, opts).expect("open rocks engine");
        // Every stored format this build writes, the one gated by the cluster's level too.
        e.set_shared_time_columns(true);
        Box::new(e)
    }
}

const S: ShardId = 3;
const H: i64 = 3_600_000;

fn opts() -> EngineOptions {
    EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 120,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn samples(pairs: &[(i64, f64)]) -> Vec<Sample> {
    pairs.iter().map(|&(t, v)| Sample::new(t, v)).collect()
}

/// Writes samples of one series the way a leader would: existing series by id, new by labels.
fn write(e: &dyn Engine, index: u64, l: &Labels, s: Vec<Sample>) {
    let cmd = match e.series_id(S, l) {
        Some(id) => Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![],
            samples: vec![(SeriesRef::Id(id), s)],
        }),
        None => Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![l.clone()],
            samples: vec![(SeriesRef::New(0), s)],
        }),
    };
    e.apply(S, index, &cmd).expect("apply");
}

fn select(e: &dyn Engine, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
    let mut v: Vec<SeriesSamples> = e
        .select(S, matchers, mint, maxt)
        .expect("select")
        .collect::<Result<_, _>>()
        .expect("series");
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v
}

fn eq(n: &str, v: &str) -> Matcher {
    Matcher::equal(n, v)
}

fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
    Matcher::new(op, n, v).expect("matcher")
}

fn names(v: &[SeriesSamples]) -> Vec<String> {
    v.iter().map(|s| s.labels.to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn up(job: &str) -> Labels {
    labels(&[("__name__", "up"), ("job", job)])
}

// ---------------------------------------------------------------------------------------------

fn apply_and_select_head(f: &mut dyn Factory) {
    let e = f.make(opts());
    write(&*e, 1, &up("a"), samples(&[(1000, 1.0), (2000, 2.0)]));
    write(&*e, 2, &up("b"), samples(&[(1000, 5.0)]));
    write(&*e, 3, &up("a"), samples(&[(3000, 3.0)]));
    assert_eq!(e.applied_index(S), 3);
    let got = select(&*e, &[eq("__name__", "up")], 0, 10_000);
    assert_eq!(names(&got), vec![r#"up{job="a"}"#, r#"up{job="b"}"#]);
    assert_eq!(
        got[0].samples,
        samples(&[(1000, 1.0), (2000, 2.0), (3000, 3.0)])
    );
    assert_eq!(got[1].samples, samples(&[(1000, 5.0)]));
    assert!(select(&*e, &[eq("__name__", "down")], 0, 10_000).is_empty());
    assert!(
        e.select(S + 1, &[eq("__name__", "up")], 0, 10_000)
            .unwrap()
            .next()
            .is_none()
    );
    let st = e.stats(S);
    assert_eq!(st.series, 2);
    assert_eq!(st.head_samples, 4);
    assert_eq!((st.min_time_ms, st.max_time_ms), (Some(1000), Some(3000)));
}

fn matcher_ops(f: &mut dyn Factory) {
    let e = f.make(opts());
    write(&*e, 1, &up("api"), samples(&[(1, 1.0)]));
    write(&*e, 2, &up("db"), samples(&[(1, 2.0)]));
    write(&*e, 3, &labels(&[("__name__", "up")]), samples(&[(1, 3.0)]));
    write(
        &*e,
        4,
        &labels(&[("__name__", "req"), ("job", "api")]),
        samples(&[(1, 4.0)]),
    );
    let n = |ms: &[Matcher]| names(&select(&*e, ms, 0, 10));
    assert_eq!(
        n(&[eq("job", "api")]),
        vec![r#"req{job="api"}"#, r#"up{job="api"}"#]
    );
    assert_eq!(
        n(&[eq("__name__", "up"), m(MatchOp::NotEqual, "job", "api")]),
        vec!["up{}", r#"up{job="db"}"#]
    );
    assert_eq!(
        n(&[m(MatchOp::Regex, "job", "a.*|d.")]),
        vec![r#"req{job="api"}"#, r#"up{job="api"}"#, r#"up{job="db"}"#]
    );
    assert_eq!(
        n(&[m(MatchOp::Regex, "job", "pi")]),
        Vec::<String>::new(),
        "regex is anchored"
    );
    assert_eq!(
        n(&[eq("__name__", "up"), m(MatchOp::NotRegex, "job", "a.*")]),
        vec!["up{}", r#"up{job="db"}"#]
    );
    // Empty-matching matchers: absent labels match "".
    assert_eq!(n(&[eq("__name__", "up"), eq("job", "")]), vec!["up{}"]);
    assert_eq!(
        n(&[eq("__name__", "up"), m(MatchOp::Regex, "job", "|db")]),
        vec!["up{}", r#"up{job="db"}"#]
    );
    assert_eq!(n(&[m(MatchOp::NotEqual, "job", "")]).len(), 3);
    assert_eq!(n(&[eq("__name__", "up"), eq("nolabel", "")]).len(), 3);
    assert!(n(&[eq("__name__", "up"), eq("job", "nope")]).is_empty());
}

fn new_series_and_concurrent_create(f: &mut dyn Factory) {
    let e = f.make(opts());
    let a = up("a");
    let b = up("b");
    // Two entries built before either was applied both carry `a` as new.
    let first = WriteBatch {
        histograms: Vec::new(),
        new_series: vec![a.clone(), b.clone()],
        samples: vec![
            (SeriesRef::New(1), samples(&[(10, 1.0)])),
            (SeriesRef::New(0), samples(&[(10, 2.0)])),
        ],
    };
    let second = WriteBatch {
        histograms: Vec::new(),
        new_series: vec![a.clone()],
        samples: vec![(SeriesRef::New(0), samples(&[(20, 3.0)]))],
    };
    e.apply(S, 1, &Command::Write(first)).unwrap();
    e.apply(S, 2, &Command::Write(second)).unwrap();
    assert_eq!(e.stats(S).series, 2);
    let ida = e.series_id(S, &a).expect("a exists");
    let idb = e.series_id(S, &b).expect("b exists");
    assert_ne!(ida, idb);
    let got = select(&*e, &[eq("__name__", "up")], 0, 100);
    assert_eq!(got[0].samples, samples(&[(10, 2.0), (20, 3.0)]));
    assert_eq!(got[1].samples, samples(&[(10, 1.0)]));
    // References to unknown ids are skipped on every replica alike.
    let bad = WriteBatch {
        histograms: Vec::new(),
        new_series: vec![],
        samples: vec![(SeriesRef::Id(999), samples(&[(30, 1.0)]))],
    };
    e.apply(S, 3, &Command::Write(bad)).unwrap();
    assert_eq!(e.stats(S).series, 2);
    assert_eq!(e.applied_index(S), 3);
}

fn identical_duplicates_are_noops(f: &mut dyn Factory) {
    let once = f.make(opts());
    let twice = f.make(opts());
    let l = up("a");
    let s = samples(&[
        (1000, 1.0),
        (2000, f64::NAN),
        (
            3000,
            f64::from_bits(tidemark_storage::model::STALE_NAN_BITS),
        ),
    ]);
    write(&*once, 1, &l, s.clone());
    write(&*twice, 1, &l, s.clone());
    write(&*twice, 2, &l, s.clone());
    write(&*twice, 3, &l, s[1..2].to_vec());
    let got = select(&*twice, &[eq("job", "a")], 0, 10_000);
    assert_eq!(got[0].samples.len(), 3);
    assert!(got[0].samples.iter().zip(&s).all(|(a, b)| a.identical(b)));
    assert_eq!(twice.stats(S).head_samples, 3);
    assert_eq!(once.digest(S).unwrap(), twice.digest(S).unwrap());
}

fn conflicting_value_first_wins(f: &mut dyn Factory) {
    let e = f.make(opts());
    let l = up("a");
    write(
        &*e,
        1,
        &l,
        samples(&[(1000, 1.0), (2000, 2.0), (3000, 3.0)]),
    );
    write(&*e, 2, &l, samples(&[(3000, 30.0)])); // same as last in-order
    write(&*e, 3, &l, samples(&[(2000, 20.0)])); // inside the open chunk
    write(&*e, 4, &l, samples(&[(1500, 1.5)])); // out of order, new
    write(&*e, 5, &l, samples(&[(1500, 15.0)])); // conflicts with the out-of-order one
    let got = select(&*e, &[eq("job", "a")], 0, 10_000);
    assert_eq!(
        got[0].samples,
        samples(&[(1000, 1.0), (1500, 1.5), (2000, 2.0), (3000, 3.0)])
    );
}

fn out_of_order_merge(f: &mut dyn Factory) {
    let e = f.make(EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 4,
    });
    let l = up("a");
    let in_order: Vec<Sample> = (0..10)
        .map(|i| Sample::new(10_000 + i * 1000, i as f64))
        .collect();
    write(&*e, 1, &l, in_order.clone());
    write(
        &*e,
        2,
        &l,
        samples(&[(500, -1.0), (10_500, 0.5), (15_500, 5.5)]),
    );
    write(&*e, 3, &l, samples(&[(16_500, 6.5), (100, -2.0)]));
    let got = select(&*e, &[eq("job", "a")], 0, 100_000);
    let mut want = in_order;
    want.extend(samples(&[
        (500, -1.0),
        (10_500, 0.5),
        (15_500, 5.5),
        (16_500, 6.5),
        (100, -2.0),
    ]));
    want.sort_by_key(|s| s.t);
    assert_eq!(got[0].samples, want);
    assert!(
        e.stats(S).head_chunks >= 3,
        "chunks cut at chunk_samples_max"
    );
}

fn check_append_counts(f: &mut dyn Factory) {
    let e = f.make(opts());
    let l = up("a");
    write(
        &*e,
        1,
        &l,
        (1..=100).map(|i| Sample::new(i * 1000, i as f64)).collect(),
    );
    let id = e.series_id(S, &l);
    let input = samples(&[
        (10_000, 10.0), // identical duplicate
        (20_000, 99.0), // conflict
        (20_500, 1.0),  // new, out of order but within the window
        (20_500, 1.0),  // duplicate within the input
        (20_500, 2.0),  // conflict within the input
        (101_000, 1.0), // new, in order
        (500, 1.0),     // older than max_t - window
    ]);
    let c = e.check_append(S, id, &input, 90_000, i64::MAX);
    assert_eq!(c.accepted, samples(&[(20_500, 1.0), (101_000, 1.0)]));
    assert_eq!((c.duplicates, c.conflicting, c.too_old), (2, 2, 1));
    // A series not yet created: only the window applies.
    let c = e.check_append(
        S,
        None,
        &samples(&[(5_000, 1.0), (50_000, 1.0)]),
        90_000,
        i64::MAX,
    );
    assert_eq!((c.accepted.len(), c.too_old), (1, 1));
    // An unknown shard accepts everything.
    let c = e.check_append(S + 9, None, &samples(&[(5_000, 1.0)]), 0, i64::MAX);
    assert_eq!(c.accepted.len(), 1);
}

/// The batched check answers as the per-series calls do: stored values read from the head and
/// from flushed data, a sealed partition (backfill or too old), series new to the shard, a key
/// twice, and a shard that does not exist.
fn check_writes_answers_as_per_series(f: &mut dyn Factory) {
    let e = f.make(opts());
    let minutes = |from: i64, to: i64| -> Vec<Sample> {
        (from..=to)
            .map(|i| Sample::new(i * 60_000, i as f64))
            .collect()
    };
    write(&*e, 1, &up("a"), minutes(1, 150));
    e.flush(S, b"").unwrap();
    write(&*e, 2, &up("a"), minutes(151, 200));
    write(&*e, 3, &up("b"), minutes(100, 200));
    e.apply(
        S,
        4,
        &Command::Seal {
            partition_start_ms: 0,
        },
    )
    .unwrap();
    let keys = [up("a"), up("b"), up("c"), up("a")].map(|l| SeriesKey::from(&l));
    let inputs = [
        samples(&[
            (30 * 60_000, 30.0),     // in the sealed partition, stored
            (31 * 60_000, -1.0),     // in the sealed partition, conflicting
            (45 * 60_000 + 1, 1.0),  // in the sealed partition, new: a backfill
            (130 * 60_000, 130.0),   // flushed: identical
            (131 * 60_000, 0.5),     // flushed: conflicting
            (160 * 60_000, 160.0),   // in the head: identical
            (160 * 60_000 + 1, 1.0), // between head samples
            (201 * 60_000, 1.0),     // new
        ]),
        samples(&[(150 * 60_000 + 7, 2.0), (300 * 60_000, 3.0)]),
        samples(&[(5 * 60_000, 1.0), (250 * 60_000, 2.0)]),
        samples(&[(200 * 60_000, 200.0), (202 * 60_000, 4.0)]),
    ];
    for shard in [S, S + 9] {
        for backfill_from_ms in [0, i64::MAX] {
            for window in [0, 90 * 60_000, i64::MAX] {
                let writes: Vec<(&SeriesKey, &[Sample])> = keys
                    .iter()
                    .zip(&inputs)
                    .map(|(k, s)| (k, s.as_slice()))
                    .collect();
                let batched = e.check_writes(shard, &writes, window, backfill_from_ms);
                let each: Vec<_> = writes
                    .iter()
                    .map(|&(k, s)| {
                        let id = e.series_id_of_key(shard, k);
                        (id, e.check_append(shard, id, s, window, backfill_from_ms))
                    })
                    .collect();
                assert_eq!(
                    batched, each,
                    "shard {shard}, window {window}, backfill from {backfill_from_ms}"
                );
            }
        }
    }
    // The cases are all there: the comparison is not between empty answers.
    let keys_a = [SeriesKey::from(&up("a"))];
    let a = e.check_writes(S, &[(&keys_a[0], inputs[0].as_slice())], i64::MAX, 0);
    let (id, c) = &a[0];
    assert!(id.is_some());
    assert_eq!(
        (
            c.accepted.len(),
            c.backfill.len(),
            c.duplicates,
            c.conflicting
        ),
        (2, 1, 3, 2),
        "{c:?}"
    );
}

fn range_clipping(f: &mut dyn Factory) {
    let e = f.make(opts());
    write(
        &*e,
        1,
        &up("a"),
        (0..10).map(|i| Sample::new(i * 1000, i as f64)).collect(),
    );
    write(&*e, 2, &up("b"), samples(&[(50_000, 1.0)]));
    let got = select(&*e, &[eq("__name__", "up")], 2000, 4000);
    assert_eq!(
        names(&got),
        vec![r#"up{job="a"}"#],
        "series without samples in range are skipped"
    );
    assert_eq!(
        got[0].samples,
        samples(&[(2000, 2.0), (3000, 3.0), (4000, 4.0)])
    );
    assert!(select(&*e, &[eq("__name__", "up")], 10_000, 49_999).is_empty());
    assert!(select(&*e, &[eq("__name__", "up")], 5000, 4000).is_empty());
}

fn label_names_and_values(f: &mut dyn Factory) {
    let e = f.make(opts());
    write(
        &*e,
        1,
        &labels(&[("__name__", "up"), ("job", "a"), ("zone", "z1")]),
        samples(&[(1000, 1.0)]),
    );
    write(
        &*e,
        2,
        &labels(&[("__name__", "req"), ("job", "b")]),
        samples(&[(1000, 1.0)]),
    );
    write(
        &*e,
        3,
        &labels(&[("__name__", "old"), ("job", "c")]),
        samples(&[(-10 * H, 1.0)]),
    );
    assert_eq!(
        e.label_names(S, &[], 0, 10_000).unwrap(),
        set(&["__name__", "job", "zone"])
    );
    assert_eq!(
        e.label_names(S, &[eq("__name__", "req")], 0, 10_000)
            .unwrap(),
        set(&["__name__", "job"])
    );
    assert_eq!(
        e.label_values(S, "job", &[], 0, 10_000).unwrap(),
        set(&["a", "b"])
    );
    assert_eq!(
        e.label_values(S, "job", &[eq("zone", "z1")], 0, 10_000)
            .unwrap(),
        set(&["a"])
    );
    assert_eq!(
        e.label_values(S, "job", &[], -11 * H, 10_000).unwrap(),
        set(&["a", "b", "c"])
    );
    assert_eq!(e.label_values(S, "nope", &[], 0, 10_000).unwrap(), set(&[]));
    let series = e.series(S, &[eq("job", "b")], 0, 10_000).unwrap();
    assert_eq!(series, vec![labels(&[("__name__", "req"), ("job", "b")])]);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod mem {
            $( #[test] fn $name() { super::$name(&mut super::MemFactory) } )*
        }
        #[cfg(feature = "rocksdb")]
        mod rocks {
            $( #[test] fn $name() {
                let mut f = super::RocksFactory { dir: tempfile::tempdir().unwrap(), n: 0 };
                super::$name(&mut f)
            } )*
        }
    };
}

conformance!(
    apply_and_select_head,
    matcher_ops,
    new_series_and_concurrent_create,
    identical_duplicates_are_noops,
    conflicting_value_first_wins,
    out_of_order_merge,
    check_append_counts,
    check_writes_answers_as_per_series,
    range_clipping,
    label_names_and_values,
    seal_partition,
    reads_exact_across_partial_flushes,
    flush_during_select_loses_nothing,
    expire_partitions,
    delete_hides_samples,
    digest_ignores_flush_timing,
    many_series_is_not_quadratic,
    seal_reencodes_identically,
    seal_partition_without_data,
    sealing_many_series_matches_never_flushing,
    expire_series_then_partitions,
    expiry_digest_ignores_flush_timing,
    clean_tombstones_changes_no_read,
    rollups_are_the_windows_of_the_raw_data,
    rollup_digests_ignore_flush_timing,
    deletes_and_rollups_agree_across_flush_timing,
    rolled_days_are_not_rebuilt_from_less,
    rollups_agree_under_a_random_log,
    backfill_into_sealed_partitions,
    backfill_recomputes_rolled_up_days,
    a_late_sample_in_a_gap_of_a_rolled_day_is_rolled_up,
    select_rolled_stands_for_expired_raw_data,
    history_marks_move_when_the_past_changes,
    prepared_flushes_interleaved_with_applies,
    histograms_apply_and_select_with_floats,
    histograms_stay_out_of_sealed_partitions,
    deletes_and_expiry_hide_histograms,
    the_digest_covers_histograms,
    histograms_read_the_same_whatever_the_flushes,
    check_histograms_answers_what_apply_would_keep,
);

#[path = "conformance/histograms.rs"]
pub(crate) mod histograms;
use histograms::{
    check_histograms_answers_what_apply_would_keep, deletes_and_expiry_hide_histograms,
    histograms_apply_and_select_with_floats, histograms_read_the_same_whatever_the_flushes,
    histograms_stay_out_of_sealed_partitions, the_digest_covers_histograms,
};

#[path = "conformance/flush.rs"]
mod flush;
use flush::{
    digest_ignores_flush_timing, flush_during_select_loses_nothing, many_series_is_not_quadratic,
    reads_exact_across_partial_flushes, seal_partition, workload,
};

#[path = "conformance/deletes.rs"]
mod deletes;
use deletes::{delete_hides_samples, expire_partitions};

#[path = "conformance/prepared.rs"]
mod prepared;
use prepared::prepared_flushes_interleaved_with_applies;

#[path = "conformance/history.rs"]
mod history;
use history::history_marks_move_when_the_past_changes;

#[path = "conformance/backfill.rs"]
mod backfill;
use backfill::{
    a_late_sample_in_a_gap_of_a_rolled_day_is_rolled_up, backfill_into_sealed_partitions,
    backfill_recomputes_rolled_up_days, select_rolled_stands_for_expired_raw_data,
};

#[path = "conformance/rollup.rs"]
mod rollup;
use rollup::{
    deletes_and_rollups_agree_across_flush_timing, rolled_days_are_not_rebuilt_from_less,
    rollup_digests_ignore_flush_timing, rollups_are_the_windows_of_the_raw_data,
};

#[path = "conformance/rollup_log.rs"]
mod rollup_log;
use rollup_log::rollups_agree_under_a_random_log;

#[path = "conformance/retention.rs"]
mod retention;
use retention::{
    clean_tombstones_changes_no_read, expire_series_then_partitions,
    expiry_digest_ignores_flush_timing,
};

#[path = "conformance/sealed.rs"]
mod sealed;
use sealed::{
    seal_partition_without_data, seal_reencodes_identically,
    sealing_many_series_matches_never_flushing,
};

#[cfg(feature = "rocksdb")]
#[path = "conformance/rocks_recovery.rs"]
mod rocks_recovery;
