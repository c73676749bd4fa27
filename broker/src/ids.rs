//! A fast hasher for the integer ids the broker assigns itself.
//!
//! Connection, session and delivery ids are numbered by the driver or the broker, never
//! chosen by a peer, so the tables keyed by them cannot be flooded with colliding keys
//! and do not need SipHash's keyed defence (which costs more than the rest of a lookup).
//! Peers may *look up* arbitrary ids (a `DeliverAck` names any delivery id), but a lookup
//! only probes what the broker inserted. Tables keyed by client-chosen strings or numbers
//! (client ids, topics, message ids) keep a randomly keyed hasher: the standard one, or on
//! the hot path the keyed foldhash of `TextMap` (`text_map.rs`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by a broker-assigned integer id.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Multiplicative (Fibonacci) hashing: the low bits of consecutive ids stay distinct, and
/// the multiplication spreads them into the high bits the table's control bytes use.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only reached by a key type that is not a plain integer; still correct, just slower.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_spread_over_low_and_high_bits() {
        let hashes: Vec<u64> = (0..1024u64)
            .map(|n| {
                let mut h = IdHasher::default();
                h.write_u64(n);
                h.finish()
            })
            .collect();
        let low: std::collections::BTreeSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let high: std::collections::BTreeSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(low.len(), 1024, "bucket indexes do not collide");
        assert_eq!(high.len(), 128, "every control-byte value is used");
    }
}
