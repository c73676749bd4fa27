//! The Redis engine's health, shared between the pinger, the runtime's writes, `/healthz`
//! and `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Whether Redis answers, and counts of what went wrong: written by the pinger (every
/// [`super::PING_INTERVAL`]) and by [`EngineHealth::failed`] (a write of the runtime that
/// failed), read by `/healthz` and `/metrics`.
#[derive(Debug)]
pub struct EngineHealth {
    up: AtomicBool,
    errors: AtomicU64,
    reconnects: AtomicU64,
    round_trip_nanos: AtomicU64,
    /// Why it is down (the last error), for `/healthz`.
    reason: Mutex<String>,
}

/// A snapshot of [`EngineHealth`] for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct EngineMetrics {
    /// Whether the last ping (or write) succeeded.
    pub up: bool,
    /// Failed pings and writes.
    pub errors: u64,
    /// Times the engine came back up after being down.
    pub reconnects: u64,
    /// The round trip of the last successful ping, in seconds.
    pub round_trip_seconds: f64,
}

impl EngineHealth {
    /// Up: the engine has just connected.
    pub(crate) fn new_up(round_trip: Duration) -> EngineHealth {
        EngineHealth {
            up: AtomicBool::new(true),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            round_trip_nanos: AtomicU64::new(nanos(round_trip)),
            reason: Mutex::new(String::new()),
        }
    }

    /// Whether Redis answered the last ping and no write failed since.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Why the engine is down (the last error), or `None` while it is up.
    pub fn down_reason(&self) -> Option<String> {
        if self.is_up() {
            return None;
        }
        let reason = self.reason.lock().map(|r| r.clone()).unwrap_or_default();
        Some(reason)
    }

    /// Reports a failed write (a batch that Redis refused or never answered): counts the
    /// error and marks the engine down at once, so `/healthz` says degraded before the next
    /// ping; the next successful ping marks it up again (counted as a reconnect).
    pub fn failed(&self, why: &dyn std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.set_reason(why);
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!("redis engine down: {why}");
        }
    }

    /// A ping answered in `round_trip`: marks the engine up, counting a reconnect if it was
    /// down. Returns whether it was down.
    pub(crate) fn answered(&self, round_trip: Duration) -> bool {
        self.round_trip_nanos
            .store(nanos(round_trip), Ordering::Relaxed);
        let was_down = !self.up.swap(true, Ordering::AcqRel);
        if was_down {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        was_down
    }

    /// A snapshot for `/metrics`.
    pub fn metrics(&self) -> EngineMetrics {
        EngineMetrics {
            up: self.is_up(),
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            round_trip_seconds: Duration::from_nanos(self.round_trip_nanos.load(Ordering::Relaxed))
                .as_secs_f64(),
        }
    }

    fn set_reason(&self, why: &dyn std::fmt::Display) {
        if let Ok(mut reason) = self.reason.lock() {
            *reason = why.to_string();
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_marks_it_down_at_once_and_a_ping_brings_it_back_as_a_reconnect() {
        let health = EngineHealth::new_up(Duration::from_micros(250));
        assert!(health.is_up());
        assert_eq!(health.down_reason(), None);
        health.failed(&"connection reset");
        assert!(!health.is_up());
        assert_eq!(health.down_reason().as_deref(), Some("connection reset"));
        health.failed(&"timed out");
        assert!(health.answered(Duration::from_millis(2)), "it was down");
        let m = health.metrics();
        assert_eq!((m.up, m.errors, m.reconnects), (true, 2, 1));
        assert!((m.round_trip_seconds - 0.002).abs() < 1e-9, "{m:?}");
        assert!(!health.answered(Duration::from_millis(1)), "already up");
        assert_eq!(health.metrics().reconnects, 1);
    }
}
