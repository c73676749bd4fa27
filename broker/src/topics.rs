//! Which clients each filter has, and who a published topic goes to.
//!
//! Exact filters are found by hash. Wildcard filters live in a tree over their levels (as
//! in Mosquitto's subscription tree or NATS's sublist): a node per distinct prefix, with
//! its literal next levels by hash, its `+` child, and the subscribers of the filter that
//! ends there, with or without a trailing `#`. Matching a topic walks the literal child and
//! the `+` child of each node it reaches, so its cost follows the topic's depth and the
//! filters that match (or share its prefixes), not how many filters there are.

use std::collections::{BTreeMap, HashMap};
use std::str::Split;

use fastport_proto::topic::{Levels, Topic, TopicFilter};

use super::clients::ClientKey;

/// Which subscribers each filter has.
#[derive(Debug, Default)]
pub(crate) struct TopicIndex {
    exact: HashMap<String, Subscribers>,
    /// The root of the wildcard filters' tree: the node before their first level.
    wildcards: Node,
    /// Wildcard filters with at least one subscriber.
    wildcard_filters: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Subscribers {
    /// Client -> wants presence.
    pub(crate) clients: BTreeMap<ClientKey, bool>,
}

/// The filters that share a prefix of levels: the path from the root to this node.
#[derive(Debug, Default)]
struct Node {
    /// The next level is this literal text.
    literal: HashMap<Box<str>, Node>,
    /// The next level is `+`.
    plus: Option<Box<Node>>,
    /// The filter that is this prefix followed by `#`.
    hash: Option<Subscribers>,
    /// The filter that is this prefix (a wildcard filter, so it has a `+` somewhere).
    end: Option<Subscribers>,
}

const PLUS: &str = "+";
const HASH: &str = "#";

impl TopicIndex {
    /// Distinct filters with at least one subscriber.
    pub(crate) fn len(&self) -> usize {
        self.exact.len() + self.wildcard_filters
    }

    /// Adds a subscription; returns whether the client is new on this filter.
    pub(crate) fn add(&mut self, filter: &TopicFilter, client: ClientKey, presence: bool) -> bool {
        let slot = if filter.has_wildcards() {
            let slot = self.wildcards.slot_mut(filter.levels());
            if slot.is_none() {
                self.wildcard_filters += 1;
            }
            slot.get_or_insert_with(Subscribers::default)
        } else {
            self.exact.entry(filter.as_str().to_owned()).or_default()
        };
        slot.clients.insert(client, presence).is_none()
    }

    /// Removes a subscription; the filter is freed with its last subscriber, and with it
    /// every node of the tree that no other filter needs. `filter` may be any text: one
    /// that was never added is not found.
    pub(crate) fn remove(&mut self, filter: &str, client: ClientKey) -> bool {
        if !has_wildcard(filter) {
            let Some(entry) = self.exact.get_mut(filter) else {
                return false;
            };
            let removed = entry.clients.remove(&client).is_some();
            if entry.clients.is_empty() {
                self.exact.remove(filter);
            }
            return removed;
        }
        let removal = self.wildcards.remove(split(filter), client);
        if removal.freed {
            self.wildcard_filters -= 1;
        }
        removal.removed
    }

    pub(crate) fn get(&self, filter: &str) -> Option<&Subscribers> {
        if !has_wildcard(filter) {
            return self.exact.get(filter);
        }
        let mut node = &self.wildcards;
        let mut levels = split(filter);
        while let Some(level) = levels.next() {
            node = match level {
                // `#` ends a filter; anything after it was never added.
                HASH => return node.hash.as_ref().filter(|_| levels.next().is_none()),
                PLUS => node.plus.as_deref()?,
                _ => node.literal.get(level)?,
            };
        }
        node.end.as_ref()
    }

    /// Fills `out` with every client subscribed to a filter matching `topic`, once each,
    /// in key order. `out` is the caller's reusable buffer, so routing allocates nothing
    /// once it has grown to the largest fan-out.
    pub(crate) fn targets(&self, topic: &Topic, out: &mut Vec<ClientKey>) {
        out.clear();
        let mut found = Found { out, sources: 0 };
        if let Some(exact) = self.exact.get(topic.as_str()) {
            found.add(exact);
        }
        if self.wildcard_filters > 0 {
            self.wildcards.match_root(topic, &mut found);
        }
        // One filter's clients come sorted and distinct already; several may overlap.
        if found.sources > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

/// The subscribers of the filters matched so far.
struct Found<'a> {
    out: &'a mut Vec<ClientKey>,
    /// How many filters they came from.
    sources: usize,
}

impl Found<'_> {
    fn add(&mut self, subscribers: &Subscribers) {
        self.out.extend(subscribers.clients.keys());
        self.sources += 1;
    }
}

/// What removing a client from a filter did.
#[derive(Debug, Clone, Copy, Default)]
struct Removal {
    /// The client was subscribed to the filter.
    removed: bool,
    /// That was the filter's last subscriber.
    freed: bool,
}

impl Node {
    /// The root matches a topic: a filter whose first level is a wildcard does not match a
    /// `$` topic (`TopicFilter::matches`), so for those only literal first levels count.
    fn match_root(&self, topic: &Topic, found: &mut Found<'_>) {
        let wildcards_match = !topic.is_system();
        if wildcards_match {
            if let Some(hash) = &self.hash {
                found.add(hash);
            }
        }
        let mut levels = topic.levels();
        // A topic has at least one level.
        let Some(first) = levels.next() else {
            return;
        };
        if let Some(child) = self.literal.get(first) {
            child.match_rest(levels.clone(), found);
        }
        if let Some(plus) = self.plus.as_deref().filter(|_| wildcards_match) {
            plus.match_rest(levels, found);
        }
    }

    /// The topic's levels up to here matched this node's prefix; `rest` are the others.
    /// Recurses at most once per level of the topic (at most 64).
    fn match_rest(&self, mut rest: Levels<'_>, found: &mut Found<'_>) {
        // `#` matches the rest, including nothing: `a/#` matches `a`.
        if let Some(hash) = &self.hash {
            found.add(hash);
        }
        let Some(level) = rest.next() else {
            if let Some(end) = &self.end {
                found.add(end);
            }
            return;
        };
        if let Some(child) = self.literal.get(level) {
            child.match_rest(rest.clone(), found);
        }
        if let Some(plus) = &self.plus {
            plus.match_rest(rest, found);
        }
    }

    /// The subscribers' place of the filter with these levels, creating its nodes.
    fn slot_mut(&mut self, levels: Levels<'_>) -> &mut Option<Subscribers> {
        let mut node = self;
        for level in levels {
            node = match level {
                // A valid filter has `#` only as its last level.
                HASH => return &mut node.hash,
                PLUS => node.plus.get_or_insert_with(Box::default),
                _ => node.literal.entry(level.into()).or_default(),
            };
        }
        &mut node.end
    }

    /// Removes `client` from the filter whose levels after this node are `rest`, and frees
    /// the nodes left empty on the way back. Recurses only into existing nodes, so at most
    /// as deep as the tree (64 levels), whatever `rest` is.
    fn remove(&mut self, mut rest: Split<'_, char>, client: ClientKey) -> Removal {
        let Some(level) = rest.next() else {
            return remove_from(&mut self.end, client);
        };
        match level {
            HASH if rest.next().is_none() => remove_from(&mut self.hash, client),
            HASH => Removal::default(),
            PLUS => {
                let Some(child) = self.plus.as_deref_mut() else {
                    return Removal::default();
                };
                let removal = child.remove(rest, client);
                if child.is_empty() {
                    self.plus = None;
                }
                removal
            }
            _ => {
                let Some(child) = self.literal.get_mut(level) else {
                    return Removal::default();
                };
                let removal = child.remove(rest, client);
                if child.is_empty() {
                    self.literal.remove(level);
                }
                removal
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.plus.is_none() && self.hash.is_none() && self.end.is_none()
    }

    /// Nodes in this subtree, this one included.
    #[cfg(test)]
    fn count(&self) -> usize {
        1 + self.literal.values().map(Node::count).sum::<usize>()
            + self.plus.as_deref().map_or(0, Node::count)
    }
}

fn remove_from(slot: &mut Option<Subscribers>, client: ClientKey) -> Removal {
    let Some(subscribers) = slot else {
        return Removal::default();
    };
    let removed = subscribers.clients.remove(&client).is_some();
    let freed = subscribers.clients.is_empty();
    if freed {
        *slot = None;
    }
    Removal { removed, freed }
}

/// Whether `filter` has a `+` or `#`: only such filters can be in the tree.
fn has_wildcard(filter: &str) -> bool {
    filter.bytes().any(|b| b == b'+' || b == b'#')
}

/// The levels of text that may not be a valid filter (what a client asks to unsubscribe
/// from), split as `TopicFilter::levels` splits a valid one.
fn split(filter: &str) -> Split<'_, char> {
    filter.split('/')
}

#[cfg(test)]
mod tests;
