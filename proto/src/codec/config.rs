//! Session configuration as it travels in `Welcome`, admin requests and admin results.
//!
//! Encoded as a list of `(tag, value)` varint pairs, each field optional: an admin
//! update carries only the fields it changes, and a receiver skips tags it does not
//! know, so new settings can be added without a version bump.

use bytes::BufMut;

use super::wire::{put_varint, varint_len, Reader};
use super::DecodeError;

/// What the server does when a subscriber's pending deliveries reach the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Close the subscriber's connection with `slow_consumer` (it may resume).
    Disconnect,
    /// Drop the subscriber's oldest pending delivery; its publisher's receipt counts it
    /// as dropped.
    DropOldest,
}

impl SlowConsumerPolicy {
    fn to_wire(self) -> u64 {
        match self {
            SlowConsumerPolicy::Disconnect => 0,
            SlowConsumerPolicy::DropOldest => 1,
        }
    }

    fn from_wire(v: u64) -> Result<Self, DecodeError> {
        match v {
            0 => Ok(SlowConsumerPolicy::Disconnect),
            1 => Ok(SlowConsumerPolicy::DropOldest),
            _ => Err(DecodeError::InvalidValue {
                field: "slow_consumer_policy",
            }),
        }
    }
}

/// Per-session settings. `None` means "not stated": the server's default in a create
/// request, unchanged in an update. `Welcome` states every field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SessionConfig {
    /// Milliseconds between resends of an unacknowledged delivery (tag 1).
    pub retry_interval_ms: Option<u64>,
    /// Resends of a delivery after the first attempt before it is given up (tag 2).
    pub max_retries: Option<u32>,
    /// Milliseconds a message stays cached before it expires (tag 3).
    pub expiry_ms: Option<u64>,
    /// Largest publish payload in bytes, envelope included (tag 4).
    pub max_message_size: Option<u32>,
    /// Most concurrent connections in the session (tag 5).
    pub max_connections: Option<u32>,
    /// Most subscriptions per connection (tag 6).
    pub max_subscriptions: Option<u32>,
    /// Most unacknowledged deliveries per subscriber (tag 7).
    pub max_pending: Option<u32>,
    /// What happens when a subscriber reaches `max_pending` (tag 8).
    pub slow_consumer_policy: Option<SlowConsumerPolicy>,
}

const RETRY_INTERVAL: u64 = 1;
const MAX_RETRIES: u64 = 2;
const EXPIRY: u64 = 3;
const MAX_MESSAGE_SIZE: u64 = 4;
const MAX_CONNECTIONS: u64 = 5;
const MAX_SUBSCRIPTIONS: u64 = 6;
const MAX_PENDING: u64 = 7;
const SLOW_CONSUMER: u64 = 8;

impl SessionConfig {
    fn fields(&self) -> impl Iterator<Item = (u64, u64)> {
        [
            (RETRY_INTERVAL, self.retry_interval_ms),
            (MAX_RETRIES, self.max_retries.map(u64::from)),
            (EXPIRY, self.expiry_ms),
            (MAX_MESSAGE_SIZE, self.max_message_size.map(u64::from)),
            (MAX_CONNECTIONS, self.max_connections.map(u64::from)),
            (MAX_SUBSCRIPTIONS, self.max_subscriptions.map(u64::from)),
            (MAX_PENDING, self.max_pending.map(u64::from)),
            (
                SLOW_CONSUMER,
                self.slow_consumer_policy.map(SlowConsumerPolicy::to_wire),
            ),
        ]
        .into_iter()
        .filter_map(|(tag, value)| value.map(|v| (tag, v)))
    }

    /// Overwrites the fields that `update` states.
    pub fn apply(&mut self, update: &SessionConfig) {
        macro_rules! take {
            ($($f:ident),*) => { $( if update.$f.is_some() { self.$f = update.$f; } )* };
        }
        take!(
            retry_interval_ms,
            max_retries,
            expiry_ms,
            max_message_size,
            max_connections,
            max_subscriptions,
            max_pending,
            slow_consumer_policy
        );
    }

    /// Whether no field is stated.
    pub fn is_empty(&self) -> bool {
        self.fields().next().is_none()
    }

    pub(crate) fn encoded_len(&self) -> usize {
        let mut count = 0;
        let mut len = 0;
        for (tag, value) in self.fields() {
            count += 1;
            len += varint_len(tag) + varint_len(value);
        }
        varint_len(count) + len
    }

    pub(crate) fn encode(&self, out: &mut impl BufMut) {
        put_varint(out, self.fields().count() as u64);
        for (tag, value) in self.fields() {
            put_varint(out, tag);
            put_varint(out, value);
        }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<SessionConfig, DecodeError> {
        let count = r.varint("config_count")?;
        let mut c = SessionConfig::default();
        for _ in 0..count {
            let tag = r.varint("config_tag")?;
            let field = "config_value";
            let value = r.varint(field)?;
            let small = || u32::try_from(value).map_err(|_| DecodeError::InvalidValue { field });
            match tag {
                RETRY_INTERVAL => c.retry_interval_ms = Some(value),
                MAX_RETRIES => c.max_retries = Some(small()?),
                EXPIRY => c.expiry_ms = Some(value),
                MAX_MESSAGE_SIZE => c.max_message_size = Some(small()?),
                MAX_CONNECTIONS => c.max_connections = Some(small()?),
                MAX_SUBSCRIPTIONS => c.max_subscriptions = Some(small()?),
                MAX_PENDING => c.max_pending = Some(small()?),
                SLOW_CONSUMER => {
                    c.slow_consumer_policy = Some(SlowConsumerPolicy::from_wire(value)?)
                }
                // Settings added by newer peers are skipped, not rejected.
                _ => {}
            }
        }
        Ok(c)
    }
}
