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

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// splitmix64: deterministic across platforms and crate versions.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The dataset and the times queries are built around (all in ms).
struct Dataset {
    series: Vec<TestSeries>,
    /// First grid time (the first sample of series with no offset).
    t0: i64,
    /// Last grid time.
    t1: i64,
}

impl Dataset {
    fn grid(&self, i: i64) -> i64 {
        self.t0 + i * STEP_MS
    }
    /// Samples that are not stale markers (what `count_over_time` counts).
    fn real_samples(&self) -> usize {
        self.series
            .iter()
            .map(|(_, s)| {
                s.iter()
                    .filter(|(_, v)| v.to_bits() != STALE_NAN_BITS)
                    .count()
            })
            .sum()
    }
}

fn labels(name: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l = vec![("__name__".to_string(), name.to_string())];
    l.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    l
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

const JOBS: [&str; 3] = ["api", "db", "web"];
/// Instance numbers chosen so that natural and lexicographic order differ (`-2` < `-10`).
const INSTANCE_NUMBERS: [&str; 3] = ["1", "2", "10"];
const BUCKETS: [(&str, f64); 12] = [
    ("0.005", 0.005),
    ("0.01", 0.01),
    ("0.025", 0.025),
    ("0.05", 0.05),
    ("0.1", 0.1),
    ("0.25", 0.25),
    ("0.5", 0.5),
    ("1", 1.0),
    ("2.5", 2.5),
    ("5", 5.0),
    ("10", 10.0),
    ("+Inf", f64::INFINITY),
];

/// About 240 series over 45 minutes: counters with resets, gauges, a classic histogram, series
/// that stop (with and without stale markers) and start late, label values that need escaping,
/// NaN and ±Inf values, and info-style series for vector matching.
fn build_dataset(anchor_ms: i64) -> Dataset {
    let t0 = anchor_ms - DATA_START_AGO_MS;
    let t1 = t0 + (POINTS - 1) * STEP_MS;
    let grid = |i: i64| t0 + i * STEP_MS;
    let mut rng = Rng(SEED);
    let mut out: Vec<TestSeries> = Vec::new();

    for (ji, &job) in JOBS.iter().enumerate() {
        for (ii, n) in INSTANCE_NUMBERS.iter().enumerate() {
            let instance = format!("{job}-{n}");
            // Scrape offsets differ per target, as real scrapes do (rate extrapolation sees it).
            let offset = ((ji * 3 + ii) as i64 * 1_337) % STEP_MS;
            let l = |name: &str, extra: &[(&str, &str)]| -> Vec<(String, String)> {
                let mut v = labels(name, &[("job", job), ("instance", instance.as_str())]);
                v.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
                v
            };

            // Counters: busy 200s, rare 500s (long flat stretches), occasional resets.
            for method in ["GET", "POST"] {
                for code in ["200", "500"] {
                    let per_s = if code == "200" {
                        0.5 + rng.f64() * 20.0
                    } else {
                        rng.f64() * 0.3
                    };
                    let fractional = rng.below(4) == 0;
                    let mut v = rng.below(1000) as f64;
                    let mut samples = Vec::new();
                    for i in 0..POINTS {
                        if i > 0 {
                            if rng.f64() < 0.012 {
                                v = rng.below(3) as f64;
                            } else {
                                let inc = per_s * 15.0 * (0.5 + rng.f64());
                                v += if fractional {
                                    (inc * 100.0).round() / 100.0
                                } else {
                                    inc.floor()
                                };
                            }
                        }
                        samples.push((grid(i) + offset, v));
                    }
                    out.push((
                        l("tm_requests_total", &[("method", method), ("code", code)]),
                        samples,
                    ));
                }
            }

            // Gauges: negative, decimal, zero and integer-valued series.
            for (zi, zone) in ["a", "b", "c", "d"].iter().enumerate() {
                let base = rng.f64() * 60.0 - 20.0;
                let amp = rng.f64() * 10.0;
                let period = 40.0 + rng.below(80) as f64;
                let mut samples = Vec::new();
                for i in 0..POINTS {
                    let v = if zi == 3 && ii == 0 {
                        0.0
                    } else if zi == 2 && ji == 1 {
                        (i % 7) as f64 - 3.0
                    } else {
                        let x = base
                            + amp * (std::f64::consts::TAU * i as f64 / period).sin()
                            + rng.f64()
                            - 0.5;
                        (x * 10.0).round() / 10.0
                    };
                    samples.push((grid(i) + offset, v));
                }
                out.push((l("tm_temperature_celsius", &[("zone", *zone)]), samples));
            }

            // A classic histogram; the target at index 4 restarts (all counters reset) at step 90.
            let target = ji * 3 + ii;
            let mut counts = [0u64; 12];
            let mut sum = 0.0f64;
            let mut buckets: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 12];
            let mut sums = Vec::new();
            let mut totals = Vec::new();
            for i in 0..POINTS {
                if target == 4 && i == 90 {
                    counts = [0; 12];
                    sum = 0.0;
                }
                if i > 0 {
                    for _ in 0..rng.below(30) {
                        let d = if rng.below(50) == 0 {
                            20.0
                        } else {
                            0.002 * 1000f64.powf(rng.f64())
                        };
                        sum += d;
                        for (b, (_, le)) in BUCKETS.iter().enumerate() {
                            if d <= *le {
                                counts[b] += 1;
                            }
                        }
                    }
                }
                let t = grid(i) + offset;
                for (bucket, count) in buckets.iter_mut().zip(counts) {
                    bucket.push((t, count as f64));
                }
                sums.push((t, sum));
                totals.push((t, counts[11] as f64));
            }
            for (b, (le, _)) in BUCKETS.iter().enumerate() {
                out.push((
                    l("tm_request_duration_seconds_bucket", &[("le", *le)]),
                    buckets[b].clone(),
                ));
            }
            out.push((l("tm_request_duration_seconds_sum", &[]), sums));
            out.push((l("tm_request_duration_seconds_count", &[]), totals));

            // Health and info series for vector matching.
            let up: Vec<(i64, f64)> = (0..POINTS)
                .map(|i| {
                    let v = match instance.as_str() {
                        "db-2" => 0.0,
                        "web-10" => ((i / 20) % 2) as f64,
                        _ => 1.0,
                    };
                    (grid(i) + offset, v)
                })
                .collect();
            out.push((l("tm_up", &[]), up));
            let version = format!("v1.{ji}");
            let info: Vec<(i64, f64)> = (0..POINTS).map(|i| (grid(i) + offset, 1.0)).collect();
            out.push((l("tm_info", &[("version", version.as_str())]), info));
        }
    }

    // One-side duplicates: api-1 has two versions.
    for (instance, version) in [("api-1", "a"), ("api-1", "b"), ("api-2", "a")] {
        let s: Vec<(i64, f64)> = (0..POINTS).map(|i| (grid(i), 1.0)).collect();
        out.push((
            labels(
                "tm_dup_info",
                &[("job", "api"), ("instance", instance), ("version", version)],
            ),
            s,
        ));
    }

    // Series that stop and start (no scrape offset, so that edges fall on exact grid times).
    // b0 full; b1 stops at step 100 with a stale marker; b2 stops at step 100 without one;
    // b3 starts at step 60; b4 has a gap 70..110 without marker; b5 has a stale marker at 70
    // and resumes at 110.
    for b in 0..6 {
        let instance = format!("b{b}");
        let mut last_success = Vec::new();
        let mut jobs_total = Vec::new();
        let mut done = 0.0;
        for i in 0..POINTS {
            let state = match (b, i) {
                (1, 100) | (5, 70) => Some(false),
                (1 | 2, i) if i >= 100 => None,
                (3, i) if i < 60 => None,
                (4, 70..110) | (5, 71..110) => None,
                _ => Some(true),
            };
            let t = grid(i);
            match state {
                None => {}
                Some(false) => {
                    last_success.push((t, stale()));
                    jobs_total.push((t, stale()));
                }
                Some(true) => {
                    if b == 0 && i == 120 {
                        done = 0.0;
                    }
                    done += rng.below(3) as f64;
                    last_success.push((t, (grid(i - i % 4) / 1000) as f64));
                    jobs_total.push((t, done));
                }
            }
        }
        let l = [("job", "batch"), ("instance", instance.as_str())];
        out.push((
            labels("tm_batch_last_success_timestamp_seconds", &l),
            last_success,
        ));
        out.push((labels("tm_batch_jobs_total", &l), jobs_total));
    }

    // Label values that need escaping in PromQL and JSON.
    for path in [
        "a\"b",
        "back\\slash",
        "new\nline",
        "ünïcødé 日本 🚀",
        "{}=~,;'",
    ] {
        let s: Vec<(i64, f64)> = (0..POINTS)
            .map(|i| (grid(i) + 500, rng.below(11) as f64 - 5.0))
            .collect();
        out.push((labels("tm_escaped", &[("path", path)]), s));
    }

    // NaN and infinities.
    for kind in ["nan", "inf", "ninf", "mixed"] {
        let s: Vec<(i64, f64)> = (0..POINTS)
            .map(|i| {
                let v = match kind {
                    "nan" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "ninf" => f64::NEG_INFINITY,
                    _ => match i % 10 {
                        3 => f64::NAN,
                        7 => f64::INFINITY,
                        _ => i as f64 * 0.5,
                    },
                };
                (grid(i) + 250, v)
            })
            .collect();
        out.push((labels("tm_weird", &[("kind", kind)]), s));
    }

    Dataset {
        series: out,
        t0,
        t1,
    }
}

// ---------------------------------------------------------------------------------------------
// Queries

/// How the series of an answer are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Order {
    /// As a set keyed by label set.
    Set,
    /// As a set, and the sequence of values must match too (`sort`, `sort_desc`, top-level
    /// `topk`/`bottomk`: ties may come in any order).
    ByValue,
    /// As a set, and the sequence of label sets must match too (`sort_by_label*`).
    ByLabels,
}

/// One request, sent unchanged to both systems.
#[derive(Clone, Debug)]
struct Case {
    /// `query` or `query_range`.
    endpoint: &'static str,
    /// The PromQL text (`None`: no `query` parameter at all).
    expr: Option<String>,
    /// Form parameters besides `query`.
    params: Vec<(String, String)>,
    order: Order,
}

impl Case {
    fn instant(expr: &str, t_ms: i64) -> Case {
        Case {
            endpoint: "query",
            expr: Some(expr.to_string()),
            params: vec![("time".into(), fmt_s(t_ms)), stats_all()],
            order: order_of(expr),
        }
    }

    fn range(expr: &str, start_ms: i64, end_ms: i64, step: &str) -> Case {
        Case {
            endpoint: "query_range",
            expr: Some(expr.to_string()),
            params: vec![
                ("start".into(), fmt_s(start_ms)),
                ("end".into(), fmt_s(end_ms)),
                ("step".into(), step.into()),
                stats_all(),
            ],
            order: Order::Set,
        }
    }

    fn raw(endpoint: &'static str, expr: Option<&str>, params: &[(&str, String)]) -> Case {
        Case {
            endpoint,
            expr: expr.map(str::to_string),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            order: Order::Set,
        }
    }

    /// The request, with times also shown relative to the first sample (`T0`).
    fn describe(&self, t0: i64) -> String {
        let mut s = format!(
            "{} {:?}",
            self.endpoint,
            self.expr.as_deref().unwrap_or("<no query parameter>")
        );
        for (k, v) in &self.params {
            let rel = match (k.as_str(), v.parse::<f64>()) {
                ("time" | "start" | "end", Ok(secs)) => {
                    let d = (secs * 1000.0).round() as i64 - t0;
                    format!(
                        " (T0{}{}.{:03}s)",
                        if d < 0 { "-" } else { "+" },
                        d.abs() / 1000,
                        d.abs() % 1000
                    )
                }
                _ => String::new(),
            };
            let _ = write!(s, " {k}={v}{rel}");
        }
        s
    }
}

/// Every query asks for `stats=all`: the sample counts are compared too.
fn stats_all() -> (String, String) {
    ("stats".into(), "all".into())
}

/// Whether both answers count the same queryable samples, in total and per step (Prometheus'
/// `data.stats.samples`; `peakSamples` follows each engine's own evaluation and is not
/// compared).
fn compare_sample_stats(p: &Answer, t: &Answer) -> Result<(), String> {
    let samples = |a: &Answer| a.body["data"]["stats"]["samples"].clone();
    let (ps, ts) = (samples(p), samples(t));
    if ps.is_null() {
        return Ok(());
    }
    for key in ["totalQueryableSamples", "totalQueryableSamplesPerStep"] {
        if ps[key] != ts[key] {
            return Err(format!(
                "{key} {} vs {}",
                shorten(&ps[key].to_string(), 300),
                shorten(&ts[key].to_string(), 300)
            ));
        }
    }
    Ok(())
}

/// Seconds with milliseconds, as both APIs accept them.
fn fmt_s(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether Prometheus' order of an instant answer matters: the whole query is one call of
/// `sort`, `sort_desc`, `sort_by_label[_desc]`, or `topk`/`bottomk` without grouping.
fn order_of(expr: &str) -> Order {
    let e = expr.trim();
    let Some(open) = e.find('(') else {
        return Order::Set;
    };
    let head = e[..open].trim();
    if !closes_at_end(e, open) {
        return Order::Set;
    }
    match head {
        "sort" | "sort_desc" | "topk" | "bottomk" => Order::ByValue,
        "sort_by_label" | "sort_by_label_desc" => Order::ByLabels,
        _ => Order::Set,
    }
}

/// Whether the parenthesis at `open` is closed by the last character of `e` (string literals
/// skipped).
fn closes_at_end(e: &str, open: usize) -> bool {
    let bytes = e.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut i = open;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q != b'`' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i == bytes.len() - 1;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    false
}

/// Expressions evaluated at several instants and over one range each.
fn general_exprs(ds: &Dataset) -> Vec<String> {
    let (t0, t1) = (ds.t0, ds.t1);
    let mid = t0 + 22 * 60_000 + 7_623;
    let mut v: Vec<String> = [
        // Selectors, matchers, escaping.
        r#"tm_requests_total"#,
        r#"tm_requests_total{job="api",code!="500"}"#,
        r#"tm_requests_total{job=~"api|db",instance!~".*-1"}"#,
        r#"{__name__=~"tm_(up|info)",job="web"}"#,
        r#"tm_temperature_celsius{zone=~"[ad]"}"#,
        r#"tm_temperature_celsius{zone!~"a|b",job!="db"}"#,
        r#"tm_escaped"#,
        r#"tm_escaped{path="a\"b"}"#,
        r#"tm_escaped{path=~".*\\\\.*"}"#,
        r#"tm_escaped{path="new\nline"}"#,
        r#"tm_escaped{path=~"ü.*"}"#,
        r#"tm_escaped{path="{}=~,;'"}"#,
        // String forms: raw (backtick) strings keep backslashes; single quotes; escapes.
        r#"tm_escaped{path=~`.*\\.*`}"#,
        r#"tm_escaped{path=~`back\\slash|a"b`}"#,
        r#"tm_escaped{path='a"b'}"#,
        r#"tm_escaped{path="\x61\"\142"}"#,
        r#"tm_escaped{path=~"\u00fc.*\U0001F680"}"#,
        r#"tm_temperature_celsius{zone=~`[ad]`}"#,
        r#"label_replace(tm_up, "job", "$2:$1", "instance", `(\w+)-(\d+)`)"#,
        r#"label_replace(tm_temperature_celsius, "n", "$1", "instance", `\w+-(\d)`)"#,
        r#"tm_weird"#,
        r#"tm_nonexistent"#,
        r#"tm_temperature_celsius offset 10m"#,
        r#"tm_temperature_celsius offset -3m"#,
        r#"tm_up{job="web"}"#,
        // Counter and gauge range functions.
        r#"rate(tm_requests_total[5m])"#,
        r#"rate(tm_requests_total{code="500"}[1m])"#,
        r#"rate(tm_requests_total[30s])"#,
        r#"rate(tm_requests_total[20s])"#,
        r#"irate(tm_requests_total[5m])"#,
        r#"irate(tm_requests_total[14s])"#,
        r#"increase(tm_requests_total[10m])"#,
        r#"increase(tm_requests_total[45s])"#,
        r#"resets(tm_requests_total[30m])"#,
        r#"changes(tm_requests_total{code="500"}[10m])"#,
        r#"changes(tm_temperature_celsius[5m])"#,
        r#"delta(tm_temperature_celsius[10m])"#,
        r#"idelta(tm_temperature_celsius[5m])"#,
        r#"deriv(tm_temperature_celsius[10m])"#,
        r#"deriv(tm_requests_total[3m])"#,
        r#"predict_linear(tm_temperature_celsius[10m], 3600)"#,
        r#"predict_linear(tm_requests_total{code="200"}[15m], 600)"#,
        r#"rate(tm_batch_jobs_total[5m])"#,
        r#"increase(tm_request_duration_seconds_count[5m])"#,
        r#"rate(tm_weird[5m])"#,
        r#"delta(tm_weird[2m])"#,
        r#"deriv(tm_weird[5m])"#,
        r#"rate(tm_temperature_celsius[5m])"#,
        r#"irate(tm_escaped[1m])"#,
        r#"resets(tm_temperature_celsius[10m])"#,
        // *_over_time.
        r#"avg_over_time(tm_temperature_celsius[10m])"#,
        r#"min_over_time(tm_temperature_celsius[10m])"#,
        r#"max_over_time(tm_temperature_celsius[3m])"#,
        r#"sum_over_time(tm_temperature_celsius[10m])"#,
        r#"count_over_time(tm_temperature_celsius[7m])"#,
        r#"quantile_over_time(0.9, tm_temperature_celsius[10m])"#,
        r#"quantile_over_time(0, tm_temperature_celsius[10m])"#,
        r#"quantile_over_time(1.5, tm_temperature_celsius[5m])"#,
        r#"quantile_over_time(-1, tm_temperature_celsius[5m])"#,
        r#"quantile_over_time(0.25, tm_weird[10m])"#,
        r#"stddev_over_time(tm_temperature_celsius[10m])"#,
        r#"stdvar_over_time(tm_temperature_celsius[10m])"#,
        r#"stddev_over_time(tm_up[30m])"#,
        r#"last_over_time(tm_batch_last_success_timestamp_seconds[10m])"#,
        r#"present_over_time(tm_batch_jobs_total[10m])"#,
        r#"absent_over_time(tm_nonexistent{job="x"}[5m])"#,
        r#"absent_over_time(tm_batch_jobs_total{instance="b1"}[5m])"#,
        r#"count_over_time(tm_weird[10m])"#,
        r#"avg_over_time(tm_weird[10m])"#,
        r#"max_over_time(tm_weird[10m])"#,
        r#"min_over_time(tm_weird[10m])"#,
        r#"sum_over_time(tm_weird[5m])"#,
        r#"stddev_over_time(tm_weird[5m])"#,
        r#"mad_over_time(tm_temperature_celsius[10m])"#,
        r#"ts_of_max_over_time(tm_temperature_celsius[10m])"#,
        r#"ts_of_min_over_time(tm_temperature_celsius[10m])"#,
        r#"ts_of_last_over_time(tm_batch_jobs_total[10m])"#,
        r#"double_exponential_smoothing(tm_temperature_celsius[10m], 0.3, 0.6)"#,
        r#"sum_over_time(tm_escaped[2m])"#,
        r#"avg_over_time(tm_requests_total[10m])"#,
        // Math and trigonometry.
        r#"abs(tm_temperature_celsius)"#,
        r#"ceil(tm_temperature_celsius)"#,
        r#"floor(tm_temperature_celsius)"#,
        r#"round(tm_temperature_celsius)"#,
        r#"round(tm_temperature_celsius, 0.5)"#,
        r#"round(tm_temperature_celsius, 5)"#,
        r#"round(tm_temperature_celsius / 3, 0.01)"#,
        r#"sqrt(tm_temperature_celsius)"#,
        r#"exp(tm_temperature_celsius / 10)"#,
        r#"ln(tm_temperature_celsius)"#,
        r#"log2(tm_temperature_celsius)"#,
        r#"log10(tm_requests_total)"#,
        r#"sgn(tm_temperature_celsius)"#,
        r#"clamp(tm_temperature_celsius, -5, 5)"#,
        r#"clamp_min(tm_temperature_celsius, 0)"#,
        r#"clamp_max(tm_temperature_celsius, 10.5)"#,
        r#"clamp(tm_temperature_celsius, 5, -5)"#,
        r#"abs(tm_weird)"#,
        r#"ln(tm_weird)"#,
        r#"exp(-tm_weird)"#,
        r#"round(tm_weird)"#,
        r#"clamp(tm_weird, 0, 10)"#,
        r#"sgn(tm_weird)"#,
        r#"sin(tm_temperature_celsius)"#,
        r#"cos(tm_temperature_celsius)"#,
        r#"tan(tm_temperature_celsius)"#,
        r#"asin(tm_temperature_celsius / 50)"#,
        r#"acos(tm_temperature_celsius / 50)"#,
        r#"atan(tm_temperature_celsius)"#,
        r#"sinh(tm_temperature_celsius / 10)"#,
        r#"cosh(tm_temperature_celsius / 10)"#,
        r#"tanh(tm_temperature_celsius)"#,
        r#"asinh(tm_temperature_celsius)"#,
        r#"acosh(tm_temperature_celsius)"#,
        r#"atanh(tm_temperature_celsius / 50)"#,
        r#"deg(tm_temperature_celsius)"#,
        r#"rad(tm_temperature_celsius)"#,
        r#"pi()"#,
        r#"sin(tm_weird)"#,
        r#"acos(tm_weird)"#,
        // Time, scalar, vector.
        r#"timestamp(tm_temperature_celsius)"#,
        r#"timestamp(tm_batch_last_success_timestamp_seconds)"#,
        r#"time()"#,
        r#"vector(time())"#,
        r#"time() - tm_batch_last_success_timestamp_seconds"#,
        r#"timestamp(tm_temperature_celsius offset 5m)"#,
        r#"scalar(sum(tm_up))"#,
        r#"scalar(tm_up)"#,
        r#"vector(1)"#,
        r#"vector(scalar(tm_nonexistent))"#,
        r#"scalar(tm_up{instance="db-2"}) + 1"#,
        r#"1"#,
        r#"-2.5"#,
        r#"NaN"#,
        r#"Inf"#,
        r#"-Inf"#,
        r#"0x1F"#,
        r#"1e3"#,
        r#"2 ^ 3 ^ 2"#,
        r#"-2 ^ 2"#,
        r#"1 + 2 * 3 % 4 - 5 / 2"#,
        r#"(1 + 2) * 3"#,
        r#"1 == bool 1"#,
        r#"2 <= bool 1"#,
        // Date functions.
        r#"hour()"#,
        r#"minute()"#,
        r#"month()"#,
        r#"year()"#,
        r#"day_of_month()"#,
        r#"day_of_week()"#,
        r#"day_of_year()"#,
        r#"days_in_month()"#,
        r#"hour(timestamp(tm_up))"#,
        r#"minute(tm_batch_last_success_timestamp_seconds)"#,
        r#"day_of_week(tm_batch_last_success_timestamp_seconds)"#,
        r#"year(tm_temperature_celsius)"#,
        r#"month(tm_temperature_celsius * 86400 * 40)"#,
        r#"days_in_month(vector(1709251200))"#,
        r#"day_of_year(vector(1735603200))"#,
        r#"day_of_month(tm_weird)"#,
        // Labels.
        r#"label_replace(tm_temperature_celsius, "host", "$1", "instance", "(.*)-\\d+")"#,
        r#"label_replace(tm_temperature_celsius, "zone", "", "zone", "a")"#,
        r#"label_replace(tm_escaped, "p2", "x${1}y", "path", "(.*)")"#,
        r#"label_replace(tm_up, "job", "$2:$1", "instance", "(\\w+)-(\\d+)")"#,
        r#"label_replace(tm_up, "nomatch", "x", "instance", "zzz")"#,
        r#"label_replace(tm_up, "__name__", "tm_renamed", "", "")"#,
        r#"label_join(tm_temperature_celsius, "foo", ",", "job", "zone")"#,
        r#"label_join(tm_escaped, "j", "|", "path", "__name__")"#,
        r#"label_join(tm_up, "instance", "", "nonexistent")"#,
        // Sorting.
        r#"sort(tm_temperature_celsius)"#,
        r#"sort_desc(rate(tm_requests_total[5m]))"#,
        r#"sort(tm_weird)"#,
        r#"sort_desc(tm_weird)"#,
        r#"sort_by_label(tm_temperature_celsius, "instance")"#,
        r#"sort_by_label_desc(tm_temperature_celsius, "zone", "instance")"#,
        r#"sort_by_label(tm_escaped, "path")"#,
        // absent.
        r#"absent(tm_nonexistent{job="x",env=~"y"})"#,
        r#"absent(tm_temperature_celsius)"#,
        r#"absent(tm_up{job="nope"})"#,
        r#"absent(sum(tm_nonexistent))"#,
        r#"absent(tm_nonexistent{job="x"} offset 5m)"#,
        // Classic histograms.
        r#"histogram_quantile(0.9, rate(tm_request_duration_seconds_bucket[5m]))"#,
        r#"histogram_quantile(0.5, sum by (job, le) (rate(tm_request_duration_seconds_bucket[5m])))"#,
        r#"histogram_quantile(0.99, sum by (le) (rate(tm_request_duration_seconds_bucket[10m])))"#,
        r#"histogram_quantile(0, sum by (le) (rate(tm_request_duration_seconds_bucket[5m])))"#,
        r#"histogram_quantile(1, sum by (le) (rate(tm_request_duration_seconds_bucket[5m])))"#,
        r#"histogram_quantile(1.5, rate(tm_request_duration_seconds_bucket[5m]))"#,
        r#"histogram_quantile(-0.5, rate(tm_request_duration_seconds_bucket[5m]))"#,
        r#"histogram_quantile(0.75, tm_request_duration_seconds_bucket)"#,
        r#"histogram_quantile(0.5, rate(tm_request_duration_seconds_bucket[30s]))"#,
        r#"histogram_quantile(0.9, tm_temperature_celsius)"#,
        // Annotations carry the position of the argument they are about, over several lines too.
        "rate(\n  tm_temperature_celsius[5m]\n)",
        "sum by (zone) (\n\tquantile_over_time(2, tm_temperature_celsius[5m])\n) # comment, (\n",
        r#"quantile by (job) (-0.5, tm_temperature_celsius) + on() group_left quantile(2, tm_up)"#,
        r#"histogram_quantile(0.5, tm_temperature_celsius) or histogram_quantile(2, rate(tm_request_duration_seconds_bucket[5m]))"#,
        r#"histogram_fraction(0, 0.25, rate(tm_request_duration_seconds_bucket[5m]))"#,
        r#"histogram_fraction(0.1, 1, sum by (le) (rate(tm_request_duration_seconds_bucket[5m])))"#,
        r#"histogram_fraction(-1, 0.05, tm_request_duration_seconds_bucket)"#,
        r#"histogram_fraction(2, 1, tm_request_duration_seconds_bucket)"#,
        r#"histogram_fraction(0, +Inf, tm_request_duration_seconds_bucket)"#,
        r#"histogram_fraction(-Inf, 0.5, tm_temperature_celsius)"#,
        r#"histogram_quantile(0.9, sum by (le) (rate(tm_request_duration_seconds_bucket{le!="+Inf"}[5m])))"#,
        r#"histogram_quantile(0.5, rate(tm_request_duration_seconds_bucket{le!="1"}[5m]))"#,
        r#"rate(tm_request_duration_seconds_sum[5m]) / rate(tm_request_duration_seconds_count[5m])"#,
        r#"sum by (le) (tm_request_duration_seconds_bucket)"#,
        // Binary operators.
        r#"tm_temperature_celsius + 1"#,
        r#"tm_temperature_celsius * -2.5"#,
        r#"tm_temperature_celsius / 0"#,
        r#"0 / tm_temperature_celsius"#,
        r#"tm_temperature_celsius % 7"#,
        r#"tm_temperature_celsius % -3"#,
        r#"tm_temperature_celsius ^ 2"#,
        r#"2 ^ tm_temperature_celsius"#,
        r#"-tm_temperature_celsius"#,
        r#"tm_temperature_celsius - tm_temperature_celsius"#,
        r#"tm_temperature_celsius / tm_temperature_celsius"#,
        r#"tm_temperature_celsius atan2 10"#,
        r#"tm_temperature_celsius atan2 tm_temperature_celsius offset 1m"#,
        r#"tm_requests_total - tm_requests_total offset 5m"#,
        r#"tm_temperature_celsius == 0"#,
        r#"tm_temperature_celsius != 0"#,
        r#"tm_temperature_celsius > 10"#,
        r#"tm_temperature_celsius >= bool 10"#,
        r#"tm_temperature_celsius < bool 0"#,
        r#"10 < tm_temperature_celsius"#,
        r#"10 >= bool tm_temperature_celsius"#,
        r#"tm_up == 1"#,
        r#"tm_up == bool 1"#,
        r#"tm_weird > 0"#,
        r#"tm_weird == bool tm_weird"#,
        r#"tm_weird + tm_weird"#,
        r#"tm_escaped * 2"#,
        r#"tm_escaped == bool 0"#,
        r#"tm_up and on(job, instance) tm_info"#,
        r#"rate(tm_requests_total[5m]) > 0.5 and on(job, instance) tm_up == 1"#,
        r#"tm_temperature_celsius or tm_up"#,
        r#"tm_temperature_celsius unless on(instance) tm_up == 0"#,
        r#"tm_requests_total unless tm_requests_total{code="500"}"#,
        r#"tm_up and tm_up{job="db"}"#,
        r#"tm_up or on(job) tm_temperature_celsius"#,
        r#"tm_up{job="api"} or on(job) tm_temperature_celsius"#,
        r#"tm_temperature_celsius + on(job, instance) group_left tm_up"#,
        r#"tm_temperature_celsius * on(job, instance) group_left(version) tm_info"#,
        r#"tm_info * on(job, instance) group_right(version) tm_temperature_celsius"#,
        r#"tm_temperature_celsius / ignoring(zone) group_left sum by (job, instance) (tm_temperature_celsius)"#,
        r#"tm_temperature_celsius > on(job, instance) group_left tm_up"#,
        r#"tm_temperature_celsius > bool on(job, instance) group_left tm_up"#,
        r#"rate(tm_requests_total[5m]) / ignoring(code) group_left sum without (code) (rate(tm_requests_total[5m]))"#,
        r#"sum by (job) (tm_up) / on(job) count by (job) (tm_up)"#,
        r#"2 * tm_temperature_celsius"#,
        r#"tm_temperature_celsius - scalar(sum(tm_up))"#,
        r#"vector(1) + vector(2)"#,
        r#"tm_up + on() group_left vector(100)"#,
        r#"-tm_up"#,
        r#"tm_up - -1"#,
        // Aggregations.
        r#"sum(tm_temperature_celsius)"#,
        r#"sum by (job) (tm_temperature_celsius)"#,
        r#"sum without (zone) (tm_temperature_celsius)"#,
        r#"avg by (zone) (tm_temperature_celsius)"#,
        r#"min by (job) (tm_temperature_celsius)"#,
        r#"max without (instance) (tm_temperature_celsius)"#,
        r#"count(tm_temperature_celsius)"#,
        r#"count by (job, code) (tm_requests_total)"#,
        r#"group by (job) (tm_temperature_celsius)"#,
        r#"group(tm_temperature_celsius)"#,
        r#"stddev by (job) (tm_temperature_celsius)"#,
        r#"stdvar(tm_temperature_celsius)"#,
        r#"stddev(tm_up)"#,
        r#"topk(3, tm_temperature_celsius)"#,
        r#"bottomk(2, tm_temperature_celsius)"#,
        r#"topk by (job) (1, tm_temperature_celsius)"#,
        r#"topk(3, rate(tm_requests_total[5m]))"#,
        // Which of several tied series topk/bottomk keep is not specified by Prometheus (and
        // integer counters tie often): sums of random durations do not tie.
        r#"bottomk(3, rate(tm_request_duration_seconds_sum[5m]))"#,
        r#"topk(0, tm_up)"#,
        r#"topk(2, tm_weird)"#,
        r#"bottomk(2, tm_weird)"#,
        r#"quantile(0.5, tm_temperature_celsius)"#,
        r#"quantile by (job) (0.9, tm_temperature_celsius)"#,
        r#"quantile(2, tm_temperature_celsius)"#,
        r#"quantile(-1, tm_up)"#,
        r#"count_values("value", tm_up)"#,
        r#"count_values by (job) ("v", round(tm_temperature_celsius))"#,
        r#"count_values("job", tm_up)"#,
        r#"sum(tm_weird)"#,
        r#"avg(tm_weird)"#,
        r#"max(tm_weird)"#,
        r#"min(tm_weird)"#,
        r#"count(tm_weird)"#,
        r#"stddev(tm_weird)"#,
        r#"sum by (kind) (tm_weird)"#,
        r#"max(tm_weird{kind!="inf"})"#,
        r#"min(tm_weird{kind=~"nan|mixed"})"#,
        r#"sum(tm_nonexistent)"#,
        r#"avg(tm_escaped)"#,
        r#"count by (path) (tm_escaped)"#,
        r#"sum(tm_temperature_celsius) by (job)"#,
        r#"avg without () (tm_temperature_celsius)"#,
        r#"topk(scalar(count(tm_up)) - 6, tm_temperature_celsius)"#,
        r#"quantile(scalar(tm_up{instance="api-1"}) / 4, tm_temperature_celsius)"#,
        r#"sum by (le) (rate(tm_request_duration_seconds_bucket[5m]))"#,
        r#"sum(rate(tm_request_duration_seconds_sum[5m])) / sum(rate(tm_request_duration_seconds_count[5m]))"#,
        r#"count(count by (job) (tm_up))"#,
        r#"sum by (__name__) ({__name__=~"tm_up|tm_info"})"#,
        r#"max by (instance) (tm_batch_last_success_timestamp_seconds)"#,
        r#"avg(tm_requests_total)"#,
        r#"sum without (job, instance, method, code) (tm_requests_total)"#,
        r#"group without (zone) (tm_temperature_celsius)"#,
        // Modifiers and subqueries.
        r#"tm_temperature_celsius @ start()"#,
        r#"tm_temperature_celsius @ end()"#,
        r#"rate(tm_requests_total[5m] @ end())"#,
        r#"rate(tm_requests_total[5m] offset 10m)"#,
        r#"rate(tm_requests_total[5m] @ start() offset -5m)"#,
        r#"max_over_time(rate(tm_requests_total[5m])[20m:1m])"#,
        r#"avg_over_time(tm_temperature_celsius[10m:30s])"#,
        r#"min_over_time(tm_temperature_celsius[15m:2m] offset 5m)"#,
        r#"sum_over_time(tm_up[30m:5m])"#,
        r#"quantile_over_time(0.5, tm_temperature_celsius[10m:])"#,
        r#"rate(tm_requests_total[1m:15s])"#,
        r#"count_over_time(tm_batch_jobs_total[20m:1m])"#,
        r#"deriv(sum(tm_requests_total)[10m:30s])"#,
        r#"max_over_time(sum by (job) (rate(tm_requests_total[2m]))[10m:20s])"#,
        r#"last_over_time(tm_batch_last_success_timestamp_seconds[10m:1m])"#,
        r#"avg_over_time(tm_temperature_celsius[7m:45s] @ end())"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend([
        format!("tm_temperature_celsius @ {}", fmt_s(mid)),
        format!("tm_temperature_celsius offset 5m @ {}", fmt_s(t1)),
        format!("sum_over_time(tm_temperature_celsius[10m] @ {})", fmt_s(t1)),
        format!("tm_up @ {}", fmt_s(t0 - 3_600_000)),
        format!("tm_up @ {}", fmt_s(t1 + 600_000)),
        format!("timestamp(tm_up @ {})", fmt_s(mid)),
        format!(
            "max_over_time(deriv(tm_temperature_celsius[5m])[15m:1m] @ {})",
            fmt_s(t1)
        ),
    ]);
    v
}

/// Expressions whose instant answer is a range vector or a string (their range queries fail).
fn instant_only_exprs(ds: &Dataset) -> Vec<String> {
    let mut v: Vec<String> = [
        r#"tm_temperature_celsius{zone="a"}[5m]"#,
        r#"tm_batch_jobs_total[10m]"#,
        r#"tm_weird[2m]"#,
        r#"tm_escaped[1m]"#,
        r#"tm_temperature_celsius{zone="b"}[5m] offset 5m"#,
        r#"rate(tm_requests_total{code="500"}[5m])[10m:1m]"#,
        r#"tm_up[30s:10s]"#,
        r#"tm_temperature_celsius{zone="c"}[10m:]"#,
        r#""hello""#,
        r#""esc\"aped \\ ü""#,
        r#"`raw \d \n \\ "`"#,
        r#"'single \'quoted\' "x"'"#,
        r#""\x41\u00e9\U0001F680\101\a\t\v\f\b\r""#,
        "`two\nlines`",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("tm_up[1m] @ {}", fmt_s(ds.t1)));
    v
}

/// Expressions whose answers change where series stop, pause and start.
const STALENESS_EXPRS: &[&str] = &[
    r#"tm_batch_last_success_timestamp_seconds"#,
    r#"tm_batch_jobs_total"#,
    r#"rate(tm_batch_jobs_total[1m])"#,
    r#"count_over_time(tm_batch_jobs_total[2m])"#,
    r#"last_over_time(tm_batch_last_success_timestamp_seconds[10m])"#,
    r#"absent(tm_batch_jobs_total{instance="b1"})"#,
    r#"timestamp(tm_batch_jobs_total)"#,
    r#"tm_batch_jobs_total offset 1m"#,
    r#"present_over_time(tm_batch_jobs_total[1m])"#,
    r#"changes(tm_batch_jobs_total[30m])"#,
];

/// Expressions evaluated at the edges of the data (before, first sample, end of lookback ...).
const EDGE_EXPRS: &[&str] = &[
    r#"tm_temperature_celsius"#,
    r#"rate(tm_requests_total[5m])"#,
    r#"count(tm_temperature_celsius)"#,
    r#"sum_over_time(tm_temperature_celsius[1h])"#,
    r#"absent(tm_temperature_celsius)"#,
    r#"changes(tm_up[1h])"#,
    r#"timestamp(tm_escaped)"#,
];

/// Queries that must fail the same way in both (parse, execution and parameter errors).
const ERROR_EXPRS: &[&str] = &[
    // Parse errors.
    r#"sum("#,
    r#"rate(tm_requests_total)"#,
    r#"tm_up{"#,
    r#"1 +"#,
    r#"tm_up tm_info"#,
    r#"1 > 2"#,
    r#"sum by (job) tm_up"#,
    r#"rate(tm_requests_total[5m]"#,
    r#"histogram_quantile(0.9)"#,
    r#"label_replace(tm_up, "a")"#,
    r#"nonexistent_function(tm_up)"#,
    r#"tm_up[5m] + 1"#,
    r#"tm_up offset"#,
    r#"{}"#,
    r#"{job=~".*"}"#,
    r#"tm_up @ foo()"#,
    r#"topk("a", tm_up)"#,
    r#"quantile_over_time(tm_up[5m])"#,
    r#"abs(tm_up, 1)"#,
    r#"time(1)"#,
    r#"rate(tm_up[5m] offset 1x)"#,
    r#"vector(1)[5m]"#,
    r#"tm_up[5m:1m:1m]"#,
    r#""str" + 1"#,
    r#"sum(tm_up) by (job) by (instance)"#,
    r#"tm_up{__name__="tm_info"}"#,
    r#"tm_up @ 1 @ 2"#,
    r#"tm_up offset 1m offset 2m"#,
    r#"count_values(1, tm_up)"#,
    r#"round(tm_up, 1, 2)"#,
    r#"clamp(tm_up, 1)"#,
    r#"histogram_quantile(tm_up, tm_up)"#,
    r#"1 and 2"#,
    r#"tm_up and 1"#,
    r#"tm_up + on(job) group_left(job) tm_info"#,
    r#"tm_up and bool tm_info"#,
    r#"rate(tm_up[0s])"#,
    // Execution errors.
    r#"tm_temperature_celsius + on(job) tm_up"#,
    r#"tm_temperature_celsius + ignoring(zone) tm_up"#,
    r#"tm_temperature_celsius * on(job) group_left tm_up"#,
    r#"tm_up * on(job, instance) group_left(version) tm_dup_info"#,
    r#"tm_up * on(instance) group_left(zone) tm_temperature_celsius"#,
    r#"label_replace(tm_temperature_celsius, "instance", "x", "", "")"#,
    r#"label_replace(tm_up, "1bad", "$1", "instance", "(.*)")"#,
    r#"label_replace(tm_up, "x", "$1", "instance", "(")"#,
    r#"count_values("1bad", tm_up)"#,
    r#"label_join(tm_up, "1bad", ",", "job")"#,
    r#"label_join(tm_up, "x", ",", "1bad")"#,
    r#"-{__name__=~"tm_batch.*"}"#,
    r#"rate({__name__=~"tm_batch.*"}[5m])"#,
    r#"topk(NaN, tm_up)"#,
    r#"quantile(NaN, tm_up)"#,
    r#"topk(1e100, tm_up)"#,
    r#"topk(-1, tm_up)"#,
    // Invalid escapes.
    r#""\q""#,
    r#""\x4""#,
    r#""\400""#,
    r#"'\"'"#,
    r#""\u00""#,
    r#"`unterminated"#,
];

/// Every case, deterministic for a dataset.
fn build_cases(ds: &Dataset) -> Vec<Case> {
    let (t0, t1) = (ds.t0, ds.t1);
    let min = 60_000;
    let mid = t0 + 22 * min + 7_623;
    let mut cases = Vec::new();

    // Ingestion probes: every series and every sample arrived.
    cases.extend(ingestion_probes(ds));
    // Names dropped by count_over_time: duplicate label sets, an execution error.
    cases.push(Case::instant(
        r#"count(count_over_time({__name__=~"tm_.+"}[1h]))"#,
        t1 + STEP_MS + 5_000,
    ));

    let extra_times = [
        t0,
        t0 + 61_000,
        mid + 333,
        t0 + 25 * min,
        t1 - 7 * min - 500,
        t1 + 301_000,
        t0 - 3_600_000,
        t1 + 30 * min,
    ];
    let ranges: [(i64, i64, &str); 8] = [
        (t0, t1, "60"),
        (mid - 10 * min, mid + 5 * min, "15s"),
        (t1 - 20 * min, t1 + 10 * min, "37"),
        (t0 - 5 * min, t0 + 10 * min, "20s"),
        (mid, mid + 5 * min, "1.5"),
        (t0 + 2 * min, t1 - 3 * min, "5m"),
        (t0 + 7 * min + 123, t0 + 40 * min, "1m30s"),
        (t1 - 10 * min, t1 + 5 * min, "10s"),
    ];
    for (k, e) in general_exprs(ds).iter().enumerate() {
        for t in [mid, t1 + 150_000, extra_times[k % extra_times.len()]] {
            cases.push(Case::instant(e, t));
        }
        let (s, end, step) = ranges[k % ranges.len()];
        cases.push(Case::range(e, s, end, step));
    }

    for e in instant_only_exprs(ds) {
        cases.push(Case::instant(&e, mid));
        cases.push(Case::instant(&e, t1 + 60_000));
        cases.push(Case::range(&e, mid, mid + 5 * min, "1m"));
    }

    let g = |i: i64| ds.grid(i);
    let stale_times = [
        g(100) - 1,
        g(100),
        g(100) + 1,
        g(99) + 5 * min - 1,
        g(99) + 5 * min,
        g(100) + 5 * min,
        g(70),
        g(110) - 1,
        g(110),
        g(60) - 1,
        g(60),
    ];
    for e in STALENESS_EXPRS {
        for t in stale_times {
            cases.push(Case::instant(e, t));
        }
        cases.push(Case::range(e, g(55), g(125), "15s"));
        cases.push(Case::range(e, g(90), g(130), "7"));
    }

    let edge_times = [
        t0 - 3_600_000,
        t0 - 1,
        t0,
        t0 + 1,
        t0 + 15_000,
        t1 - 1,
        t1,
        t1 + 250,
        t1 + 299_999,
        t1 + 300_000,
        t1 + 320_001,
        t1 + 3_600_000,
    ];
    for e in EDGE_EXPRS {
        for t in edge_times {
            cases.push(Case::instant(e, t));
        }
    }

    for e in ERROR_EXPRS {
        cases.push(Case::instant(e, mid));
    }
    // A few of them as range queries too.
    for e in &ERROR_EXPRS[..3] {
        cases.push(Case::range(e, mid, mid + 5 * min, "1m"));
    }
    let last_error = ERROR_EXPRS.len() - 17;
    for e in &ERROR_EXPRS[last_error..] {
        cases.push(Case::range(e, t1 - 10 * min, t1, "1m"));
    }

    // Request parameters: resolution limit (11,000 points allowed, 11,001 not), end before
    // start, bad steps and times, time formats, single-point ranges.
    let q = Some("vector(1)");
    let r = "query_range";
    let ts = |k: &'static str, t: i64| (k, fmt_s(t));
    cases.extend([
        Case::raw(
            r,
            Some("tm_up"),
            &[ts("start", t0), ts("end", t1), ("step", "0.2".into())],
        ),
        Case::raw(
            r,
            q,
            &[
                ts("start", mid),
                ts("end", mid + 11_000_000),
                ("step", "1".into()),
            ],
        ),
        Case::raw(
            r,
            q,
            &[
                ts("start", mid),
                ts("end", mid + 11_001_000),
                ("step", "1".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid - 60_000),
                ("step", "15s".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "0".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "-15".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "abc".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[ts("start", mid), ts("end", mid + 60_000)],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ("start", "abc".into()),
                ts("end", mid),
                ("step", "15".into()),
            ],
        ),
        Case::raw(r, Some("tm_up"), &[ts("start", mid), ("step", "15".into())]),
        Case::raw(
            r,
            None,
            &[
                ts("start", mid),
                ts("end", mid + 60_000),
                ("step", "15".into()),
            ],
        ),
        Case::raw("query", Some("tm_up"), &[("time", "abc".into())]),
        Case::raw("query", None, &[ts("time", mid)]),
        Case::raw("query", Some("tm_up"), &[("time", rfc3339(mid))]),
        Case::raw(
            "query",
            Some("rate(tm_requests_total[5m])"),
            &[("time", rfc3339(t1 - 61_500))],
        ),
        Case::raw(
            r,
            Some("sum by (job) (rate(tm_requests_total[5m]))"),
            &[
                ("start", rfc3339(t0 + 5 * min)),
                ("end", rfc3339(t1)),
                ("step", "2m".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_temperature_celsius"),
            &[ts("start", mid), ts("end", mid), ("step", "60".into())],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", mid),
                ts("end", mid + 1_000),
                ("step", "15s".into()),
            ],
        ),
        Case::raw(
            r,
            Some("rate(tm_requests_total[2m])"),
            &[
                ts("start", mid),
                ts("end", mid + 10_000),
                ("step", "0.5".into()),
            ],
        ),
        Case::raw(
            r,
            Some("tm_up"),
            &[
                ts("start", t0 - 7_200_000),
                ts("end", t0 - 3_600_000),
                ("step", "60".into()),
            ],
        ),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------------
// Asking and comparing

/// One system's answer to a case.
struct Answer {
    /// HTTP status (0: the request itself failed).
    http: u16,
    /// The JSON body (`Null` when the body is not JSON).
    body: serde_json::Value,
    /// The body as text, for the report.
    text: String,
}

async fn ask(client: &reqwest::Client, base: &str, case: &Case) -> Answer {
    let mut form: Vec<(String, String)> = Vec::new();
    if let Some(e) = &case.expr {
        form.push(("query".into(), e.clone()));
    }
    form.extend(case.params.iter().cloned());
    match client
        .post(format!("{base}/api/v1/{}", case.endpoint))
        .form(&form)
        .send()
        .await
    {
        Ok(r) => {
            let http = r.status().as_u16();
            let text = r
                .text()
                .await
                .unwrap_or_else(|e| format!("<body unreadable: {e}>"));
            let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            Answer { http, body, text }
        }
        Err(e) => Answer {
            http: 0,
            body: serde_json::Value::Null,
            text: format!("<request failed: {e}>"),
        },
    }
}

type Key = BTreeMap<String, String>;
type Points = Vec<(i64, String)>;

fn fmt_key(k: &Key) -> String {
    let inner: Vec<String> = k.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// `[t, "v"]` as (ms, value text).
fn point(p: &serde_json::Value) -> Result<(i64, String), String> {
    let t = p
        .get(0)
        .and_then(|t| t.as_f64())
        .ok_or_else(|| format!("bad point {p}"))?;
    let v = p
        .get(1)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("bad point {p}"))?;
    Ok(((t * 1000.0).round() as i64, v.to_string()))
}

fn number(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Equal values: NaN equals NaN, infinities exactly, finite values within the tolerances.
fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    a == b
        || (a - b).abs() <= VALUE_REL_TOL * a.abs().max(b.abs())
        || (a.abs() <= VALUE_ABS_TOL && b.abs() <= VALUE_ABS_TOL)
}

fn same_value_text(a: &str, b: &str) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => same_value(x, y),
        _ => a == b,
    }
}

fn rel_t(t: i64, t0: i64) -> String {
    let d = t - t0;
    format!(
        "T0{}{}.{:03}s",
        if d < 0 { "-" } else { "+" },
        d.abs() / 1000,
        d.abs() % 1000
    )
}

fn compare_points(p: &Points, t: &Points, t0: i64) -> Result<(), String> {
    for (i, (pp, tp)) in p.iter().zip(t.iter()).enumerate() {
        if pp.0 != tp.0 {
            return Err(format!(
                "point {i}: timestamp {} vs {}",
                rel_t(pp.0, t0),
                rel_t(tp.0, t0)
            ));
        }
        if !same_value_text(&pp.1, &tp.1) {
            return Err(format!(
                "at {}: value {} vs {}",
                rel_t(pp.0, t0),
                pp.1,
                tp.1
            ));
        }
    }
    if p.len() != t.len() {
        let (longer, who) = if p.len() > t.len() {
            (p, "Prometheus")
        } else {
            (t, "Tidemark")
        };
        let first_extra = &longer[p.len().min(t.len())];
        return Err(format!(
            "{} points vs {}; {who} also has {}={}",
            p.len(),
            t.len(),
            rel_t(first_extra.0, t0),
            first_extra.1
        ));
    }
    Ok(())
}

/// The series of a vector or matrix result, in answer order.
fn series_list(result: &serde_json::Value, matrix: bool) -> Result<Vec<(Key, Points)>, String> {
    let arr = result.as_array().ok_or("result is not an array")?;
    let mut out = Vec::with_capacity(arr.len());
    for s in arr {
        let metric = s
            .get("metric")
            .and_then(|m| m.as_object())
            .ok_or_else(|| format!("no metric in {s}"))?;
        let key: Key = metric
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("<non-string>").to_string()))
            .collect();
        if s.get("histograms").is_some() || s.get("histogram").is_some() {
            return Err(format!("native histogram in {}", fmt_key(&key)));
        }
        let points = if matrix {
            let values = s
                .get("values")
                .and_then(|v| v.as_array())
                .ok_or_else(|| format!("no values in {s}"))?;
            values.iter().map(point).collect::<Result<Vec<_>, _>>()?
        } else {
            vec![point(
                s.get("value").ok_or_else(|| format!("no value in {s}"))?,
            )?]
        };
        out.push((key, points));
    }
    Ok(out)
}

fn compare_series(
    p: &serde_json::Value,
    t: &serde_json::Value,
    matrix: bool,
    order: Order,
    t0: i64,
) -> Result<(), String> {
    let pl = series_list(p, matrix).map_err(|e| format!("Prometheus: {e}"))?;
    let tl = series_list(t, matrix).map_err(|e| format!("Tidemark: {e}"))?;
    let mut pm = BTreeMap::new();
    for (k, v) in &pl {
        if pm.insert(k.clone(), v).is_some() {
            return Err(format!("Prometheus has {} twice", fmt_key(k)));
        }
    }
    let mut tm = BTreeMap::new();
    for (k, v) in &tl {
        if tm.insert(k.clone(), v).is_some() {
            return Err(format!("Tidemark has {} twice", fmt_key(k)));
        }
    }
    let only_p: Vec<&Key> = pm.keys().filter(|k| !tm.contains_key(*k)).collect();
    let only_t: Vec<&Key> = tm.keys().filter(|k| !pm.contains_key(*k)).collect();
    if !only_p.is_empty() || !only_t.is_empty() {
        let eg = |v: &[&Key]| {
            v.iter()
                .take(2)
                .map(|k| fmt_key(k))
                .collect::<Vec<_>>()
                .join(" ")
        };
        return Err(format!(
            "{} series vs {}: {} only in Prometheus {}; {} only in Tidemark {}",
            pl.len(),
            tl.len(),
            only_p.len(),
            eg(&only_p),
            only_t.len(),
            eg(&only_t)
        ));
    }
    for (k, pv) in &pm {
        compare_points(pv, tm[k], t0).map_err(|e| format!("series {}: {e}", fmt_key(k)))?;
    }
    match order {
        Order::Set => {}
        Order::ByValue => {
            for (i, (a, b)) in pl.iter().zip(tl.iter()).enumerate() {
                if !same_value_text(&a.1[0].1, &b.1[0].1) {
                    return Err(format!(
                        "order: element {i} is {} {} vs {} {}",
                        fmt_key(&a.0),
                        a.1[0].1,
                        fmt_key(&b.0),
                        b.1[0].1
                    ));
                }
            }
        }
        Order::ByLabels => {
            for (i, (a, b)) in pl.iter().zip(tl.iter()).enumerate() {
                if a.0 != b.0 {
                    return Err(format!(
                        "order: element {i} is {} vs {}",
                        fmt_key(&a.0),
                        fmt_key(&b.0)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `Ok` when the answers agree; otherwise what differs first.
fn compare(p: &Answer, t: &Answer, order: Order, t0: i64) -> Result<(), String> {
    if p.body.is_null() {
        return Err(format!("Prometheus gave no JSON (HTTP {})", p.http));
    }
    if p.http != t.http {
        return Err(format!("HTTP status {} vs {}", p.http, t.http));
    }
    let field = |a: &Answer, k: &str| {
        a.body
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("<absent>")
            .to_string()
    };
    let (ps, ts) = (field(p, "status"), field(t, "status"));
    if ps != ts {
        return Err(format!("status {ps} vs {ts}"));
    }
    if ps == "error" {
        let (pe, te) = (field(p, "errorType"), field(t, "errorType"));
        return if pe == te {
            Ok(())
        } else {
            Err(format!("errorType {pe} vs {te}"))
        };
    }
    let (pd, td) = (&p.body["data"], &t.body["data"]);
    let rt = |d: &serde_json::Value| {
        d.get("resultType")
            .and_then(|v| v.as_str())
            .unwrap_or("<absent>")
            .to_string()
    };
    let (prt, trt) = (rt(pd), rt(td));
    if prt != trt {
        return Err(format!("resultType {prt} vs {trt}"));
    }
    let (pr, tr) = (&pd["result"], &td["result"]);
    match prt.as_str() {
        "scalar" | "string" => {
            let (pp, tp) = (point(pr)?, point(tr).map_err(|e| format!("Tidemark: {e}"))?);
            if pp.0 != tp.0 {
                return Err(format!(
                    "timestamp {} vs {}",
                    rel_t(pp.0, t0),
                    rel_t(tp.0, t0)
                ));
            }
            let same = if prt == "string" {
                pp.1 == tp.1
            } else {
                same_value_text(&pp.1, &tp.1)
            };
            if same {
                Ok(())
            } else {
                Err(format!("value {:?} vs {:?}", pp.1, tp.1))
            }
        }
        "vector" => compare_series(pr, tr, false, order, t0),
        "matrix" => compare_series(pr, tr, true, order, t0),
        other => Err(format!("unknown resultType {other}")),
    }
}

/// Whether the answers carry warnings / infos (compared for information only: the texts differ
/// between engines by design).
fn annotations(a: &Answer) -> (Vec<String>, Vec<String>) {
    let texts = |k: &str| {
        let mut v: Vec<String> = a
            .body
            .get(k)
            .and_then(|v| v.as_array())
            .map(|v| {
                v.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    (texts("warnings"), texts("infos"))
}

/// `error:<type>`, `<resultType>` or `<resultType>:empty`.
fn answer_shape(a: &Answer) -> String {
    if a.body.get("status").and_then(|s| s.as_str()) == Some("error") {
        return format!("error:{}", a.body["errorType"].as_str().unwrap_or("?"));
    }
    let rt = a.body["data"]["resultType"].as_str().unwrap_or("?");
    match a.body["data"]["result"].as_array() {
        Some(r) if r.is_empty() => format!("{rt}:empty"),
        _ => rt.to_string(),
    }
}

fn shorten(s: &str, max_chars: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        format!(
            "{}... ({} chars)",
            s.chars().take(max_chars).collect::<String>(),
            s.chars().count()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and ingestion

/// Starts Prometheus with no scrapes (evaluation_interval, the default subquery step, spelled
/// out) and the features the cases need, and waits until it is ready.
fn start_prometheus(bin: &Path, dir: &Path) -> Prometheus {
    Prometheus::start(
        bin,
        dir,
        "global:\n  evaluation_interval: 1m\nscrape_configs: []\n",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=promql-experimental-functions,promql-per-step-stats",
            "--query.lookback-delta=5m",
        ],
    )
}

/// Remote-writes the dataset to every target in time order, 5 minutes of every series per request.
async fn write_dataset(client: &reqwest::Client, targets: &[(&str, &str)], ds: &Dataset) {
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
    write_dataset(
        &client,
        &[
            ("Prometheus", prom.url.as_str()),
            ("Tidemark", node_url.as_str()),
        ],
        &ds,
    )
    .await;
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

    let cases = build_cases(&ds);
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
                if let Err(why) = compare_sample_stats(&p, &t) {
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
