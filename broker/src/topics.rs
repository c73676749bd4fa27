//! Which clients each filter has, and who a published topic goes to.

use std::collections::{BTreeMap, HashMap};

use fastport_proto::topic::{Topic, TopicFilter};

use super::clients::ClientKey;

/// Which subscribers each filter has. Exact filters are found by hash; wildcard filters
/// are matched one by one.
#[derive(Debug, Default)]
pub(crate) struct TopicIndex {
    exact: HashMap<String, Subscribers>,
    wildcards: BTreeMap<String, Subscribers>,
}

#[derive(Debug)]
pub(crate) struct Subscribers {
    filter: TopicFilter,
    /// Client -> wants presence.
    pub(crate) clients: BTreeMap<ClientKey, bool>,
}

impl TopicIndex {
    /// Distinct filters with at least one subscriber.
    pub(crate) fn len(&self) -> usize {
        self.exact.len() + self.wildcards.len()
    }

    /// Adds a subscription; returns whether the client is new on this filter.
    pub(crate) fn add(&mut self, filter: &TopicFilter, client: ClientKey, presence: bool) -> bool {
        let key = filter.as_str().to_owned();
        let entry = if filter.has_wildcards() {
            self.wildcards
                .entry(key)
                .or_insert_with(|| Subscribers::new(filter))
        } else {
            self.exact
                .entry(key)
                .or_insert_with(|| Subscribers::new(filter))
        };
        entry.clients.insert(client, presence).is_none()
    }

    /// Removes a subscription; the filter is freed with its last subscriber.
    pub(crate) fn remove(&mut self, filter: &str, client: ClientKey) -> bool {
        if let Some(entry) = self.exact.get_mut(filter) {
            let removed = entry.clients.remove(&client).is_some();
            if entry.clients.is_empty() {
                self.exact.remove(filter);
            }
            return removed;
        }
        let Some(entry) = self.wildcards.get_mut(filter) else {
            return false;
        };
        let removed = entry.clients.remove(&client).is_some();
        if entry.clients.is_empty() {
            self.wildcards.remove(filter);
        }
        removed
    }

    pub(crate) fn get(&self, filter: &str) -> Option<&Subscribers> {
        self.exact
            .get(filter)
            .or_else(|| self.wildcards.get(filter))
    }

    /// Fills `out` with every client subscribed to a filter matching `topic`, once each,
    /// in key order. `out` is the caller's reusable buffer, so routing allocates nothing
    /// once it has grown to the largest fan-out.
    pub(crate) fn targets(&self, topic: &Topic, out: &mut Vec<ClientKey>) {
        out.clear();
        let mut sources = 0;
        if let Some(exact) = self.exact.get(topic.as_str()) {
            out.extend(exact.clients.keys());
            sources += 1;
        }
        for entry in self.wildcards.values() {
            if entry.filter.matches(topic) {
                out.extend(entry.clients.keys());
                sources += 1;
            }
        }
        // One filter's clients come sorted and distinct already; several may overlap.
        if sources > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

impl Subscribers {
    fn new(filter: &TopicFilter) -> Subscribers {
        Subscribers {
            filter: filter.clone(),
            clients: BTreeMap::new(),
        }
    }
}
