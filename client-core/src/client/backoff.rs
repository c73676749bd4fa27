//! Reconnection delays and the core's seeded random numbers.

use core::time::Duration;

use super::config::BackoffConfig;
use crate::time::saturating_micros;

/// SplitMix64: tiny, fast and good enough for jitter. Not for secrets: keys and IVs
/// come from the operating system's CSPRNG in [`crate::crypto`].
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The undithered delay before attempt `attempt` (1-based).
///
/// Computed in whole microseconds, the resolution of the core's clock
/// ([`crate::time::Instant`]), so no precision a timer could use is lost.
pub(crate) fn base_delay(config: &BackoffConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(64) as i32;
    let factor = config.multiplier.max(1.0).powi(exponent);
    let cap = saturating_micros(config.max);
    let micros = saturating_micros(config.initial) as f64 * factor;
    // `as` saturates (infinity becomes u64::MAX); NaN (zero times infinity) means the cap.
    Duration::from_micros(if micros.is_nan() {
        cap
    } else {
        (micros as u64).min(cap)
    })
}

/// The delay before attempt `attempt`, jittered: within
/// `[base * (1 - jitter), base]` (rounded down to the microsecond).
pub(crate) fn delay(config: &BackoffConfig, attempt: u32, rng: &mut Rng) -> Duration {
    let base = saturating_micros(base_delay(config, attempt));
    let jitter = config.jitter.clamp(0.0, 1.0);
    let micros = base as f64 * (1.0 - jitter * rng.next_f64());
    Duration::from_micros((micros as u64).min(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn delays_double_until_the_cap() {
        let c = BackoffConfig::default();
        let ms: Vec<u128> = (1..=9).map(|n| base_delay(&c, n).as_millis()).collect();
        assert_eq!(
            ms,
            [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(base_delay(&c, u32::MAX), c.max);
    }

    #[test]
    fn jittered_delays_stay_within_bounds_and_vary() {
        let c = BackoffConfig::default();
        let mut rng = Rng::new(42);
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 1..=20 {
            for _ in 0..50 {
                let d = delay(&c, attempt, &mut rng);
                let base = base_delay(&c, attempt);
                assert!(
                    d <= base && d >= base.mul_f64(0.5),
                    "{d:?} outside bounds of {base:?}"
                );
                seen.insert(d);
            }
        }
        assert!(
            seen.len() > 500,
            "jitter produced only {} distinct delays",
            seen.len()
        );
    }

    #[test]
    fn extreme_settings_give_the_cap_or_saturate_instead_of_panicking() {
        let c = BackoffConfig {
            initial: Duration::ZERO,
            multiplier: f64::INFINITY,
            ..BackoffConfig::default()
        };
        assert_eq!(base_delay(&c, 1), Duration::ZERO);
        // Zero times infinity is NaN: the cap.
        assert_eq!(base_delay(&c, 2), c.max);

        let c = BackoffConfig {
            max: Duration::MAX,
            multiplier: 10.0,
            jitter: 0.0,
            ..BackoffConfig::default()
        };
        assert_eq!(base_delay(&c, 1), Duration::from_millis(500));
        assert_eq!(base_delay(&c, 4), Duration::from_secs(500));
        let longest = Duration::from_micros(u64::MAX);
        assert_eq!(base_delay(&c, u32::MAX), longest);
        assert_eq!(delay(&c, u32::MAX, &mut Rng::new(1)), longest);
    }

    #[test]
    fn without_jitter_the_delay_is_the_base_delay() {
        let c = BackoffConfig {
            initial: Duration::from_micros(333_333),
            multiplier: 1.5,
            jitter: 0.0,
            ..BackoffConfig::default()
        };
        let mut rng = Rng::new(3);
        let micros: Vec<u64> = (1..=4)
            .map(|n| delay(&c, n, &mut rng).as_micros() as u64)
            .collect();
        assert_eq!(micros, [333_333, 499_999, 749_999, 1_124_998]);
    }

    #[test]
    fn random_fractions_are_in_the_unit_interval() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
