//! Publishes held until the server acks them (QoS 1) or until they are sent (QoS 0).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use bytes::Bytes;

use crate::codec::Qos;
use crate::time::Instant;

/// One held publish. The encoded frame is kept, so a resend is the same bytes.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) qos: Qos,
    pub(crate) frame: Bytes,
    pub(crate) attempts: u32,
    pub(crate) deadline: Option<Instant>,
    /// Next resend if still unacked; `None` while unsent.
    pub(crate) retry_at: Option<Instant>,
}

/// Held publishes in message id (= publish) order, with heaps for the retry and deadline
/// timers. Heap entries go stale when a publish settles or is resent; stale ones are
/// skipped when they surface, which keeps every operation `O(log n)`.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Sorted by id: ids grow, so inserts append and acks (mostly in order) pop the
    /// front. Smaller code than a `BTreeMap` in the browser build.
    entries: VecDeque<(u64, Entry)>,
    bytes: usize,
    retries: BinaryHeap<Reverse<(Instant, u64)>>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl Outbox {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn find(&self, id: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |(k, _)| *k)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        let i = self.find(id).ok()?;
        self.entries.get_mut(i).map(|(_, e)| e)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn insert(&mut self, id: u64, entry: Entry) {
        self.bytes += entry.frame.len();
        if let Some(deadline) = entry.deadline {
            self.deadlines.push(Reverse((deadline, id)));
        }
        match self.find(id) {
            Ok(i) => {
                let old = std::mem::replace(&mut self.entries[i].1, entry);
                self.bytes -= old.frame.len();
            }
            Err(i) => {
                // Ids grow, so `i` is the end but for callers that insert out of order.
                // Swapping into place instead of `VecDeque::insert` (and `remove` below):
                // their general copying is much more code in the browser build.
                self.entries.push_back((id, entry));
                for j in (i..self.entries.len() - 1).rev() {
                    self.entries.swap(j, j + 1);
                }
            }
        }
    }

    pub(crate) fn remove(&mut self, id: u64) -> Option<Entry> {
        let i = self.find(id).ok()?;
        // Moved to the nearer end by swaps, which keeps the others in order. Acks come
        // mostly in order, so that is nearly always the front, with no swap at all.
        let (_, entry) = if i < self.entries.len() / 2 {
            for j in (0..i).rev() {
                self.entries.swap(j, j + 1);
            }
            self.entries.pop_front()
        } else {
            for j in i..self.entries.len() - 1 {
                self.entries.swap(j, j + 1);
            }
            self.entries.pop_back()
        }?;
        self.bytes -= entry.frame.len();
        Some(entry)
    }

    /// Records a send; QoS 1 entries then wait for their ack until `retry_at`.
    pub(crate) fn mark_sent(&mut self, id: u64, retry_at: Instant) {
        if let Some(entry) = self.get_mut(id) {
            entry.attempts += 1;
            entry.retry_at = Some(retry_at);
            self.retries.push(Reverse((retry_at, id)));
        }
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Entry> {
        let i = self.find(id).ok()?;
        self.entries.get(i).map(|(_, e)| e)
    }

    pub(crate) fn ids(&self) -> Vec<u64> {
        self.entries.iter().map(|(id, _)| *id).collect()
    }

    /// Forgets every send time (the connection is gone); entries are resent on reconnect.
    pub(crate) fn mark_all_unsent(&mut self) {
        for (_, entry) in self.entries.iter_mut() {
            entry.retry_at = None;
        }
        self.retries.clear();
    }

    pub(crate) fn drain(&mut self) -> Vec<u64> {
        let ids = self.ids();
        self.entries.clear();
        self.bytes = 0;
        self.retries.clear();
        self.deadlines.clear();
        ids
    }

    /// The earliest live retry time.
    pub(crate) fn next_retry(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.retries.peek() {
            match self.get(id) {
                Some(e) if e.retry_at == Some(at) => return Some(at),
                _ => {
                    self.retries.pop();
                }
            }
        }
        None
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            match self.get(id) {
                Some(e) if e.deadline == Some(at) => return Some(at),
                _ => {
                    self.deadlines.pop();
                }
            }
        }
        None
    }

    /// Ids whose retry time is due.
    pub(crate) fn due_retries(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(at) = self.next_retry() {
            if at > now {
                break;
            }
            if let Some(Reverse((_, id))) = self.retries.pop() {
                due.push(id);
            }
        }
        due
    }

    /// Ids whose deadline has passed.
    pub(crate) fn due_deadlines(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(at) = self.next_deadline() {
            if at > now {
                break;
            }
            if let Some(Reverse((_, id))) = self.deadlines.pop() {
                due.push(id);
            }
        }
        due
    }
}

/// The most recent delivery ids, to acknowledge server resends without handing the
/// message to the application twice.
#[derive(Debug)]
pub(crate) struct DedupWindow {
    capacity: usize,
    order: std::collections::VecDeque<u64>,
    seen: IdSet,
}

impl DedupWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        DedupWindow {
            capacity,
            order: Default::default(),
            seen: IdSet::with_capacity(capacity + 1),
        }
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.seen.contains(id)
    }

    pub(crate) fn clear(&mut self) {
        self.seen.clear();
        self.order.clear();
    }

    pub(crate) fn insert(&mut self, id: u64) {
        if !self.seen.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(old);
            }
        }
    }
}

/// A fixed-size set of `u64`s: open addressing with linear probing and backward-shift
/// deletion, at most half full. Small in code (the browser build has no `HashSet` for it)
/// and fast for the dedup window's bounded number of ids.
#[derive(Debug)]
struct IdSet {
    /// `EMPTY` marks a free slot; the id `EMPTY` itself is kept in `has_empty_id`.
    slots: Vec<u64>,
    has_empty_id: bool,
}

const EMPTY: u64 = u64::MAX;

impl IdSet {
    fn with_capacity(n: usize) -> IdSet {
        let size = (n * 2).next_power_of_two().max(8);
        IdSet {
            slots: vec![EMPTY; size],
            has_empty_id: false,
        }
    }

    fn home(&self, id: u64) -> usize {
        // Fibonacci hashing: ids are sequential, the multiply spreads them.
        let mask = self.slots.len() - 1;
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
    }

    /// The slot holding `id`, or the free slot where it would go.
    fn find(&self, id: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(id);
        while self.slots[i] != EMPTY && self.slots[i] != id {
            i = (i + 1) & mask;
        }
        i
    }

    fn contains(&self, id: u64) -> bool {
        if id == EMPTY {
            return self.has_empty_id;
        }
        self.slots[self.find(id)] == id
    }

    /// Adds `id`; false if it was there. The caller keeps it at most half full.
    fn insert(&mut self, id: u64) -> bool {
        if id == EMPTY {
            return !std::mem::replace(&mut self.has_empty_id, true);
        }
        let i = self.find(id);
        if self.slots[i] == id {
            return false;
        }
        self.slots[i] = id;
        true
    }

    fn remove(&mut self, id: u64) {
        if id == EMPTY {
            self.has_empty_id = false;
            return;
        }
        let mask = self.slots.len() - 1;
        let mut hole = self.find(id);
        if self.slots[hole] != id {
            return;
        }
        self.slots[hole] = EMPTY;
        // Move later entries of the probe run back into the hole where their home allows.
        let mut i = (hole + 1) & mask;
        while self.slots[i] != EMPTY {
            let home = self.home(self.slots[i]);
            // Movable unless its home lies cyclically in (hole, i].
            let stays = if hole <= i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                self.slots[hole] = self.slots[i];
                self.slots[i] = EMPTY;
                hole = i;
            }
            i = (i + 1) & mask;
        }
    }

    fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.has_empty_id = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn entry(deadline: Option<u64>) -> Entry {
        Entry {
            qos: Qos::AtLeastOnce,
            frame: Bytes::from_static(b"0123456789"),
            attempts: 0,
            deadline: deadline.map(Instant::from_millis),
            retry_at: None,
        }
    }

    #[test]
    fn settled_entries_leave_no_live_timers() {
        let mut o = Outbox::default();
        o.insert(1, entry(Some(100)));
        o.insert(2, entry(Some(200)));
        o.mark_sent(1, Instant::from_millis(50));
        o.mark_sent(2, Instant::from_millis(60));
        assert_eq!(o.bytes(), 20);
        assert_eq!(o.next_retry(), Some(Instant::from_millis(50)));
        o.remove(1);
        assert_eq!(o.next_retry(), Some(Instant::from_millis(60)));
        assert_eq!(o.next_deadline(), Some(Instant::from_millis(200)));
        assert_eq!(o.due_retries(Instant::from_millis(60)), vec![2]);
        assert_eq!(o.next_retry(), None);
        assert_eq!(o.bytes(), 10);
    }

    #[test]
    fn entries_stay_in_id_order_whatever_order_they_come_and_go_in() {
        let mut o = Outbox::default();
        for id in [5, 1, 9, 3, 7, 2, 8] {
            o.insert(id, entry(None));
        }
        assert_eq!(o.ids(), [1, 2, 3, 5, 7, 8, 9]);
        o.insert(5, entry(None));
        assert_eq!((o.len(), o.bytes()), (7, 70));
        let mut left = vec![1, 2, 3, 5, 7, 8, 9];
        for id in [3, 9, 1, 7, 4, 8, 2, 5] {
            assert_eq!(o.remove(id).is_some(), left.contains(&id), "{id}");
            left.retain(|&l| l != id);
            assert_eq!(o.ids(), left);
            assert_eq!(o.bytes(), 10 * left.len());
            assert!(left.iter().all(|&l| o.get(l).is_some()));
        }
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn a_resend_replaces_the_previous_retry_time() {
        let mut o = Outbox::default();
        o.insert(1, entry(None));
        o.mark_sent(1, Instant::from_millis(10));
        o.mark_sent(1, Instant::from_millis(30));
        assert_eq!(o.due_retries(Instant::from_millis(20)), Vec::<u64>::new());
        assert_eq!(o.due_retries(Instant::from_millis(30)), vec![1]);
        assert_eq!(o.get(1).map(|e| e.attempts), Some(2));
    }

    #[test]
    fn the_dedup_window_forgets_the_oldest_id_beyond_its_capacity() {
        let mut d = DedupWindow::new(2);
        d.insert(1);
        d.insert(2);
        d.insert(2);
        assert!(d.contains(1));
        d.insert(3);
        assert!(!d.contains(1));
        assert!(d.contains(2) && d.contains(3));
    }

    #[test]
    fn the_id_set_agrees_with_a_model_under_inserts_and_removals() {
        // A window of 50 over a stream with repeats, colliding ids and the sentinel value.
        let mut d = DedupWindow::new(50);
        let mut model: std::collections::VecDeque<u64> = Default::default();
        let mut x: u64 = 7;
        for step in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = match step % 7 {
                0 => u64::MAX,
                1 => ((x >> 40) % 64) << 32,
                _ => (x >> 33) % 200,
            };
            assert_eq!(d.contains(id), model.contains(&id), "step {step} id {id}");
            if !model.contains(&id) {
                model.push_back(id);
                if model.len() > 50 {
                    model.pop_front();
                }
            }
            d.insert(id);
            for probe in [id, id ^ 1, u64::MAX, 0] {
                assert_eq!(d.contains(probe), model.contains(&probe), "step {step}");
            }
        }
    }
}
