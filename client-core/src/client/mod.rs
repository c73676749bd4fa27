//! The sans-IO client: connection state, keepalive, reconnects, subscriptions, the
//! publish outbox and inbound verification. No sockets, no clock, no threads.
//!
//! # How a driver runs it
//!
//! The core has four kinds of methods; a driver (tokio natively, `web_sys` in the
//! browser) calls them in this order, with one `pump` after every input:
//!
//! 1. **Inputs** from the transport and the clock: [`Client::handle_open`],
//!    [`Client::handle_frame`], [`Client::handle_close`], [`Client::handle_timeout`].
//! 2. **Commands** from the application: [`Client::subscribe`], [`Client::unsubscribe`],
//!    [`Client::publish`], [`Client::admin`], [`Client::close`], [`Client::reconnect_now`].
//! 3. **Outputs**, drained by the pump: [`Client::poll_transport`] (open or close the
//!    WebSocket), [`Client::poll_transmit`] (binary messages to send),
//!    [`Client::poll_event`] (for the application) and [`Client::poll_timeout`] (when to
//!    call `handle_timeout` next; re-arm one timer with it).
//!
//! A `handle_timeout` that comes early or twice is harmless.

mod backoff;
mod commands;
mod config;
mod connection;
mod event;
mod inbound;
mod outbox;
mod vecmap;

use std::collections::VecDeque;

use bytes::Bytes;
use core::time::Duration;

/// Whether this build asks for batch messages and sends them. Not the browser build
/// (WebAssembly) yet: its module is at its size budget (60 KB gzipped), and unpacking and
/// packing batches would add about 0.7 KB to it.
pub const BATCHES: bool = cfg!(not(target_arch = "wasm32"));

/// The largest batch message a client sends (several frames in one WebSocket message,
/// once the server's `Welcome` said it takes them).
pub const MAX_BATCH_BYTES: usize = 64 * 1024;

pub use config::{BackoffConfig, ClientConfig, PublishRetryConfig};
pub use event::{
    ClientError, CloseReason, DeliveryError, Event, Message, PublishFailure, PublishId,
    PublishOutcome, RequestFailure, RequestId, ServerError, State, TransportCommand,
};

use crate::codec::{AdminRequest, ErrorCode, Frame, Hello, Qos, Subscribe};
use crate::names::ClientId;
use crate::time::Instant;
use crate::topic::TopicFilter;
use backoff::Rng;
use outbox::{DedupWindow, Outbox};
use vecmap::VecMap;

/// Options of one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishOptions {
    /// Delivery guarantee; QoS 1 by default.
    pub qos: Qos,
    /// Send the payload unsealed. Only when the application means it: the server and
    /// anyone on the path can read it.
    pub plaintext: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            qos: Qos::AtLeastOnce,
            plaintext: false,
        }
    }
}

impl PublishOptions {
    /// QoS 0: no ack, no retry, no receipt.
    pub fn at_most_once() -> Self {
        PublishOptions {
            qos: Qos::AtMostOnce,
            plaintext: false,
        }
    }
}

/// The fastPort client state machine. See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    client_id: String,
    /// The token of the last `Welcome` (or the configured one): sent in every `Hello`.
    resume_token: String,
    phase: Phase,
    /// Consecutive connection attempts since the last welcome.
    attempt: u32,
    /// The index in `config.urls` of the current (or last) connection attempt.
    url_index: usize,
    rng: Rng,
    next_request: u64,
    next_message_id: u64,
    transmits: VecDeque<Bytes>,
    /// The server's `Welcome` said it takes batches on this connection (never in the
    /// browser build, see [`BATCHES`]).
    #[cfg(not(target_arch = "wasm32"))]
    batching: bool,
    transport: VecDeque<TransportCommand>,
    events: VecDeque<Event>,
    subs: VecMap<TopicFilter, Sub>,
    pending: VecMap<u64, Pending>,
    queued_unsubs: Vec<(RequestId, TopicFilter)>,
    queued_admin: Vec<(RequestId, AdminRequest)>,
    outbox: Outbox,
    dedup: DedupWindow,
    /// The message ids of the latest receipts handed to the application: the server answers
    /// a resend of a publish that had settled with its receipt again (docs/PROTOCOL.md,
    /// "Receipts"), and after a failover the first receipt may have come already.
    receipted: DedupWindow,
    max_message_size: usize,
    keepalive: Duration,
    last_rx: Instant,
    last_tx: Instant,
    ping_sent_at: Option<Instant>,
    session_present: bool,
    /// Wire ids of the re-subscribes of the current connection not answered yet; `None`
    /// once [`Event::Restored`] was emitted.
    restoring: Option<Vec<u64>>,
    /// Why the last connection ended and how long the wait is, for [`Client::state`].
    last_loss: (String, Duration, Option<ServerError>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting to reconnect.
    Waiting {
        until: Instant,
    },
    /// Asked the driver to connect.
    Opening {
        deadline: Instant,
    },
    /// Sent `Hello`, waiting for `Welcome`.
    Handshaking {
        deadline: Instant,
    },
    Connected,
    Closed(CloseReason),
}

#[derive(Debug, Default)]
struct Sub {
    presence: bool,
    /// Application requests not answered yet.
    requests: Vec<RequestId>,
}

#[derive(Debug)]
enum Pending {
    Subscribe {
        filter: TopicFilter,
    },
    Unsubscribe {
        filter: TopicFilter,
        request: RequestId,
    },
    Admin {
        request: RequestId,
    },
}

impl Client {
    /// Creates a client and starts connecting: the first [`Client::poll_transport`]
    /// returns [`TransportCommand::Connect`].
    pub fn new(config: ClientConfig, now: Instant) -> Client {
        let mut rng = Rng::new(config.seed);
        let client_id = match &config.client_id {
            Some(id) => id.as_str().to_owned(),
            None => ClientId::from_random(rng.next_u64()).as_str().to_owned(),
        };
        // Message ids start at a random point so that a restarted client reusing its
        // client id does not collide with ids the server still remembers.
        let next_message_id = (rng.next_u64() >> 33) + 1;
        let mut client = Client {
            client_id,
            resume_token: config.resume_token.clone(),
            phase: Phase::Waiting { until: now },
            attempt: 0,
            url_index: config.urls.len().saturating_sub(1),
            rng,
            next_request: 1,
            next_message_id,
            transmits: VecDeque::new(),
            #[cfg(not(target_arch = "wasm32"))]
            batching: false,
            transport: VecDeque::new(),
            events: VecDeque::new(),
            subs: VecMap::default(),
            pending: VecMap::default(),
            queued_unsubs: Vec::new(),
            queued_admin: Vec::new(),
            outbox: Outbox::default(),
            dedup: DedupWindow::new(config.dedup_window),
            // Only held publishes are resent, at most `outbox_max_messages` of them.
            receipted: DedupWindow::new(config.outbox_max_messages),
            max_message_size: config.max_message_size,
            keepalive: config.keepalive,
            last_rx: now,
            last_tx: now,
            ping_sent_at: None,
            session_present: false,
            restoring: None,
            last_loss: (String::new(), Duration::ZERO, None),
            config,
        };
        client.start_connect(now);
        client
    }

    // ----- inputs -------------------------------------------------------------------

    /// The transport the core asked for is open.
    pub fn handle_open(&mut self, now: Instant) {
        let Phase::Opening { deadline } = self.phase else {
            return;
        };
        self.phase = Phase::Handshaking { deadline };
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.batching = false;
        }
        self.last_rx = now;
        self.ping_sent_at = None;
        let (session, password) = match &self.config.session {
            Some(s) => (s.as_str().to_owned(), self.config.password.clone()),
            None => (
                self.config
                    .admin_session
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                self.config.password.clone(),
            ),
        };
        let hello = Hello {
            resume: self.config.resume,
            admin_only: self.config.session.is_none(),
            batch: BATCHES,
            keepalive_ms: u64::try_from(self.config.keepalive.as_millis()).unwrap_or(u64::MAX),
            session,
            password,
            client_id: self.client_id.clone(),
            resume_token: self.resume_token.clone(),
            display_name: self
                .config
                .display_name
                .as_ref()
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
        };
        self.send(now, &Frame::Hello(hello));
    }

    /// The transport closed or failed to open, without the core asking. `code` is the
    /// WebSocket close code if there was one.
    pub fn handle_close(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        if !self.has_transport() {
            return;
        }
        match code.and_then(ErrorCode::from_close_code) {
            Some(code) if code.is_fatal() => self.close_with(CloseReason::Fatal(ServerError {
                code,
                message: reason.into(),
            })),
            server_code => {
                let error = server_code.map(|code| ServerError {
                    code,
                    message: reason.to_owned(),
                });
                let why = match code {
                    Some(c) if reason.is_empty() => format!("connection closed ({c})"),
                    Some(c) => format!("connection closed ({c}): {reason}"),
                    None if reason.is_empty() => "connection failed".to_owned(),
                    None => format!("connection failed: {reason}"),
                };
                self.connection_lost(now, why, error);
            }
        }
    }

    /// A timer set from [`Client::poll_timeout`] fired (or any time: early calls do nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Waiting { until } if now >= until => self.start_connect(now),
            Phase::Opening { deadline } | Phase::Handshaking { deadline } if now >= deadline => {
                let code = ErrorCode::KEEPALIVE_TIMEOUT.close_code();
                self.drop_connection(now, code, "connect timeout: no welcome from the server");
            }
            Phase::Connected => {
                if let Some(dead_at) = self.dead_at() {
                    if now >= dead_at {
                        let code = ErrorCode::KEEPALIVE_TIMEOUT.close_code();
                        self.drop_connection(now, code, "keepalive timeout: no answer to ping");
                    }
                }
                let idle = self.phase == Phase::Connected && self.ping_sent_at.is_none();
                if idle && now >= self.ping_at() {
                    self.ping(now);
                }
            }
            _ => {}
        }
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        for id in self.outbox.due_deadlines(now) {
            self.settle(id, PublishOutcome::Expired);
        }
        if self.phase == Phase::Connected {
            for id in self.outbox.due_retries(now) {
                self.send_held(now, id);
            }
        }
    }

    // ----- outputs ------------------------------------------------------------------

    /// The next binary WebSocket message to send. Once the server said it takes batches,
    /// frames queued together go out as one batch message of at most
    /// [`MAX_BATCH_BYTES`], and never more than the session's `max_message_size` (a server
    /// configured consistently takes a message that large).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        #[cfg(not(target_arch = "wasm32"))]
        if self.batching {
            return self.poll_batch();
        }
        self.transmits.pop_front()
    }

    /// [`Client::poll_transmit`] once the server takes batches.
    #[cfg(not(target_arch = "wasm32"))]
    fn poll_batch(&mut self) -> Option<Bytes> {
        use crate::codec::batch;
        let first = self.transmits.pop_front()?;
        let max = MAX_BATCH_BYTES.min(self.max_message_size);
        let fits = |len: usize, next: &Bytes| len + batch::entry_len(next.len()) <= max;
        match self.transmits.front() {
            Some(next) if fits(1 + batch::entry_len(first.len()), next) => {}
            _ => return Some(first),
        }
        let mut packed = batch::Builder::new();
        packed.push(&first);
        while let Some(next) = self.transmits.front() {
            if !fits(packed.len(), next) {
                break;
            }
            packed.push(next);
            self.transmits.pop_front();
        }
        Some(packed.finish())
    }

    /// The next request for the transport.
    pub fn poll_transport(&mut self) -> Option<TransportCommand> {
        self.transport.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] must be called next, if at all.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Waiting { until } => Some(until),
            Phase::Opening { deadline } | Phase::Handshaking { deadline } => Some(deadline),
            Phase::Connected => Some(self.dead_at().unwrap_or_else(|| self.ping_at())),
            Phase::Closed(_) => return None,
        };
        let retry = match self.phase {
            Phase::Connected => self.outbox.next_retry(),
            _ => None,
        };
        [phase, retry, self.outbox.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The current connection state.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::Waiting { until } => State::Reconnecting {
                attempt: self.attempt + 1,
                at: *until,
                delay: self.last_loss.1,
                reason: self.last_loss.0.clone(),
                error: self.last_loss.2.clone(),
            },
            Phase::Opening { .. } | Phase::Handshaking { .. } => State::Connecting {
                attempt: self.attempt,
            },
            Phase::Connected => State::Connected {
                client_id: self.client_id.clone(),
                session_present: self.session_present,
            },
            Phase::Closed(reason) => State::Closed {
                reason: reason.clone(),
            },
        }
    }

    /// The client id: the configured or random one, or the server's after a welcome.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The resume token of this client id from the server's last `Welcome` (empty before
    /// the first one). Keep it with the client id to resume after a restart
    /// ([`ClientConfig::resume_token`]); it is a secret of this client.
    pub fn resume_token(&self) -> &str {
        &self.resume_token
    }

    /// The server's WebSocket URL this client is connected to, or connecting to, or (while
    /// waiting to reconnect) last tried: one of [`ClientConfig::urls`]. The next attempt
    /// goes to the URL after it.
    pub fn url(&self) -> &str {
        self.config
            .urls
            .get(self.url_index)
            .map_or("", String::as_str)
    }

    /// How many server URLs the client goes round ([`ClientConfig::urls`]).
    pub fn url_count(&self) -> usize {
        self.config.urls.len()
    }

    /// Publishes held: unsent, or sent and not yet acked.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// The session's maximum message size (the server's, once welcomed).
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    // ----- internals ----------------------------------------------------------------

    /// The session name as the envelope's MAC binds it (empty on admin-only connections).
    pub(super) fn session_name(&self) -> &str {
        self.config
            .session
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or_default()
    }

    pub(super) fn check_session_command(&self) -> Result<(), ClientError> {
        if matches!(self.phase, Phase::Closed(_)) {
            return Err(ClientError::Closed);
        }
        if self.config.session.is_none() {
            return Err(ClientError::AdminOnly);
        }
        Ok(())
    }

    pub(super) fn new_request(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    pub(super) fn has_transport(&self) -> bool {
        matches!(
            self.phase,
            Phase::Opening { .. } | Phase::Handshaking { .. } | Phase::Connected
        )
    }

    pub(super) fn ping_at(&self) -> Instant {
        self.last_rx.min(self.last_tx) + self.keepalive
    }

    pub(super) fn dead_at(&self) -> Option<Instant> {
        self.ping_sent_at.map(|at| at + self.config.ping_timeout)
    }

    pub(super) fn ping(&mut self, now: Instant) {
        self.ping_sent_at = Some(now);
        self.send(
            now,
            &Frame::Ping {
                nonce: now.as_micros(),
            },
        );
    }

    pub(super) fn send(&mut self, now: Instant, frame: &Frame) {
        let bytes = frame.encode_client_frame();
        self.transmits
            .push_back(bytes.expect("the client sends only client frames"));
        self.last_tx = now;
    }

    pub(super) fn send_subscribe(
        &mut self,
        now: Instant,
        wire_id: u64,
        filter: TopicFilter,
        presence: bool,
    ) {
        let frame = Frame::Subscribe(Subscribe {
            request_id: wire_id,
            presence,
            filter: filter.as_str().to_owned(),
        });
        self.pending.insert(wire_id, Pending::Subscribe { filter });
        self.send(now, &frame);
    }

    /// Sends (or resends) a held publish, or fails it if its attempts are used up.
    pub(super) fn send_held(&mut self, now: Instant, id: u64) {
        let Some(entry) = self.outbox.get(id) else {
            return;
        };
        if entry.attempts >= self.config.publish_retry.max_attempts {
            let attempts = entry.attempts;
            let failure = PublishFailure::RetriesExhausted { attempts };
            self.settle(id, PublishOutcome::Failed(failure));
            return;
        }
        let (qos, frame) = (entry.qos, entry.frame.clone());
        self.transmits.push_back(frame);
        self.last_tx = now;
        match qos {
            Qos::AtMostOnce => self.settle(id, PublishOutcome::Sent),
            Qos::AtLeastOnce => self
                .outbox
                .mark_sent(id, now + self.config.publish_retry.ack_timeout),
        }
    }

    pub(super) fn settle(&mut self, id: u64, outcome: PublishOutcome) {
        if self.outbox.remove(id).is_some() {
            self.events.push_back(Event::PublishSettled {
                id: PublishId(id),
                outcome,
            });
        }
    }
}

#[cfg(test)]
mod tests;
