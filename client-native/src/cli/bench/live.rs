//! What the bench's tasks share while they run: one clock, the counters the progress line
//! and the drain read, and the window that keeps publishers from outrunning subscribers.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::Duration;

use tokio::sync::Notify;

/// Most messages the publishers together may have sent that the slowest subscriber has not
/// received yet. Well under the server's outbound queue (1024 frames per connection) and a
/// session's default max_pending (1000), so that no subscriber is closed or dropped from
/// as a slow consumer.
pub const WINDOW: u64 = 512;
/// Once the window is full, publishers wait until the slowest subscriber is this close.
const REOPEN: u64 = WINDOW / 2;
/// Subscribers wake waiting publishers once every this many messages, not on each.
const WAKE_EVERY: u64 = 32;
/// A subscriber silent this long with publishers waiting has lost messages (QoS 0): the
/// window forgets them, so that the run goes on.
const STALL: Duration = Duration::from_millis(250);

/// Microseconds since the bench started, for every client of the process.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: std::time::Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        Clock {
            base: std::time::Instant::now(),
        }
    }

    /// Microseconds since the start.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.base.elapsed()
    }

    /// The instant `offset` after the start, for tokio's timers.
    pub fn at(&self, offset: Duration) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.base) + offset
    }
}

/// The counters of one subscriber, on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
struct SubscriberCounters {
    /// Every message it received, warmup and duplicates included.
    received: AtomicU64,
    /// Measured messages it received for the first time.
    delivered: AtomicU64,
}

/// The shared counters.
#[derive(Debug)]
pub struct Live {
    /// Publishes handed to the clients.
    issued: AtomicU64,
    /// Publishes that failed, and messages the window gave up waiting for.
    written_off: AtomicU64,
    /// Publishes that succeeded.
    sent: AtomicU64,
    subscribers: Vec<SubscriberCounters>,
    /// A publisher waits for the window.
    waiting: AtomicBool,
    progress: Notify,
}

impl Live {
    /// Counters for `subscribers` subscribers.
    pub fn new(subscribers: usize) -> Live {
        Live {
            issued: AtomicU64::new(0),
            written_off: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            subscribers: (0..subscribers)
                .map(|_| SubscriberCounters::default())
                .collect(),
            waiting: AtomicBool::new(false),
            progress: Notify::new(),
        }
    }

    /// Waits until one more message fits in the window.
    pub async fn window_open(&self) {
        if self.outstanding() < WINDOW {
            return;
        }
        loop {
            let mut notified = pin!(self.progress.notified());
            // Registered before the check: a subscriber's progress after it wakes us.
            notified.as_mut().enable();
            self.waiting.store(true, SeqCst);
            let outstanding = self.outstanding();
            if outstanding <= REOPEN {
                return;
            }
            if tokio::time::timeout(STALL, notified).await.is_err() {
                self.written_off.fetch_add(outstanding, SeqCst);
                return;
            }
        }
    }

    /// A publish was handed to a client.
    pub fn issued(&self) {
        self.issued.fetch_add(1, SeqCst);
    }

    /// A publish succeeded.
    pub fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
    }

    /// A publish failed: its message will not come.
    pub fn failed(&self) {
        self.written_off.fetch_add(1, SeqCst);
    }

    /// Subscriber `index` received a message.
    pub fn received(&self, index: usize) {
        let Some(counters) = self.subscribers.get(index) else {
            return;
        };
        let received = counters.received.fetch_add(1, SeqCst) + 1;
        if received % WAKE_EVERY == 0
            && self.waiting.load(SeqCst)
            && self.waiting.swap(false, SeqCst)
        {
            self.progress.notify_waiters();
        }
    }

    /// Subscriber `index` received a measured message for the first time.
    pub fn delivered(&self, index: usize) {
        if let Some(counters) = self.subscribers.get(index) {
            counters.delivered.fetch_add(1, Relaxed);
        }
    }

    /// Successful publishes so far.
    pub fn sent_count(&self) -> u64 {
        self.sent.load(Relaxed)
    }

    /// Messages received by all subscribers together so far.
    pub fn received_count(&self) -> u64 {
        self.subscribers
            .iter()
            .map(|s| s.received.load(Relaxed))
            .sum()
    }

    /// Whether every subscriber has `expected` measured messages.
    pub fn all_delivered(&self, expected: u64) -> bool {
        self.subscribers
            .iter()
            .all(|s| s.delivered.load(Relaxed) >= expected)
    }

    /// Messages sent that the slowest subscriber has not received.
    fn outstanding(&self) -> u64 {
        let Some(slowest) = self
            .subscribers
            .iter()
            .map(|s| s.received.load(SeqCst))
            .min()
        else {
            return 0;
        };
        let settled = slowest.saturating_add(self.written_off.load(SeqCst));
        self.issued.load(SeqCst).saturating_sub(settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_window_reopens_when_the_slowest_subscriber_catches_up() {
        let live = std::sync::Arc::new(Live::new(2));
        for _ in 0..WINDOW {
            live.issued();
        }
        for _ in 0..WINDOW {
            live.received(0);
        }
        let waiter = tokio::spawn({
            let live = std::sync::Arc::clone(&live);
            async move { live.window_open().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "subscriber 1 received nothing yet");
        for _ in 0..WINDOW - REOPEN {
            live.received(1);
        }
        waiter.await.expect("the waiter ends");
        assert_eq!(live.outstanding(), REOPEN);
    }

    #[tokio::test(start_paused = true)]
    async fn lost_messages_are_written_off_after_a_stall() {
        let live = Live::new(1);
        for _ in 0..WINDOW {
            live.issued();
        }
        // Paused time: the stall timeout passes at once.
        live.window_open().await;
        assert_eq!(live.outstanding(), 0);
    }
}
