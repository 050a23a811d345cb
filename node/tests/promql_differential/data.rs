//! The dataset both systems are given: series, values, staleness markers.

use super::*;

/// splitmix64: deterministic across platforms and crate versions.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The dataset and the times queries are built around (all in ms).
pub(crate) struct Dataset {
    pub(crate) series: Vec<TestSeries>,
    /// First grid time (the first sample of series with no offset).
    pub(crate) t0: i64,
    /// Last grid time.
    pub(crate) t1: i64,
}

impl Dataset {
    pub(crate) fn grid(&self, i: i64) -> i64 {
        self.t0 + i * STEP_MS
    }
    /// Samples that are not stale markers (what `count_over_time` counts).
    pub(crate) fn real_samples(&self) -> usize {
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

pub(crate) fn labels(name: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l = vec![("__name__".to_string(), name.to_string())];
    l.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    l
}

pub(crate) fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub(crate) const JOBS: [&str; 3] = ["api", "db", "web"];
/// Instance numbers chosen so that natural and lexicographic order differ (`-2` < `-10`).
pub(crate) const INSTANCE_NUMBERS: [&str; 3] = ["1", "2", "10"];
pub(crate) const BUCKETS: [(&str, f64); 12] = [
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
pub(crate) fn build_dataset(anchor_ms: i64) -> Dataset {
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
