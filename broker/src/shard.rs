//! Several brokers in one server: each owns the sessions placed on it ([`shard_of`]), and
//! they share the server-wide counts that budgets and limits need ([`Totals`]).
//!
//! Sessions never share state, so a server may run one broker per core, each on its own
//! router task: a session's connections, subscriptions and cached messages all live on the
//! broker its name is placed on, and one busy session cannot hold up another placed
//! elsewhere. What spans sessions is counted in [`Totals`] (atomics, exact at every
//! change): the number of sessions against `max_sessions` and the cached bytes against
//! `max_memory`. An `Admin` frame on a connection of one broker about a session placed on
//! another is handed to the driver ([`crate::Output::Forward`]), which runs it there and
//! brings the answer back ([`crate::Broker::admin_forwarded`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Which of several brokers this one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This broker's index, below `count`.
    pub index: usize,
    /// How many brokers the server runs.
    pub count: usize,
}

impl Default for Shard {
    /// The only broker.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Whether sessions named `name` live on this broker.
    pub fn owns(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }
}

/// The broker, of `count`, that owns the session named `name`: a fixed hash (FNV-1a) of the
/// name, so every part of the server (and every restart) places a name alike.
pub fn shard_of(name: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in name.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % count as u64) as usize
}

/// Counts shared by every broker of a server.
#[derive(Debug, Default)]
pub struct Totals {
    sessions: AtomicUsize,
    cache_bytes: AtomicUsize,
}

impl Totals {
    /// Fresh counts, to hand to each broker's [`crate::BrokerConfig::totals`].
    pub fn new() -> Arc<Totals> {
        Arc::new(Totals::default())
    }

    /// Sessions over every broker.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Payload bytes cached over every broker.
    pub fn cache_bytes(&self) -> usize {
        self.cache_bytes.load(Ordering::Relaxed)
    }

    /// Counts one more session unless there are `max` already.
    pub(crate) fn reserve_session(&self, max: usize) -> bool {
        self.sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn release_session(&self) {
        let _ = self
            .sessions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
    }

    pub(crate) fn add_cache(&self, bytes: usize) {
        self.cache_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn remove_cache(&self, bytes: usize) {
        let _ = self
            .cache_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(bytes))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_placed_alike_every_time_and_names_spread_over_the_brokers() {
        assert_eq!(shard_of("demo", 1), 0);
        assert_eq!(shard_of("demo", 4), shard_of("demo", 4));
        let mut per = [0usize; 4];
        for i in 0..4_000 {
            per[shard_of(&format!("session-{i}"), 4)] += 1;
        }
        for n in per {
            assert!((800..=1_200).contains(&n), "uneven placement: {per:?}");
        }
        let shard = Shard { index: 2, count: 4 };
        let owned = (0..100)
            .map(|i| format!("s{i}"))
            .filter(|name| shard.owns(name))
            .count();
        assert!(owned > 0 && owned < 100);
    }

    #[test]
    fn sessions_are_counted_up_to_the_maximum_over_every_broker() {
        let totals = Totals::new();
        assert!(totals.reserve_session(2));
        assert!(totals.reserve_session(2));
        assert!(!totals.reserve_session(2));
        totals.release_session();
        assert!(totals.reserve_session(2));
        assert_eq!(totals.sessions(), 2);
        totals.add_cache(10);
        totals.remove_cache(25);
        assert_eq!(totals.cache_bytes(), 0);
    }
}
