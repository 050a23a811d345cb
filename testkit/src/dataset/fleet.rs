//! The default ingest workload: the hosts of [`super::node_exporter`], each also running an HTTP
//! application that Prometheus scrapes as a second target (`job="app"`,
//! `instance="host-NNNNN:8080"`, the host's `pool`, `dc` and `env`, a scrape phase of its own).
//!
//! Per host: the node-exporter series (107 with 4 CPUs, 139 with 8), then the application's 65,
//! per handler ([`HANDLERS`]: a query API, a write API, `/metrics` and `/login`, with their own
//! request rates, latencies and status codes) the classic histogram
//! `http_request_duration_seconds_bucket{handler, method, le}` over the default buckets (12 with
//! `+Inf`), its `_sum` and `_count`, and `http_requests_total{handler, method, code}`. One
//! [`super::histogram::RequestHistogram`] drives all of a handler's series, so buckets are
//! cumulative and `+Inf` equals `_count` at every scrape, and they reset together. So at 10,000
//! series about a third are the application's (about 2,500 bucket series over some 53 hosts).
//!
//! The application restarts on its own (as often as a host, on average every two days), its
//! counters from zero; it has been up for between 10 minutes and 14 days when the data starts.
//! When the series run out, a handler's series are added whole or not at all (the remaining
//! few go to one more host's node-exporter series), so that no histogram lacks buckets.

use super::catalog::app_labels;
use super::histogram::{DEFAULT_BUCKET_LABELS, RequestHistogram, Traffic, VALUES_BEFORE_CODES};
use super::node_exporter::{HostsShape, hosts};
use super::{Builder, Dataset, Model, SeriesLabels, phase_for};
use crate::rng::Rng;

/// A handler of the application as every host runs it.
pub struct Handler {
    /// The `handler` label (the route).
    pub handler: &'static str,
    /// The `method` label.
    pub method: &'static str,
    /// Bounds of the request rate per host (drawn log-uniformly), requests per second.
    pub rate_per_s: (f64, f64),
    /// Median latency in seconds (each host's is within -20%/+25% of it).
    pub median_s: f64,
    /// Standard deviation of the log of the latency: 0.3 is tight, 1.0 a heavy tail.
    pub sigma: f64,
    /// Status codes with their shares of the requests; the first takes what the others leave.
    pub codes: &'static [(&'static str, f64)],
}

/// The application's handlers, in the order their series are added.
pub const HANDLERS: [Handler; 4] = [
    Handler {
        handler: "/api/v1/query",
        method: "GET",
        rate_per_s: (2.0, 20.0),
        median_s: 0.04,
        sigma: 1.0,
        codes: &[("200", 0.0), ("400", 0.01), ("500", 0.002)],
    },
    Handler {
        handler: "/api/v1/write",
        method: "POST",
        rate_per_s: (20.0, 200.0),
        median_s: 0.008,
        sigma: 0.6,
        codes: &[("204", 0.0), ("500", 0.0005)],
    },
    // Two Prometheus servers scraping every 15 s.
    Handler {
        handler: "/metrics",
        method: "GET",
        rate_per_s: (0.13, 0.14),
        median_s: 0.02,
        sigma: 0.3,
        codes: &[("200", 0.0)],
    },
    Handler {
        handler: "/login",
        method: "POST",
        rate_per_s: (0.05, 1.0),
        median_s: 0.15,
        sigma: 0.4,
        codes: &[("200", 0.0), ("401", 0.05), ("500", 0.001)],
    },
];

/// Seed streams of the applications: host `h`'s is `APP_STREAMS + h`, apart from the hosts'
/// (`h`), the targets' (1,000,000 + index) and the phases' (2,000,000 + index).
const APP_STREAMS: u64 = 100_000_000;

/// `series` series of node-exporter hosts with their applications over `hours` at `interval_s`,
/// ending at `end_ms` (rounded down to the interval by the caller). Every series' labels go to
/// `on_series` as it is created.
pub fn fleet(
    series: usize,
    hours: f64,
    interval_s: u32,
    seed: u64,
    end_ms: i64,
    mut on_series: impl FnMut(&SeriesLabels),
) -> Dataset {
    let shape = HostsShape {
        kind: "fleet",
        series,
        hours,
        interval_s,
        seed,
        end_ms,
    };
    hosts(shape, &mut on_series, |b, host, interval_ms| {
        add_app(b, seed, host, interval_ms, end_ms)
    })
}

/// Adds the application on host number `host` as a target of its own: whole handlers, while
/// they fit.
fn add_app(b: &mut Builder, seed: u64, host: u64, interval_ms: i64, end_ms: i64) {
    let stream = APP_STREAMS + host;
    let mut rng = Rng::new(seed, stream);
    let uptime_s = rng.range_f64(600.0, 14.0 * 86_400.0);
    let start_time_s = ((end_ms / 1000) as f64 - uptime_s).floor();
    b.begin_target(phase_for(seed, stream, interval_ms), start_time_s);
    for handler in &HANDLERS {
        if b.remaining() < VALUES_BEFORE_CODES + handler.codes.len() {
            return;
        }
        let traffic = Traffic {
            rate_per_s: rng.log_uniform(handler.rate_per_s.0, handler.rate_per_s.1),
            median_s: handler.median_s * rng.range_f64(0.8, 1.25),
            sigma: handler.sigma,
            other_code_shares: handler.codes[1..].iter().map(|&(_, s)| s).collect(),
        };
        let histogram = RequestHistogram::new(traffic, uptime_s, &mut rng);
        let route = [("handler", handler.handler), ("method", handler.method)];
        let mut series = Vec::with_capacity(histogram.values());
        for le in DEFAULT_BUCKET_LABELS {
            let labels = [route[0], route[1], ("le", le)];
            series.push(app_labels(
                host,
                "http_request_duration_seconds_bucket",
                &labels,
            ));
        }
        series.push(app_labels(
            host,
            "http_request_duration_seconds_sum",
            &route,
        ));
        series.push(app_labels(
            host,
            "http_request_duration_seconds_count",
            &route,
        ));
        for &(code, _) in handler.codes {
            let labels = [route[0], route[1], ("code", code)];
            series.push(app_labels(host, "http_requests_total", &labels));
        }
        debug_assert_eq!(series.len(), histogram.values());
        let mut first = Some(Model::Histogram(Box::new(histogram)));
        for (part, labels) in series.into_iter().enumerate() {
            let part = u8::try_from(part).expect("a histogram group has under 256 series");
            let model = first.take().unwrap_or(Model::HistogramPart { part });
            b.series(labels, model);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const END_MS: i64 = 1_700_000_100_000 / 15_000 * 15_000;

    fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
        labels
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn shape_at_the_benchmark_default() {
        let mut labels = Vec::new();
        let ds = fleet(10_000, 0.25, 15, 42, END_MS, |l| labels.push(l.to_vec()));
        assert_eq!(ds.series_count(), 10_000);
        assert!(labels.iter().all(|l| l.is_sorted()));
        let app = labels.iter().filter(|l| label(l, "job") == "app").count();
        let share = app as f64 / 10_000.0;
        assert!((0.25..0.36).contains(&share), "app share {share}");
        let buckets = labels
            .iter()
            .filter(|l| label(l, "__name__") == "http_request_duration_seconds_bucket")
            .count();
        assert!((1_000..4_000).contains(&buckets), "{buckets} bucket series");
        // Every histogram is whole: 12 buckets per (instance, handler).
        let mut per_histogram: HashMap<(String, String), usize> = HashMap::new();
        for l in &labels {
            if label(l, "__name__") == "http_request_duration_seconds_bucket" {
                let key = (label(l, "instance").into(), label(l, "handler").into());
                *per_histogram.entry(key).or_default() += 1;
            }
        }
        assert!(per_histogram.values().all(|&n| n == 12));
        let app_instance = labels
            .iter()
            .find(|l| label(l, "job") == "app")
            .map(|l| label(l, "instance").to_string());
        assert_eq!(app_instance.as_deref(), Some("host-00000:8080"));
    }

    #[test]
    fn buckets_stay_cumulative_in_every_scrape() {
        let mut labels = Vec::new();
        let mut ds = fleet(2_000, 1.0, 15, 7, END_MS, |l| labels.push(l.to_vec()));
        // Per series: its histogram (instance, handler) and its `le` rank, or `_count`.
        let key = |l: &[(String, String)]| {
            (
                label(l, "instance").to_string(),
                label(l, "handler").to_string(),
            )
        };
        let role: Vec<Option<usize>> = labels
            .iter()
            .map(|l| match label(l, "__name__") {
                "http_request_duration_seconds_bucket" => DEFAULT_BUCKET_LABELS
                    .iter()
                    .position(|&le| le == label(l, "le")),
                "http_request_duration_seconds_count" => Some(DEFAULT_BUCKET_LABELS.len()),
                _ => None,
            })
            .collect();
        let mut scrape: HashMap<(String, String), Vec<f64>> = HashMap::new();
        let steps = ds.steps;
        for step in 0..steps {
            scrape.clear();
            ds.scrape(step, |s, _, v| {
                if let Some(rank) = role[s as usize] {
                    let values = scrape
                        .entry(key(&labels[s as usize]))
                        .or_insert_with(|| vec![f64::NAN; 13]);
                    values[rank] = v;
                }
            });
            assert!(!scrape.is_empty());
            for values in scrape.values() {
                assert!(values.is_sorted(), "cumulative, +Inf <= _count: {values:?}");
                assert_eq!(values[11], values[12], "+Inf == _count");
            }
        }
    }
}
