//! A tiny deterministic pseudo-random generator (SplitMix64), so that a dataset is the same for a
//! given seed on every machine and every version of every dependency.

/// SplitMix64: 64 bits of state, good statistical quality for workload generation, not crypto.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// The odd constant that spreads stream numbers (and, in [`Rng::single_stream`], seeds).
const STREAM_MIX: u64 = 0xD1B5_4A32_D192_ED03;

impl Rng {
    /// A generator for `seed`, decorrelated from one built for `stream` under the same seed.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng {
            state: seed ^ stream.wrapping_mul(STREAM_MIX),
        };
        rng.next_u64();
        rng
    }

    /// A generator for `seed` alone, seeded the way [`crate::dataset::node_exporter_lite`] has
    /// always been (scrambled seed, no warm-up draw), so that its datasets stay what they were.
    pub fn single_stream(seed: u64) -> Self {
        Rng {
            state: seed.wrapping_mul(GOLDEN_GAMMA) ^ STREAM_MIX,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(hi >= lo);
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// Roughly standard normal (Irwin-Hall with 4 terms, rescaled): cheap and bounded to +-3.5.
    pub fn normal(&mut self) -> f64 {
        let sum = self.unit() + self.unit() + self.unit() + self.unit();
        (sum - 2.0) * 1.732_050_8
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Log-uniform in [lo, hi): spreads rates over orders of magnitude like real hosts do.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let mut a = Rng::new(42, 7);
        let mut b = Rng::new(42, 7);
        let mut c = Rng::new(42, 8);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn unit_and_ranges_stay_in_bounds() {
        let mut r = Rng::new(1, 1);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let i = r.range_i64(-3, 3);
            assert!((-3..=3).contains(&i));
            assert!(r.normal().abs() <= 3.5);
        }
    }
}
