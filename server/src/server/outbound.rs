//! Budgets in bytes for what waits inside the server: what each connection has queued for
//! writing, shared by the router (which queues) and the connection task (which takes frames
//! off to write them), and the received messages waiting in the router's inbox.
//!
//! The router queues a frame and adds its size; at the connection's budget it tells the
//! broker ([`Broker::handle_congested`](crate::broker::Broker::handle_congested)), which
//! stops sending it deliveries and asks to hear when the queue has drained to half
//! ([`Output::Watch`](crate::broker::Output::Watch)). The connection task subtracts what
//! it takes off and, when it passes below half with a watch set, tells the router.
//!
//! The watch flag and the byte count are read and written in sequentially consistent
//! order on both sides (the router sets the flag, then reads the count; the task lowers
//! the count, then reads the flag), so at least one side sees the other's write and a
//! drain is never missed; whoever clears the flag reports it, so it is reported once.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// The server's outbound budgets.
#[derive(Debug, Clone)]
pub(crate) struct OutboundBudget {
    /// Bytes queued per connection before its deliveries wait.
    pub(crate) per_connection: usize,
    /// How long writes may make no progress before the connection is closed as slow.
    pub(crate) stall: Duration,
    /// Bytes queued over every connection.
    pub(crate) total: Arc<AtomicUsize>,
    /// One permit per byte of received messages waiting for the router: a connection task
    /// takes a message's permits before handing it over, the router gives them back once
    /// it has handled it, so the inbox holds at most `inbound_max` bytes.
    pub(crate) inbound: Arc<Semaphore>,
    inbound_max: usize,
    /// Batch messages written (several frames in one WebSocket message), over every
    /// connection.
    pub(crate) batches_out: Arc<AtomicU64>,
}

impl OutboundBudget {
    /// `inbound_max`: bytes of received messages that may wait for the router at once.
    pub(crate) fn new(per_connection: usize, stall: Duration, inbound_max: usize) -> Self {
        let inbound_max = inbound_max.clamp(1, u32::MAX as usize);
        OutboundBudget {
            per_connection,
            stall,
            total: Arc::new(AtomicUsize::new(0)),
            inbound: Arc::new(Semaphore::new(inbound_max)),
            inbound_max,
            batches_out: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The inbox permits a received message of `len` bytes takes (a message larger than
    /// the whole inbound budget takes all of it, so it waits for an empty inbox).
    pub(crate) fn inbound_permits(&self, len: usize) -> u32 {
        // `inbound_max` fits a u32 (see `new`).
        len.min(self.inbound_max) as u32
    }

    /// Below this a watched queue counts as drained, and the connection is read from.
    pub(crate) fn half(&self) -> usize {
        self.per_connection / 2
    }

    /// A gauge for a new connection.
    pub(crate) fn gauge(&self) -> Arc<Gauge> {
        Arc::new(Gauge {
            bytes: AtomicUsize::new(0),
            watch: AtomicBool::new(false),
            total: self.total.clone(),
        })
    }

    /// Bytes queued over every connection.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// The bytes one connection has queued, and whether the broker waits for them to drain.
#[derive(Debug)]
pub(crate) struct Gauge {
    bytes: AtomicUsize,
    watch: AtomicBool,
    total: Arc<AtomicUsize>,
}

impl Gauge {
    /// Bytes queued now.
    pub(crate) fn queued(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }

    /// Counts `n` bytes queued; returns the bytes queued now.
    pub(crate) fn add(&self, n: usize) -> usize {
        self.total.fetch_add(n, Ordering::Relaxed);
        self.bytes.fetch_add(n, Ordering::SeqCst) + n
    }

    /// Counts `n` bytes taken off the queue; returns whether that ended a watch (the
    /// queue is below `half` and the broker asked to hear of it).
    pub(crate) fn take(&self, n: usize, half: usize) -> bool {
        // Saturating: after `release` the frames still written count for nothing.
        let before = self
            .bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                Some(b.saturating_sub(n))
            })
            .unwrap_or_else(|b| b);
        let taken = before.min(n);
        self.total.fetch_sub(taken, Ordering::Relaxed);
        before - taken < half
            && self.watch.load(Ordering::SeqCst)
            && self.watch.swap(false, Ordering::SeqCst)
    }

    /// The broker asks to hear when the queue is below `half`: returns `true` if it
    /// already is (the caller reports the drain itself), else the connection task will.
    pub(crate) fn watch(&self, half: usize) -> bool {
        self.watch.store(true, Ordering::SeqCst);
        self.queued() < half && self.watch.swap(false, Ordering::SeqCst)
    }

    /// The router forgot the connection (it queues nothing more): what it still has
    /// queued leaves the server's total.
    pub(crate) fn release(&self) {
        let left = self.bytes.swap(0, Ordering::SeqCst);
        self.total.fetch_sub(left, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_is_reported_once_by_whichever_side_sees_it() {
        let budget = OutboundBudget::new(100, Duration::from_secs(1), 1000);
        let gauge = budget.gauge();
        assert_eq!(gauge.add(120), 120);
        assert_eq!(budget.total(), 120);
        assert!(!gauge.watch(budget.half()), "still above half");
        assert!(!gauge.take(30, budget.half()), "90 is not below 50");
        assert!(gauge.take(50, budget.half()), "40 is: the task reports it");
        assert!(!gauge.take(40, budget.half()), "once");
        assert!(
            gauge.watch(budget.half()),
            "already drained: the router reports it"
        );
        assert!(!gauge.take(0, budget.half()), "and the task does not");
        gauge.add(10);
        gauge.release();
        assert_eq!(budget.total(), 0, "a closed connection leaves the total");
        assert!(!gauge.take(10, budget.half()));
        assert_eq!(
            budget.total(),
            0,
            "frames written after it count for nothing"
        );
    }
}
