//! Slowing down repeated failed logins from one address.
//!
//! Every failed password or secret check counts against the peer's IP address. From the
//! fifth failure within a minute on, the address is refused with `rate_limited` — before
//! any argon2 work — for a penalty that doubles with each further failure, up to five
//! minutes. A success does not reset the count (an attacker may own one valid account),
//! the window does. The table is bounded: beyond its size the oldest entries go.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use fastport_proto::time::Instant;

/// Failures tolerated within the window before an address is blocked.
const FREE_FAILURES: u32 = 4;
/// The window in which failures add up.
const WINDOW: Duration = Duration::from_secs(60);
/// The longest block.
const MAX_PENALTY: Duration = Duration::from_secs(300);
/// Most addresses remembered.
const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug, Default)]
pub(crate) struct LoginGuard {
    records: HashMap<IpAddr, Record>,
    order: VecDeque<(Instant, IpAddr)>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    window_start: Instant,
    failures: u32,
    blocked_until: Instant,
}

impl LoginGuard {
    /// If `addr` is blocked, how much longer.
    pub(crate) fn blocked(&self, now: Instant, addr: IpAddr) -> Option<Duration> {
        let record = self.records.get(&addr)?;
        (record.blocked_until > now).then(|| record.blocked_until.saturating_duration_since(now))
    }

    /// Counts a failed check from `addr`.
    pub(crate) fn failed(&mut self, now: Instant, addr: IpAddr) {
        self.evict(now);
        let record = self.records.entry(addr).or_insert_with(|| Record {
            window_start: now,
            failures: 0,
            blocked_until: Instant::ZERO,
        });
        if record.window_start + WINDOW <= now && record.blocked_until <= now {
            *record = Record {
                window_start: now,
                failures: 0,
                blocked_until: Instant::ZERO,
            };
        }
        record.failures += 1;
        if record.failures > FREE_FAILURES {
            let doublings = (record.failures - FREE_FAILURES - 1).min(16);
            let penalty = Duration::from_secs(1u64 << doublings).min(MAX_PENALTY);
            record.blocked_until = now + penalty;
        }
        let last = record.blocked_until.max(record.window_start + WINDOW);
        self.order.push_back((last, addr));
    }

    /// Forgets addresses whose window and block are over, and the oldest beyond the cap.
    fn evict(&mut self, now: Instant) {
        while let Some(&(until, addr)) = self.order.front() {
            if until > now && self.order.len() < MAX_ADDRESSES {
                break;
            }
            self.order.pop_front();
            let expired = self
                .records
                .get(&addr)
                .is_some_and(|r| r.blocked_until <= now && r.window_start + WINDOW <= now);
            if expired || self.order.len() >= MAX_ADDRESSES {
                self.records.remove(&addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_millis(secs * 1_000)
    }

    #[test]
    fn the_fifth_failure_within_a_minute_blocks_with_a_doubling_penalty() {
        let mut g = LoginGuard::default();
        let ip: IpAddr = "192.0.2.1".parse().expect("valid");
        for _ in 0..4 {
            g.failed(at(0), ip);
        }
        assert_eq!(g.blocked(at(0), ip), None);
        g.failed(at(0), ip);
        assert_eq!(g.blocked(at(0), ip), Some(Duration::from_secs(1)));
        g.failed(at(1), ip);
        assert_eq!(g.blocked(at(1), ip), Some(Duration::from_secs(2)));
        assert_eq!(g.blocked(at(3), ip), None);
        let other: IpAddr = "192.0.2.2".parse().expect("valid");
        assert_eq!(
            g.blocked(at(1), other),
            None,
            "other addresses are not affected"
        );
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_never_block() {
        let mut g = LoginGuard::default();
        let ip: IpAddr = "2001:db8::1".parse().expect("valid");
        for minute in 0..10 {
            for _ in 0..4 {
                g.failed(at(minute * 61), ip);
            }
            assert_eq!(g.blocked(at(minute * 61), ip), None);
        }
    }

    #[test]
    fn the_penalty_is_capped_at_five_minutes() {
        let mut g = LoginGuard::default();
        let ip: IpAddr = "192.0.2.3".parse().expect("valid");
        for _ in 0..40 {
            g.failed(at(0), ip);
        }
        assert_eq!(g.blocked(at(0), ip), Some(MAX_PENALTY));
    }
}
