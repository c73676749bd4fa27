//! The sans-IO broker of fastPort: every session, connection, subscription and cached
//! message, and the protocol logic that moves frames between them. No sockets, no clock,
//! no threads: this crate does not depend on tokio, and its `clippy.toml` bans clocks and
//! sleeps, so the rule holds by construction. `fastport-server` drives it on tokio; the
//! simulation in `fastport-tests` drives it on a virtual clock.
//!
//! One router task owns the [`Broker`] (a server may run several, each owning the sessions
//! placed on it: see [`shard`]) and calls, with `now` from its clock:
//!
//! 1. **Inputs**: [`Broker::handle_open`] when a WebSocket connection is accepted,
//!    [`Broker::handle_message`] for each binary message, [`Broker::handle_close`] when the
//!    connection is gone, [`Broker::handle_congested`] and [`Broker::handle_drained`] as
//!    its outbound queue fills and drains, [`Broker::handle_slow_connection`] when it
//!    stopped reading, [`Broker::handle_timeout`] when the timer fires, [`Broker::handle_job_done`] when
//!    a [`Job`] finished, and [`Broker::admin`] for HTTP admin requests.
//! 2. **Outputs**: [`Broker::poll_output`] until `None` (frames to send, connections to
//!    close, jobs to run, HTTP admin answers), then [`Broker::poll_timeout`] to re-arm the
//!    single timer.
//!
//! ```
//! use bytes::Bytes;
//! use fastport_proto::codec::{Frame, Hello};
//! use fastport_proto::time::Instant;
//! use fastport_broker::auth::{HashCost, SecretHash};
//! use fastport_broker::{Broker, BrokerConfig, ConnId, Output, SessionSettings};
//!
//! let mut broker = Broker::new(BrokerConfig::default());
//! let hash = |s: &str| SecretHash::new(s, HashCost::Test).expect("hashing works");
//! broker.create_session("demo", hash("pw"), hash("secret"), SessionSettings::default()).unwrap();
//!
//! let now = Instant::ZERO; // the router reads its monotonic clock here
//! broker.handle_open(now, ConnId(1), None);
//! let hello = Hello { session: "demo".into(), password: "pw".into(), ..Hello::default() };
//! broker.handle_message(now, ConnId(1), Frame::Hello(hello).encode());
//!
//! // The pump: run jobs off the router (inline here), send frames, close connections.
//! let mut sent = Vec::new();
//! while let Some(output) = broker.poll_output() {
//!     match output {
//!         Output::Run(job) => broker.handle_job_done(now, job.run()),
//!         Output::Send { conn, frame } => sent.push((conn, Frame::decode(frame).unwrap())),
//!         Output::Receipt { conn, frame } => sent.push((conn, Frame::decode(frame).unwrap())),
//!         Output::Watch { conn } => broker.handle_drained(now, conn),
//!         Output::Close { .. } | Output::Admin(_) | Output::Forward(_) => {}
//!         Output::PauseReading { .. } => {} // no socket here to stop reading
//!     }
//! }
//! assert!(matches!(sent[..], [(ConnId(1), Frame::Welcome(_))]));
//! let next_timer = broker.poll_timeout(); // re-arm the router's one timer with this
//! assert!(next_timer.is_some());
//! ```
//!
//! Password and secret checks are deliberately slow (argon2id), so the broker never runs
//! them itself: it hands out a [`Job`] and continues when the answer comes back, and the
//! router stays free for traffic. A password that verified once is remembered as a keyed
//! hash, so reconnects of a fleet do not pay argon2 each time.
//!
//! Routing a publish allocates nothing per subscriber. Clients are interned per session
//! (`clients.rs`): subscriber sets, pending deliveries, cached messages and timers name
//! them by a `Copy` key. The subscribers of a topic are gathered into a buffer the broker
//! reuses, the `Deliver` frame is encoded once and the same `Bytes` is queued for every
//! subscriber, and timers are plain data in FIFO lanes (`timers.rs`). What a publish does
//! allocate: the frames it sends (the `Deliver` with its copy of the payload, for QoS 1 the
//! `PubAck` and `Receipt`) and, for QoS 1 with several subscribers, the list of them kept
//! with the cached message. `server/benches/routing.rs` measures it.

mod admin;
pub mod auth;
mod budget;
mod clients;
mod delivery;
mod guard;
mod handshake;
mod ids;
pub mod journal;
mod metrics;
mod presence;
mod routing;
mod session;
pub mod shard;
mod shrink;
mod text_map;
mod timers;
mod topics;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{batch, ErrorCode, ErrorFrame, Frame};
use fastport_proto::time::Instant;

use crate::auth::{HashCost, Job, SecretHash};
pub use admin::{AdminAnswer, AdminReply};
pub use metrics::{Metrics, SessionMetrics};
pub use session::SessionSettings;
pub use shard::{shard_of, Shard, Totals};

use clients::ClientKey;
pub use ids::IdMap;
use session::{Session, SessionId};
use shrink::shrink_map;
use timers::{Timer, Timers};

/// A connection, numbered by the driver (unique for the broker's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Something for the driver to do. Exhaustive on purpose: a new output is a compile error
/// in every driver until it handles it.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send one binary WebSocket message. The same `Bytes` may go to many connections.
    Send {
        /// The connection.
        conn: ConnId,
        /// The encoded frame.
        frame: Bytes,
    },
    /// Send a `Receipt` frame. Like [`Output::Send`], but a connection gets at most one per
    /// message it published that is still cached (so at most the session's `max_pending`),
    /// plus one per publish answered at once: a driver may queue receipts apart from
    /// deliveries so that a burst of them does not count against the connection's
    /// slow-consumer limit. A receipt must not overtake `Send`s queued before it.
    Receipt {
        /// The connection.
        conn: ConnId,
        /// The encoded `Receipt` frame.
        frame: Bytes,
    },
    /// Close the connection with this WebSocket close code and reason, after the frames
    /// queued before it. The broker has forgotten the connection: do not report its close.
    Close {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Call [`Broker::handle_drained`] once the connection's outbound queue holds less than
    /// half its budget (at once if it already does): deliveries are held for it.
    Watch {
        /// The connection.
        conn: ConnId,
    },
    /// Read nothing more from the connection for `pause` (from when the driver sees
    /// this; a later pause that ends later extends it): a publish of it was refused
    /// `queue_full`, so what it sends next would most likely be read only to be refused
    /// too. Writing goes on. See `budget.rs`.
    PauseReading {
        /// The connection.
        conn: ConnId,
        /// How long; never more than a quarter of its keepalive.
        pause: Duration,
    },
    /// Run `job` off the router (it is slow by design) and hand the result to
    /// [`Broker::handle_job_done`].
    Run(Job),
    /// The answer to an HTTP admin request made with [`Broker::admin`] (boxed: it is rare,
    /// and every queued `Send` would otherwise be as large as it).
    Admin(Box<AdminAnswer>),
    /// An `Admin` frame from `conn` about a session another broker owns (only when the
    /// server runs several, see [`shard`]): run it there with [`Broker::admin`] and hand the
    /// reply back to this broker with [`Broker::admin_forwarded`].
    Forward(Box<Forwarded>),
}

/// An `Admin` frame for another broker (see [`Output::Forward`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    /// The connection that sent it, on this broker.
    pub conn: ConnId,
    /// Its address, for the limits on failed secret checks.
    pub peer: Option<IpAddr>,
    /// The request, with the id the client gave it.
    pub request: fastport_proto::codec::AdminRequest,
}

/// Server-wide settings of the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Settings of sessions created without stating them.
    pub session_defaults: SessionSettings,
    /// The most a session admin may set: each stated setting is a ceiling
    /// ([`SessionSettings::check_limits`]); none stated, none applies.
    pub session_limits: fastport_proto::codec::SessionConfig,
    /// Hash of the admin token needed to create sessions; without one, sessions can be
    /// created only with `open_session_creation`.
    pub admin_token: Option<SecretHash>,
    /// Whether anyone may create sessions without the admin token (local development).
    pub open_session_creation: bool,
    /// Keepalive used when a client asks for 0, and the bounds a client's request is
    /// clamped to.
    pub keepalive_default: Duration,
    /// Shortest keepalive a client may ask for.
    pub keepalive_min: Duration,
    /// Longest keepalive a client may ask for.
    pub keepalive_max: Duration,
    /// Time a new connection has to send its `Hello`.
    pub hello_timeout: Duration,
    /// Most sessions.
    pub max_sessions: usize,
    /// Most connections across all sessions.
    pub max_connections: usize,
    /// Most password checks and hashings pending at once; beyond it, `Hello`s are refused
    /// with `rate_limited` (a wrong-password flood cannot queue unbounded work). One client
    /// address prefix may hold a quarter of them (at least one).
    pub max_pending_jobs: usize,
    /// Key for the cache of verified passwords; random per process.
    pub verify_cache_key: [u8; 32],
    /// Cost of the hashes of sessions created at run time.
    pub hash_cost: HashCost,
    /// The outbound budget of one connection in bytes, as the driver enforces it (see
    /// [`Broker::handle_congested`]): a drained connection is sent this much of what was
    /// held back for it at a time.
    pub max_outbound_bytes: usize,
    /// The server's memory budget in bytes: cached QoS 1 payloads over all sessions plus
    /// the bytes queued for writing ([`Broker::set_outbound_bytes`]). A publish that would
    /// go beyond it is answered `queue_full`.
    pub max_memory: usize,
    /// How often at most each filter's presence changes go out (docs/PROTOCOL.md §8): the
    /// first change of a quiet filter at once, the next ones gathered until the interval
    /// ends, as one `leave` and one `join` frame per watcher.
    pub presence_interval: Duration,
    /// Which broker of the server this is: it owns the sessions placed on it.
    pub shard: Shard,
    /// Counts shared with the server's other brokers: sessions (against `max_sessions`)
    /// and cached bytes (against `max_memory`). Give every broker of a server the same.
    pub totals: Arc<Totals>,
    /// Whether the broker journals what must survive a restart and holds acks until it is
    /// stored (the server's Redis engine): see [`journal`].
    pub durable: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            session_defaults: SessionSettings::default(),
            session_limits: fastport_proto::codec::SessionConfig::default(),
            admin_token: None,
            open_session_creation: false,
            keepalive_default: Duration::from_secs(10),
            keepalive_min: Duration::from_secs(1),
            keepalive_max: Duration::from_secs(300),
            hello_timeout: Duration::from_secs(10),
            max_sessions: 10_000,
            max_connections: 100_000,
            max_pending_jobs: 64,
            verify_cache_key: [0; 32],
            hash_cost: HashCost::Standard,
            max_outbound_bytes: 8 << 20,
            max_memory: 1 << 30,
            presence_interval: Duration::from_millis(100),
            shard: Shard::default(),
            totals: Totals::new(),
            durable: false,
        }
    }
}

/// The broker. See the [module docs](self) for how a driver runs it.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    sessions: IdMap<SessionId, Session>,
    session_ids: HashMap<String, SessionId>,
    next_session: u64,
    conns: IdMap<ConnId, Conn>,
    outputs: VecDeque<Output>,
    /// The subscribers of the message being routed; reused so routing does not allocate.
    targets: Vec<ClientKey>,
    timers: Timers,
    jobs: HashMap<u64, handshake::Continuation>,
    next_job: u64,
    metrics: Metrics,
    shutting_down: bool,
    logins: guard::LoginGuard,
    /// Logins waiting for their turn, and the one waiting place of each guard key.
    parked: HashMap<ConnId, handshake::Parked>,
    waiting: HashMap<guard::GuardKey, ConnId>,
    /// Pending jobs per client address prefix, and the prefix of each job.
    jobs_per_prefix: HashMap<IpAddr, usize>,
    job_prefix: HashMap<u64, IpAddr>,
    /// Payload bytes cached over all sessions.
    cache_bytes: usize,
    /// Bytes queued for writing over all connections, as the driver last said.
    outbound_bytes: usize,
    /// Presence changes waiting for their filter's next flush.
    presence: presence::Gatherer,
    /// What a durable broker asks its driver to store (`journal.rs`).
    journal: journal::Journal,
}

/// What the broker knows of one connection.
#[derive(Debug)]
struct Conn {
    state: ConnState,
    /// The peer's address, for slowing down repeated failed logins.
    peer: Option<IpAddr>,
    last_rx: Instant,
    /// Keepalive in effect (after the handshake).
    keepalive: Duration,
    /// Its outbound queue is at its budget: deliveries wait (see `budget.rs`).
    congested: bool,
    /// Its `Hello` asked for batches: it may send them once welcomed.
    batch: bool,
    /// Its publishes refused `queue_full` in a row: how long its next pause is.
    refusals: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    /// Waiting for `Hello`.
    New,
    /// `Hello` received; its password is being checked.
    Verifying,
    /// Joined `session` as `client`.
    Active {
        session: SessionId,
        client: ClientKey,
    },
    /// An admin-only connection.
    Admin,
}

impl Broker {
    /// A broker with no sessions.
    pub fn new(config: BrokerConfig) -> Broker {
        let durable = config.durable;
        let first_session = 1 + config.shard.index as u64;
        Broker {
            config,
            sessions: IdMap::default(),
            session_ids: HashMap::new(),
            next_session: first_session,
            conns: IdMap::default(),
            outputs: VecDeque::new(),
            targets: Vec::new(),
            timers: Timers::default(),
            jobs: HashMap::new(),
            next_job: 1,
            metrics: Metrics::default(),
            shutting_down: false,
            logins: guard::LoginGuard::default(),
            parked: HashMap::new(),
            waiting: HashMap::new(),
            jobs_per_prefix: HashMap::new(),
            job_prefix: HashMap::new(),
            cache_bytes: 0,
            outbound_bytes: 0,
            presence: presence::Gatherer::default(),
            journal: journal::Journal::new(durable),
        }
    }

    /// A WebSocket connection was accepted from `peer` (its IP address, if known). It has
    /// the hello timeout from `now` to send its `Hello`.
    pub fn handle_open(&mut self, now: Instant, conn: ConnId, peer: Option<IpAddr>) {
        self.handle_open_by(now, conn, peer, now + self.config.hello_timeout);
    }

    /// [`Broker::handle_open`] for a driver that started the clock earlier (at the TCP
    /// accept, before the WebSocket upgrade): the connection must send its `Hello` by
    /// `hello_deadline`, or by the hello timeout from `now` if that comes first. A deadline
    /// already past closes it at the next [`Broker::handle_timeout`].
    pub fn handle_open_by(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: Option<IpAddr>,
        hello_deadline: Instant,
    ) {
        self.metrics.connections_opened += 1;
        if self.shutting_down || self.conns.len() >= self.config.max_connections {
            let code = if self.shutting_down {
                ErrorCode::SERVER_SHUTTING_DOWN
            } else {
                ErrorCode::TOO_MANY_CONNECTIONS
            };
            self.reject(conn, code, "the server is not accepting connections");
            return;
        }
        let c = Conn {
            state: ConnState::New,
            peer,
            last_rx: now,
            keepalive: Duration::ZERO,
            congested: false,
            batch: false,
            refusals: 0,
        };
        self.conns.insert(conn, c);
        let deadline = hello_deadline.min(now + self.config.hello_timeout);
        self.timers.set(deadline, Timer::Hello(conn));
    }

    /// A binary WebSocket message arrived on `conn`: one frame, or once welcomed, if its
    /// `Hello` asked for them, a batch of frames (handled in order, as if each had come
    /// alone). A batch from any other connection is an unknown frame type.
    pub fn handle_message(&mut self, now: Instant, conn: ConnId, message: Bytes) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_rx = now;
        self.metrics.bytes_in += message.len() as u64;
        let batched = c.batch
            && matches!(c.state, ConnState::Active { .. } | ConnState::Admin)
            && batch::is_batch(&message);
        if !batched {
            return self.handle_frame(now, conn, message);
        }
        self.metrics.batches_in += 1;
        for frame in batch::frames(message) {
            match frame {
                Ok(frame) => self.handle_frame(now, conn, frame),
                Err(e) => {
                    self.metrics.protocol_errors += 1;
                    let message = format!("malformed batch: {e}");
                    return self.fail(conn, e.code(), &message);
                }
            }
            // A frame of the batch ended the connection: the rest is not read.
            if !self.conns.contains_key(&conn) {
                return;
            }
        }
    }

    /// One frame from `conn`; what it answers waits for the barriers it journaled.
    fn handle_frame(&mut self, now: Instant, conn: ConnId, message: Bytes) {
        if !self.journal.enabled {
            return self.handle_frame_now(now, conn, message);
        }
        let mark = self.input_mark();
        self.handle_frame_now(now, conn, message);
        self.input_done(mark);
    }

    fn handle_frame_now(&mut self, now: Instant, conn: ConnId, message: Bytes) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        self.metrics.frames_in += 1;
        // A member's publish, the hot path: decoded without copying its topic.
        if let ConnState::Active { session, client } = c.state {
            match Frame::decode_publish(&message) {
                Some(Ok(publish)) => return self.on_publish(now, conn, session, client, publish),
                Some(Err(e)) => {
                    self.metrics.protocol_errors += 1;
                    return self.fail(conn, e.code(), &e.to_string());
                }
                None => {}
            }
        }
        let frame = match Frame::decode_from_client(message) {
            Ok(frame) => frame,
            Err(e) => {
                self.metrics.protocol_errors += 1;
                return self.fail(conn, e.code(), &e.to_string());
            }
        };
        let state = c.state;
        match (state, frame) {
            (ConnState::New, Frame::Hello(hello)) => self.on_hello(now, conn, hello),
            (ConnState::New | ConnState::Verifying, other) => {
                let message = format!("expected hello first, got {}", other.name());
                self.fail(conn, ErrorCode::NOT_AUTHENTICATED, &message)
            }
            (_, Frame::Ping { nonce }) => self.send(conn, &Frame::Pong { nonce }),
            (_, Frame::Pong { .. }) => {}
            (_, Frame::Admin(req)) => self.admin_frame(now, conn, req),
            (ConnState::Active { session, client }, frame) => {
                self.on_session_frame(now, conn, session, client, frame)
            }
            (ConnState::Admin, other) => {
                let message = format!("{} on an admin-only connection", other.name());
                self.fail(conn, ErrorCode::PROTOCOL_ERROR, &message)
            }
        }
    }

    /// The connection is gone (closed by the peer or failed).
    pub fn handle_close(&mut self, now: Instant, conn: ConnId) {
        let mark = self.input_mark();
        self.forget_conn(now, conn);
        self.input_done(mark);
    }

    /// The connection's outbound queue is full: it cannot keep up.
    pub fn handle_slow_connection(&mut self, now: Instant, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.metrics.slow_consumer_disconnects += 1;
            // No error frame: the queue it would go into is full. The close code says it.
            let code = ErrorCode::SLOW_CONSUMER.close_code();
            let reason = "outbound queue full".to_owned();
            self.outputs.push_back(Output::Close { conn, code, reason });
            let mark = self.input_mark();
            self.forget_conn(now, conn);
            self.input_done(mark);
        }
    }

    /// The timer from [`Broker::poll_timeout`] fired (early or repeated calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            let mark = self.input_mark();
            self.on_timer(now, timer);
            self.input_done(mark);
        }
    }

    /// Stops accepting connections and closes every one with `server_shutting_down`.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let mut conns: Vec<ConnId> = self.conns.keys().copied().collect();
        // In connection order, not hash order: a replayed run closes them alike.
        conns.sort_unstable();
        for conn in conns {
            self.close_conn(
                now,
                conn,
                ErrorCode::SERVER_SHUTTING_DOWN,
                "server shutting down",
            );
        }
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Broker::handle_timeout`] must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.next()
    }

    /// Counters and gauges for `/metrics`.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        m.connections = self.conns.len() as u64;
        m.sessions = self.sessions.len() as u64;
        m.per_session = self.sessions.values().map(Session::metrics).collect();
        m.topics = m.per_session.iter().map(|s| s.topics).sum();
        m.cached_messages = m.per_session.iter().map(|s| s.cached_messages).sum();
        m.cache_bytes = self.cache_bytes as u64;
        m.outbound_bytes = self.outbound_bytes as u64;
        m.pending_jobs = self.jobs.len() as u64;
        m.timers = self.timers.len() as u64;
        m.records_unstored = self.journal.unstored();
        m.outputs_held = self.journal.held() as u64;
        m
    }

    // ----- shared internals ----------------------------------------------------------

    fn send(&mut self, conn: ConnId, frame: &Frame) {
        self.send_bytes(conn, frame.encode());
    }

    fn send_receipt_frame(&mut self, conn: ConnId, receipt: fastport_proto::codec::Receipt) {
        let frame = Frame::Receipt(receipt).encode();
        queue_receipt(&mut self.metrics, &mut self.outputs, conn, frame);
    }

    fn send_bytes(&mut self, conn: ConnId, frame: Bytes) {
        queue_send(&mut self.metrics, &mut self.outputs, conn, frame);
    }

    /// Error frame plus close, for a connection the broker has not admitted into a session.
    fn reject(&mut self, conn: ConnId, code: ErrorCode, message: &str) {
        let frame = Frame::Error(ErrorFrame {
            code,
            ref_id: 0,
            message: message.into(),
        });
        self.send(conn, &frame);
        self.outputs.push_back(Output::Close {
            conn,
            code: code.close_code(),
            reason: truncate_reason(message),
        });
    }

    /// Ends a connection for a protocol reason: error frame, close, and forget it.
    fn fail(&mut self, conn: ConnId, code: ErrorCode, message: &str) {
        // Timers of the connection die lazily: they find no connection.
        let now = self.conns.get(&conn).map(|c| c.last_rx).unwrap_or_default();
        self.close_conn(now, conn, code, message);
    }

    fn close_conn(&mut self, now: Instant, conn: ConnId, code: ErrorCode, message: &str) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.reject(conn, code, message);
        self.forget_conn(now, conn);
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Hello(conn) => {
                if self
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.state == ConnState::New)
                {
                    self.close_conn(now, conn, ErrorCode::NOT_AUTHENTICATED, "no hello in time");
                }
            }
            Timer::Keepalive(conn) => self.check_keepalive(now, conn),
            Timer::Retry {
                session,
                client,
                delivery,
            } => self.retry_delivery(now, session, client, delivery),
            Timer::Expire { session } => self.expire_due(now, session),
            Timer::Offline { session, client } => self.expire_offline_client(now, session, client),
            Timer::SweepSeen { session } => self.sweep_seen(now, session),
            Timer::Login(conn) => self.login_turn(now, conn),
            Timer::Presence => self.presence_due(now),
        }
    }

    /// Drops the duplicate-detection memory of publishers that published nothing within
    /// the expiry, so a stream of short-lived client ids does not grow it forever, and the
    /// ids older than the expiry of the others, so a publisher that slowed down gives back
    /// what its burst used.
    ///
    /// The next sweep comes when the oldest id left expires, but no sooner than a quarter
    /// of the expiry from now: an id is forgotten at most a quarter of the expiry late (not
    /// up to a whole expiry, as with a sweep every expiry), and a publisher that never
    /// stops costs at most four sweeps per expiry.
    fn sweep_seen(&mut self, now: Instant, id: SessionId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let expiry = session.settings.expiry;
        let mut oldest: Option<Instant> = None;
        session.seen.retain(|_, seen| {
            seen.forget(now, expiry);
            let keep = !seen.is_stale(now, expiry);
            if keep {
                oldest = oldest.into_iter().chain(seen.oldest()).min();
            }
            keep
        });
        shrink_map(&mut session.seen);
        session.sweep_armed = !session.seen.is_empty();
        if session.sweep_armed {
            let due = oldest.map_or(now + expiry, |at| at + expiry);
            self.timers
                .set(due.max(now + expiry / 4), Timer::SweepSeen { session: id });
        }
    }

    fn check_keepalive(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let deadline = c.last_rx + c.keepalive.mul_f64(1.5);
        if now >= deadline {
            self.metrics.keepalive_timeouts += 1;
            self.close_conn(
                now,
                conn,
                ErrorCode::KEEPALIVE_TIMEOUT,
                "nothing received in time",
            );
        } else {
            self.timers.set(deadline, Timer::Keepalive(conn));
        }
    }
}

/// Queues a frame; a free function so a fan-out loop can call it while it borrows the
/// session table.
pub(crate) fn queue_receipt(
    metrics: &mut Metrics,
    outputs: &mut VecDeque<Output>,
    conn: ConnId,
    frame: Bytes,
) {
    metrics.frames_out += 1;
    metrics.bytes_out += frame.len() as u64;
    outputs.push_back(Output::Receipt { conn, frame });
}

fn queue_send(metrics: &mut Metrics, outputs: &mut VecDeque<Output>, conn: ConnId, frame: Bytes) {
    metrics.frames_out += 1;
    metrics.bytes_out += frame.len() as u64;
    outputs.push_back(Output::Send { conn, frame });
}

/// WebSocket close reasons are limited to 123 bytes.
fn truncate_reason(message: &str) -> String {
    let mut end = message.len().min(123);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_owned()
}

#[cfg(test)]
mod tests;
