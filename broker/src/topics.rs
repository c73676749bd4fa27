//! Which clients each filter has, and who a published topic goes to.
//!
//! Exact filters are found by hash. Wildcard filters live in a tree over their levels (as
//! in Mosquitto's subscription tree or NATS's sublist): from each node, the edges to the
//! next ones by their first level (literal by hash, or `+`), and the subscribers of the
//! filter that ends there, with or without a trailing `#`. An edge spans every level up to
//! the next branch (a radix tree), so a deep filter costs one edge, not a node per level.
//! Matching a topic follows the literal edge and the `+` edge of each node it reaches, so
//! its cost follows the topic's depth and the filters that match (or share its prefixes),
//! not how many filters there are.

use std::collections::BTreeMap;
use std::str::Split;

use fastport_proto::topic::{Levels, TopicFilter, TopicRef};

use super::clients::ClientKey;
use super::text_map::TextMap;

/// Which subscribers each filter has.
#[derive(Debug, Default)]
pub(crate) struct TopicIndex {
    exact: TextMap<String, Subscribers>,
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

/// The filters that share a prefix of levels: the path from the root to this node. Every
/// node but the root has subscribers or at least two edges, so a filter adds at most two
/// nodes however many levels it has.
#[derive(Debug, Default)]
struct Node {
    /// Edges whose first level is this literal text.
    literal: TextMap<Box<str>, Edge>,
    /// The edge whose first level is `+`.
    plus: Option<Box<Edge>>,
    /// The filter that is this prefix followed by `#`.
    hash: Option<Subscribers>,
    /// The filter that is this prefix (a wildcard filter, so it has a `+` somewhere).
    end: Option<Subscribers>,
}

/// A run of levels without a branch: its first level is the key it is stored under (or
/// `+`), the others are `rest`.
#[derive(Debug, Default)]
struct Edge {
    /// The levels after the first, literal or `+`, joined by `/`; empty for none.
    rest: Box<str>,
    node: Node,
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
            let levels: Vec<&str> = filter.levels().collect();
            let slot = self.wildcards.slot_mut(&levels);
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
    /// every node and edge of the tree that no other filter needs. `filter` may be any text: one
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
        self.wildcards.find(split(filter))
    }

    /// Fills `out` with every client subscribed to a filter matching `topic`, once each,
    /// in key order. `out` is the caller's reusable buffer, so routing allocates nothing
    /// once it has grown to the largest fan-out.
    pub(crate) fn targets<'t>(&self, topic: impl Into<TopicRef<'t>>, out: &mut Vec<ClientKey>) {
        let topic = topic.into();
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
    fn match_root(&self, topic: TopicRef<'_>, found: &mut Found<'_>) {
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
        if let Some(edge) = self.literal.get(first) {
            edge.match_rest(levels.clone(), found);
        }
        if let Some(edge) = self.plus.as_deref().filter(|_| wildcards_match) {
            edge.match_rest(levels, found);
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
        if let Some(edge) = self.literal.get(level) {
            edge.match_rest(rest.clone(), found);
        }
        if let Some(edge) = &self.plus {
            edge.match_rest(rest, found);
        }
    }

    /// The edge whose first level is `level` (`+` included).
    fn edge(&self, level: &str) -> Option<&Edge> {
        match level {
            PLUS => self.plus.as_deref(),
            _ => self.literal.get(level),
        }
    }

    fn edge_mut(&mut self, level: &str) -> Option<&mut Edge> {
        match level {
            PLUS => self.plus.as_deref_mut(),
            _ => self.literal.get_mut(level),
        }
    }

    /// The subscribers' place of the filter whose levels after this node are `levels`
    /// (valid, so `#` is last), creating and splitting edges on the way.
    fn slot_mut(&mut self, levels: &[&str]) -> &mut Option<Subscribers> {
        let mut node = self;
        let mut i = 0;
        loop {
            let Some(&first) = levels.get(i) else {
                return &mut node.end;
            };
            if first == HASH {
                return &mut node.hash;
            }
            // The levels an edge created here would span: up to `#` or the end.
            let run_end = levels.len() - usize::from(levels.last() == Some(&HASH));
            let run = &levels[i + 1..run_end.max(i + 1)];
            let edge = match first {
                PLUS => node.plus.get_or_insert_with(|| Box::new(Edge::new(run))),
                _ => node
                    .literal
                    .entry(first.into())
                    .or_insert_with(|| Edge::new(run)),
            };
            let common = labels(&edge.rest)
                .zip(run)
                .take_while(|(label, level)| label == *level)
                .count();
            if common < labels(&edge.rest).count() {
                edge.split(common);
            }
            node = &mut edge.node;
            i += 1 + common;
        }
    }

    /// Removes `client` from the filter whose levels after this node are `rest`, frees the
    /// edges left without subscribers and joins the ones left without a branch. Recurses
    /// only along existing edges, so at most as deep as the tree (64 levels), whatever
    /// `rest` is.
    fn remove(&mut self, mut rest: Split<'_, char>, client: ClientKey) -> Removal {
        let Some(first) = rest.next() else {
            return remove_from(&mut self.end, client);
        };
        if first == HASH {
            return match rest.next() {
                None => remove_from(&mut self.hash, client),
                Some(_) => Removal::default(),
            };
        }
        let Some(edge) = self.edge_mut(first) else {
            return Removal::default();
        };
        if !labels(&edge.rest).all(|label| rest.next() == Some(label)) {
            return Removal::default();
        }
        let removal = edge.node.remove(rest, client);
        if edge.node.is_empty() {
            match first {
                PLUS => self.plus = None,
                _ => drop(self.literal.remove(first)),
            }
        } else {
            edge.join();
        }
        removal
    }

    /// Whether the filter whose levels after this node are `rest` is here.
    fn find(&self, mut rest: Split<'_, char>) -> Option<&Subscribers> {
        let mut node = self;
        while let Some(first) = rest.next() {
            if first == HASH {
                return node.hash.as_ref().filter(|_| rest.next().is_none());
            }
            let edge = node.edge(first)?;
            if !labels(&edge.rest).all(|label| rest.next() == Some(label)) {
                return None;
            }
            node = &edge.node;
        }
        node.end.as_ref()
    }

    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.plus.is_none() && self.hash.is_none() && self.end.is_none()
    }

    /// Whether no node below this one is without subscribers and a branch.
    #[cfg(test)]
    fn compact(&self) -> bool {
        let edges = || self.literal.values().chain(self.plus.as_deref());
        edges().all(|edge| {
            let below = &edge.node;
            let branches = below.literal.len() + usize::from(below.plus.is_some());
            (below.hash.is_some() || below.end.is_some() || branches > 1) && below.compact()
        })
    }

    /// Nodes in this subtree, this one included.
    #[cfg(test)]
    fn count(&self) -> usize {
        let edges = self.literal.values().chain(self.plus.as_deref());
        1 + edges.map(|edge| edge.node.count()).sum::<usize>()
    }
}

impl Edge {
    /// The topic's levels matched the edge's first level; `rest` are the others.
    fn match_rest(&self, mut rest: Levels<'_>, found: &mut Found<'_>) {
        for label in labels(&self.rest) {
            match rest.next() {
                Some(level) if label == PLUS || label == level => {}
                _ => return,
            }
        }
        self.node.match_rest(rest, found);
    }

    fn new(levels: &[&str]) -> Edge {
        Edge {
            rest: levels.join("/").into(),
            node: Node::default(),
        }
    }

    /// Ends this edge after `keep` levels of `rest`, at a new node whose one edge goes on
    /// to the old node.
    fn split(&mut self, keep: usize) {
        let levels: Vec<&str> = labels(&self.rest).collect();
        let (head, tail) = levels.split_at(keep);
        // `keep` is less than the levels of `rest`, so `tail` has a first level.
        let Some((&first, tail)) = tail.split_first() else {
            return;
        };
        let below = Edge {
            rest: tail.join("/").into(),
            node: std::mem::take(&mut self.node),
        };
        match first {
            PLUS => self.node.plus = Some(Box::new(below)),
            _ => drop(self.node.literal.insert(first.into(), below)),
        }
        self.rest = head.join("/").into();
    }

    /// If the node this edge leads to has no subscribers and one edge, makes the two one.
    fn join(&mut self) {
        let node = &mut self.node;
        if node.hash.is_some() || node.end.is_some() {
            return;
        }
        let (first, below) = match (node.literal.len(), node.plus.take()) {
            (0, Some(plus)) => (Box::from(PLUS), *plus),
            (1, None) => match node.literal.drain().next() {
                Some(only) => only,
                None => return,
            },
            (_, plus) => {
                node.plus = plus;
                return;
            }
        };
        let rest: Vec<&str> = labels(&self.rest)
            .chain([&*first])
            .chain(labels(&below.rest))
            .collect();
        self.rest = rest.join("/").into();
        self.node = below.node;
    }
}

/// The levels of an edge's `rest`: none if it is empty.
fn labels(rest: &str) -> impl Iterator<Item = &str> {
    rest.split('/').filter(|_| !rest.is_empty())
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
