//! Back-pressure on a publisher: a connection whose publish the broker refused
//! `queue_full` is not read from for a while
//! ([`Output::PauseReading`](crate::broker::Output::PauseReading)), so the server does
//! not read, unmask and route megabytes it would only refuse, and TCP makes the publisher
//! wait instead (docs/SERVER.md, "Budgets and slow consumers").
//!
//! The router sets the pause; the connection task reads only outside it. Setting one wakes
//! the task, which drops a read in progress (the stream keeps what it has received of a
//! message), so the pause starts at once rather than after the next message. Writing goes
//! on during a pause, and so do closes: a shutdown or an abort is a write.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

/// When one connection may read again, shared by its router and its task.
#[derive(Debug)]
pub(crate) struct ReadPause {
    /// The epoch of `until`.
    start: Instant,
    /// The end of the pause in microseconds since `start`; 0 for none.
    until: AtomicU64,
    /// Wakes the task when a pause is set.
    set: Notify,
}

impl ReadPause {
    pub(crate) fn new() -> Self {
        ReadPause {
            start: Instant::now(),
            until: AtomicU64::new(0),
            set: Notify::new(),
        }
    }

    /// Router side: no reading for `pause` from now, unless a pause already set lasts
    /// longer.
    pub(crate) fn pause_for(&self, pause: Duration) {
        let end = Instant::now() + pause;
        // At least 1: 0 means no pause.
        let micros = self.micros(end).max(1);
        let before = self.until.fetch_max(micros, Ordering::AcqRel);
        if before < micros {
            self.set.notify_one();
        }
    }

    /// Task side: the end of the pause in effect, if one is.
    pub(crate) fn until(&self) -> Option<Instant> {
        let micros = self.until.load(Ordering::Acquire);
        if micros == 0 {
            return None;
        }
        let end = self.start + Duration::from_micros(micros);
        if end > Instant::now() {
            return Some(end);
        }
        // Over: forget it, unless the router has just set a new one.
        let _ = self
            .until
            .compare_exchange(micros, 0, Ordering::AcqRel, Ordering::Acquire);
        None
    }

    /// Task side: completes when whether to read may have changed: at the end of the pause
    /// in effect, or when one is set. The caller then asks [`ReadPause::until`] again.
    pub(crate) async fn changed(&self) {
        match self.until() {
            Some(end) => tokio::time::sleep_until(end).await,
            None => self.set.notified().await,
        }
    }

    fn micros(&self, at: Instant) -> u64 {
        let micros = at.saturating_duration_since(self.start).as_micros();
        u64::try_from(micros).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shorter_pause_does_not_cut_a_longer_one_short() {
        let pause = ReadPause::new();
        assert!(pause.until().is_none());
        pause.pause_for(Duration::from_secs(3600));
        let end = pause.until().expect("paused");
        pause.pause_for(Duration::from_millis(1));
        assert_eq!(pause.until(), Some(end), "the longer pause stands");
    }

    #[tokio::test]
    async fn a_pause_is_over_at_its_end() {
        let pause = ReadPause::new();
        pause.pause_for(Duration::from_millis(1));
        assert!(pause.until().is_some());
        pause.changed().await;
        assert!(pause.until().is_none());
    }

    #[tokio::test]
    async fn setting_a_pause_wakes_a_task_waiting_to_read() {
        use futures_util::FutureExt;
        let pause = ReadPause::new();
        let changed = pause.changed();
        tokio::pin!(changed);
        assert!(
            (&mut changed).now_or_never().is_none(),
            "nothing changed yet"
        );
        pause.pause_for(Duration::from_secs(3600));
        changed.await;
        assert!(pause.until().is_some());
    }
}
