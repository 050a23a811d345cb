//! Differential PromQL test: one deterministic dataset is remote-written (1.0) to a real
//! Prometheus 3.5 and to Tidemark, then several hundred instant and range queries (every
//! function, operator, aggregation and modifier, staleness and error cases) go to both HTTP APIs
//! and the answers are compared: HTTP status, `status`, `errorType` (not the message),
//! `resultType`, label sets, timestamps exactly and values within [`VALUE_REL_TOL`]. Every query
//! asks for `stats=all` (Prometheus runs with `promql-per-step-stats`), and where the results
//! agree, `totalQueryableSamples` and its per-step counts must agree too, and so must the
//! `warnings` and `infos`, word for word (positions included).
//!
//! Every difference is printed (query, both answers) together with a summary line
//! `promql differential: N queries, M identical, K differ`; the full report is also written to
//! `$TMPDIR/tidemark-promql-differential.txt`. The test fails on any difference that is not in
//! [`KNOWN_DIFFERENCES`].
//!
//! With `PROMQL_DIFF_SELF_CHECK=1` a second Prometheus takes Tidemark's place: every query must
//! then be identical, which checks the harness itself (data, comparison, ordering rules).
//! With `PROMQL_DIFF_HOLD_S=N` both servers stay up N seconds after the run, for a closer look.

mod cases;
mod compare;
mod data;
mod exprs;
mod histograms;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cases::*;
use compare::*;
use data::*;
use exprs::*;
use histograms::*;
use support::{Node, Prometheus, TestSeries, encode_write_v1, peers_bin, post_write_v1};

/// Differences that are understood and accepted, by exact query text, each with its reason.
/// A difference in Tidemark's engine is a bug: it goes here only with a clear reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "day_of_month(tm_weird)",
    "date functions of NaN/±Inf: Prometheus converts them with Go's platform-defined float->int64 \
     conversion (amd64: all become MinInt64, day 4; arm64 differs), so its answer is no reference; \
     Tidemark answers NaN for NaN (and 27 for -Inf)",
)];

/// Scrape interval of the generated data.
const STEP_MS: i64 = 15_000;
/// Samples per series at most: 45 minutes at 15 s.
const POINTS: i64 = 181;
/// The first sample lies this long before "now" (the last one 5 minutes before it).
const DATA_START_AGO_MS: i64 = 50 * 60_000;
/// Samples per remote-write request and series (5 minutes of data).
const STEPS_PER_WRITE: i64 = 20;
/// Relative tolerance when comparing sample values.
const VALUE_REL_TOL: f64 = 1e-9;
/// Values this close to zero count as equal: float summation-order noise (a Kahan-summed
/// 0 vs 1e-15), never a semantic difference.
const VALUE_ABS_TOL: f64 = 1e-12;
/// How long both systems may take to show every written series and sample.
const INGEST_TIMEOUT_S: u64 = 30;
/// Characters of an answer shown in the report.
const ANSWER_SHOWN_CHARS: usize = 700;
/// Seed of the generated data.
const SEED: u64 = 0x71de_5eed;
/// The Prometheus stale marker.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

// ---------------------------------------------------------------------------------------------
// Deterministic data

/// Starts Prometheus with no scrapes (evaluation_interval, the default subquery step, spelled
/// out) and the features the cases need, and waits until it is ready.
fn start_prometheus(bin: &Path, dir: &Path) -> Prometheus {
    Prometheus::start(
        bin,
        dir,
        "global:\n  evaluation_interval: 1m\nscrape_configs: []\n",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=promql-experimental-functions,promql-per-step-stats,native-histograms",
            "--query.lookback-delta=5m",
        ],
    )
}

/// Remote-writes the dataset to every target in time order, 5 minutes of every series per
/// request, the histograms of those 5 minutes after them (a shard takes samples only within
/// its out-of-order window of its newest).
async fn write_dataset(
    client: &reqwest::Client,
    targets: &[(&str, &str)],
    ds: &Dataset,
    hists: &[HistSeries],
) {
    let mut step = 0;
    while step < POINTS {
        let (lo, hi) = (ds.grid(step), ds.grid(step + STEPS_PER_WRITE));
        let batch: Vec<TestSeries> = ds
            .series
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter()
                        .copied()
                        .filter(|(t, _)| *t >= lo && *t < hi)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, s)| !s.is_empty())
            .collect();
        for (name, base) in targets {
            let (status, text) = post_write_v1(client, base, encode_write_v1(&batch))
                .await
                .expect("remote write request");
            assert!(
                (200..300).contains(&status),
                "{name} refused a remote write ({status}): {text}"
            );
        }
        write_histograms(client, targets, hists, (lo, hi)).await;
        step += STEPS_PER_WRITE;
    }
}

/// The value of a one-element instant vector answer.
fn single_value(a: &Answer) -> Option<f64> {
    let r = a.body.get("data")?.get("result")?.as_array()?;
    if r.len() != 1 {
        return None;
    }
    number(r[0].get("value")?.get(1)?.as_str()?)
}

/// Waits until `base` shows every series and sample of the dataset; false after the timeout.
async fn wait_ingested(client: &reqwest::Client, base: &str, ds: &Dataset) -> Result<(), String> {
    let probes = ingestion_probes(ds);
    let want = (ds.series.len() as f64, ds.real_samples() as f64);
    let deadline = Instant::now() + Duration::from_secs(INGEST_TIMEOUT_S);
    loop {
        let series = single_value(&ask(client, base, &probes[0]).await);
        let mut samples = Some(0.0);
        for probe in &probes[1..] {
            let v = single_value(&ask(client, base, probe).await);
            samples = samples.zip(v).map(|(a, b)| a + b);
        }
        if (series, samples) == (Some(want.0), Some(want.1)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "shows (series, samples) {:?}, written {want:?}",
                (series, samples)
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Queries that count the dataset's series (the first) and its samples (the sum of the rest, one
/// per metric name: `count_over_time` drops the name, so names cannot be mixed in one query).
fn ingestion_probes(ds: &Dataset) -> Vec<Case> {
    let at = ds.t1 + STEP_MS + 5_000; // after the last sample of every scrape offset
    let mut names: Vec<&str> = ds
        .series
        .iter()
        .filter_map(|(l, _)| {
            l.iter()
                .find(|(n, _)| n == "__name__")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut probes = vec![Case::instant(
        r#"count(last_over_time({__name__=~"tm_.+"}[1h]))"#,
        at,
    )];
    for name in names {
        probes.push(Case::instant(
            &format!("sum(count_over_time({name}[1h]))"),
            at,
        ));
    }
    probes
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_answers_match_prometheus() {
    let started = Instant::now();
    let bin = peers_bin()
        .expect("prometheus missing: run scripts/install-peers.sh (or set TIDEMARK_PEERS_BIN)");
    let dir = tempfile::tempdir().unwrap();
    let ds = build_dataset(now_ms() / STEP_MS * STEP_MS);
    assert!(
        (200..=500).contains(&ds.series.len()),
        "dataset has {} series",
        ds.series.len()
    );

    let prom = start_prometheus(&bin, &dir.path().join("prometheus"));
    // The system under test: Tidemark, or a second Prometheus when checking the harness.
    let self_check = std::env::var_os("PROMQL_DIFF_SELF_CHECK").is_some();
    let (node, twin) = if self_check {
        (
            None,
            Some(start_prometheus(&bin, &dir.path().join("prometheus-twin"))),
        )
    } else {
        (Some(Node::start(&dir.path().join("tidemark"), &[])), None)
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let node_url = match (&node, &twin) {
        (Some(n), _) => n.url(),
        (None, Some(p)) => p.url.clone(),
        (None, None) => unreachable!(),
    };
    let hists = build_histograms(ds.t0);
    write_dataset(
        &client,
        &[
            ("Prometheus", prom.url.as_str()),
            ("Tidemark", node_url.as_str()),
        ],
        &ds,
        &hists,
    )
    .await;
    let probe_at = ds.t1 + STEP_MS + 5_000;
    if let Err(e) = wait_histograms(&client, &prom.url, &hists, probe_at).await {
        panic!(
            "Prometheus did not take the histograms (a harness problem): {e}\n{}",
            prom.log()
        );
    }
    if let Err(e) = wait_histograms(&client, &node_url, &hists, probe_at).await {
        panic!("Tidemark did not take the histograms: {e}");
    }
    if let Err(e) = wait_ingested(&client, &prom.url, &ds).await {
        panic!(
            "Prometheus did not take the dataset (a harness problem): {e}\n{}",
            prom.log()
        );
    }
    let ingest_note = match wait_ingested(&client, &node_url, &ds).await {
        Ok(()) => String::new(),
        Err(e) => format!("NOTE: Tidemark's ingestion probe never matched the dataset: {e}\n"),
    };
    let loaded = started.elapsed();

    let mut cases = build_cases(&ds);
    cases.extend(histogram_cases(ds.t0, ds.t1));
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let mut report = String::new();
    report.push_str(&ingest_note);
    let (mut identical, mut differ, mut known) = (0usize, 0usize, 0usize);
    let mut unexpected: Vec<String> = Vec::new();
    let mut known_seen: Vec<&str> = Vec::new();
    let mut annotation_notes: Vec<String> = Vec::new();
    let mut stats_diffs: Vec<String> = Vec::new();
    // Identical answers that carry warnings or infos (compared word for word).
    let mut annotated = 0usize;
    // What Prometheus answered, so that a run of only errors or empty results shows.
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        let (p, t) = tokio::join!(ask(&client, &prom.url, case), ask(&client, &node_url, case));
        *shapes.entry(answer_shape(&p)).or_insert(0) += 1;
        match compare(&p, &t, case.order, ds.t0) {
            Ok(()) => {
                identical += 1;
                // Prometheus counts a histogram sample as (size + 8) / 16 samples, its size
                // following the span layout of the chunk it was read from: not compared.
                let over_histograms = case.expr.as_deref().is_some_and(|e| e.contains("nh_"));
                if over_histograms {
                } else if let Err(why) = compare_sample_stats(&p, &t) {
                    stats_diffs.push(format!("{}: {why}", case.describe(ds.t0)));
                    unexpected.push(format!("{} (stats)", case.describe(ds.t0)));
                }
                let (pa, ta) = (annotations(&p), annotations(&t));
                if !pa.0.is_empty() || !pa.1.is_empty() {
                    annotated += 1;
                }
                if pa != ta {
                    unexpected.push(format!("{} (annotations)", case.describe(ds.t0)));
                    annotation_notes.push(format!(
                        "{}: (warnings, infos) {pa:?} vs {ta:?}\n    prometheus: {}\n    tidemark:   {}",
                        case.describe(ds.t0),
                        shorten(&format!("{} {}", p.body["warnings"], p.body["infos"]), 300),
                        shorten(&format!("{} {}", t.body["warnings"], t.body["infos"]), 300),
                    ));
                }
            }
            Err(why) => {
                differ += 1;
                let expr = case.expr.as_deref().unwrap_or("");
                let known_reason = KNOWN_DIFFERENCES
                    .iter()
                    .find(|(q, _)| *q == expr)
                    .map(|(q, r)| (*q, *r));
                let tag = match known_reason {
                    Some((q, reason)) => {
                        known += 1;
                        known_seen.push(q);
                        format!("KNOWN ({reason})")
                    }
                    None => {
                        unexpected.push(case.describe(ds.t0));
                        "DIFF".to_string()
                    }
                };
                let _ = writeln!(
                    report,
                    "{tag} {}\n  why: {why}\n  prometheus ({}): {}\n  tidemark   ({}): {}",
                    case.describe(ds.t0),
                    p.http,
                    shorten(&p.text, ANSWER_SHOWN_CHARS),
                    t.http,
                    shorten(&t.text, ANSWER_SHOWN_CHARS)
                );
            }
        }
    }
    for (q, _) in KNOWN_DIFFERENCES {
        if !known_seen.contains(q) {
            let _ = writeln!(
                report,
                "NOTE: known difference no longer differs (remove it): {q:?}"
            );
        }
    }
    if !stats_diffs.is_empty() {
        let _ = writeln!(
            report,
            "STATS: {} identical answers count queryable samples differently:",
            stats_diffs.len()
        );
        for n in &stats_diffs {
            let _ = writeln!(report, "  {n}");
        }
    }
    if !annotation_notes.is_empty() {
        let _ = writeln!(
            report,
            "ANNOTATIONS: {} identical answers carry other warnings/infos, e.g.:",
            annotation_notes.len()
        );
        for n in annotation_notes.iter().take(15) {
            let _ = writeln!(report, "  {n}");
        }
    }
    if let Some(node) = node.as_ref().filter(|_| {
        tidemark_testkit::http::get_status(&format!("{node_url}/-/ready")).ok() != Some(200)
    }) {
        let log = node.log();
        let tail: String = log
            .chars()
            .skip(log.chars().count().saturating_sub(4000))
            .collect();
        let _ = writeln!(
            report,
            "NOTE: Tidemark no longer answers /-/ready; log tail:\n{tail}"
        );
    }
    let summary = format!(
        "promql differential: {} queries, {identical} identical, {differ} differ ({known} known, {} unexpected); \
         {} with other sample stats, {} with other annotations ({annotated} annotated); \
         load {:.1} s, total {:.1} s",
        cases.len(),
        unexpected.len(),
        stats_diffs.len(),
        annotation_notes.len(),
        loaded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(report, "Prometheus' answers by kind: {shapes:?}");
    report.push_str(&summary);
    report.push('\n');
    let report_path = std::env::temp_dir().join("tidemark-promql-differential.txt");
    let _ = std::fs::write(&report_path, &report);
    println!("{report}full report: {}", report_path.display());
    // To look at a difference by hand: both servers stay up this long, with their data.
    if let Some(hold_s) = std::env::var("PROMQL_DIFF_HOLD_S")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        println!(
            "holding {hold_s} s: prometheus {} tidemark {node_url} (T0 = {})",
            prom.url,
            fmt_s(ds.t0)
        );
        tokio::time::sleep(Duration::from_secs(hold_s)).await;
    }
    assert!(
        unexpected.is_empty(),
        "{summary}\nunexpected differences (details above and in {}):\n{}",
        report_path.display(),
        unexpected
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
