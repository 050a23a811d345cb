//! The native histograms of the dataset, remote-written (1.0) to both systems beside the
//! floats, and the queries over them. Counters of exponential histograms (one with a counter
//! reset, one whose schema drops from 3 to 1 halfway, as an agent's limit on buckets does), a
//! gauge histogram, and custom buckets (NHCB).

use tidemark_proto::prometheus as pb;

use super::*;

/// One histogram series: its labels and `(t, histogram)` samples.
pub(crate) type HistSeries = (Vec<(String, String)>, Vec<(i64, pb::Histogram)>);

/// Bounds of the custom-bucket series (the last bucket, up to +Inf, is implied).
const CUSTOM_BOUNDS: [f64; 4] = [0.1, 0.5, 1.0, 5.0];

/// An integer histogram with one span of `counts` from bucket `offset` (absolute counts,
/// sent as deltas as remote-write carries them).
fn int_histogram(
    t: i64,
    schema: i32,
    offset: i32,
    counts: &[u64],
    zero: u64,
    sum: f64,
    gauge: bool,
) -> pb::Histogram {
    let mut prev = 0i64;
    let deltas = counts
        .iter()
        .map(|&c| {
            let d = c as i64 - prev;
            prev = c as i64;
            d
        })
        .collect();
    pb::Histogram {
        count: Some(pb::histogram::Count::CountInt(
            counts.iter().sum::<u64>() + zero,
        )),
        zero_count: Some(pb::histogram::ZeroCount::ZeroCountInt(zero)),
        zero_threshold: if schema == -53 { 0.0 } else { 1e-3 },
        sum,
        schema,
        positive_spans: vec![pb::BucketSpan {
            offset,
            length: counts.len() as u32,
        }],
        positive_deltas: deltas,
        reset_hint: if gauge {
            pb::histogram::ResetHint::Gauge as i32
        } else {
            pb::histogram::ResetHint::Unknown as i32
        },
        timestamp: t,
        custom_values: if schema == -53 {
            CUSTOM_BOUNDS.to_vec()
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

/// The histogram series, every 15 s like the floats, from `t0`.
pub(crate) fn build_histograms(t0: i64) -> Vec<HistSeries> {
    let mut rng = Rng(SEED ^ 0x4157);
    let mut out = Vec::new();
    for svc in ["a", "reset", "coarser"] {
        let mut counts = [0u64; 6];
        let mut sum = 0.0;
        let mut points = Vec::new();
        for i in 0..POINTS {
            if svc == "reset" && i == POINTS / 2 {
                counts = [0; 6];
                sum = 0.0;
            }
            for c in counts.iter_mut() {
                *c += rng.below(4);
            }
            sum += rng.f64() * 10.0;
            let t = t0 + i * STEP_MS + 700;
            let h = if svc == "coarser" && i >= POINTS / 2 {
                // At schema 1 a bucket holds four schema-3 buckets: 1..=4 become bucket 1, 5..=6
                // bucket 2 (the counts keep growing: not a counter reset).
                let low: u64 = counts[..4].iter().sum();
                let high: u64 = counts[4..].iter().sum();
                int_histogram(t, 1, 1, &[low, high], 1, sum, false)
            } else {
                int_histogram(t, 3, 1, &counts, 1, sum, false)
            };
            points.push((t, h));
        }
        out.push((labels("nh_latency", &[("svc", svc)]), points));
    }
    // A gauge histogram: counts go up and down.
    let points = (0..POINTS)
        .map(|i| {
            let counts: Vec<u64> = (0..4).map(|_| rng.below(20)).collect();
            let t = t0 + i * STEP_MS + 1_100;
            (
                t,
                int_histogram(t, 0, -1, &counts, 2, rng.f64() * 50.0, true),
            )
        })
        .collect();
    out.push((labels("nh_gauge", &[("svc", "queue")]), points));
    // Custom buckets: five (four bounds and +Inf).
    let mut counts = [0u64; 5];
    let mut sum = 0.0;
    let points = (0..POINTS)
        .map(|i| {
            for c in counts.iter_mut() {
                *c += rng.below(3);
            }
            sum += rng.f64() * 3.0;
            let t = t0 + i * STEP_MS + 2_500;
            (t, int_histogram(t, -53, 0, &counts, 0, sum, false))
        })
        .collect();
    out.push((labels("nh_nhcb", &[("svc", "db")]), points));
    out
}

/// Remote-writes the histogram samples in `[lo, hi)` to every target in one request.
pub(crate) async fn write_histograms(
    client: &reqwest::Client,
    targets: &[(&str, &str)],
    hists: &[HistSeries],
    (lo, hi): (i64, i64),
) {
    let series: Vec<pb::TimeSeries> = hists
        .iter()
        .map(|(l, points)| {
            let pairs: Vec<(&str, &str)> =
                l.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut ts = tidemark_ingest::testing::v1_series(&pairs, &[]);
            ts.histograms = points
                .iter()
                .filter(|(t, _)| *t >= lo && *t < hi)
                .map(|(_, h)| h.clone())
                .collect();
            ts
        })
        .filter(|ts| !ts.histograms.is_empty())
        .collect();
    if series.is_empty() {
        return;
    }
    let body = tidemark_ingest::testing::v1_body(series);
    for (name, base) in targets {
        let (status, text) = post_write_v1(client, base, body.clone())
            .await
            .expect("remote write request");
        assert!(
            (200..300).contains(&status),
            "{name} refused histograms ({status}): {text}"
        );
    }
}

/// Queries over the histograms: instant at a few times and ranges, the functions dashboards
/// use and the ones with special cases (resets, schema changes, gauges, custom buckets).
pub(crate) fn histogram_cases(t0: i64, t1: i64) -> Vec<Case> {
    let min = 60_000;
    let exprs = [
        "nh_latency",
        "nh_nhcb",
        "nh_gauge",
        "rate(nh_latency[5m])",
        "increase(nh_latency[10m])",
        "irate(nh_latency[1m])",
        "delta(nh_gauge[5m])",
        "idelta(nh_gauge[2m])",
        "rate(nh_gauge[5m])",
        "delta(nh_latency[5m])",
        "rate(nh_nhcb[5m])",
        "sum(rate(nh_latency[5m]))",
        "avg(nh_latency)",
        "sum by (svc) (rate(nh_latency[2m]))",
        "histogram_quantile(0.9, sum(rate(nh_latency[5m])))",
        "histogram_quantile(0.5, rate(nh_latency[5m]))",
        "histogram_quantile(0.99, rate(nh_nhcb[5m]))",
        "histogram_quantile(0.25, nh_gauge)",
        "histogram_fraction(0, 1.5, rate(nh_latency[5m]))",
        "histogram_fraction(0.2, 2, nh_nhcb)",
        "histogram_count(rate(nh_latency[5m]))",
        "histogram_sum(increase(nh_nhcb[10m]))",
        "histogram_avg(rate(nh_latency[5m]))",
        "histogram_stddev(nh_latency)",
        "histogram_stdvar(nh_nhcb)",
        "sum_over_time(nh_gauge[2m])",
        "avg_over_time(nh_gauge[2m])",
        "last_over_time(nh_latency[1m])",
        "count_over_time(nh_latency[5m])",
        "changes(nh_gauge[5m])",
        "resets(nh_latency[10m])",
        "nh_latency * 2",
        "nh_latency / 4",
        r#"nh_latency{svc="a"} - ignoring(svc) nh_latency{svc="reset"}"#,
        r#"nh_latency{svc="a"} + ignoring(svc) nh_nhcb"#,
        "nh_latency + 1",
        "count(nh_latency)",
        "max(nh_latency)",
        "topk(1, nh_latency)",
        "label_replace(nh_nhcb, \"x\", \"$1\", \"svc\", \"(.*)\")",
        "timestamp(last_over_time(nh_gauge[1m]))",
        "count_values(\"h\", nh_nhcb)",
    ];
    let times = [
        t0 + 7 * min + 300,
        t0 + 23 * min,
        t1 - 2 * min + 900,
        t1 + 4 * min,
    ];
    let mut cases = Vec::new();
    for expr in exprs {
        for &t in &times {
            cases.push(Case::instant(expr, t));
        }
        cases.push(Case::range(expr, t0, t1, "60"));
        cases.push(Case::range(expr, t0 + 20 * min, t0 + 26 * min, "20s"));
    }
    cases
}

/// Waits until `base` holds every histogram sample written.
pub(crate) async fn wait_histograms(
    client: &reqwest::Client,
    base: &str,
    hists: &[HistSeries],
    at: i64,
) -> Result<(), String> {
    let want: usize = hists.iter().map(|(_, p)| p.len()).sum();
    let probe = Case::instant(r#"sum(count_over_time({__name__=~"nh_.+"}[1h]))"#, at);
    let deadline = Instant::now() + Duration::from_secs(INGEST_TIMEOUT_S);
    loop {
        let got = single_value(&ask(client, base, &probe).await);
        if got == Some(want as f64) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("shows {got:?} histogram samples, written {want}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
