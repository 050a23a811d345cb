//! The results cache against whole evaluation, over a real in-memory engine whose history
//! marks move as commands apply.

use std::sync::Arc;

use tidemark_storage::{Command, Engine, EngineOptions, MemEngine, Sample, SeriesRef, WriteBatch};

use super::*;
use crate::querier::EngineQuerier;

const MIN: i64 = 60_000;
const H: i64 = 60 * MIN;
const SHARDS: [ShardId; 2] = [0, 1];

/// Two shards of a fleet: `up`, a counter and a histogram per instance, scraped every 15 s
/// from `0` to `until_ms`.
struct Fleet {
    engine: Arc<MemEngine>,
    index: u64,
}

impl Fleet {
    fn new() -> Fleet {
        Fleet {
            engine: Arc::new(MemEngine::new(EngineOptions {
                partition_ms: 2 * H,
                chunk_samples_max: 120,
            })),
            index: 0,
        }
    }

    fn labels(name: &str, instance: usize, extra: Option<(&str, &str)>) -> Labels {
        let inst = format!("host-{instance}");
        let mut pairs = vec![
            ("__name__", name),
            ("instance", inst.as_str()),
            ("job", "node"),
        ];
        pairs.extend(extra);
        Labels::from_pairs(&pairs)
    }

    /// Writes one sample of `labels` at `t` into the shard its instance falls in.
    fn write(&mut self, labels: &Labels, t: i64, v: f64) {
        let shard = SHARDS[labels.get("instance").map_or(0, |i| i.len()) % 2];
        self.index += 1;
        let (new_series, series) = match self.engine.series_id(shard, labels) {
            Some(id) => (vec![], SeriesRef::Id(id)),
            None => (vec![labels.clone()], SeriesRef::New(0)),
        };
        let cmd = Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series,
            samples: vec![(series, vec![Sample::new(t, v)])],
        });
        // Each shard has its own log; one counter serves both (indexes only need to grow).
        self.engine.apply(shard, self.index, &cmd).expect("apply");
    }

    fn scrape(&mut self, from_ms: i64, until_ms: i64) {
        let mut t = from_ms;
        while t <= until_ms {
            for i in 0..12 {
                let x = (t / 15_000) as f64;
                self.write(&Self::labels("up", i, None), t, 1.0);
                self.write(
                    &Self::labels("requests_total", i, None),
                    t,
                    x * (i + 1) as f64 + (x * 0.37).sin(),
                );
                for (k, le) in ["0.1", "0.5", "1", "+Inf"].iter().enumerate() {
                    self.write(
                        &Self::labels("latency_bucket", i, Some(("le", le))),
                        t,
                        x * (k + 1 + i % 3) as f64,
                    );
                }
            }
            t += 15_000;
        }
    }

    fn querier(&self) -> EngineQuerier {
        EngineQuerier::new(self.engine.clone(), SHARDS.to_vec())
    }
}

const QUERIES: &[&str] = &[
    "sum by (instance) (rate(requests_total[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(latency_bucket[5m])))",
    "avg_over_time(up[10m]) * 2",
    "max_over_time(rate(requests_total[2m])[20m:1m])",
    "requests_total offset 1h",
    "topk(3, requests_total)",
    "count(up) + scalar(sum(up))",
    "absent(nothing_here)",
    "timestamp(up{instance=\"host-3\"})",
    "predict_linear(requests_total[30m], 3600)",
];

fn engine() -> PromqlEngine {
    PromqlEngine::default()
}

fn cache(config: ResultsCacheConfig) -> ResultsCache {
    ResultsCache::new(config)
}

/// Samples with their values' bits, so that NaN compares equal to NaN.
fn bits(r: &QueryResult) -> Vec<(String, Vec<(i64, u64)>)> {
    match &r.value {
        Value::Matrix(m) => m
            .iter()
            .map(|s| {
                (
                    s.labels.to_string(),
                    s.floats.iter().map(|x| (x.t, x.v.to_bits())).collect(),
                )
            })
            .collect(),
        other => panic!("a range query answered {other:?}"),
    }
}

fn range<'a>(text: &'a str, start_ms: i64, end_ms: i64, step_ms: i64) -> RangeQuery<'a> {
    RangeQuery {
        text,
        start_ms,
        end_ms,
        step_ms,
        variant: "",
    }
}

fn whole(q: &RangeQuery<'_>, querier: &dyn Querier) -> QueryResult {
    engine()
        .range(querier, q.text, q.start_ms, q.end_ms, q.step_ms)
        .expect("whole evaluation")
}

#[test]
fn a_refreshed_dashboard_gets_the_answers_of_whole_evaluation_and_evaluates_only_new_steps() {
    let mut fleet = Fleet::new();
    let day = 24 * H;
    // Data across a day boundary, so that ranges are cut into two pieces.
    let t0 = 10 * day - 4 * H;
    fleet.scrape(t0, t0 + 6 * H);
    let querier = fleet.querier();
    let c = cache(ResultsCacheConfig::default());
    let mut now = t0 + 5 * H;
    for refresh in 0..6 {
        for &text in QUERIES {
            let end = now.div_euclid(MIN) * MIN;
            let q = range(text, end - 2 * H, end, MIN);
            let got = c
                .range(&engine(), &querier, &q, now)
                .expect("cached evaluation");
            let want = whole(&q, &querier);
            assert_eq!(bits(&got), bits(&want), "{text} at refresh {refresh}");
            assert_eq!(got.warnings, want.warnings, "{text}");
            assert_eq!(got.infos, want.infos, "{text}");
        }
        now += 30_000;
    }
    let n = c.counters();
    assert_eq!(n.uncacheable, 0);
    assert_eq!(n.queries, 6 * QUERIES.len() as u64);
    // Every query after the first of each expression found its extents.
    assert!(n.hits >= 5 * QUERIES.len() as u64 * 2, "{n:?}");
    // Of 121 steps, the refreshes evaluate the newest 5 minutes and a step or two more.
    assert!(n.steps_cached > 5 * n.steps_evaluated / 2, "{n:?}");
    assert_eq!(n.invalidations, 0);
    assert!(
        n.bytes > 0 && n.entries == 2 * QUERIES.len() as u64,
        "{n:?}"
    );
}

#[test]
fn the_newest_steps_are_never_stored() {
    let mut fleet = Fleet::new();
    fleet.scrape(0, 3 * H);
    let querier = fleet.querier();
    let c = cache(ResultsCacheConfig::default());
    let q = range("sum(rate(requests_total[5m]))", H, 3 * H, MIN);
    // The wall clock right after the data: the last 5 minutes are not stored.
    let whole_before = whole(&q, &querier);
    c.range(&engine(), &querier, &q, 3 * H).unwrap();
    let before = c.counters();
    c.range(&engine(), &querier, &q, 3 * H).unwrap();
    let n = c.counters();
    assert_eq!(n.steps_evaluated - before.steps_evaluated, 5);
    assert_eq!(n.steps_cached - before.steps_cached, 121 - 5);

    // A sample for one of those steps arriving later (a new series two minutes back: within
    // the shard's settling time, so no change of the past) is in the next answer.
    let late = Fleet::labels("requests_total", 1, Some(("path", "/late")));
    fleet.write(&late, 3 * H - 2 * MIN, 1e6);
    fleet.write(&late, 3 * H - MIN, 2e6);
    let got = c.range(&engine(), &querier, &q, 3 * H).unwrap();
    let want = whole(&q, &querier);
    assert_eq!(bits(&got), bits(&want));
    assert_eq!(c.counters().invalidations, 0, "not a change of the past");
    assert!(bits(&got) != bits(&whole_before), "the late samples show");
}

#[test]
fn a_change_of_the_past_throws_the_extents_away() {
    let mut fleet = Fleet::new();
    fleet.scrape(0, 3 * H);
    let querier = fleet.querier();
    let c = cache(ResultsCacheConfig::default());
    let q = range("sum by (instance) (requests_total)", 0, 2 * H, MIN);
    let first = c.range(&engine(), &querier, &q, 4 * H).unwrap();

    // A sample two hours late (of a new series): older than the shard settles.
    let late = Fleet::labels("requests_total", 3, Some(("path", "/late")));
    fleet.write(&late, H + 7_000, 1e9);
    let got = c.range(&engine(), &querier, &q, 4 * H).unwrap();
    let want = whole(&q, &querier);
    assert_eq!(bits(&got), bits(&want));
    assert!(bits(&got) != bits(&first), "the late sample shows");
    assert_eq!(c.counters().invalidations, 1);

    // A delete too.
    let shard = SHARDS[late.get("instance").unwrap().len() % 2];
    let ids = fleet
        .engine
        .matching_series(
            shard,
            &[tidemark_storage::Matcher::equal("instance", "host-3")],
            0,
            4 * H,
        )
        .unwrap();
    fleet.index += 1;
    fleet
        .engine
        .apply(
            shard,
            fleet.index,
            &Command::Delete {
                series: ids,
                mint_ms: 0,
                maxt_ms: 4 * H,
            },
        )
        .unwrap();
    let got = c.range(&engine(), &querier, &q, 4 * H).unwrap();
    assert_eq!(bits(&got), bits(&whole(&q, &querier)));
    assert!(!bits(&got).iter().any(|(l, _)| l.contains("host-3")));
    assert_eq!(c.counters().invalidations, 2);
}

#[test]
fn queries_whose_steps_read_later_data_or_whose_steps_are_not_aligned_are_evaluated_whole() {
    let mut fleet = Fleet::new();
    fleet.scrape(0, 3 * H);
    let querier = fleet.querier();
    let c = cache(ResultsCacheConfig::default());
    for (text, start) in [
        ("up @ end()", H),
        ("rate(requests_total[5m] @ 3600)", H),
        ("up offset -5m", H),
        ("max_over_time(up[10m:1m] @ start())", H),
        ("up", H + 1_000),
    ] {
        let q = range(text, start, 2 * H, MIN);
        for _ in 0..2 {
            let got = c.range(&engine(), &querier, &q, 4 * H).unwrap();
            assert_eq!(bits(&got), bits(&whole(&q, &querier)), "{text}");
        }
    }
    let n = c.counters();
    assert_eq!((n.uncacheable, n.queries, n.entries), (10, 0, 0));
}

#[test]
fn the_cache_keeps_within_its_bytes_and_drops_the_least_recently_used() {
    let mut fleet = Fleet::new();
    fleet.scrape(0, 3 * H);
    let querier = fleet.querier();
    let bytes_max = 64 << 10;
    let c = cache(ResultsCacheConfig {
        bytes_max,
        ..ResultsCacheConfig::default()
    });
    let ask = |i: usize| {
        let text = format!("requests_total * {i}");
        let q = range(&text, 0, 2 * H, MIN);
        let got = c.range(&engine(), &querier, &q, 4 * H).unwrap();
        assert_eq!(bits(&got), bits(&whole(&q, &querier)));
        assert!(c.counters().bytes <= bytes_max);
    };
    // Extents of 12 series x 121 steps: two fit.
    ask(0);
    ask(1);
    assert_eq!(c.counters().entries, 2, "{:?}", c.counters());
    // 0 used again, then a third: 1, the least recently used, goes (first in, first out
    // would drop 0).
    ask(0);
    ask(2);
    let n = c.counters();
    assert_eq!((n.entries, n.evictions, n.hits), (2, 1, 1), "{n:?}");
    ask(0);
    assert_eq!(c.counters().hits, 2);
    ask(1);
    assert_eq!(c.counters().hits, 2, "1 was evicted");
}

#[test]
fn evaluations_with_annotations_are_answered_but_not_kept() {
    let mut fleet = Fleet::new();
    fleet.scrape(0, 3 * H);
    let querier = fleet.querier();
    let c = cache(ResultsCacheConfig::default());
    // `up` is no counter by its name: an info.
    let q = range("sum(rate(up[5m]))", H, 2 * H, MIN);
    for _ in 0..2 {
        let got = c.range(&engine(), &querier, &q, 4 * H).unwrap();
        let want = whole(&q, &querier);
        assert!(!want.infos.is_empty());
        assert_eq!(bits(&got), bits(&want));
        assert_eq!((&got.warnings, &got.infos), (&want.warnings, &want.infos));
    }
    let n = c.counters();
    assert_eq!((n.entries, n.hits, n.queries), (0, 0, 2), "{n:?}");
}

#[test]
fn series_that_may_meet_under_a_whole_range_check_are_evaluated_whole() {
    let mut fleet = Fleet::new();
    // Two counters with one label set once the name is dropped: `a_total` until 1 h, then
    // `b_total`. Whole evaluation over both hours refuses the range function's result; each
    // hour alone would not, so the cache leaves such a query to whole evaluation.
    for k in 0..480 {
        let t = k * 15_000;
        let name = if t < H { "a_total" } else { "b_total" };
        let labels = Labels::from_pairs(&[("__name__", name), ("instance", "host-1")]);
        fleet.write(&labels, t, k as f64);
    }
    let querier = fleet.querier();
    let c = cache(ResultsCacheConfig::default());
    let first = range(
        r#"rate({__name__=~"a_total|b_total"}[5m])"#,
        0,
        30 * MIN,
        MIN,
    );
    c.range(&engine(), &querier, &first, 4 * H).unwrap();
    let both = range(r#"rate({__name__=~"a_total|b_total"}[5m])"#, 0, 2 * H, MIN);
    let got = c.range(&engine(), &querier, &both, 4 * H);
    let want = engine().range(&querier, both.text, 0, 2 * H, MIN);
    assert!(want.is_err(), "whole evaluation refuses it");
    let text = |r: Result<QueryResult, QueryError>| r.map(|r| bits(&r)).map_err(|e| e.to_string());
    assert_eq!(text(got), text(want));
    for text in [
        "-{job=\"node\"}",
        "label_replace(up, \"x\", \"1\", \"\", \"\")",
        "rate((requests_total or up)[5m:1m])",
    ] {
        c.range(&engine(), &querier, &range(text, 0, H, MIN), 4 * H)
            .unwrap();
    }
    let n = c.counters();
    assert_eq!((n.uncacheable, n.queries), (5, 0), "{n:?}");
    // With the name pinned, nothing can meet: cached.
    let pinned = range("-rate(requests_total[5m]) * 2", 0, H, MIN);
    c.range(&engine(), &querier, &pinned, 4 * H).unwrap();
    assert_eq!(c.counters().queries, 1);
}

#[test]
fn a_range_reaching_before_the_extent_evaluates_the_steps_on_both_sides() {
    let mut fleet = Fleet::new();
    fleet.scrape(0, 5 * H);
    let querier = fleet.querier();
    let c = cache(ResultsCacheConfig::default());
    let text = "sum(rate(requests_total[5m]))";
    c.range(&engine(), &querier, &range(text, 2 * H, 3 * H, MIN), 6 * H)
        .unwrap();
    let before = c.counters();
    let wider = range(text, H, 4 * H, MIN);
    let got = c.range(&engine(), &querier, &wider, 6 * H).unwrap();
    assert_eq!(bits(&got), bits(&whole(&wider, &querier)));
    let n = c.counters();
    assert_eq!(n.steps_cached - before.steps_cached, 61);
    assert_eq!(n.steps_evaluated - before.steps_evaluated, 181 - 61);
    // The grown extent serves the whole range next.
    c.range(&engine(), &querier, &wider, 6 * H).unwrap();
    assert_eq!(c.counters().steps_evaluated, n.steps_evaluated);
}

#[test]
fn pieces_follow_the_split_interval_on_the_step_grid() {
    let q = range("x", 0, 100, 7);
    let p = pieces(&q, 30);
    let spans: Vec<(i64, i64, i64)> = p.iter().map(|p| (p.index, p.from_ms, p.to_ms)).collect();
    assert_eq!(
        spans,
        vec![(0, 0, 28), (1, 35, 56), (2, 63, 84), (3, 91, 98)],
        "{p:?}"
    );
    // A step longer than the interval: one step per piece.
    let q = range("x", -20, 20, 20);
    let spans: Vec<(i64, i64)> = pieces(&q, 5).iter().map(|p| (p.from_ms, p.to_ms)).collect();
    assert_eq!(spans, vec![(-20, -20), (0, 0), (20, 20)]);
}
