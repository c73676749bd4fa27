//! A session: one virtual broker with its own credentials, settings, clients, topics and
//! message cache.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{SessionConfig, SlowConsumerPolicy};
use fastport_proto::settings::Unit;
use fastport_proto::time::Instant;
use fastport_proto::topic::Topic;

use super::clients::{ClientKey, Clients};
use super::ids::IdMap;
use super::metrics::SessionMetrics;
use super::text_map::TextMap;
use super::topics::TopicIndex;
use crate::auth::SecretHash;

mod seen;

pub(crate) use seen::SeenIds;

/// Identifies a session for its lifetime; a dropped and re-created session of the same
/// name gets a new id, so stale timers of the old one find nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SessionId(pub(crate) u64);

/// A session's settings, typed for the broker. Their defaults and ranges are the table in
/// [`fastport_proto::settings`].
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
    /// Payload bytes of QoS 1 messages cached at once.
    pub max_cache_bytes: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings::from_full(&SessionConfig::defaults())
    }
}

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
            max_cache_bytes: Some(self.max_cache_bytes),
        }
    }

    /// Applies the fields `update` states, after checking every one; on error nothing
    /// changes and the message names the setting and its allowed range.
    pub fn apply(&mut self, update: &SessionConfig) -> Result<(), String> {
        update.check().map_err(|e| e.to_string())?;
        let mut config = self.to_config();
        config.apply(update);
        *self = SessionSettings::from_full(&config);
        Ok(())
    }

    /// Checks the settings against a server's ceilings: every setting `limits` states is
    /// the most a session may have (the slow-consumer policy is not limited). The message
    /// names the setting and the ceiling.
    pub fn check_limits(&self, limits: &SessionConfig) -> Result<(), String> {
        let config = self.to_config();
        for (setting, ceiling) in limits.stated() {
            if setting.unit() == Unit::Policy {
                continue;
            }
            match config.get(setting) {
                Some(value) if value > ceiling => {
                    return Err(format!(
                        "{} = {} is above this server's limit of {}",
                        setting.name(),
                        setting.format(value),
                        setting.format(ceiling)
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The settings of a config that states every field, as `to_config` and
    /// `SessionConfig::defaults` give (fastport-proto's tests check the latter).
    fn from_full(c: &SessionConfig) -> SessionSettings {
        let stated = "every setting is stated";
        SessionSettings {
            retry_interval: Duration::from_millis(c.retry_interval_ms.expect(stated)),
            max_retries: c.max_retries.expect(stated),
            expiry: Duration::from_millis(c.expiry_ms.expect(stated)),
            max_message_size: c.max_message_size.expect(stated),
            max_connections: c.max_connections.expect(stated),
            max_subscriptions: c.max_subscriptions.expect(stated),
            max_pending: c.max_pending.expect(stated),
            slow_consumer: c.slow_consumer_policy.expect(stated),
            max_cache_bytes: c.max_cache_bytes.expect(stated),
        }
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
    pub(crate) seen: TextMap<Arc<str>, SeenIds>,
    /// Whether a sweep of `seen` is scheduled.
    pub(crate) sweep_armed: bool,
    pub(crate) connections: usize,
    /// Payload bytes of the messages in `messages`.
    pub(crate) cache_bytes: usize,
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
            seen: TextMap::default(),
            sweep_armed: false,
            connections: 0,
            cache_bytes: 0,
        }
    }

    pub(crate) fn metrics(&self) -> SessionMetrics {
        SessionMetrics {
            name: self.name.clone(),
            connections: self.connections as u64,
            clients: self.clients.len() as u64,
            topics: self.topics.len() as u64,
            cached_messages: self.messages.len() as u64,
            cache_bytes: self.cache_bytes as u64,
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
    /// The first attempt's `Deliver` frame, sent as is to every subscriber (also when a
    /// held delivery goes out late); the payload is its tail, so a cached message costs one
    /// frame, not a frame and a copy of its payload.
    pub(crate) first: Bytes,
    /// Bytes of the payload at the end of `first`.
    pub(crate) payload_len: usize,
    /// The last resend's frame and its attempt number: subscribers whose retries fall due
    /// together (they were sent the message together) share one encoding.
    pub(crate) resend: Option<(u32, Bytes)>,
    pub(crate) expires_at: Instant,
    /// Every subscriber it was routed to, in key order. Which of them still owe an ack is
    /// kept in their `pending` maps, so settling touches no per-message set.
    pub(crate) targets: Targets,
    /// How many targets have not settled yet; the last one sends the receipt.
    pub(crate) waiting: u32,
    pub(crate) delivered: u32,
    pub(crate) failed: u32,
    pub(crate) failure: Option<Failure>,
    /// A durable broker's journal number once its record is stored (see
    /// `journal.rs`): until then no attempt of it goes out, not even a retry. 0 when
    /// nothing is journaled.
    pub(crate) stored_at: u64,
}

impl Cached {
    /// The payload, as published (a slice of `first`).
    pub(crate) fn payload(&self) -> Bytes {
        self.first.slice(self.first.len() - self.payload_len..)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_tables_and_travel_with_every_field_stated() {
        let defaults = SessionSettings::default();
        assert_eq!(defaults.to_config(), SessionConfig::defaults());
        assert_eq!(defaults.retry_interval, Duration::from_secs(2));
        assert_eq!(defaults.slow_consumer, SlowConsumerPolicy::DropOldest);
    }

    #[test]
    fn an_update_with_one_value_out_of_range_changes_nothing() {
        let mut settings = SessionSettings::default();
        let update = SessionConfig {
            max_retries: Some(7),
            max_pending: Some(0),
            ..SessionConfig::default()
        };
        let refused = settings.apply(&update).expect_err("max_pending = 0");
        assert_eq!(refused, "max_pending = 0 is out of range 1..=1000000");
        assert_eq!(settings, SessionSettings::default());
        let update = SessionConfig {
            max_retries: Some(7),
            expiry_ms: Some(500),
            ..SessionConfig::default()
        };
        settings.apply(&update).expect("in range");
        assert_eq!(settings.max_retries, 7);
        assert_eq!(settings.expiry, Duration::from_millis(500));
        assert_eq!(settings.max_pending, 1_000);
    }
}
