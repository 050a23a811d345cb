//! How much information a dataset's samples carry: an estimate of the fewest bits any lossless
//! codec can spend on them, to set a storage format's bytes per sample against.
//!
//! Each series' next value is counted as the entropy of what the generator draws for it given
//! its model's state (the previous value, the counter's rate, the gauge's level): a codec that
//! sees only earlier samples cannot do better than one that also knows that state. Computed
//! exactly from the distribution of [`Rng::normal`](crate::rng::Rng::normal) (a scaled sum of
//! four uniforms, not a Gaussian), per model:
//! - a counter's increment `rate x interval x max(0, 1 + noise x Z)`, rounded to its decimals or
//!   (no decimals) rounded stochastically, with the clip at zero;
//! - a gauge's step `sd x Z` rounded to its quantum, averaged over where the level sits between
//!   two quanta (the clamp at its bounds is left out: it only matters at a bound);
//! - constants, boot times and clocks: nothing (a clock is a function of the timestamp);
//! - a request histogram's group of series: the entropy of its request count alone (the latency
//!   drift that moves requests between buckets, and each bucket's and status code's rounding,
//!   are left out: an under-count).
//!
//! The group's series are tied (`+Inf` is `_count`, the buckets' increments add up to it, the
//! status codes too), which only a store that codes them together can use. A store that codes
//! each series alone must keep each one's own increments: `per_series_value_bits` counts every
//! series of a group as a counter of its own expected increment (at the latency's resting
//! median; `_sum` to its microseconds), the rest as above.
//!
//! Timestamps: each target's scrape carries its jitter (uniform over `2 x jitter_ms_max + 1`
//! values), shared by the target's series. Restarts (a few per million scrapes) are left out.

use super::{Dataset, Model};

/// The information of one scrape of every target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Information {
    /// Bits of all series' values in one scrape.
    pub value_bits: f64,
    /// The same, for a store that codes each series alone (see the module doc).
    pub per_series_value_bits: f64,
    /// Bits of all targets' timestamps in one scrape.
    pub time_bits: f64,
    /// Series (samples per scrape).
    pub series: usize,
}

impl Information {
    /// Bytes per sample of values and timestamps together.
    pub fn bytes_per_sample(&self) -> f64 {
        (self.value_bits + self.time_bits) / 8.0 / self.series.max(1) as f64
    }

    /// Bytes per sample of the values alone.
    pub fn value_bytes_per_sample(&self) -> f64 {
        self.value_bits / 8.0 / self.series.max(1) as f64
    }

    /// Bytes per sample of values and timestamps for a store that codes each series alone.
    pub fn per_series_bytes_per_sample(&self) -> f64 {
        (self.per_series_value_bits + self.time_bits) / 8.0 / self.series.max(1) as f64
    }
}

impl Dataset {
    /// The information one scrape of this dataset carries (see the module doc).
    pub fn information(&self) -> Information {
        let interval_s = self.interval_ms as f64 / 1000.0;
        let value_bits = self.models.iter().map(|m| model_bits(m, interval_s)).sum();
        let per_series_value_bits = self
            .models
            .iter()
            .map(|m| match m {
                Model::Histogram(h) => h
                    .expected_increments(interval_s)
                    .into_iter()
                    .map(|(a, decimals)| counter_bits(a, h.rate_noise(), decimals))
                    .sum(),
                _ => model_bits(m, interval_s),
            })
            .sum();
        let jitter_values = (2 * self.jitter_ms_max + 1) as f64;
        Information {
            value_bits,
            per_series_value_bits,
            time_bits: self.targets.len() as f64 * jitter_values.log2(),
            series: self.models.len(),
        }
    }
}

fn model_bits(model: &Model, interval_s: f64) -> f64 {
    match model {
        Model::Counter {
            rate_per_s,
            noise,
            decimals,
            ..
        } => counter_bits(rate_per_s * interval_s, *noise, *decimals),
        Model::Gauge {
            sd_per_step,
            quantum,
            ..
        } => gauge_bits(sd_per_step / quantum),
        Model::Const { .. } | Model::BootTime | Model::Clock | Model::HistogramPart { .. } => 0.0,
        Model::Histogram(h) => counter_bits(h.rate_per_s() * interval_s, h.rate_noise(), 0),
    }
}

/// Largest standard value [`Rng::normal`](crate::rng::Rng::normal) draws: `2 x sqrt(3)`.
const Z_MAX: f64 = 3.464_101_615_137_754_6;

/// Cells a distribution is spread over at most; wider ones are counted at a coarser step, their
/// continuous part's entropy scaled back (exact in the limit of cells small against the spread).
const CELLS_MAX: f64 = 65_536.0;

/// `k`-th antiderivative (k = 0: density, 1: CDF, 2: integral of the CDF) of the sum of four
/// uniforms on [0, 1), at `x`.
fn irwin_hall_4(x: f64, k: i32) -> f64 {
    const BINOMIAL: [f64; 5] = [1.0, 4.0, 6.0, 4.0, 1.0];
    let power = 3 + k;
    let factorial: f64 = (1..=power).map(f64::from).product();
    if x <= 0.0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for (j, b) in BINOMIAL.iter().enumerate() {
        let d = x - j as f64;
        if d <= 0.0 {
            break;
        }
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        sum += sign * b * d.powi(power);
    }
    sum / factorial
}

/// CDF of `Z` (mean 0, variance 1, within +-[`Z_MAX`]).
fn z_cdf(z: f64) -> f64 {
    if z >= Z_MAX {
        return 1.0;
    }
    irwin_hall_4(z / 3f64.sqrt() + 2.0, 1).clamp(0.0, 1.0)
}

/// The integral of `z_cdf` from minus infinity to `z`.
fn z_cdf_integral(z: f64) -> f64 {
    if z >= Z_MAX {
        // The integral up to Z_MAX is Z_MAX (the mean is 0), then it grows by one per unit.
        return z;
    }
    3f64.sqrt() * irwin_hall_4(z / 3f64.sqrt() + 2.0, 2)
}

/// Entropy in bits of a distribution given by cell probabilities.
fn entropy(probabilities: impl Iterator<Item = f64>) -> f64 {
    probabilities
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.log2())
        .sum()
}

/// Bits of a counter's increment `X = max(0, a (1 + noise Z))`: rounded to `decimals` digits,
/// or with no decimals rounded stochastically (`floor(X + U)`).
fn counter_bits(a: f64, noise: f64, decimals: u8) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    let quantum = 10f64.powi(-i32::from(decimals));
    let spread = a * noise.max(0.0);
    // X's CDF, and the integral of its CDF from 0 (X is never negative).
    let sd = spread.max(a * 1e-12);
    let cdf = |x: f64| if x < 0.0 { 0.0 } else { z_cdf((x - a) / sd) };
    let integral_lin = |x: f64| sd * z_cdf_integral((x - a) / sd);
    let cdf_integral = |x: f64| {
        if x <= 0.0 {
            0.0
        } else {
            integral_lin(x) - integral_lin(0.0)
        }
    };
    let low = (a - Z_MAX * sd).max(0.0);
    let high = a + Z_MAX * sd;
    let point_mass = cdf(0.0);
    let fine_cells = (high - low) / quantum + 3.0;
    let coarsen = (fine_cells / CELLS_MAX).max(1.0).ceil();
    let step = quantum * coarsen;
    let first = (low / step).floor() as i64 - 1;
    let last = (high / step).ceil() as i64 + 1;
    let bits = if decimals == 0 && coarsen == 1.0 {
        // P(floor(X + U) = k) = G(k + 1) - 2 G(k) + G(k - 1), G the integral of X's CDF.
        entropy((first..=last).map(|k| {
            let k = k as f64;
            (cdf_integral(k + 1.0) - 2.0 * cdf_integral(k) + cdf_integral(k - 1.0)).max(0.0)
        }))
    } else {
        entropy((first..=last).map(|k| {
            let k = k as f64;
            (cdf((k + 0.5) * step) - cdf((k - 0.5) * step)).max(0.0)
        }))
    };
    bits + (1.0 - point_mass) * coarsen.log2()
}

/// Bits of a gauge's step of `spread` quanta (standard deviation), rounded to the quantum,
/// averaged over the level's offset between two quanta.
fn gauge_bits(spread: f64) -> f64 {
    if spread <= 0.0 {
        return 0.0;
    }
    const OFFSETS: usize = 8;
    let coarsen = ((2.0 * Z_MAX * spread + 3.0) / CELLS_MAX).max(1.0).ceil();
    let step = coarsen;
    let cells = (Z_MAX * spread / step).ceil() as i64 + 1;
    let total: f64 = (0..OFFSETS)
        .map(|o| {
            let center = o as f64 / OFFSETS as f64 * step;
            entropy((-cells..=cells).map(|k| {
                let k = k as f64;
                let upper = ((k + 0.5) * step - center) / spread;
                let lower = ((k - 0.5) * step - center) / spread;
                (z_cdf(upper) - z_cdf(lower)).max(0.0)
            }))
        })
        .sum();
    total / OFFSETS as f64 + coarsen.log2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::HashMap;

    /// Entropy in bits of what `draw` returns, counted over `n` draws.
    fn empirical(n: usize, mut draw: impl FnMut() -> i64) -> f64 {
        let mut counts = HashMap::new();
        for _ in 0..n {
            *counts.entry(draw()).or_insert(0u64) += 1;
        }
        entropy(counts.values().map(|&c| c as f64 / n as f64))
    }

    #[test]
    fn z_is_a_distribution_with_mean_zero() {
        assert_eq!(z_cdf(-Z_MAX - 1.0), 0.0);
        assert!((z_cdf(0.0) - 0.5).abs() < 1e-12);
        assert_eq!(z_cdf(Z_MAX), 1.0);
        // The integral of the CDF reaches Z_MAX at Z_MAX when the mean is 0.
        assert!((z_cdf_integral(Z_MAX - 1e-9) - Z_MAX).abs() < 1e-6);
    }

    #[test]
    fn wide_steps_cost_the_log_of_their_spread() {
        // Differential entropy of the standardised four-uniform sum: a little under a
        // Gaussian's 2.047 bits.
        let h = gauge_bits(1_000.0) - 1_000f64.log2();
        assert!(h > 1.98 && h < 2.047, "{h}");
        // A spread far beyond the cell limit is counted coarsely with the same result.
        let wide = gauge_bits(1e7) - 1e7f64.log2();
        assert!((wide - h).abs() < 0.01, "{wide} vs {h}");
        // Nothing moves: nothing to say.
        assert_eq!(gauge_bits(0.0), 0.0);
        assert!(counter_bits(3.0, 0.0, 0) < 1e-9);
    }

    #[test]
    fn stochastic_rounding_of_a_half_is_one_bit() {
        assert!((counter_bits(0.5, 0.0, 0) - 1.0).abs() < 1e-9);
        assert!((counter_bits(7.25, 0.0, 0) - 0.811_278).abs() < 1e-5);
    }

    /// The formulas against the generator's own random draws.
    #[test]
    fn counters_and_gauges_match_their_draws() {
        let n = 400_000;
        for (a, noise, decimals) in [
            (2.0, 0.5, 0u8),
            (40.0, 0.3, 0),
            (1.5, 0.3, 2),
            (0.3, 0.4, 0),
        ] {
            let mut rng = Rng::new(7, 1);
            let quantum = 10f64.powi(-i32::from(decimals));
            let seen = empirical(n, || {
                let x = a * (1.0 + noise * rng.normal()).max(0.0);
                if decimals == 0 {
                    (x + rng.unit()).floor() as i64
                } else {
                    (x / quantum).round() as i64
                }
            });
            let computed = counter_bits(a, noise, decimals);
            assert!(
                (seen - computed).abs() < 0.02 * computed.max(1.0),
                "a={a} noise={noise} decimals={decimals}: counted {seen}, computed {computed}"
            );
        }
        // A gauge's level at each of the eight offsets the formula averages over.
        let mut rng = Rng::new(7, 2);
        for spread in [0.4, 3.0, 50.0] {
            let seen: f64 = (0..8)
                .map(|o| {
                    let level = f64::from(o) / 8.0;
                    empirical(n / 8, || (level + spread * rng.normal()).round() as i64)
                })
                .sum::<f64>()
                / 8.0;
            let computed = gauge_bits(spread);
            assert!(
                (seen - computed).abs() < 0.02 * computed.max(1.0),
                "spread {spread}: counted {seen}, computed {computed}"
            );
        }
    }

    #[test]
    fn a_dataset_is_counted_per_scrape() {
        let end = 1_700_000_000_000 / 15_000 * 15_000;
        let ds = super::super::fleet(2_000, 1.0, 15, 3, end, |_| {});
        let info = ds.information();
        assert_eq!(info.series, ds.series_count());
        assert!(info.time_bits > 0.0 && info.value_bits > 0.0);
        let b = info.bytes_per_sample();
        assert!(b > 0.1 && b < 4.0, "{b} bytes per sample");
        assert!(info.value_bytes_per_sample() < b);
        // Coding a histogram's series apart costs more than together.
        assert!(info.per_series_bytes_per_sample() > b);
        // Without histograms both counts agree.
        let plain = super::super::node_exporter(2_000, 1.0, 15, 3, end, |_| {}).information();
        assert_eq!(plain.per_series_value_bits, plain.value_bits);
    }
}
