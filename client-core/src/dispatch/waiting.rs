//! Who waits for what: the driver's handles by request or publish id.

use crate::client::RequestId;

/// Subscribe, unsubscribe and admin requests: few at a time and each id once, so a plain
/// `Vec` (small code in the browser build).
#[derive(Debug)]
pub(crate) struct Requests<V>(Vec<(RequestId, V)>);

impl<V> Default for Requests<V> {
    fn default() -> Self {
        Requests(Vec::new())
    }
}

impl<V> Requests<V> {
    pub(crate) fn insert(&mut self, request: RequestId, value: V) {
        self.0.push((request, value));
    }

    pub(crate) fn take(&mut self, request: RequestId) -> Option<V> {
        let i = self.0.iter().position(|(r, _)| *r == request)?;
        Some(self.0.swap_remove(i).1)
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (RequestId, V)> {
        std::mem::take(&mut self.0).into_iter()
    }
}

/// Publishes in flight: thousands at a time under load, with increasing ids, settled
/// mostly in order. Ids are found by binary search; a settled entry leaves a hole, and the
/// settled prefix is cut off once it is half the table, so settling is amortized O(1)
/// (a `Vec`, not a `VecDeque`: less code in the browser build).
#[derive(Debug)]
pub(crate) struct InOrder<V> {
    entries: Vec<(u64, Option<V>)>,
    /// Entries before it are settled.
    head: usize,
}

impl<V> Default for InOrder<V> {
    fn default() -> Self {
        InOrder {
            entries: Vec::new(),
            head: 0,
        }
    }
}

impl<V> InOrder<V> {
    /// Adds `id`, which is larger than every id added before.
    pub(crate) fn push(&mut self, id: u64, value: V) {
        debug_assert!(self.entries.last().is_none_or(|(last, _)| *last < id));
        self.entries.push((id, Some(value)));
    }

    pub(crate) fn take(&mut self, id: u64) -> Option<V> {
        let live = &mut self.entries[self.head..];
        let i = live.binary_search_by_key(&id, |(id, _)| *id).ok()?;
        let value = live[i].1.take();
        while self
            .entries
            .get(self.head)
            .is_some_and(|(_, v)| v.is_none())
        {
            self.head += 1;
        }
        if self.head * 2 >= self.entries.len() {
            self.entries.drain(..self.head);
            self.head = 0;
        }
        value
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (u64, V)> {
        self.head = 0;
        std::mem::take(&mut self.entries)
            .into_iter()
            .filter_map(|(id, value)| Some((id, value?)))
    }

    /// Entries held, settled ones not cut off yet included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
