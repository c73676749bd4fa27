//! The hash of the tables keyed by peer-chosen text (topics, filter levels, the client ids
//! of `Session::seen`): keyed, so that peers cannot choose colliding keys, and cheaper than
//! the standard library's SipHash on the short strings these are.
//!
//! Topics, filters and client ids are chosen by peers (any member of a session can
//! subscribe to or publish on any topic, and names its client id), so a table keyed by them
//! needs a hash whose outputs a peer cannot predict, or one could fill a table with keys
//! that all land in the same bucket and make every lookup a scan (HashDoS). SipHash-1-3
//! (the standard `RandomState`) gives that with a cryptographic margin, at about 200
//! instructions per lookup of a 7-byte topic: the largest single cost of routing a small
//! QoS 0 message (docs/BENCHMARKS.md, "Server hot path: fewer instructions per small
//! message"). foldhash costs a fraction of that and is keyed too; it is the hash hashbrown
//! uses by default. Its own global seed comes from address-space layout and the clock,
//! which is not secret enough here, so the key is drawn from the operating system's
//! randomness (through the standard library's `RandomState`) once per process and never
//! leaves it: the broker sends no hash values. foldhash is not a cryptographic PRF, so
//! this is weaker than SipHash against an attacker who could learn hash values or probe
//! timings at length; in exchange, each table is bounded by the session's limits
//! (subscriptions, members, the message ids remembered for a session's expiry), and only
//! members of a session (who passed its password) reach its tables.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use foldhash::fast::{FoldHasher, SeedableRandomState};
use foldhash::SharedSeed;

/// A `HashMap` keyed by peer-chosen text (topics, filters, filter levels, client ids).
pub(crate) type TextMap<K, V> = HashMap<K, V, TextHash>;

/// The process's secret key for [`TextHash`]: drawn once, on first use.
struct Key {
    shared: SharedSeed,
    per_table: u64,
}

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        // `RandomState::new` is keyed with the operating system's randomness; hashing
        // with it yields unpredictable 64-bit values without a fallible call of our own.
        let random = RandomState::new();
        Key {
            shared: SharedSeed::from_u64(random.hash_one(1_u64)),
            per_table: random.hash_one(2_u64),
        }
    })
}

/// The hasher of a [`TextMap`]: foldhash under the process's secret key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TextHash {
    key: &'static Key,
}

impl Default for TextHash {
    fn default() -> TextHash {
        TextHash { key: key() }
    }
}

impl BuildHasher for TextHash {
    type Hasher = FoldHasher<'static>;

    fn build_hasher(&self) -> FoldHasher<'static> {
        SeedableRandomState::with_seed(self.key.per_table, &self.key.shared).build_hasher()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never in logs.
        f.write_str("Key(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_hashes_alike_and_the_key_is_the_same_for_every_table() {
        let a = TextHash::default();
        let b = TextHash::default();
        assert_eq!(a.hash_one("bench/t"), b.hash_one("bench/t"));
        assert_ne!(a.hash_one("bench/t"), a.hash_one("bench/u"));
    }

    #[test]
    fn a_text_map_finds_what_was_put_in() {
        let mut map: TextMap<String, u32> = TextMap::default();
        for n in 0..1000 {
            map.insert(format!("a/{n}"), n);
        }
        assert!((0..1000).all(|n| map.get(format!("a/{n}").as_str()) == Some(&n)));
        assert_eq!(map.get("a/1000"), None);
    }
}
