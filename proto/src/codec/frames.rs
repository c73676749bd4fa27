//! The frames: what each carries. Their byte layout is in `format.rs`.

use bytes::Bytes;

use super::config::SessionConfig;
use super::error_code::ErrorCode;
use super::DecodeError;

/// One protocol message. See docs/PROTOCOL.md for which side sends which frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// 0x01, client → server, first frame of every connection.
    Hello(Hello),
    /// 0x02, server → client, the answer to a good `Hello`.
    Welcome(Welcome),
    /// 0x03, server → client.
    Error(ErrorFrame),
    /// 0x04, client → server.
    Subscribe(Subscribe),
    /// 0x05, server → client.
    SubAck(Ack),
    /// 0x06, client → server.
    Unsubscribe(Unsubscribe),
    /// 0x07, server → client.
    UnsubAck(Ack),
    /// 0x08, client → server.
    Publish(Publish),
    /// 0x09, server → client: the server took (QoS 1: cached) the publish `id`.
    PubAck(Ack),
    /// 0x0A, server → client.
    Deliver(Deliver),
    /// 0x0B, client → server: the delivery was verified and handed to the application.
    DeliverAck {
        /// The acknowledged delivery.
        delivery_id: u64,
    },
    /// 0x0C, client → server: the delivery was refused and must not be resent.
    DeliverNack {
        /// The refused delivery.
        delivery_id: u64,
        /// Why it was refused.
        reason: NackReason,
    },
    /// 0x0D, server → client: what became of a QoS 1 publish.
    Receipt(Receipt),
    /// 0x0E, server → client.
    Presence(Presence),
    /// 0x0F, either side; the other answers with `Pong` carrying the same nonce.
    Ping {
        /// Echoed in the `Pong`.
        nonce: u64,
    },
    /// 0x10, either side.
    Pong {
        /// The nonce of the `Ping`.
        nonce: u64,
    },
    /// 0x11, client → server.
    Admin(AdminRequest),
    /// 0x12, server → client.
    AdminResult(AdminResult),
}

/// Opens a connection. (`Debug` shows the password's and resume token's lengths, never
/// their contents.)
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Hello {
    /// Resume the state this client id left in the session (subscriptions, pending
    /// deliveries) instead of starting clean.
    pub resume: bool,
    /// Join no session: the connection only sends admin requests.
    pub admin_only: bool,
    /// The client takes [`Batch`](super::batch) messages: the server may put several
    /// frames into one WebSocket message, and says in [`Welcome::batch`] whether the
    /// client may too.
    pub batch: bool,
    /// Milliseconds between the client's pings; the server closes the connection after
    /// 1.5 times this without any frame. 0 asks for the server's default.
    pub keepalive_ms: u64,
    /// Session name.
    pub session: String,
    /// Session password.
    pub password: String,
    /// Client id; empty asks the server to assign one.
    pub client_id: String,
    /// The token of the last [`Welcome`] for this client id, or empty: the server lets a
    /// connection take up a client id it holds state for only with that state's token.
    pub resume_token: String,
    /// Name shown to other members in presence events; may be empty.
    pub display_name: String,
}

/// Accepts a connection. (`Debug` shows no resume token.)
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Welcome {
    /// The server still had state for this client id and resumed it.
    pub session_present: bool,
    /// The server takes [`Batch`](super::batch) messages from this client (it asked for
    /// them in [`Hello::batch`]) and may send them.
    pub batch: bool,
    /// The client id in effect (assigned by the server if `Hello` had none).
    pub client_id: String,
    /// The secret that proves this client id is ours on later connections (empty on
    /// admin-only connections). Keep it with the client id; never show it to others.
    pub resume_token: String,
    /// The keepalive interval in effect, in milliseconds.
    pub keepalive_ms: u64,
    /// The session's effective configuration, every field stated.
    pub config: SessionConfig,
}

/// Reports an error not tied to an acked request, or the reason a connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFrame {
    /// What went wrong.
    pub code: ErrorCode,
    /// The request or message id it concerns, 0 if none.
    pub ref_id: u64,
    /// A readable explanation.
    pub message: String,
}

/// Subscribes to a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Echoed in the `SubAck`.
    pub request_id: u64,
    /// Also receive presence events (who is subscribed to this filter).
    pub presence: bool,
    /// The topic filter.
    pub filter: String,
}

/// Unsubscribes from a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Echoed in the `UnsubAck`.
    pub request_id: u64,
    /// The filter, exactly as subscribed.
    pub filter: String,
}

/// The answer to a request: `SubAck`, `UnsubAck` and `PubAck`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The request id, or for `PubAck` the message id.
    pub id: u64,
    /// [`ErrorCode::OK`] or why the request failed.
    pub code: ErrorCode,
}

/// Delivery guarantee of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Qos {
    /// Fire and forget: no cache, no ack, no retry, no receipt.
    AtMostOnce = 0,
    /// Acked, cached and retried until every subscriber acks; a receipt follows.
    AtLeastOnce = 1,
}

impl Qos {
    pub(super) fn from_bits(bits: u8) -> Result<Qos, DecodeError> {
        match bits {
            0 => Ok(Qos::AtMostOnce),
            1 => Ok(Qos::AtLeastOnce),
            _ => Err(DecodeError::InvalidValue { field: "qos" }),
        }
    }
}

/// Publishes a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Delivery guarantee.
    pub qos: Qos,
    /// Unique per client id for the session's expiry; a resend carries the same id so
    /// the server delivers it once.
    pub message_id: u64,
    /// The topic (no wildcards).
    pub topic: String,
    /// The sealed envelope (docs/CRYPTO.md); opaque to the server.
    pub payload: Bytes,
}

/// A `Publish` whose topic is borrowed from the message it came in
/// ([`Frame::decode_publish`]), not copied into a `String` of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRef<'a> {
    /// Delivery guarantee.
    pub qos: Qos,
    /// As in [`Publish::message_id`].
    pub message_id: u64,
    /// The topic as sent: UTF-8, not yet checked against the topic rules.
    pub topic: &'a str,
    /// The sealed envelope, a slice of the message.
    pub payload: Bytes,
}

impl Publish {
    /// This publish as a [`PublishRef`], borrowing its topic.
    pub fn as_publish_ref(&self) -> PublishRef<'_> {
        PublishRef {
            qos: self.qos,
            message_id: self.message_id,
            topic: &self.topic,
            payload: self.payload.clone(),
        }
    }
}

/// Delivers a message to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    /// The publish's delivery guarantee; QoS 1 deliveries must be acked or nacked.
    pub qos: Qos,
    /// Identifies the message within the session; the same for every subscriber and
    /// every resend, so a client can drop duplicates. 0 for QoS 0.
    pub delivery_id: u64,
    /// 1 for the first send to this subscriber, then 2, 3, ...
    pub attempt: u32,
    /// The topic it was published to.
    pub topic: String,
    /// Client id of the publisher.
    pub publisher: String,
    /// The sealed envelope as published.
    pub payload: Bytes,
}

/// Why a client refused a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NackReason {
    /// The envelope failed verification or decryption.
    Rejected,
    /// No key of this client can open the envelope.
    NoKey,
    /// The payload was in plaintext and this client accepts only sealed payloads.
    Plaintext,
    /// A reason of a newer peer.
    Other(u8),
}

impl NackReason {
    pub(super) fn to_wire(self) -> u8 {
        match self {
            NackReason::Rejected => 1,
            NackReason::NoKey => 2,
            NackReason::Plaintext => 3,
            NackReason::Other(v) => v,
        }
    }

    pub(super) fn from_wire(v: u8) -> NackReason {
        match v {
            1 => NackReason::Rejected,
            2 => NackReason::NoKey,
            3 => NackReason::Plaintext,
            v => NackReason::Other(v),
        }
    }
}

/// The fate of a QoS 1 publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReceiptStatus {
    /// Every targeted subscriber acked it.
    Delivered,
    /// It expired before every subscriber acked it.
    Expired,
    /// Some subscriber did not ack it within the retry budget.
    RetriesExhausted,
    /// Some subscriber's queue was full and the message was dropped for it, or a
    /// subscriber refused it.
    Dropped,
    /// Nobody was subscribed to the topic.
    NoSubscribers,
    /// A status of a newer peer.
    Other(u8),
}

impl ReceiptStatus {
    /// The stable name: `delivered`, `expired`, `retries_exhausted`, `dropped`,
    /// `no_subscribers`, or `unknown` for a status of a newer peer.
    pub fn name(self) -> &'static str {
        match self {
            ReceiptStatus::Delivered => "delivered",
            ReceiptStatus::Expired => "expired",
            ReceiptStatus::RetriesExhausted => "retries_exhausted",
            ReceiptStatus::Dropped => "dropped",
            ReceiptStatus::NoSubscribers => "no_subscribers",
            ReceiptStatus::Other(_) => "unknown",
        }
    }

    pub(super) fn to_wire(self) -> u8 {
        match self {
            ReceiptStatus::Delivered => 1,
            ReceiptStatus::Expired => 2,
            ReceiptStatus::RetriesExhausted => 3,
            ReceiptStatus::Dropped => 4,
            ReceiptStatus::NoSubscribers => 5,
            ReceiptStatus::Other(v) => v,
        }
    }

    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub(crate) fn from_wire_for_tests(v: u8) -> ReceiptStatus {
        ReceiptStatus::from_wire(v)
    }

    pub(super) fn from_wire(v: u8) -> ReceiptStatus {
        match v {
            1 => ReceiptStatus::Delivered,
            2 => ReceiptStatus::Expired,
            3 => ReceiptStatus::RetriesExhausted,
            4 => ReceiptStatus::Dropped,
            5 => ReceiptStatus::NoSubscribers,
            v => ReceiptStatus::Other(v),
        }
    }
}

/// Tells a publisher what became of its QoS 1 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The publisher's message id.
    pub message_id: u64,
    /// The overall outcome.
    pub status: ReceiptStatus,
    /// Subscribers that acked.
    pub delivered: u32,
    /// Subscribers that did not (expired, exhausted, dropped or refused).
    pub failed: u32,
}

/// What a presence frame reports. Exhaustive, so every client's mapping of it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceKind {
    /// Everyone subscribed right now (sent after the `SubAck`).
    Snapshot = 0,
    /// These members subscribed.
    Join = 1,
    /// These members left (unsubscribed or disconnected).
    Leave = 2,
}

/// A member of a topic's audience.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    /// Client id.
    pub client_id: String,
    /// Display name from its `Hello`, may be empty.
    pub display_name: String,
}

/// Who is subscribed to a filter the client asked presence for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The filter exactly as subscribed with `presence`.
    pub filter: String,
    /// Snapshot, join or leave.
    pub kind: PresenceKind,
    /// The members concerned.
    pub members: Vec<Member>,
}

/// A session administration request. (`Debug` shows no credential.)
#[derive(Clone, PartialEq, Eq)]
pub struct AdminRequest {
    /// Echoed in the `AdminResult`.
    pub request_id: u64,
    /// The session concerned.
    pub session: String,
    /// The server's admin token for `Create` (empty if the server has none), the
    /// session's secret key for every other operation.
    pub credential: String,
    /// What to do.
    pub op: AdminOp,
}

/// A session administration operation. (`Debug` shows no password or secret.)
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminOp {
    /// 1: create a session.
    Create {
        /// Password clients connect with.
        password: String,
        /// Secret key for later admin operations.
        secret: String,
        /// Settings; unstated ones take the server's defaults.
        config: SessionConfig,
    },
    /// 2: close every connection and free everything of the session.
    Drop,
    /// 3: close every connection and refuse new ones; cached messages are kept.
    Suspend,
    /// 4: accept connections again.
    Resume,
    /// 5: change the stated settings.
    Configure(SessionConfig),
    /// 6: report the session's settings.
    Describe,
    /// 7: replace the session's password and/or secret key (an empty string keeps the
    /// current one; at least one must be given). Connected clients stay connected; the old
    /// credential is refused from the moment the answer is sent.
    Rotate {
        /// The new password clients connect with, or empty.
        password: String,
        /// The new secret key for admin operations, or empty.
        secret: String,
    },
}

impl AdminOp {
    pub(super) fn code(&self) -> u8 {
        match self {
            AdminOp::Create { .. } => 1,
            AdminOp::Drop => 2,
            AdminOp::Suspend => 3,
            AdminOp::Resume => 4,
            AdminOp::Configure(_) => 5,
            AdminOp::Describe => 6,
            AdminOp::Rotate { .. } => 7,
        }
    }
}

/// The answer to an admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminResult {
    /// The request's id.
    pub request_id: u64,
    /// [`ErrorCode::OK`] or why it failed.
    pub code: ErrorCode,
    /// A readable explanation (empty on success).
    pub message: String,
    /// The session's settings after the operation (empty after `Drop` or failure).
    pub config: SessionConfig,
}

use crate::text::Redacted;

impl core::fmt::Debug for Hello {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hello")
            .field("resume", &self.resume)
            .field("admin_only", &self.admin_only)
            .field("batch", &self.batch)
            .field("keepalive_ms", &self.keepalive_ms)
            .field("session", &self.session)
            .field("password", &Redacted(&self.password))
            .field("client_id", &self.client_id)
            .field("resume_token", &Redacted(&self.resume_token))
            .field("display_name", &self.display_name)
            .finish()
    }
}

impl core::fmt::Debug for Welcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Welcome")
            .field("session_present", &self.session_present)
            .field("batch", &self.batch)
            .field("client_id", &self.client_id)
            .field("resume_token", &Redacted(&self.resume_token))
            .field("keepalive_ms", &self.keepalive_ms)
            .field("config", &self.config)
            .finish()
    }
}

impl core::fmt::Debug for AdminRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AdminRequest")
            .field("request_id", &self.request_id)
            .field("session", &self.session)
            .field("credential", &Redacted(&self.credential))
            .field("op", &self.op)
            .finish()
    }
}

impl core::fmt::Debug for AdminOp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AdminOp::Create {
                password,
                secret,
                config,
            } => f
                .debug_struct("Create")
                .field("password", &Redacted(password))
                .field("secret", &Redacted(secret))
                .field("config", config)
                .finish(),
            AdminOp::Drop => f.write_str("Drop"),
            AdminOp::Suspend => f.write_str("Suspend"),
            AdminOp::Resume => f.write_str("Resume"),
            AdminOp::Configure(config) => f.debug_tuple("Configure").field(config).finish(),
            AdminOp::Describe => f.write_str("Describe"),
            AdminOp::Rotate { password, secret } => f
                .debug_struct("Rotate")
                .field("password", &Redacted(password))
                .field("secret", &Redacted(secret))
                .finish(),
        }
    }
}
