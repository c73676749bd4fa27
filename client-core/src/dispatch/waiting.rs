//! Who waits for what: the driver's handles by request or publish id.

use std::collections::VecDeque;

use crate::client::vecmap::VecMap;
use crate::client::RequestId;

/// Subscribe, unsubscribe and admin requests: few at a time, so a `Vec` (small code in
/// the browser build).
#[derive(Debug)]
pub(crate) struct Requests<V>(VecMap<RequestId, V>);

impl<V> Default for Requests<V> {
    fn default() -> Self {
        Requests(VecMap::default())
    }
}

impl<V> Requests<V> {
    pub(crate) fn insert(&mut self, request: RequestId, value: V) {
        self.0.insert(request, value);
    }

    pub(crate) fn take(&mut self, request: RequestId) -> Option<V> {
        self.0.remove(&request)
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (RequestId, V)> {
        std::mem::take(&mut self.0).into_iter()
    }
}

/// Publishes in flight: thousands at a time under load, with increasing ids, settled
/// mostly in order. Ids are found by binary search; a settled entry leaves a hole that
/// goes once everything before it settled, so settling in order is O(1) and nothing is
/// ever shifted.
#[derive(Debug)]
pub(crate) struct InOrder<V> {
    entries: VecDeque<(u64, Option<V>)>,
}

impl<V> Default for InOrder<V> {
    fn default() -> Self {
        InOrder {
            entries: VecDeque::new(),
        }
    }
}

impl<V> InOrder<V> {
    /// Adds `id`, which is larger than every id added before.
    pub(crate) fn push(&mut self, id: u64, value: V) {
        debug_assert!(self.entries.back().is_none_or(|(last, _)| *last < id));
        self.entries.push_back((id, Some(value)));
    }

    pub(crate) fn take(&mut self, id: u64) -> Option<V> {
        let i = self.entries.binary_search_by_key(&id, |(id, _)| *id).ok()?;
        let value = self.entries[i].1.take();
        while matches!(self.entries.front(), Some((_, None))) {
            self.entries.pop_front();
        }
        value
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (u64, V)> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .filter_map(|(id, value)| Some((id, value?)))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
