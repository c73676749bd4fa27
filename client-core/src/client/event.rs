//! What the core tells the driver and the application.

use core::time::Duration;

use bytes::Bytes;

use crate::codec::{ErrorCode, Member, PresenceKind, Qos, ReceiptStatus, SessionConfig};
use crate::crypto::{CryptoError, KeyId, OpenError};
use crate::time::Instant;
use crate::topic::{Topic, TopicFilter};

/// Identifies a subscribe, unsubscribe or admin request until its result event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Identifies a publish until its settle and receipt events (it is the wire message id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublishId(pub u64);

/// A request for the driver's transport. Exhaustive on purpose: a new request is a compile
/// error in every driver until it handles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportCommand {
    /// Open a WebSocket to `url` (dropping any previous one without reporting its close),
    /// then call `handle_open`, or `handle_close` if it fails.
    Connect {
        /// The server's WebSocket URL.
        url: String,
    },
    /// Close the WebSocket with this close code and reason. The core already counts the
    /// connection as gone: do not call `handle_close` for it.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Close reason (at most 123 bytes).
        reason: String,
    },
}

/// The connection state the application can observe. Exhaustive, like the drivers'
/// mappings of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Opening the transport and shaking hands; `attempt` counts from 1 since the last
    /// successful connection.
    Connecting {
        /// Consecutive attempt number.
        attempt: u32,
    },
    /// Handshake done; everything flows.
    Connected {
        /// The client id in effect.
        client_id: String,
        /// The server resumed earlier state of this client id.
        session_present: bool,
    },
    /// Waiting before the next attempt.
    Reconnecting {
        /// The attempt that comes next.
        attempt: u32,
        /// When it starts.
        at: Instant,
        /// How long the wait is from the moment of the disconnect.
        delay: Duration,
        /// Why the previous connection ended or failed.
        reason: String,
        /// The server's error, when the server ended or refused it for a reason worth
        /// retrying (session suspended, too many connections, shutting down, ...).
        error: Option<ServerError>,
    },
    /// Terminal: the client will not connect again.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why the client stopped for good.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application called `close`.
    Local,
    /// The server refused the client in a way retrying cannot fix (bad password, unknown
    /// or dropped session, unsupported version, taken over by another connection).
    Fatal(ServerError),
    /// `BackoffConfig::max_attempts` consecutive attempts failed.
    GaveUp {
        /// Attempts made.
        attempts: u32,
    },
}

/// An error the server reported, with its stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServerError {
    /// The protocol error code; `code.name()` is the stable string.
    pub code: ErrorCode,
    /// The server's explanation.
    pub message: String,
}

/// How a publish settled. Every publish gets exactly one [`Event::PublishSettled`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishOutcome {
    /// QoS 0: handed to the transport.
    Sent,
    /// QoS 1: the server cached it; a [`Event::Receipt`] follows.
    Acked,
    /// The publish deadline passed before the server acked it.
    Expired,
    /// It will not be sent (again).
    Failed(PublishFailure),
}

/// Why a publish failed after it was accepted by `publish`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishFailure {
    /// The server refused it.
    #[error("refused by the server: {0}")]
    Server(ServerError),
    /// Sent `attempts` times without an ack.
    #[error("no ack after {attempts} attempts")]
    RetriesExhausted {
        /// Sends made.
        attempts: u32,
    },
    /// The client was closed first.
    #[error("the client was closed")]
    Closed,
}

/// A message delivered to this client, verified and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: Topic,
    /// Client id of the publisher (as the server saw it).
    pub publisher: String,
    /// The plaintext.
    pub payload: Vec<u8>,
    /// Whether it was sealed (false only for plaintext the application accepted).
    pub encrypted: bool,
    /// The key id that opened it.
    pub key_id: Option<KeyId>,
    /// Its delivery guarantee.
    pub qos: Qos,
    /// The server's id of this message in the session.
    pub delivery_id: u64,
    /// The sealed envelope exactly as the server relayed it: all the server ever saw of
    /// the payload (shared with the received frame, not copied).
    pub envelope: Bytes,
}

/// Why a delivery was refused instead of reaching the application. Exhaustive, so every
/// driver's mapping of it is checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The envelope failed to open.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// No key is configured for the topic.
    #[error("no key for topic `{0}`")]
    NoKey(String),
    /// A plaintext payload arrived and `accept_plaintext` is off.
    #[error("plaintext payload refused (accept_plaintext is off)")]
    Plaintext,
    /// The server delivered on a topic that breaks the topic rules.
    #[error("invalid topic `{0}` in delivery")]
    InvalidTopic(String),
}

/// Something for the application, from [`crate::Client::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The connection state changed.
    StateChanged(State),
    /// A message arrived.
    Message(Message),
    /// A delivery was refused (and nacked), never handed to the application.
    DeliveryRejected {
        /// Its topic.
        topic: String,
        /// Its publisher.
        publisher: String,
        /// Why.
        error: DeliveryError,
        /// The envelope as relayed (still sealed).
        envelope: Bytes,
    },
    /// A publish settled.
    PublishSettled {
        /// The publish.
        id: PublishId,
        /// How.
        outcome: PublishOutcome,
    },
    /// What became of an acked QoS 1 publish at its subscribers.
    Receipt {
        /// The publish.
        id: PublishId,
        /// The overall outcome.
        status: ReceiptStatus,
        /// Subscribers that acked.
        delivered: u32,
        /// Subscribers that did not.
        failed: u32,
    },
    /// A subscribe request finished.
    Subscribed {
        /// The request.
        request: RequestId,
        /// Its filter.
        filter: TopicFilter,
        /// `Err` if it failed (the subscription is then forgotten).
        result: Result<(), RequestFailure>,
    },
    /// After a welcome, every subscription is in place again: each re-subscribe was
    /// answered (refused ones were reported as [`Event::SubscriptionLost`]). Comes after
    /// every `Connected`, also with no subscriptions at all.
    Restored {
        /// Subscriptions re-established.
        subscriptions: usize,
    },
    /// A subscription that was re-established after a reconnect was refused.
    SubscriptionLost {
        /// Its filter.
        filter: TopicFilter,
        /// Why.
        error: ServerError,
    },
    /// An unsubscribe request finished.
    Unsubscribed {
        /// The request.
        request: RequestId,
        /// Its filter.
        filter: TopicFilter,
        /// `Err` if it failed.
        result: Result<(), RequestFailure>,
    },
    /// Presence on a filter subscribed with presence.
    Presence {
        /// The filter.
        filter: String,
        /// Snapshot, join or leave.
        kind: PresenceKind,
        /// The members concerned.
        members: Vec<Member>,
    },
    /// An admin request finished; `Ok` holds the session's settings afterwards.
    AdminResult {
        /// The request.
        request: RequestId,
        /// The outcome.
        result: Result<SessionConfig, RequestFailure>,
    },
    /// The server reported an error that concerns no pending request.
    ServerError(ServerError),
}

/// Why a subscribe, unsubscribe or admin request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestFailure {
    /// The server refused it.
    #[error(transparent)]
    Server(ServerError),
    /// The connection dropped before the answer; the request may or may not have taken
    /// effect. Only admin requests end this way: they are not resent, as they are not
    /// idempotent (subscriptions are re-established on the next connection).
    #[error("connection lost before the server answered")]
    ConnectionLost,
    /// The client was closed first.
    #[error("the client was closed")]
    Closed,
}

/// The application called a command wrongly or at the wrong time. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
    /// The outbox holds as many messages or bytes as configured.
    #[error("outbox full: {messages} messages / {bytes} bytes held (limits {max_messages} / {max_bytes})")]
    OutboxFull {
        /// Messages held.
        messages: usize,
        /// Bytes held.
        bytes: usize,
        /// Message limit.
        max_messages: usize,
        /// Byte limit.
        max_bytes: usize,
    },
    /// The sealed message exceeds the session's maximum message size.
    #[error("message too large: {size} bytes sealed, the session allows {max}")]
    MessageTooLarge {
        /// Sealed size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No key covers the topic and plaintext was not asked for.
    #[error(
        "no encryption key for topic `{0}` (configure a key, or publish as plaintext explicitly)"
    )]
    NoKey(String),
    /// `$`-topics are reserved for the server.
    #[error("topic `{0}` is reserved for the server ($-topics cannot be published to)")]
    ForbiddenTopic(String),
    /// Sealing failed (the system's random source failed).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Admin-only connections cannot subscribe or publish.
    #[error("this connection is admin-only")]
    AdminOnly,
}
