//! A session: one virtual broker with its own credentials, settings, clients, topics and
//! message cache.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{Receipt, SessionConfig, SlowConsumerPolicy};
use fastport_proto::time::Instant;
use fastport_proto::topic::Topic;

use super::clients::{ClientKey, Clients};
use super::ids::IdMap;
use super::metrics::SessionMetrics;
use super::topics::TopicIndex;
use crate::auth::SecretHash;

/// Identifies a session for its lifetime; a dropped and re-created session of the same
/// name gets a new id, so stale timers of the old one find nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionId(pub(crate) u64);

/// A session's settings (docs/PROTOCOL.md §4 and docs/SERVER.md give the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionSettings {
    /// Time between resends of an unacked delivery.
    pub retry_interval: Duration,
    /// Resends after the first attempt.
    pub max_retries: u32,
    /// How long a message stays cached, and how long an offline resumable client's state
    /// is kept.
    pub expiry: Duration,
    /// Largest envelope in bytes.
    pub max_message_size: u32,
    /// Most connections.
    pub max_connections: u32,
    /// Most subscriptions per connection.
    pub max_subscriptions: u32,
    /// Most unacked deliveries per subscriber.
    pub max_pending: u32,
    /// What happens to a subscriber at `max_pending`.
    pub slow_consumer: SlowConsumerPolicy,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            retry_interval: Duration::from_secs(2),
            max_retries: 5,
            expiry: Duration::from_secs(60),
            max_message_size: 1024 * 1024,
            max_connections: 1_000,
            max_subscriptions: 100,
            max_pending: 1_000,
            slow_consumer: SlowConsumerPolicy::DropOldest,
        }
    }
}

/// Upper bounds that keep one session from taking the server's memory or timers hostage.
const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(24 * 3600);
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_MESSAGE_SIZE: u32 = 16 * 1024 * 1024;
const MAX_PENDING: u32 = 1_000_000;

impl SessionSettings {
    /// The settings as they travel in `Welcome` and admin results, every field stated.
    pub fn to_config(&self) -> SessionConfig {
        SessionConfig {
            retry_interval_ms: Some(self.retry_interval.as_millis() as u64),
            max_retries: Some(self.max_retries),
            expiry_ms: Some(self.expiry.as_millis() as u64),
            max_message_size: Some(self.max_message_size),
            max_connections: Some(self.max_connections),
            max_subscriptions: Some(self.max_subscriptions),
            max_pending: Some(self.max_pending),
            slow_consumer_policy: Some(self.slow_consumer),
        }
    }

    /// Applies the fields `update` states, after checking every one; on error nothing
    /// changes and the message names the setting and its allowed range.
    pub fn apply(&mut self, update: &SessionConfig) -> Result<(), String> {
        let mut next = *self;
        if let Some(ms) = update.retry_interval_ms {
            next.retry_interval = ranged_ms("retry_interval_ms", ms, 10, MAX_RETRY_INTERVAL)?;
        }
        if let Some(n) = update.max_retries {
            next.max_retries = ranged("max_retries", n, 0, 1_000)?;
        }
        if let Some(ms) = update.expiry_ms {
            next.expiry = ranged_ms("expiry_ms", ms, 100, MAX_EXPIRY)?;
        }
        if let Some(n) = update.max_message_size {
            next.max_message_size = ranged("max_message_size", n, 64, MAX_MESSAGE_SIZE)?;
        }
        if let Some(n) = update.max_connections {
            next.max_connections = ranged("max_connections", n, 1, 1_000_000)?;
        }
        if let Some(n) = update.max_subscriptions {
            next.max_subscriptions = ranged("max_subscriptions", n, 1, 100_000)?;
        }
        if let Some(n) = update.max_pending {
            next.max_pending = ranged("max_pending", n, 1, MAX_PENDING)?;
        }
        if let Some(p) = update.slow_consumer_policy {
            next.slow_consumer = p;
        }
        *self = next;
        Ok(())
    }
}

fn ranged(name: &str, value: u32, min: u32, max: u32) -> Result<u32, String> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{name} = {value} is out of range {min}..={max}"))
    }
}

fn ranged_ms(name: &str, ms: u64, min: u64, max: Duration) -> Result<Duration, String> {
    let max_ms = max.as_millis() as u64;
    if (min..=max_ms).contains(&ms) {
        Ok(Duration::from_millis(ms))
    } else {
        Err(format!("{name} = {ms} is out of range {min}..={max_ms}"))
    }
}

/// One session's state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) name: String,
    pub(crate) password: SecretHash,
    pub(crate) secret: SecretHash,
    /// Keyed fingerprints of the password and secret once they verified.
    pub(crate) password_ok: Option<[u8; 32]>,
    pub(crate) secret_ok: Option<[u8; 32]>,
    pub(crate) settings: SessionSettings,
    pub(crate) suspended: bool,
    pub(crate) clients: Clients,
    pub(crate) topics: TopicIndex,
    pub(crate) messages: IdMap<u64, Cached>,
    pub(crate) next_delivery: u64,
    /// Cached messages in publish order with their expiry time; settled ones are skipped
    /// (and dropped from the front) lazily.
    pub(crate) expiry_queue: VecDeque<(Instant, u64)>,
    /// Whether the session's one expiry timer is set.
    pub(crate) expiry_armed: bool,
    /// By publisher id, not key: the memory outlives a clean reconnect.
    pub(crate) seen: HashMap<Arc<str>, SeenIds>,
    /// Whether a sweep of `seen` is scheduled.
    pub(crate) sweep_armed: bool,
    pub(crate) connections: usize,
}

impl Session {
    pub(crate) fn new(
        name: &str,
        password: SecretHash,
        secret: SecretHash,
        settings: SessionSettings,
    ) -> Self {
        Session {
            name: name.to_owned(),
            password,
            secret,
            password_ok: None,
            secret_ok: None,
            settings,
            suspended: false,
            clients: Clients::default(),
            topics: TopicIndex::default(),
            messages: IdMap::default(),
            next_delivery: 1,
            expiry_queue: VecDeque::new(),
            expiry_armed: false,
            seen: HashMap::new(),
            sweep_armed: false,
            connections: 0,
        }
    }

    pub(crate) fn metrics(&self) -> SessionMetrics {
        SessionMetrics {
            name: self.name.clone(),
            connections: self.connections as u64,
            clients: self.clients.len() as u64,
            topics: self.topics.len() as u64,
            cached_messages: self.messages.len() as u64,
            suspended: self.suspended,
        }
    }
}

/// A QoS 1 message waiting for its subscribers' acks.
#[derive(Debug)]
pub(crate) struct Cached {
    /// Moved from the publish: a cached message copies neither topic nor publisher id.
    pub(crate) topic: Topic,
    pub(crate) publisher: Arc<str>,
    /// The publisher's key when it published; the receipt checks it is still current.
    pub(crate) publisher_key: ClientKey,
    pub(crate) message_id: u64,
    pub(crate) payload: Bytes,
    pub(crate) expires_at: Instant,
    /// Every subscriber it was routed to, in key order. Which of them still owe an ack is
    /// kept in their `pending` maps, so settling touches no per-message set.
    pub(crate) targets: Targets,
    /// How many targets have not settled yet; the last one sends the receipt.
    pub(crate) waiting: u32,
    pub(crate) delivered: u32,
    pub(crate) failed: u32,
    pub(crate) failure: Option<Failure>,
}

/// Why a subscriber did not get a message, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Failure {
    Expired,
    Exhausted,
    Dropped,
}

/// The subscribers of a cached message: inline when there is one (fan-in), else one
/// exact-size allocation.
#[derive(Debug)]
pub(crate) enum Targets {
    One(ClientKey),
    Many(Box<[ClientKey]>),
}

impl Targets {
    pub(crate) fn new(keys: &[ClientKey]) -> Targets {
        match keys {
            [one] => Targets::One(*one),
            many => Targets::Many(many.into()),
        }
    }

    pub(crate) fn as_slice(&self) -> &[ClientKey] {
        match self {
            Targets::One(one) => std::slice::from_ref(one),
            Targets::Many(many) => many,
        }
    }
}

/// The QoS 1 message ids a publisher used recently, with the receipt once known, so a
/// resend is acked (and answered with the receipt) instead of delivered twice. Bounded:
/// entries older than the session's expiry, or beyond the cap, are forgotten.
#[derive(Debug, Default)]
pub(crate) struct SeenIds {
    /// Ordered, not hashed: publishers number their messages in sequence, so inserting,
    /// evicting the oldest and finding a recent id all stay in the few tree nodes at its
    /// edges, which are in cache; a hash table of 65,536 ids per publisher missed the
    /// cache on every publish.
    /// The receipt is kept as its fields, not encoded: most are never asked for again.
    ids: BTreeMap<u64, Option<Receipt>>,
    order: VecDeque<(Instant, u64)>,
}

/// Most remembered message ids per publisher.
const MAX_SEEN: usize = 65_536;

impl SeenIds {
    pub(crate) fn get(&self, id: u64) -> Option<Option<Receipt>> {
        self.ids.get(&id).copied()
    }

    pub(crate) fn insert(&mut self, now: Instant, id: u64, expiry: Duration) {
        while let Some(&(at, old)) = self.order.front() {
            if self.order.len() < MAX_SEEN && at + expiry > now {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&old);
        }
        self.ids.insert(id, None);
        self.order.push_back((now, id));
    }

    /// Whether every remembered id is older than `expiry` (the publisher is long gone).
    pub(crate) fn is_stale(&self, now: Instant, expiry: Duration) -> bool {
        self.order.back().is_none_or(|&(at, _)| at + expiry <= now)
    }

    pub(crate) fn set_receipt(&mut self, id: u64, receipt: Receipt) {
        if let Some(slot) = self.ids.get_mut(&id) {
            *slot = Some(receipt);
        }
    }
}
