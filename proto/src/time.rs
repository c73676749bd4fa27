//! Time as a value. The core never reads a clock: every input takes `now`.
//!
//! `std::time::Instant` cannot be created on `wasm32-unknown-unknown` (it panics), so the
//! core uses its own monotonic [`Instant`], counted in microseconds from an epoch the
//! driver picks (process start natively, `performance.timeOrigin` in the browser).

use core::fmt;
use core::ops::{Add, AddAssign};
use core::time::Duration;

/// A point on the driver's monotonic clock, in microseconds since the driver's epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The driver's epoch.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the driver's epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// An instant `millis` milliseconds after the driver's epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1000))
    }

    /// Microseconds since the driver's epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(saturating_micros(rhs)))
    }
}

/// `duration` in whole microseconds (rounded down), `u64::MAX` if it is longer (over
/// 584,000 years).
pub fn saturating_micros(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(duration.subsec_micros()))
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_huge_duration_saturates_instead_of_overflowing() {
        let t = Instant::from_micros(u64::MAX - 1) + Duration::from_secs(10);
        assert_eq!(t.as_micros(), u64::MAX);
    }

    #[test]
    fn durations_count_whole_microseconds_and_saturate() {
        assert_eq!(saturating_micros(Duration::ZERO), 0);
        assert_eq!(saturating_micros(Duration::from_nanos(1_999)), 1);
        assert_eq!(saturating_micros(Duration::new(3, 4_000)), 3_000_004);
        let longest = Duration::from_micros(u64::MAX);
        assert_eq!(saturating_micros(longest), u64::MAX);
        assert_eq!(
            saturating_micros(longest + Duration::from_micros(1)),
            u64::MAX
        );
        assert_eq!(saturating_micros(Duration::MAX), u64::MAX);
    }

    #[test]
    fn duration_since_a_later_instant_is_zero() {
        let a = Instant::from_millis(5);
        let b = Instant::from_millis(7);
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        assert_eq!(b.saturating_duration_since(a), Duration::from_millis(2));
    }
}
