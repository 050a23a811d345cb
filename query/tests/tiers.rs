//! Queries stitched across tiers answer what the raw data would have answered.
//!
//! Two engines receive the same four days of samples. One keeps them raw; the other rolls every
//! day up into both tiers, then drops the first day's 1-minute windows and the raw samples of
//! the first two and a half days, so its data is 1-hour windows, then 1-minute windows, then
//! raw samples. Every function the rollup columns answer is compared over ranges made of whole
//! windows that straddle each boundary: equal up to floating-point rounding (the windows' sums
//! are added in another order), for `rate` and `increase` too (the columns hold exactly what
//! Prometheus' extrapolation reads). Functions the columns cannot answer, ranges not made of
//! whole windows and pinned tiers are checked for their annotations and contents.

use std::sync::Arc;

use tidemark_query::{
    EngineQuerier, MatrixSeries, PromqlEngine, QueryLimits, QueryResult, TierPinned, Value,
};
use tidemark_storage::{
    Command, Engine, EngineOptions, ExpireScope, Labels, MemEngine, Sample, SeriesRef, Tier,
    WriteBatch,
};

const S: u32 = 0;
const M: i64 = 60_000;
const H: i64 = 60 * M;
const DAY: i64 = 24 * H;
/// Raw samples are kept after this time in the tiered engine.
const RAW_FLOOR: i64 = 3 * DAY + 12 * H;
/// The data: days 1 to 4 (from `DAY` to `5 * DAY`).
const END: i64 = 5 * DAY;

fn opts() -> EngineOptions {
    EngineOptions {
        partition_ms: 2 * H,
        chunk_samples_max: 120,
    }
}

/// Counters with resets and gauges, every 15 s with a per-series offset.
fn series() -> Vec<(Labels, Vec<Sample>)> {
    let mut out = Vec::new();
    for (j, job) in ["a", "b", "c"].into_iter().enumerate() {
        let offset = j as i64 * 4_000 + 1_000;
        let times: Vec<i64> = (0..(END - DAY) / 15_000)
            .map(|i| DAY + i * 15_000 + offset)
            .collect();
        let mut c = 0.0;
        let counter = times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                c = if i % 5_000 == 4_999 {
                    3.0
                } else {
                    c + ((i * 7 + j) % 11) as f64
                };
                Sample::new(t, c)
            })
            .collect();
        let gauge = times
            .iter()
            .enumerate()
            .map(|(i, &t)| Sample::new(t, (((i * 13 + j * 5) % 97) as f64 - 40.0) / 4.0))
            .collect();
        out.push((
            Labels::from_pairs(&[("__name__", "req_total"), ("job", job)]),
            counter,
        ));
        out.push((
            Labels::from_pairs(&[("__name__", "temp"), ("job", job)]),
            gauge,
        ));
    }
    out
}

struct Engines {
    raw: Arc<dyn Engine>,
    tiered: Arc<dyn Engine>,
}

fn apply(e: &dyn Engine, index: &mut u64, cmd: Command) {
    *index += 1;
    e.apply(S, *index, &cmd).expect("apply");
}

fn engines() -> Engines {
    let raw: Arc<dyn Engine> = Arc::new(MemEngine::new(opts()));
    let tiered: Arc<dyn Engine> = Arc::new(MemEngine::new(opts()));
    for e in [&raw, &tiered] {
        let mut index = 0;
        for (labels, samples) in series() {
            apply(
                &**e,
                &mut index,
                Command::Write(WriteBatch {
                    histograms: Vec::new(),
                    new_series: vec![labels],
                    samples: vec![(SeriesRef::New(0), samples)],
                }),
            );
        }
        if Arc::ptr_eq(e, &raw) {
            continue;
        }
        let mut p = DAY;
        while p < END - 2 * H {
            apply(
                &**e,
                &mut index,
                Command::Seal {
                    partition_start_ms: p,
                },
            );
            p += 2 * H;
        }
        for day in 1..4 {
            for tier in [Tier::Rollup1m, Tier::Rollup1h] {
                apply(
                    &**e,
                    &mut index,
                    Command::RollUp {
                        tier,
                        unit_start_ms: day * DAY,
                        skip: vec![],
                    },
                );
            }
        }
        // The first day keeps only 1-hour windows.
        apply(
            &**e,
            &mut index,
            Command::ExpirePartition {
                tier: Tier::Rollup1m,
                partition_start_ms: DAY,
                scope: ExpireScope::All,
            },
        );
        let mut p = DAY;
        while p < RAW_FLOOR {
            apply(
                &**e,
                &mut index,
                Command::ExpirePartition {
                    tier: Tier::Raw,
                    partition_start_ms: p,
                    scope: ExpireScope::All,
                },
            );
            p += 2 * H;
        }
        e.flush(S, b"").expect("flush");
    }
    Engines { raw, tiered }
}

fn run(e: &Arc<dyn Engine>, expr: &str, start: i64, end: i64, step: i64) -> QueryResult {
    let q = EngineQuerier::new(e.clone(), vec![S]);
    PromqlEngine::new(QueryLimits::default())
        .range(&q, expr, start, end, step)
        .unwrap_or_else(|err| panic!("{expr}: {err}"))
}

fn matrix(r: &QueryResult) -> &[MatrixSeries] {
    match &r.value {
        Value::Matrix(m) => m,
        other => panic!("not a matrix: {other:?}"),
    }
}

fn assert_close(expr: &str, got: &QueryResult, want: &QueryResult) {
    let (g, w) = (matrix(got), matrix(want));
    assert_eq!(
        g.iter().map(|s| &s.labels).collect::<Vec<_>>(),
        w.iter().map(|s| &s.labels).collect::<Vec<_>>(),
        "{expr}: series"
    );
    for (gs, ws) in g.iter().zip(w) {
        let (labels, gs, ws) = (&gs.labels, &gs.floats, &ws.floats);
        assert_eq!(
            gs.iter().map(|s| s.t).collect::<Vec<_>>(),
            ws.iter().map(|s| s.t).collect::<Vec<_>>(),
            "{expr} {labels:?}: steps"
        );
        for (a, b) in gs.iter().zip(ws) {
            let tol = 1e-9 * b.v.abs().max(1.0);
            assert!(
                (a.v - b.v).abs() <= tol,
                "{expr} {labels:?} at {}: {} from tiers, {} from raw",
                a.t,
                a.v,
                b.v
            );
        }
    }
    assert!(got.warnings.is_empty(), "{expr}: {:?}", got.warnings);
    assert!(got.infos.is_empty(), "{expr}: {:?}", got.infos);
}

/// Queries the columns answer exactly, at steps and ranges made of whole windows.
const EXACT: &[&str] = &[
    "rate(req_total[2h])",
    "increase(req_total[3h])",
    "sum by (job) (rate(req_total[2h]))",
    "delta(temp[2h])",
    "sum_over_time(temp[2h])",
    "count_over_time(temp[2h])",
    "avg_over_time(temp[2h])",
    "min_over_time(temp[2h])",
    "max_over_time(temp[2h])",
    "last_over_time(temp[1h])",
    "first_over_time(temp[2h])",
    "present_over_time(temp[2h])",
    "ts_of_last_over_time(temp[1h])",
    "temp",
    "timestamp(temp)",
    "sum(temp)",
];

#[test]
fn hourly_steps_across_every_tier_equal_the_raw_answers() {
    let e = engines();
    // From the 1-hour day through the 1-minute days into the raw samples.
    let (start, end) = (DAY + 3 * H, END - H);
    for expr in EXACT {
        let want = run(&e.raw, expr, start, end, H);
        let got = run(&e.tiered, expr, start, end, H);
        assert!(!matrix(&want).is_empty(), "{expr}: no data");
        assert_close(expr, &got, &want);
    }
}

#[test]
fn minute_steps_across_the_raw_floor_equal_the_raw_answers() {
    let e = engines();
    let (start, end) = (RAW_FLOOR - 2 * H, RAW_FLOOR + 2 * H);
    for expr in [
        "rate(req_total[10m])",
        "increase(req_total[30m])",
        "sum_over_time(temp[5m])",
        "max_over_time(temp[10m])",
        "temp",
    ] {
        let want = run(&e.raw, expr, start, end, 5 * M);
        let got = run(&e.tiered, expr, start, end, 5 * M);
        assert_close(expr, &got, &want);
    }
}

#[test]
fn what_the_columns_cannot_answer_exactly_says_so() {
    let e = engines();
    let (start, end) = (DAY + 3 * H, 3 * DAY);
    let got = run(&e.tiered, "irate(req_total[2h])", start, end, H);
    assert!(!matrix(&got).is_empty());
    assert!(
        got.warnings
            .iter()
            .any(|w| w.contains("irate cannot be computed exactly from rollup windows")),
        "{:?}",
        got.warnings
    );
    // Grafana's `$__rate_interval` is rarely whole windows: only windows ending within the
    // range are read, and the answer says so.
    let got = run(&e.tiered, "rate(req_total[1h15s])", start, end, H);
    let want = run(&e.tiered, "rate(req_total[1h])", start, end, H);
    assert!(
        got.infos
            .iter()
            .any(|i| i.contains("not made of whole rollup windows")),
        "{:?}",
        got.infos
    );
    assert_eq!(matrix(&got).len(), matrix(&want).len());
    assert!(
        want.infos
            .iter()
            .any(|i| i.contains("shorter than two rollup windows")),
        "{:?}",
        want.infos
    );
    // Raw data alone draws no annotation.
    let got = run(
        &e.tiered,
        "irate(req_total[2h])",
        RAW_FLOOR + 2 * H,
        END - H,
        H,
    );
    assert!(got.warnings.is_empty() && got.infos.is_empty());
}

#[test]
fn a_pinned_tier_answers_from_its_own_data_alone() {
    let e = engines();
    let q = EngineQuerier::new(e.tiered.clone(), vec![S]);
    let engine = PromqlEngine::new(QueryLimits::default());
    // After the raw floor, on a rolled-up day, both rollup tiers answer the raw count.
    let (start, end) = (RAW_FLOOR + 4 * H, 4 * DAY);
    let want = run(&e.raw, "count_over_time(temp[1h])", start, end, H);
    for tier in [Tier::Rollup1m, Tier::Rollup1h] {
        let pinned = TierPinned::new(&q, tier);
        let got = engine
            .range(&pinned, "count_over_time(temp[1h])", start, end, H)
            .unwrap();
        assert_close("count_over_time(temp[1h])", &got, &want);
    }
    // The first day has no 1-minute windows left, and no raw samples.
    for tier in [Tier::Rollup1m, Tier::Raw] {
        let pinned = TierPinned::new(&q, tier);
        let got = engine
            .range(
                &pinned,
                "count_over_time(temp[1h])",
                DAY + 2 * H,
                2 * DAY,
                H,
            )
            .unwrap();
        assert!(matrix(&got).is_empty(), "{tier}: {:?}", matrix(&got));
    }
    let pinned = TierPinned::new(&q, Tier::Rollup1h);
    let got = engine
        .range(
            &pinned,
            "count_over_time(temp[1h])",
            DAY + 2 * H,
            2 * DAY,
            H,
        )
        .unwrap();
    assert_eq!(matrix(&got).len(), 3);
}
