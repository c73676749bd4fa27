//! A session's clients, interned: each client id's state lives in a slab slot and is named
//! on the hot path by a [`ClientKey`] (slot and generation, two `u32`s) instead of by its
//! id string. Subscriber sets, pending deliveries and timers hold keys, so routing a
//! message copies no strings and hashes none; the id is looked up by string only when a
//! client says `Hello` and when a receipt goes back to its publisher.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use fastport_proto::time::Instant;

use super::ConnId;

/// Names one client's state for as long as it exists. A slot is reused after its client
/// is dropped, under a new generation, so a key held by a stale timer or cached message
/// finds nothing rather than a later client. Keys order by slot, which is deterministic
/// for a given sequence of inputs (the simulation replays runs from a seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientKey {
    slot: u32,
    generation: u32,
}

impl ClientKey {
    /// Names no client: a slot past any slab (for a restored message whose publisher has
    /// no state; its receipt then finds the publisher by id, if it comes back).
    pub(crate) const NONE: ClientKey = ClientKey {
        slot: u32::MAX,
        generation: u32::MAX,
    };
}

/// A client id's state in a session: present while connected, and while offline for
/// `expiry` if it connected with `resume`.
#[derive(Debug)]
pub(crate) struct ClientState {
    /// The client id, shared with cached messages it published and the duplicate memory.
    pub(crate) id: Arc<str>,
    pub(crate) conn: Option<ConnId>,
    pub(crate) resume: bool,
    /// The SHA-256 digest of what a `Hello` must carry to take up this client id again
    /// (the resume token of its `Welcome`): the token itself is never kept.
    pub(crate) token: Option<[u8; 32]>,
    pub(crate) display_name: String,
    /// Filters and their presence flag.
    pub(crate) subs: BTreeMap<String, bool>,
    /// Unacked deliveries by id (= age, so the first is the oldest). A client is waiting
    /// for a cached message exactly while the message's delivery id is in here. Those
    /// sent on the current connection come first; from `held_from` on, they wait unsent.
    pub(crate) pending: BTreeMap<u64, PendingDelivery>,
    /// Deliveries sent on the current connection and not acked: at most `max_pending`
    /// (the subscriber's in-flight window).
    pub(crate) in_flight: u32,
    /// The oldest held delivery (`u64::MAX`: none). Every pending delivery from it on is
    /// held, every one before it is in flight: held ones are sent oldest first, and a new
    /// delivery is held whenever an older one is.
    pub(crate) held_from: u64,
    /// Receipts that found this publisher offline; sent when it resumes.
    pub(crate) receipts: VecDeque<Bytes>,
    /// When it went offline (resumable clients only).
    pub(crate) offline_since: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingDelivery {
    pub(crate) attempt: u32,
    pub(crate) retry_at: Instant,
    /// Not sent yet: the connection's outbound queue was at its budget (see `budget.rs`).
    pub(crate) held: bool,
}

/// The slab of one session's clients plus the index from client id to key.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    slots: Vec<Slot>,
    /// Free slots, reused last-freed first.
    free: Vec<u32>,
    by_id: HashMap<Arc<str>, ClientKey>,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    state: Option<ClientState>,
}

impl Clients {
    /// Client ids with state.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The key of the client with this id, if it has state.
    pub(crate) fn key(&self, id: &str) -> Option<ClientKey> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn get(&self, key: ClientKey) -> Option<&ClientState> {
        let slot = self.slots.get(key.slot as usize)?;
        (slot.generation == key.generation)
            .then_some(slot.state.as_ref())
            .flatten()
    }

    pub(crate) fn get_mut(&mut self, key: ClientKey) -> Option<&mut ClientState> {
        let slot = self.slots.get_mut(key.slot as usize)?;
        (slot.generation == key.generation)
            .then_some(slot.state.as_mut())
            .flatten()
    }

    /// The state of client `id`, created empty if it has none.
    pub(crate) fn get_or_insert(&mut self, id: &str) -> ClientKey {
        if let Some(key) = self.key(id) {
            return key;
        }
        let id: Arc<str> = Arc::from(id);
        let state = ClientState {
            id: id.clone(),
            conn: None,
            resume: false,
            token: None,
            display_name: String::new(),
            subs: BTreeMap::new(),
            pending: BTreeMap::new(),
            in_flight: 0,
            held_from: u64::MAX,
            receipts: VecDeque::new(),
            offline_since: None,
        };
        let key = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                s.state = Some(state);
                ClientKey {
                    slot,
                    generation: s.generation,
                }
            }
            None => {
                // More than 2^32 clients in one session cannot be held in memory anyway.
                let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot {
                    generation: 0,
                    state: Some(state),
                });
                ClientKey {
                    slot,
                    generation: 0,
                }
            }
        };
        self.by_id.insert(id, key);
        key
    }

    /// Removes a client's state; its key is dead from now on.
    pub(crate) fn remove(&mut self, key: ClientKey) -> Option<ClientState> {
        let slot = self.slots.get_mut(key.slot as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let state = slot.state.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.slot);
        self.by_id.remove(&*state.id);
        Some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_does_not_answer_to_the_key_of_its_previous_client() {
        let mut c = Clients::default();
        let alice = c.get_or_insert("alice");
        assert_eq!(c.get_or_insert("alice"), alice, "one key per id");
        assert!(c.remove(alice).is_some());
        let bob = c.get_or_insert("bob");
        assert!(c.get(alice).is_none(), "the stale key finds nothing");
        assert_eq!(c.get(bob).map(|s| &*s.id), Some("bob"));
        assert_eq!(c.key("alice"), None);
        assert_eq!(c.len(), 1);
    }
}
