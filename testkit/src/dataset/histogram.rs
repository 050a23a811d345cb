//! Classic (bucketed) request histograms, as an HTTP server instrumented with a Prometheus client
//! library exposes them per handler: `http_request_duration_seconds_bucket{le}` (cumulative),
//! `_sum`, `_count`, and `http_requests_total{code}`. One [`RequestHistogram`] drives all of a
//! handler's series, so every scrape is consistent: bucket `le=x` <= bucket `le=y` for x < y,
//! `+Inf` == `_count` == the sum over the status codes, and all of them reset together when the
//! target restarts. That is what keeps `histogram_quantile` over bucket rates sane.
//!
//! Latencies are log-normal around a median that drifts (a mean-reverting walk of its log), so
//! quantiles move over time; the request rate has noise per scrape. A scrape's requests are spread
//! over the buckets by the distribution's CDF with stochastic rounding per bucket (counts stay
//! integers), and `_sum` adds a representative latency per request of each bucket.
//!
//! A group's values, in the order of its series: the 12 buckets (`le` ascending, `+Inf` last),
//! `_sum`, `_count`, then one counter per status code (the main code first).

use super::round_to;
use crate::rng::Rng;

/// Upper bounds in seconds of the Prometheus client libraries' default buckets (client_golang's
/// `DefBuckets`); `+Inf` follows.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `le` label of every default bucket and of `+Inf`, as client_golang formats them.
pub const DEFAULT_BUCKET_LABELS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// Buckets including `+Inf`.
const BUCKETS: usize = DEFAULT_BUCKET_LABELS.len();

/// Values of a group before its status codes: the buckets, `_sum` and `_count`.
pub const VALUES_BEFORE_CODES: usize = BUCKETS + 2;

/// Digits after the point of `_sum` (microseconds).
const SUM_DECIMALS: u8 = 6;

/// Standard deviation per scrape of the log of the latency factor; it reverts 5% a scrape.
const DRIFT_SD_PER_STEP: f64 = 0.08;

/// Relative noise of the request rate, per scrape.
const RATE_NOISE: f64 = 0.2;

/// One handler's traffic on one target.
#[derive(Clone, Debug)]
pub(crate) struct Traffic {
    pub(crate) rate_per_s: f64,
    /// Median latency in seconds (before drift).
    pub(crate) median_s: f64,
    /// Standard deviation of the log of the latency: 0.3 is tight, 1.0 a heavy tail.
    pub(crate) sigma: f64,
    /// Shares of the status codes after the first, which takes the rest.
    pub(crate) other_code_shares: Vec<f64>,
}

/// The counters of one handler (see the module doc).
#[derive(Clone, Debug)]
pub(crate) struct RequestHistogram {
    traffic: Traffic,
    /// Log of the current latency factor (0: the median as given).
    drift: f64,
    /// Requests so far per bucket, not cumulative (`+Inf`: those above the last bound).
    per_bucket: [f64; BUCKETS],
    sum_s: f64,
    /// Requests so far per status code.
    per_code: Vec<f64>,
}

impl RequestHistogram {
    /// A histogram that has counted for about `uptime_s`, the drift at zero.
    pub(crate) fn new(traffic: Traffic, uptime_s: f64, rng: &mut Rng) -> Self {
        let expected = traffic.rate_per_s * uptime_s * rng.range_f64(0.8, 1.2);
        let mut histogram = RequestHistogram {
            per_code: vec![0.0; traffic.other_code_shares.len() + 1],
            traffic,
            drift: 0.0,
            per_bucket: [0.0; BUCKETS],
            sum_s: 0.0,
        };
        histogram.add(expected, f64::round);
        histogram
    }

    /// Requests per second before noise.
    pub(crate) fn rate_per_s(&self) -> f64 {
        self.traffic.rate_per_s
    }

    /// Relative noise of the request count per scrape.
    pub(crate) fn rate_noise(&self) -> f64 {
        RATE_NOISE
    }

    /// Per value of the group (in the order of [`RequestHistogram::scrape`]'s output): the
    /// expected increment per scrape of `interval_s` at the median's resting point, and its
    /// digits after the point (0: whole requests). The rate's relative noise is
    /// [`RequestHistogram::rate_noise`].
    pub(crate) fn expected_increments(&self, interval_s: f64) -> Vec<(f64, u8)> {
        let requests = self.traffic.rate_per_s * interval_s;
        let mut out = Vec::with_capacity(self.values());
        let mut below = 0.0;
        let mut mean_s = 0.0;
        for bucket in 0..BUCKETS {
            let cdf = DEFAULT_BUCKETS.get(bucket).map_or(1.0, |&le| {
                lognormal_cdf(le, self.traffic.median_s, self.traffic.sigma)
            });
            mean_s += (cdf - below) * representative_s(bucket);
            below = cdf;
            out.push((requests * cdf, 0));
        }
        out.push((requests * mean_s, SUM_DECIMALS));
        out.push((requests, 0));
        let others: f64 = self.traffic.other_code_shares.iter().sum();
        out.push((requests * (1.0 - others).max(0.0), 0));
        for share in &self.traffic.other_code_shares {
            out.push((requests * share, 0));
        }
        out
    }

    /// Number of values (series) of the group.
    pub(crate) fn values(&self) -> usize {
        VALUES_BEFORE_CODES + self.per_code.len()
    }

    /// Advances by one scrape `interval_s` after the last (from zero if the target `restarted`)
    /// and puts the group's values into `out`.
    pub(crate) fn scrape(
        &mut self,
        rng: &mut Rng,
        interval_s: f64,
        restarted: bool,
        out: &mut Vec<f64>,
    ) {
        if restarted {
            self.per_bucket = [0.0; BUCKETS];
            self.sum_s = 0.0;
            self.per_code.fill(0.0);
        }
        self.drift += DRIFT_SD_PER_STEP * rng.normal() - 0.05 * self.drift;
        let load = (1.0 + RATE_NOISE * rng.normal()).max(0.0);
        let expected = self.traffic.rate_per_s * interval_s * load;
        self.add(expected, |e| (e + rng.unit()).floor());

        out.clear();
        let mut cumulative = 0.0;
        for n in self.per_bucket {
            cumulative += n;
            out.push(cumulative);
        }
        out.push(self.sum_s);
        out.push(cumulative);
        out.extend_from_slice(&self.per_code);
    }

    /// Adds about `expected` requests spread by the current latency distribution, each bucket's
    /// and each status code's expected count made whole by `whole`.
    fn add(&mut self, expected: f64, mut whole: impl FnMut(f64) -> f64) {
        let median_s = self.traffic.median_s * self.drift.exp();
        let mut below = 0.0;
        let mut requests = 0.0;
        let mut sum_s = 0.0;
        for (bucket, count) in self.per_bucket.iter_mut().enumerate() {
            let cdf = DEFAULT_BUCKETS
                .get(bucket)
                .map_or(1.0, |&le| lognormal_cdf(le, median_s, self.traffic.sigma));
            let n = whole(expected * (cdf - below).max(0.0));
            below = cdf;
            *count += n;
            requests += n;
            sum_s += n * representative_s(bucket);
        }
        self.sum_s = round_to(self.sum_s + sum_s, SUM_DECIMALS);
        let mut rest = requests;
        for (code, share) in self.traffic.other_code_shares.iter().enumerate() {
            let n = whole(requests * share).min(rest);
            self.per_code[code + 1] += n;
            rest -= n;
        }
        self.per_code[0] += rest;
    }
}

/// The latency one request of `bucket` adds to `_sum`: the geometric middle of the bucket's
/// bounds (3 ms in the first bucket, 15 s in `+Inf`).
fn representative_s(bucket: usize) -> f64 {
    match (bucket.checked_sub(1), DEFAULT_BUCKETS.get(bucket)) {
        (None, _) => 0.003,
        (Some(_), None) => 15.0,
        (Some(lower), Some(upper)) => (DEFAULT_BUCKETS[lower] * upper).sqrt(),
    }
}

/// P(latency <= `x`) for a log-normal latency with median `median` and log standard deviation
/// `sigma`.
fn lognormal_cdf(x: f64, median: f64, sigma: f64) -> f64 {
    normal_cdf((x.ln() - median.ln()) / sigma)
}

/// The standard normal CDF, through Abramowitz and Stegun's erf approximation 7.1.26 (absolute
/// error below 1.5e-7, far below a request).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    // erfc(x) for x >= 0.
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic() -> Traffic {
        Traffic {
            rate_per_s: 40.0,
            median_s: 0.04,
            sigma: 1.0,
            other_code_shares: vec![0.01, 0.002],
        }
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
        assert!((lognormal_cdf(0.04, 0.04, 1.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn every_scrape_is_consistent_and_a_restart_resets_all() {
        let mut rng = Rng::new(1, 1);
        let mut h = RequestHistogram::new(traffic(), 86_400.0, &mut rng);
        assert_eq!(h.values(), 17);
        let mut values = Vec::new();
        let mut last: Vec<f64> = Vec::new();
        for scrape in 0..2_000 {
            let restarted = scrape % 500 == 499;
            h.scrape(&mut rng, 15.0, restarted, &mut values);
            assert_eq!(values.len(), 17);
            let (buckets, rest) = values.split_at(BUCKETS);
            assert!(buckets.is_sorted(), "cumulative buckets: {buckets:?}");
            let (sum, count, codes) = (rest[0], rest[1], &rest[2..]);
            assert_eq!(buckets[BUCKETS - 1], count, "+Inf == _count");
            assert_eq!(codes.iter().sum::<f64>(), count, "codes add up to _count");
            assert!(values.iter().all(|v| v.fract() == 0.0 || *v == sum));
            if !last.is_empty() {
                let grew = values.iter().zip(&last).all(|(v, l)| v >= l);
                if restarted {
                    assert!(count < last[BUCKETS + 1], "a restart resets the group");
                    assert!(sum < last[BUCKETS]);
                } else {
                    assert!(grew, "counters never decrease without a restart");
                }
            }
            last.clone_from(&values);
        }
    }

    #[test]
    fn bucket_increases_give_the_median() {
        let mut rng = Rng::new(2, 2);
        let mut h = RequestHistogram::new(traffic(), 0.0, &mut rng);
        let mut values = Vec::new();
        for _ in 0..400 {
            h.scrape(&mut rng, 15.0, false, &mut values);
        }
        // Half the requests at or below the median's bucket bound, most above the one below it.
        let count = values[BUCKETS + 1];
        let le_50ms = values[3] / count;
        let le_25ms = values[2] / count;
        assert!(le_50ms > 0.4 && le_25ms < 0.6, "{le_25ms} {le_50ms}");
        let mean = values[BUCKETS] / count;
        assert!(mean > 0.03 && mean < 0.2, "mean latency {mean}");
    }
}
