//! The broker's one timer table: a min-heap of deadlines. Entries are never cancelled;
//! a handler that finds its reason gone (the delivery acked, the connection closed) does
//! nothing, which keeps setting a timer `O(log n)` and acking free.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use fastport_client_core::time::Instant;

use super::session::SessionId;
use super::ConnId;

/// Why the broker wants to wake up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A new connection must have sent `Hello` by now.
    Hello(ConnId),
    /// Check that the connection sent something within 1.5 keepalives.
    Keepalive(ConnId),
    /// Resend a delivery that is still unacked.
    Retry {
        session: SessionId,
        client: String,
        delivery: u64,
    },
    /// A cached message expires.
    Expire { session: SessionId, delivery: u64 },
    /// An offline resumable client's state expires.
    Offline { session: SessionId, client: String },
    /// Forget the message ids of publishers silent for longer than the expiry.
    SweepSeen { session: SessionId },
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    entries: HashMap<u64, Timer>,
    seq: u64,
}

impl Timers {
    pub(crate) fn set(&mut self, at: Instant, timer: Timer) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.entries.insert(self.seq, timer);
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let Reverse((at, seq)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.entries.remove(&seq)
    }
}
