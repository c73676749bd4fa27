//! The QoS 1 message ids a publisher used recently (`SeenIds`), so a resend is acked and
//! answered with its receipt instead of delivered twice.
//!
//! Publishers number their messages in sequence (the client core counts up by one from a
//! random start), so the ids live in a window: a ring of slots in id order from `base`,
//! 20 bytes per id, found by subtraction, each added at its end, so its first is also its
//! oldest. Ids that do not fit it (one skipped and sent later, a late resend of an id the
//! window has moved past, ids far apart or at random) go to ordered maps beside it. A
//! far jump (a restarted client's new start) moves the window there and the old ids to
//! the maps, where they age out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use fastport_proto::codec::{Receipt, ReceiptStatus};
use fastport_proto::time::Instant;

/// Most remembered message ids per publisher, and the widest span of ids the window covers.
pub(crate) const MAX_SEEN: usize = 65_536;

/// Empty slots a window may hold beyond one per remembered id.
const MAX_GAP: usize = 64;

/// Remembered ids of one publisher: at most [`MAX_SEEN`], each forgotten once older than
/// the session's expiry (oldest first, whenever an id is added and when swept).
#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    /// The id of `window[0]`.
    base: u64,
    /// Ids `base..base + window.len()` in id order, and in the order they were added;
    /// `Empty` for an id not remembered here. Never starts with an empty slot.
    window: VecDeque<Slot>,
    /// Remembered ids in `window`.
    in_window: usize,
    /// Remembered ids outside the window. An id is in at most one of the two.
    far: BTreeMap<u64, Slot>,
    /// `far`'s ids by when they were added.
    far_order: BTreeSet<(Instant, u64)>,
    /// When the newest id was added.
    newest: Option<Instant>,
}

/// One remembered id: when, and the receipt once known, as fields (most receipts are never
/// asked for again, so they are not encoded). The time is two `u32`s so the slot packs
/// into 20 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: [u32; 2],
    delivered: u32,
    failed: u32,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    Seen,
    Answered(ReceiptStatus),
}

impl Slot {
    const EMPTY: Slot = Slot {
        at: [0; 2],
        delivered: 0,
        failed: 0,
        state: State::Empty,
    };

    fn seen(now: Instant) -> Slot {
        let micros = now.as_micros();
        Slot {
            // Both halves of the `u64`, truncation intended.
            at: [micros as u32, (micros >> 32) as u32],
            state: State::Seen,
            ..Slot::EMPTY
        }
    }

    fn at(&self) -> Instant {
        Instant::from_micros(u64::from(self.at[0]) | u64::from(self.at[1]) << 32)
    }

    fn is_empty(&self) -> bool {
        self.state == State::Empty
    }

    /// What `get` answers for this slot.
    fn answer(&self, message_id: u64) -> Option<Option<Receipt>> {
        match self.state {
            State::Empty => None,
            State::Seen => Some(None),
            State::Answered(status) => Some(Some(Receipt {
                message_id,
                status,
                delivered: self.delivered,
                failed: self.failed,
            })),
        }
    }
}

impl SeenIds {
    /// `None` if `id` is not remembered, else its receipt if known yet.
    pub(crate) fn get(&self, id: u64) -> Option<Option<Receipt>> {
        match self.window_slot(id) {
            Some(slot) if !slot.is_empty() => slot.answer(id),
            _ => self.far.get(&id).and_then(|slot| slot.answer(id)),
        }
    }

    /// Remembers `id` as added `now`, first forgetting what is older than `expiry` and, at
    /// the cap, the oldest.
    pub(crate) fn insert(&mut self, now: Instant, id: u64, expiry: Duration) {
        self.evict(now, expiry, 1);
        self.newest = Some(now);
        self.place(id, Slot::seen(now));
        self.shrink();
    }

    /// Whether every remembered id is older than `expiry` (the publisher is long gone).
    pub(crate) fn is_stale(&self, now: Instant, expiry: Duration) -> bool {
        self.newest.is_none_or(|at| at + expiry <= now)
    }

    /// Forgets the ids older than `expiry` and gives back the memory they used.
    pub(crate) fn forget(&mut self, now: Instant, expiry: Duration) {
        self.evict(now, expiry, 0);
        self.shrink();
    }

    pub(crate) fn set_receipt(&mut self, id: u64, receipt: Receipt) {
        let in_window = self.window_slot(id).is_some_and(|slot| !slot.is_empty());
        let slot = if in_window {
            self.window_slot_mut(id)
        } else {
            self.far.get_mut(&id)
        };
        if let Some(slot) = slot {
            slot.state = State::Answered(receipt.status);
            slot.delivered = receipt.delivered;
            slot.failed = receipt.failed;
        }
    }

    /// When the oldest remembered id was added: it is forgotten once the expiry has passed
    /// since then.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        let window = self.window.front().map(Slot::at);
        let far = self.far_order.first().map(|&(at, _)| at);
        match (window, far) {
            (Some(w), Some(f)) => Some(w.min(f)),
            (w, f) => w.or(f),
        }
    }

    /// Remembered ids.
    pub(crate) fn len(&self) -> usize {
        self.in_window + self.far.len()
    }

    fn window_slot(&self, id: u64) -> Option<&Slot> {
        let offset = usize::try_from(id.checked_sub(self.base)?).ok()?;
        self.window.get(offset)
    }

    fn window_slot_mut(&mut self, id: u64) -> Option<&mut Slot> {
        let offset = usize::try_from(id.checked_sub(self.base)?).ok()?;
        self.window.get_mut(offset)
    }

    /// Forgets the oldest ids while they are older than `expiry` or while fewer than `room`
    /// more would fit under the cap.
    fn evict(&mut self, now: Instant, expiry: Duration, room: usize) {
        loop {
            let window = self.window.front().map(Slot::at);
            let far = self.far_order.first().map(|&(at, _)| at);
            let (at, in_window) = match (window, far) {
                (Some(w), Some(f)) => (w.min(f), w <= f),
                (Some(w), None) => (w, true),
                (None, Some(f)) => (f, false),
                (None, None) => return,
            };
            if self.len() + room <= MAX_SEEN && at + expiry > now {
                return;
            }
            if in_window {
                self.pop_window();
            } else if let Some((_, id)) = self.far_order.pop_first() {
                self.far.remove(&id);
            }
        }
    }

    /// Forgets the window's first id, and the empty slots after it.
    fn pop_window(&mut self) -> Option<(u64, Slot)> {
        let first = self.window.pop_front()?;
        let id = self.base;
        self.in_window -= 1;
        self.base = self.base.wrapping_add(1);
        while self.window.front().is_some_and(Slot::is_empty) {
            self.window.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        Some((id, first))
    }

    fn place(&mut self, id: u64, slot: Slot) {
        if let Some(old) = self.far.remove(&id) {
            self.far_order.remove(&(old.at(), id));
        }
        if self.in_window == 0 {
            self.window.clear();
            self.base = id;
        }
        let span = MAX_SEEN as u64;
        // Empty slots stay under about half the window, so ids far apart cost a slot each,
        // not the gap between them.
        let dense = |offset: u64| offset < (2 * self.in_window + MAX_GAP) as u64;
        match id.checked_sub(self.base) {
            // `offset` < MAX_SEEN: fits a usize.
            Some(offset)
                if offset < span && dense(offset) && offset >= self.window.len() as u64 =>
            {
                self.window.resize(offset as usize, Slot::EMPTY);
                self.window.push_back(slot);
                self.in_window += 1;
            }
            // Within the window, so added after ids above it: beside it, to keep its order.
            Some(offset) if offset < self.window.len() as u64 => {
                let existing = &mut self.window[offset as usize];
                if existing.is_empty() {
                    self.add_far(id, slot);
                } else {
                    // Known already (callers ask first): keep its time, forget its receipt.
                    existing.state = State::Seen;
                }
            }
            // Ahead, past more empty slots than the window may hold: beside it.
            Some(offset) if offset < span => self.add_far(id, slot),
            None if self.base - id <= span => self.add_far(id, slot),
            // Far ahead or far behind: the publisher numbers from somewhere new.
            _ => {
                self.slide_to(id);
                self.place(id, slot);
            }
        }
    }

    /// Moves the window's first ids to `far` until `id` is within a span of its first, or
    /// the window is empty.
    fn slide_to(&mut self, id: u64) {
        let span = MAX_SEEN as u64;
        while id
            .checked_sub(self.base)
            .is_none_or(|offset| offset >= span)
        {
            match self.pop_window() {
                Some((old, slot)) => self.add_far(old, slot),
                None => return,
            }
        }
    }

    fn add_far(&mut self, id: u64, slot: Slot) {
        self.far_order.insert((slot.at(), id));
        self.far.insert(id, slot);
    }

    /// Gives back the memory of a window at most a quarter full (cheap: amortised over the
    /// evictions that emptied it). The maps free their nodes as they go.
    fn shrink(&mut self) {
        const MIN: usize = 64;
        if self.window.capacity() > MIN && self.window.len() < self.window.capacity() / 4 {
            self.window.shrink_to(MIN.max(self.window.len() * 2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPIRY: Duration = Duration::from_secs(60);

    fn at(millis: u64) -> Instant {
        Instant::from_millis(millis)
    }

    fn receipt(message_id: u64, delivered: u32) -> Receipt {
        Receipt {
            message_id,
            status: ReceiptStatus::Delivered,
            delivered,
            failed: 1,
        }
    }

    /// Ids `from..to`, one per microsecond from `start` milliseconds.
    fn insert_run(seen: &mut SeenIds, start: u64, from: u64, to: u64) {
        for (i, id) in (from..to).enumerate() {
            seen.insert(at(start) + Duration::from_micros(i as u64), id, EXPIRY);
        }
    }

    #[test]
    fn a_remembered_id_is_a_duplicate_and_answers_with_its_receipt_once_known() {
        let mut seen = SeenIds::default();
        insert_run(&mut seen, 0, 1_000, 1_100);
        assert_eq!(seen.get(1_050), Some(None), "remembered, no receipt yet");
        seen.set_receipt(1_050, receipt(1_050, 16));
        assert_eq!(seen.get(1_050), Some(Some(receipt(1_050, 16))));
        assert_eq!(seen.get(1_049), Some(None), "its neighbours keep theirs");
        assert_eq!(seen.get(999), None);
        assert_eq!(seen.get(1_100), None);
        seen.set_receipt(5, receipt(5, 1));
        assert_eq!(
            seen.get(5),
            None,
            "a receipt for an id not remembered is not kept"
        );
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn at_the_cap_the_oldest_ids_are_forgotten() {
        let mut seen = SeenIds::default();
        let first = 7u64 << 30;
        let count = MAX_SEEN as u64 + 10;
        insert_run(&mut seen, 0, first, first + count);
        assert_eq!(seen.len(), MAX_SEEN);
        assert!((first..first + 10).all(|id| seen.get(id).is_none()));
        assert!((first + 10..first + count).all(|id| seen.get(id) == Some(None)));
        assert!(
            seen.window.len() <= MAX_SEEN,
            "the window holds no more than the cap"
        );
        assert!(seen.far.is_empty(), "ids in sequence stay in the window");
    }

    #[test]
    fn ids_are_forgotten_once_older_than_the_expiry_and_their_memory_returns() {
        let mut seen = SeenIds::default();
        insert_run(&mut seen, 0, 1, 50_001);
        let grown = seen.window.capacity();
        assert!(grown >= 50_000);
        let later = at(60_025);
        seen.insert(later, 50_001, EXPIRY);
        assert_eq!(seen.get(25_001), None, "added 60 s before");
        assert_eq!(seen.get(25_002), Some(None), "added 59.999999 s before");
        assert!(!seen.is_stale(later, EXPIRY));

        let quiet = later + EXPIRY;
        assert!(
            seen.is_stale(quiet, EXPIRY),
            "nothing added within the expiry"
        );
        seen.forget(quiet, EXPIRY);
        assert_eq!(seen.len(), 0);
        assert_eq!(seen.get(50_001), None);
        assert!(
            seen.window.capacity() < grown / 4,
            "{} of {grown} slots still allocated",
            seen.window.capacity()
        );
    }

    #[test]
    fn forgetting_keeps_the_ids_within_the_expiry() {
        let mut seen = SeenIds::default();
        insert_run(&mut seen, 0, 1, 1_001);
        seen.forget(at(60_000) + Duration::from_micros(500), EXPIRY);
        assert_eq!(seen.len(), 499);
        assert_eq!(seen.get(501), None);
        assert_eq!(seen.get(502), Some(None));
        assert_eq!(seen.get(1_000), Some(None));
    }

    #[test]
    fn ids_out_of_order_are_each_remembered_once() {
        let mut seen = SeenIds::default();
        let ids = [500, 503, 501, 510, 499, 400, 502, 505];
        for (t, &id) in ids.iter().enumerate() {
            seen.insert(at(t as u64), id, EXPIRY);
        }
        for id in ids {
            assert_eq!(seen.get(id), Some(None), "id {id}");
        }
        for id in [504, 506, 509, 511, 498, 401] {
            assert_eq!(seen.get(id), None, "id {id}");
        }
        assert_eq!(seen.len(), ids.len());
        seen.set_receipt(400, receipt(400, 2));
        seen.set_receipt(503, receipt(503, 3));
        assert_eq!(seen.get(400), Some(Some(receipt(400, 2))));
        assert_eq!(seen.get(503), Some(Some(receipt(503, 3))));

        // Those added in the first 5 ms expire, whatever their place.
        seen.insert(at(60_004), 520, EXPIRY);
        for id in [500, 503, 501, 510, 499] {
            assert_eq!(seen.get(id), None, "id {id}");
        }
        assert_eq!(seen.get(400), Some(Some(receipt(400, 2))), "added at 5 ms");
        assert_eq!(seen.get(502), Some(None), "added at 6 ms");
        assert_eq!(seen.get(505), Some(None), "added at 7 ms");
        assert_eq!(seen.get(520), Some(None));
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn a_restarted_client_numbering_from_one_again_is_told_apart_once_its_old_ids_expire() {
        let mut seen = SeenIds::default();
        let old = 1_500_000_000;
        insert_run(&mut seen, 0, old, old + 1_000);
        // It restarts and numbers from 1: its old ids stay remembered for their expiry.
        insert_run(&mut seen, 10_000, 1, 301);
        assert_eq!(seen.len(), 1_300);
        assert_eq!(seen.get(old + 999), Some(None));
        assert!((1..301).all(|id| seen.get(id) == Some(None)));
        assert_eq!(seen.base, 1, "the window follows the new numbering");
        assert_eq!(seen.far.len(), 1_000, "the old ids wait beside it");

        // Past their expiry the old ids are forgotten and the new ones keep going.
        insert_run(&mut seen, 61_000, 301, 302);
        assert_eq!(seen.get(old), None);
        assert_eq!(seen.get(old + 999), None);
        assert!(seen.far.is_empty());
        assert!((1..302).all(|id| seen.get(id) == Some(None)));
        // After all of those expire too, small ids are new again.
        seen.insert(at(200_000), 1, EXPIRY);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen.get(2), None);
    }

    #[test]
    fn ids_at_random_are_remembered_up_to_the_cap() {
        let mut seen = SeenIds::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut ids = vec![u64::MAX, u64::MAX - 1, 0, 1];
        for _ in 0..MAX_SEEN {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ids.push(x);
        }
        for (t, &id) in ids.iter().enumerate() {
            seen.insert(Instant::from_micros(t as u64), id, EXPIRY);
        }
        assert_eq!(seen.len(), MAX_SEEN);
        assert!(
            ids[..4].iter().all(|&id| seen.get(id).is_none()),
            "the oldest went"
        );
        assert!(ids[4..].iter().all(|&id| seen.get(id) == Some(None)));
    }

    #[test]
    fn ids_far_apart_cost_a_slot_each_not_the_gap_between_them() {
        let mut seen = SeenIds::default();
        let ids: Vec<u64> = (0..1_000).map(|n| 1 + n * 60_000).collect();
        for (t, &id) in ids.iter().enumerate() {
            seen.insert(at(t as u64), id, EXPIRY);
        }
        assert!(ids.iter().all(|&id| seen.get(id) == Some(None)));
        assert_eq!(seen.get(2), None);
        assert!(seen.window.len() <= MAX_GAP, "{} slots", seen.window.len());
        // A few skipped ids in a sequence still fit the window.
        let mut seen = SeenIds::default();
        let ids: Vec<u64> = (0..1_000).map(|n| 1 + n * 3).collect();
        for (t, &id) in ids.iter().enumerate() {
            seen.insert(at(t as u64), id, EXPIRY);
        }
        assert!(ids.iter().all(|&id| seen.get(id) == Some(None)));
        assert_eq!(seen.in_window + seen.far.len(), 1_000);
        assert!(seen.window.len() <= 2 * seen.in_window + MAX_GAP);
    }

    #[test]
    fn a_slot_is_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 20);
    }
}
