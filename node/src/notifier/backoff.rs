//! When a failed notification is tried again: exponential backoff from an initial delay,
//! capped, with jitter so that many notifications failing together do not retry together.

/// The delay before the attempt after `attempts` failed ones, for a `jitter` drawn uniformly
/// from [0, 1): `initial * 2^(attempts-1)` capped at `max`, then scaled into [half, full].
pub fn retry_delay_ms(attempts: u32, initial_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let exp = attempts.saturating_sub(1).min(32);
    let full = initial_ms.saturating_mul(1u64 << exp).min(max_ms).max(1);
    let half = full / 2;
    half + ((full - half) as f64 * jitter.clamp(0.0, 1.0)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        assert_eq!(retry_delay_ms(1, 1_000, 60_000, 1.0), 1_000);
        assert_eq!(retry_delay_ms(1, 1_000, 60_000, 0.0), 500);
        assert_eq!(retry_delay_ms(2, 1_000, 60_000, 1.0), 2_000);
        assert_eq!(retry_delay_ms(4, 1_000, 60_000, 1.0), 8_000);
        assert_eq!(retry_delay_ms(10, 1_000, 60_000, 1.0), 60_000);
        assert_eq!(retry_delay_ms(u32::MAX, 1_000, 60_000, 0.5), 45_000);
        assert_eq!(retry_delay_ms(0, 1_000, 60_000, 1.0), 1_000);
    }
}
