//! The broker's one timer table. Entries are not cancelled one by one: a handler that finds
//! its reason gone (the delivery acked, the connection closed) does nothing, which keeps
//! setting a timer cheap. Instead the broker says how many entries may have gone stale (one
//! per settled delivery, say), and once that is half the table, one pass drops every entry
//! whose firing would do nothing ([`Broker::timers_went_stale`]). That pass costs the
//! table's size and comes after as many stale hints as half of it, so it is O(1) per hint;
//! and the table holds at most twice what is live, or what is live plus [`KEEP_STALE`],
//! not every timer set within the longest delay (a retry per delivery for a whole retry
//! interval). Where entries go stale: a delivery settled or dropped by `drop_oldest`
//! (its retry), a resume (the retries it supersedes), a welcome (the hello timer, the
//! client's offline timer, the keepalive of a connection taken over), a closed connection
//! (its hello and keepalive or login timer), a dropped client or session (all of theirs).
//!
//! Almost every timer is set at `now` plus a fixed delay (a session's retry interval or
//! expiry, a keepalive), so timers of one kind arrive in deadline order. Such runs go into
//! FIFO lanes, where setting and popping are O(1) without touching the rest of the table;
//! a timer that fits no lane goes into a binary heap. Every entry carries a sequence
//! number, and the earliest `(deadline, sequence)` over the lane fronts and the heap top
//! fires first, so the firing order is exactly that of a single heap: deterministic, and
//! first-set first among equal deadlines. Dropping stale entries keeps the order of the
//! others.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use fastport_proto::time::Instant;

use super::clients::ClientKey;
use super::session::SessionId;
use super::{Broker, ConnId, ConnState};

/// Why the broker wants to wake up. Plain data, so an entry holds it inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A new connection must have sent `Hello` by now.
    Hello(ConnId),
    /// Check that the connection sent something within 1.5 keepalives.
    Keepalive(ConnId),
    /// Resend a delivery that is still unacked.
    Retry {
        session: SessionId,
        client: ClientKey,
        delivery: u64,
    },
    /// The oldest cached messages of a session expire (one armed timer per session).
    Expire { session: SessionId },
    /// An offline resumable client's state expires.
    Offline {
        session: SessionId,
        client: ClientKey,
    },
    /// Forget the message ids of publishers silent for longer than the expiry.
    SweepSeen { session: SessionId },
    /// A login waiting for its turn (see `guard.rs`) may start its check.
    Login(ConnId),
    /// Presence intervals end: their gathered changes go out (`presence.rs` keeps which
    /// filters are due, in deadline order).
    Presence,
}

/// Lanes kept at most: enough for the few fixed delays in use (retry intervals, expiries,
/// keepalives, the hello timeout); the rare timer that fits none goes to the heap.
const MAX_LANES: usize = 8;

#[derive(Debug)]
pub(crate) struct Timers {
    /// Each sorted by `(at, seq)`.
    lanes: Vec<VecDeque<Entry>>,
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// Per kind of timer, the lane its last one went to: usually the next one fits there
    /// too, and the search of every lane is skipped.
    hints: [usize; KINDS],
    /// Entries announced as stale since the last compaction (some may have fired since).
    stale: usize,
}

/// Stale entries a table may keep however small it is: a pass over a few dozen entries
/// every few acks would cost more than the stale entries do.
pub(crate) const KEEP_STALE: usize = 512;

/// How many variants `Timer` has.
const KINDS: usize = 8;

impl Default for Timers {
    fn default() -> Self {
        Timers {
            lanes: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            hints: [usize::MAX; KINDS],
            stale: 0,
        }
    }
}

impl Timer {
    fn kind(&self) -> usize {
        match self {
            Timer::Hello(_) => 0,
            Timer::Keepalive(_) => 1,
            Timer::Retry { .. } => 2,
            Timer::Expire { .. } => 3,
            Timer::Offline { .. } => 4,
            Timer::SweepSeen { .. } => 5,
            Timer::Login(_) => 6,
            Timer::Presence => 7,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Instant,
    seq: u64,
    timer: Timer,
}

/// Where the earliest entry is.
#[derive(Debug, Clone, Copy)]
enum Source {
    Lane(usize),
    Heap,
}

impl Timers {
    pub(crate) fn set(&mut self, at: Instant, timer: Timer) {
        self.seq += 1;
        let entry = Entry {
            at,
            seq: self.seq,
            timer,
        };
        let kind = timer.kind();
        if let Some(lane) = self.lanes.get_mut(self.hints[kind]) {
            if lane.back().is_none_or(|last| last.at <= at) {
                return lane.push_back(entry);
            }
        }
        // The lane whose last deadline is the latest not after `at` keeps lanes
        // specialised: retries in one, expiries in another.
        let best = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, lane)| lane.back().is_none_or(|last| last.at <= at))
            .max_by_key(|(_, lane)| lane.back().map(|last| last.at))
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                self.hints[kind] = i;
                self.lanes[i].push_back(entry);
            }
            None if self.lanes.len() < MAX_LANES => {
                self.hints[kind] = self.lanes.len();
                self.lanes.push(VecDeque::from([entry]));
            }
            None => self.heap.push(entry),
        }
    }

    /// Entries in the table, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.lanes.iter().map(VecDeque::len).sum::<usize>() + self.heap.len()
    }

    /// `n` more entries may have gone stale; returns whether enough have to compact: half
    /// the table, and more than [`KEEP_STALE`].
    fn note_stale(&mut self, n: usize) -> bool {
        self.stale = self.stale.saturating_add(n);
        self.stale > KEEP_STALE && self.stale.saturating_mul(2) > self.len()
    }

    /// Keeps only the entries for which `live(deadline, timer)` holds, in their order.
    fn retain(&mut self, mut live: impl FnMut(Instant, &Timer) -> bool) {
        self.stale = 0;
        for lane in &mut self.lanes {
            lane.retain(|e| live(e.at, &e.timer));
            // A burst must not pin its memory: keep at most twice what is left (the lane
            // stays, so the kinds' hints still point at the right lanes).
            if lane.capacity() > 4 * lane.len().max(16) {
                lane.shrink_to(2 * lane.len().max(16));
            }
        }
        self.heap.retain(|e| live(e.at, &e.timer));
        if self.heap.capacity() > 4 * self.heap.len().max(16) {
            self.heap.shrink_to(2 * self.heap.len().max(16));
        }
    }

    /// The deadlines of the entries `of` picks, stale ones included.
    #[cfg(test)]
    pub(crate) fn deadlines(&self, of: impl Fn(&Timer) -> bool) -> Vec<Instant> {
        let entries = self.lanes.iter().flatten().chain(self.heap.iter());
        entries.filter(|e| of(&e.timer)).map(|e| e.at).collect()
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.earliest().map(|(_, entry)| entry.at)
    }

    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (source, entry) = self.earliest()?;
        if entry.at > now {
            return None;
        }
        match source {
            Source::Lane(i) => self.lanes[i].pop_front(),
            Source::Heap => self.heap.pop(),
        };
        Some(entry.timer)
    }

    fn earliest(&self) -> Option<(Source, Entry)> {
        let lanes = self
            .lanes
            .iter()
            .enumerate()
            .filter_map(|(i, lane)| Some((Source::Lane(i), *lane.front()?)));
        let heap = self.heap.peek().map(|e| (Source::Heap, *e));
        lanes.chain(heap).min_by_key(|(_, e)| (e.at, e.seq))
    }
}

impl Broker {
    /// `n` timer entries may have gone stale (their deliveries settled, their client or
    /// connection gone); once they may be half the table, drops every stale one.
    pub(crate) fn timers_went_stale(&mut self, n: usize) {
        if self.timers.note_stale(n) {
            let Broker {
                timers,
                sessions,
                conns,
                parked,
                ..
            } = self;
            timers.retain(|at, timer| match *timer {
                Timer::Hello(conn) => conns.get(&conn).is_some_and(|c| c.state == ConnState::New),
                Timer::Keepalive(conn) => conns.contains_key(&conn),
                Timer::Login(conn) => parked.contains_key(&conn),
                // One per presence interval, gone within one interval.
                Timer::Presence => true,
                // The entry set at the delivery's current `retry_at`: the rest were
                // superseded by a resend or a resume (`retry_delivery` skips them).
                Timer::Retry {
                    session,
                    client,
                    delivery,
                } => sessions
                    .get(&session)
                    .and_then(|s| s.clients.get(client))
                    .is_some_and(|c| c.pending.get(&delivery).map(|p| p.retry_at) == Some(at)),
                Timer::Expire { session } | Timer::SweepSeen { session } => {
                    sessions.contains_key(&session)
                }
                Timer::Offline { session, client } => sessions
                    .get(&session)
                    .and_then(|s| s.clients.get(client))
                    .is_some_and(|c| c.offline_since.is_some()),
            });
        }
    }
}

/// The heap is a max-heap: the earliest `(at, seq)` must compare greatest.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for Entry {}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn hello(n: u64) -> Timer {
        Timer::Hello(ConnId(n))
    }

    #[test]
    fn timers_fire_in_deadline_order_then_in_the_order_they_were_set() {
        let mut t = Timers::default();
        // Interleaved fixed delays, out-of-order deadlines, more runs than lanes, and ties.
        let mut set = Vec::new();
        for i in 0..200u64 {
            let deadline = match i % 12 {
                0..=5 => 1_000 + i,
                6..=9 => 60_000 + i,
                _ => (i * 7_919) % 5_000,
            };
            set.push((deadline, i));
            t.set(at(deadline), hello(i));
            t.set(at(deadline), hello(1_000 + i));
            set.push((deadline, 1_000 + i));
        }
        // Deadline first, then the order they were set in.
        let mut expected: Vec<(u64, usize, u64)> = set
            .iter()
            .enumerate()
            .map(|(order, &(deadline, n))| (deadline, order, n))
            .collect();
        expected.sort();
        assert_eq!(t.next(), Some(at(expected[0].0)));
        assert_eq!(t.pop_due(at(expected[0].0 - 1)), None, "not due yet");
        let mut fired = Vec::new();
        while let Some(timer) = t.pop_due(at(u64::MAX / 2_000)) {
            let Timer::Hello(ConnId(n)) = timer else {
                panic!("{timer:?}")
            };
            fired.push(n);
        }
        let want: Vec<u64> = expected.iter().map(|&(_, _, n)| n).collect();
        assert_eq!(fired, want);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn dropping_stale_entries_keeps_the_order_of_the_others() {
        let table = || {
            let mut t = Timers::default();
            for i in 0..1_500u64 {
                // Lanes of fixed delays, and out-of-order deadlines in the heap.
                let deadline = match i % 3 {
                    0 => 1_000 + i,
                    1 => 5_000 + i,
                    _ => (i * 7_919) % 3_000,
                };
                t.set(at(deadline), hello(i));
            }
            t
        };
        let drain = |t: &mut Timers| {
            let mut fired = Vec::new();
            while let Some(timer) = t.pop_due(at(1_000_000)) {
                fired.push(timer);
            }
            fired
        };
        let stale = |timer: &Timer| matches!(timer, Timer::Hello(ConnId(n)) if n % 5 == 0);
        let all = drain(&mut table());
        let mut t = table();
        assert!(
            !t.note_stale(KEEP_STALE),
            "not more than a small table may keep"
        );
        assert!(!t.note_stale(600 - KEEP_STALE), "not yet half the table");
        assert!(t.note_stale(200), "half the table may be stale");
        t.retain(|_, timer| !stale(timer));
        assert_eq!(t.len(), 1_200);
        assert!(!t.note_stale(0), "the hint starts again from zero");
        let want: Vec<Timer> = all.into_iter().filter(|timer| !stale(timer)).collect();
        assert_eq!(drain(&mut t), want);
    }
}
