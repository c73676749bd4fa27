//! The journal: what a durable broker asks its driver to store, and the answers it holds
//! back until that is stored.
//!
//! With [`BrokerConfig::durable`](crate::BrokerConfig) (the server's Redis engine), every
//! change worth surviving a restart becomes a [`Record`]: sessions and their settings (with
//! hashed credentials only), resumable clients and their subscriptions, QoS 1 messages with
//! the subscribers that still owe an ack, attempts, receipts waiting for an offline
//! publisher. The driver takes the records in order ([`Broker::take_records`]), stores them
//! (one pipelined write per batch: a group commit) and says so with
//! [`Broker::handle_stored`].
//!
//! Records are of two kinds. A **barrier** (a new QoS 1 message, a session created,
//! changed or dropped) must be stored before anyone hears of it: everything the input that
//! wrote it would send (the `PubAck`, the deliveries, the admin answer) is held, in order,
//! until the driver says it is stored. So an acknowledged message is a stored message, and
//! a delivery id a subscriber saw is never handed out again after a restart. The other
//! records (acks, attempts, client state) are **lazy**: they go out with the next batch,
//! and what a crash loses of them costs at most a resend, which the client's duplicate
//! filter drops.
//!
//! When a write fails the driver calls [`Broker::handle_store_failed`] and tries the same
//! records again; meanwhile new QoS 1 publishes are refused `storage_unavailable` (never
//! acknowledged and then lost) and QoS 0 keeps flowing. The next successful write ends it.
//!
//! A restarted broker gets back what was stored with [`Broker::restore_session`].

mod memory;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{ErrorCode, Frame, Receipt, SessionConfig};
use fastport_proto::time::Instant;
use fastport_proto::topic::{Topic, TopicFilter};

use crate::auth::SecretHash;
use crate::clients::{ClientKey, PendingDelivery};
use crate::session::{Cached, Failure, SessionId, Targets};
use crate::timers::Timer;
use crate::{Broker, Output, SessionSettings};

pub use memory::MemoryStore;

/// Records a journal keeps while its writes fail, beyond which lazy records are dropped
/// (counted in `records_dropped`): a long outage costs bounded memory, and what is dropped
/// costs at most resends after a restart.
pub const MAX_UNSTORED: usize = 100_000;

/// One change for the driver to store, in order. See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A session was created or changed: its whole state as stored (barrier).
    Session(Box<SessionRecord>),
    /// A session was dropped: forget everything of it (barrier).
    SessionDropped {
        /// The session.
        session: String,
    },
    /// A resumable client's state: created at its `Welcome`, again at each change of its
    /// subscriptions. Stored without an expiry while it is connected.
    Client(Box<ClientRecord>),
    /// A resumable client went offline: its state lasts `expiry` from now unless it
    /// resumes (a later [`Record::Client`] clears the expiry).
    ClientOffline {
        /// The session.
        session: String,
        /// The client id.
        client: Arc<str>,
        /// How long its state is kept.
        expiry: Duration,
    },
    /// A client's state is gone (expired, or replaced by a clean start).
    ClientGone {
        /// The session.
        session: String,
        /// The client id.
        client: Arc<str>,
    },
    /// A QoS 1 message was accepted (barrier): stored before its `PubAck` and its first
    /// deliveries go out.
    Message(Box<MessageRecord>),
    /// A subscriber got another attempt of a delivery.
    Attempt {
        /// The session.
        session: String,
        /// The delivery.
        delivery: u64,
        /// The subscriber.
        client: Arc<str>,
        /// Attempts so far.
        attempt: u32,
    },
    /// A subscriber settled a delivery: acked (`delivered`) or failed.
    Settled {
        /// The session.
        session: String,
        /// The delivery.
        delivery: u64,
        /// The subscriber.
        client: Arc<str>,
        /// Whether it was acked.
        delivered: bool,
    },
    /// Every subscriber of a message settled (barrier: the receipt goes out once this is
    /// stored, so a restart never sends it twice): the payload may go; its publisher,
    /// message id and receipt stay for `expiry` (a tombstone), so a resend after a restart
    /// is answered with the receipt instead of delivered again.
    Done {
        /// The session.
        session: String,
        /// The delivery.
        delivery: u64,
        /// The publisher's client id (the tombstone keeps it: a resend is known by
        /// publisher and message id).
        publisher: Arc<str>,
        /// The encoded `Receipt` frame.
        receipt: Bytes,
        /// How long the tombstone lasts.
        expiry: Duration,
    },
    /// A receipt waits for its offline publisher.
    ReceiptQueued {
        /// The session.
        session: String,
        /// The publisher.
        client: Arc<str>,
        /// The encoded `Receipt` frame.
        receipt: Bytes,
        /// How long it waits at most (the publisher's state expires by then).
        expiry: Duration,
    },
    /// The receipts queued for a publisher were sent (it resumed).
    ReceiptsTaken {
        /// The session.
        session: String,
        /// The publisher.
        client: Arc<str>,
    },
}

impl Record {
    /// Whether the answers of the input that wrote it wait until it is stored.
    pub fn is_barrier(&self) -> bool {
        matches!(
            self,
            Record::Session(_)
                | Record::SessionDropped { .. }
                | Record::Message(_)
                | Record::Done { .. }
        )
    }

    /// The session it belongs to.
    pub fn session(&self) -> &str {
        match self {
            Record::Session(s) => &s.name,
            Record::Client(c) => &c.session,
            Record::Message(m) => &m.session,
            Record::SessionDropped { session }
            | Record::ClientOffline { session, .. }
            | Record::ClientGone { session, .. }
            | Record::Attempt { session, .. }
            | Record::Settled { session, .. }
            | Record::Done { session, .. }
            | Record::ReceiptQueued { session, .. }
            | Record::ReceiptsTaken { session, .. } => session,
        }
    }
}

/// A session as stored: hashed credentials only.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The session name.
    pub name: String,
    /// The password's argon2id hash (PHC string).
    pub password: String,
    /// The secret key's argon2id hash (PHC string).
    pub secret: String,
    /// Every setting.
    pub settings: SessionConfig,
    /// Whether it is suspended.
    pub suspended: bool,
}

/// A resumable client as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    /// The session.
    pub session: String,
    /// The client id.
    pub client: Arc<str>,
    /// The SHA-256 digest of what a `Hello` must carry to take up this client id again
    /// (its resume token, which is never stored).
    pub token_sha256: [u8; 32],
    /// Its display name.
    pub display_name: String,
    /// Its subscriptions, with their presence flag.
    pub subscriptions: Vec<(String, bool)>,
}

/// A QoS 1 message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// The session.
    pub session: String,
    /// Its delivery id (unique in the session, increasing).
    pub delivery: u64,
    /// The publisher's client id.
    pub publisher: Arc<str>,
    /// The publisher's message id.
    pub message_id: u64,
    /// The topic.
    pub topic: String,
    /// The first attempt's `Deliver` frame (the payload is its tail).
    pub frame: Bytes,
    /// Bytes of the payload at the end of `frame`.
    pub payload_len: usize,
    /// The subscribers it was routed to.
    pub targets: Vec<Arc<str>>,
    /// How long it lives.
    pub expiry: Duration,
    /// The session's next delivery id after this one: stored with each message so that a
    /// restarted broker never hands out an id a subscriber has seen.
    pub next_delivery: u64,
}

/// A session as a restarted broker gets it back (see [`Broker::restore_session`]).
#[derive(Debug, Clone, Default)]
pub struct RestoredSession {
    /// The session's name.
    pub name: String,
    /// The stored session; `None` to keep the one the broker has (from its configuration)
    /// and restore only its clients and messages.
    pub session: Option<SessionRecord>,
    /// The next delivery id; `0` if none was stored.
    pub next_delivery: u64,
    /// Resumable clients, all offline now.
    pub clients: Vec<RestoredClient>,
    /// Cached messages, in any order.
    pub messages: Vec<RestoredMessage>,
    /// Settled messages whose tombstone has not expired: their ids stay known.
    pub tombstones: Vec<Tombstone>,
}

/// A resumable client as restored.
#[derive(Debug, Clone)]
pub struct RestoredClient {
    /// Its stored state. It is offline from the restore on, for the session's expiry.
    pub record: ClientRecord,
    /// Receipts waiting for it, oldest first.
    pub receipts: Vec<Bytes>,
}

/// A cached message as restored.
#[derive(Debug, Clone)]
pub struct RestoredMessage {
    /// The stored message.
    pub record: MessageRecord,
    /// Time left until it expires.
    pub remaining: Duration,
    /// The subscribers that still owe an ack, with the attempts they had.
    pub waiting: Vec<(Arc<str>, u32)>,
    /// Subscribers that acked.
    pub delivered: u32,
    /// Subscribers that failed.
    pub failed: u32,
}

/// A settled message's id and receipt, remembered after a restart.
#[derive(Debug, Clone)]
pub struct Tombstone {
    /// The publisher.
    pub publisher: Arc<str>,
    /// Its message id.
    pub message_id: u64,
    /// The receipt it got.
    pub receipt: Option<Receipt>,
}

/// The broker's side of the journal.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub(crate) enabled: bool,
    records: Vec<Record>,
    /// Records pushed so far (the sequence number of the next one).
    pushed: u64,
    /// Every record before this one is stored.
    stored: u64,
    /// Outputs waiting until every record before their number is stored.
    held: VecDeque<(u64, Output)>,
    /// Barriers pushed so far, plus inputs that must wait for earlier ones.
    barriers: u64,
    /// Whether the last write failed (and none succeeded since).
    pub(crate) failing: bool,
    /// Lazy records dropped while writes failed.
    pub(crate) dropped: u64,
    /// `Done` records of messages a restore found settled, journaled once it is over.
    settled_at_restore: Vec<Record>,
    /// Subscribers whose held deliveries wait for a message's record: sent once a write
    /// is stored.
    wake: Vec<(SessionId, ClientKey)>,
}

impl Journal {
    pub(crate) fn new(enabled: bool) -> Journal {
        Journal {
            enabled,
            ..Journal::default()
        }
    }

    /// Records pushed and not known to be stored.
    pub(crate) fn unstored(&self) -> u64 {
        self.pushed - self.stored
    }

    /// Answers held for records not stored yet.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }
}

impl Journal {
    /// Whether barriers are waiting to be stored.
    pub(crate) fn unstored_barriers(&self) -> bool {
        !self.held.is_empty()
    }
}

impl Broker {
    /// Whether this broker journals (see [`journal`](self)).
    pub fn is_durable(&self) -> bool {
        self.journal.enabled
    }

    /// Moves the records not taken yet into `out`, in order, and returns the number to
    /// hand to [`Broker::handle_stored`] once they (and every record taken before) are
    /// stored. Records must be stored in the order taken.
    pub fn take_records(&mut self, out: &mut Vec<Record>) -> u64 {
        out.append(&mut self.journal.records);
        self.journal.pushed
    }

    /// Every record up to `upto` (from [`Broker::take_records`]) is stored: the answers
    /// held for them go out.
    pub fn handle_stored(&mut self, now: Instant, upto: u64) {
        self.journal.failing = false;
        self.journal.stored = self.journal.stored.max(upto);
        self.release_held();
        for (id, client) in std::mem::take(&mut self.journal.wake) {
            if let Some(conn) = self.conn_of(id, client) {
                if self.refill(now, id, client, conn) {
                    self.handle_congested(conn);
                }
            }
        }
    }

    /// A subscriber's held deliveries wait for a record: refill it once a write is stored.
    pub(crate) fn journal_wake(&mut self, id: SessionId, client: ClientKey) {
        if !self.journal.wake.contains(&(id, client)) {
            self.journal.wake.push((id, client));
        }
    }

    /// Queues the held answers whose records are all stored, in order.
    fn release_held(&mut self) {
        while let Some(&(seq, _)) = self.journal.held.front() {
            if seq > self.journal.stored {
                break;
            }
            if let Some((_, output)) = self.journal.held.pop_front() {
                self.outputs.push_back(output);
            }
        }
    }

    /// A write of records failed; the driver tries them again. Until one succeeds, QoS 1
    /// publishes are refused `storage_unavailable`.
    pub fn handle_store_failed(&mut self, _now: Instant) {
        if !self.journal.failing {
            self.metrics.store_failures += 1;
        }
        self.journal.failing = true;
    }

    /// Records `record` (a no-op for a broker that does not journal).
    pub(crate) fn journal(&mut self, record: Record) {
        let j = &mut self.journal;
        if !j.enabled {
            return;
        }
        if record.is_barrier() {
            j.barriers += 1;
        } else if j.failing && j.records.len() >= MAX_UNSTORED {
            j.dropped += 1;
            self.metrics.records_dropped += 1;
            return;
        }
        j.records.push(record);
        j.pushed += 1;
    }

    /// Makes the current input wait for the barriers before it, without a record of its
    /// own (a resent publish whose original is not stored yet is acked only after it is).
    pub(crate) fn wait_for_barriers(&mut self) {
        if self.journal.enabled && self.journal.unstored_barriers() {
            self.journal.barriers += 1;
        }
    }

    /// Where an input starts: the outputs queued and the barriers pushed so far.
    pub(crate) fn input_mark(&self) -> (usize, u64) {
        (self.outputs.len(), self.journal.barriers)
    }

    /// Where an input ends: if it pushed a barrier, its outputs wait until the records
    /// pushed so far are stored.
    pub(crate) fn input_done(&mut self, (outputs, barriers): (usize, u64)) {
        if self.journal.barriers == barriers || outputs > self.outputs.len() {
            return;
        }
        let seq = self.journal.pushed;
        let held = self.outputs.drain(outputs..);
        self.journal.held.extend(held.map(|o| (seq, o)));
        if seq <= self.journal.stored {
            // Stored already (a barrier without a record): nothing to wait for.
            self.release_held();
        }
    }

    /// A session's whole state as a record.
    pub(crate) fn session_record(&self, id: SessionId) -> Option<Record> {
        let s = self.sessions.get(&id)?;
        Some(Record::Session(Box::new(SessionRecord {
            name: s.name.clone(),
            password: s.password.as_phc().to_owned(),
            secret: s.secret.as_phc().to_owned(),
            settings: s.settings.to_config(),
            suspended: s.suspended,
        })))
    }

    /// Journals a session's whole state.
    pub(crate) fn journal_session(&mut self, id: SessionId) {
        if self.journal.enabled {
            if let Some(record) = self.session_record(id) {
                self.journal(record);
            }
        }
    }

    /// Journals that `client` settled `delivery`.
    pub(crate) fn journal_settled(
        &mut self,
        id: SessionId,
        client: &Arc<str>,
        delivery: u64,
        delivered: bool,
    ) {
        if !self.journal.enabled {
            return;
        }
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let record = Record::Settled {
            session: session.name.clone(),
            delivery,
            client: client.clone(),
            delivered,
        };
        self.journal(record);
    }

    /// Journals `client`'s settling of `delivery`, by key.
    pub(crate) fn journal_settled_key(
        &mut self,
        id: SessionId,
        client: ClientKey,
        delivery: u64,
        delivered: bool,
    ) {
        if !self.journal.enabled {
            return;
        }
        let Some(cid) = self
            .sessions
            .get(&id)
            .and_then(|s| s.clients.get(client))
            .map(|c| c.id.clone())
        else {
            return;
        };
        self.journal_settled(id, &cid, delivery, delivered);
    }

    /// Journals a new attempt of a delivery.
    pub(crate) fn journal_attempt(
        &mut self,
        id: SessionId,
        client: ClientKey,
        delivery: u64,
        attempt: u32,
    ) {
        if !self.journal.enabled {
            return;
        }
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(c) = session.clients.get(client) else {
            return;
        };
        let record = Record::Attempt {
            session: session.name.clone(),
            delivery,
            client: c.id.clone(),
            attempt,
        };
        self.journal(record);
    }

    /// Journals a message just cached (a barrier).
    pub(crate) fn journal_message(&mut self, id: SessionId, delivery: u64) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(m) = session.messages.get(&delivery) else {
            return;
        };
        let targets = m
            .targets
            .as_slice()
            .iter()
            .filter_map(|&k| session.clients.get(k).map(|c| c.id.clone()))
            .collect();
        let record = MessageRecord {
            session: session.name.clone(),
            delivery,
            publisher: m.publisher.clone(),
            message_id: m.message_id,
            topic: m.topic.as_str().to_owned(),
            frame: m.first.clone(),
            payload_len: m.payload_len,
            targets,
            expiry: session.settings.expiry,
            next_delivery: session.next_delivery,
        };
        self.journal(Record::Message(Box::new(record)));
        let stored_at = self.journal.pushed;
        if let Some(m) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.messages.get_mut(&delivery))
        {
            m.stored_at = stored_at;
        }
    }

    /// Every journal record before this number is stored: a message whose `stored_at` is
    /// beyond it may not be sent (or a crash could lose a message a subscriber saw, and its
    /// delivery id be handed out again).
    pub(crate) fn journal_stored(&self) -> u64 {
        self.journal.stored
    }

    /// Journals a resumable client's state.
    pub(crate) fn journal_client(&mut self, id: SessionId, client: ClientKey) {
        if !self.journal.enabled {
            return;
        }
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(state) = session.clients.get(client).filter(|c| c.resume) else {
            return;
        };
        let Some(token_sha256) = state.token else {
            return;
        };
        let record = ClientRecord {
            session: session.name.clone(),
            client: state.id.clone(),
            token_sha256,
            display_name: state.display_name.clone(),
            subscriptions: state.subs.iter().map(|(f, p)| (f.clone(), *p)).collect(),
        };
        self.journal(Record::Client(Box::new(record)));
    }

    /// Gives a restarted broker a session back as it was stored: creates it (unless the
    /// broker has it already, from its configuration), then its resumable clients (all
    /// offline, each until its state expires), their subscriptions, the cached messages
    /// with the subscribers that still owe an ack (sent again when they resume), receipts
    /// waiting for their publishers, and the message ids already taken (a resend is
    /// answered, not delivered again).
    ///
    /// Nothing restored is journaled again. Messages whose subscriber has no state left
    /// count as dropped for it, as they would have had it disconnected cleanly.
    pub fn restore_session(
        &mut self,
        now: Instant,
        restored: RestoredSession,
    ) -> Result<(), (ErrorCode, String)> {
        let enabled = std::mem::replace(&mut self.journal.enabled, false);
        let result = self.restore_inner(now, restored);
        self.journal.enabled = enabled;
        // Messages that had nobody left to wait for were settled by the restore: stored
        // as such now, so the next restart does not settle them again.
        for record in std::mem::take(&mut self.journal.settled_at_restore) {
            self.journal(record);
        }
        result
    }

    fn restore_inner(
        &mut self,
        now: Instant,
        restored: RestoredSession,
    ) -> Result<(), (ErrorCode, String)> {
        let RestoredSession {
            name,
            session,
            next_delivery,
            clients,
            mut messages,
            tombstones,
        } = restored;
        if let Some(record) = session.filter(|_| !self.session_ids.contains_key(&name)) {
            let hash = |phc: &str| {
                SecretHash::from_phc(phc).map_err(|e| {
                    let message = format!("session `{name}`: stored hash: {e}");
                    (ErrorCode::INVALID_CONFIG, message)
                })
            };
            let mut settings = SessionSettings::default();
            settings
                .apply(&record.settings)
                .map_err(|m| (ErrorCode::INVALID_CONFIG, format!("session `{name}`: {m}")))?;
            self.create_session(
                &name,
                hash(&record.password)?,
                hash(&record.secret)?,
                settings,
            )?;
            if let Some(s) = self
                .session_ids
                .get(&name)
                .and_then(|id| self.sessions.get_mut(id))
            {
                s.suspended = record.suspended;
            }
        }
        let Some(&id) = self.session_ids.get(&name) else {
            let message = format!("session `{name}` was not stored and is not configured");
            return Err((ErrorCode::UNKNOWN_SESSION, message));
        };
        if let Some(s) = self.sessions.get_mut(&id) {
            s.next_delivery = s.next_delivery.max(next_delivery);
        }
        for client in clients {
            self.restore_client(now, id, client);
        }
        messages.sort_by_key(|m| m.record.delivery);
        for m in &messages {
            self.restore_message(now, id, m);
        }
        self.arm_expiry(id);
        self.restore_tombstones(now, id, tombstones);
        Ok(())
    }

    fn restore_client(&mut self, now: Instant, id: SessionId, restored: RestoredClient) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let expiry = session.settings.expiry;
        let record = restored.record;
        let key = session.clients.get_or_insert(&record.client);
        let Some(state) = session.clients.get_mut(key) else {
            return;
        };
        state.resume = true;
        state.token = Some(record.token_sha256);
        state.display_name = record.display_name;
        state.offline_since = Some(now);
        state.receipts.extend(restored.receipts);
        for (filter, presence) in record.subscriptions {
            let Ok(parsed) = TopicFilter::new(&filter) else {
                continue;
            };
            state.subs.insert(filter, presence);
            session.topics.add(&parsed, key, presence);
        }
        self.timers.set(
            now + expiry,
            Timer::Offline {
                session: id,
                client: key,
            },
        );
    }

    fn restore_message(&mut self, now: Instant, id: SessionId, m: &RestoredMessage) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let record = &m.record;
        let Ok(topic) = Topic::new(record.topic.clone()) else {
            return;
        };
        let settings = session.settings;
        let delivery = record.delivery;
        session.next_delivery = session.next_delivery.max(record.next_delivery);
        session.next_delivery = session.next_delivery.max(delivery + 1);
        let publisher_key = session.clients.key(&record.publisher);
        let mut targets = Vec::with_capacity(m.waiting.len());
        let mut failed = m.failed;
        let retry_at = now + settings.retry_interval;
        for (client, attempt) in &m.waiting {
            let Some(key) = session.clients.key(client) else {
                failed += 1;
                continue;
            };
            let Some(state) = session.clients.get_mut(key) else {
                failed += 1;
                continue;
            };
            state.pending.insert(
                delivery,
                PendingDelivery {
                    attempt: (*attempt).max(1),
                    retry_at,
                    held: true,
                },
            );
            state.held_from = state.held_from.min(delivery);
            targets.push(key);
        }
        let expires_at = now + m.remaining;
        let seen = session.seen.entry(record.publisher.clone()).or_default();
        seen.insert(now, record.message_id, settings.expiry);
        if targets.is_empty() {
            // Nobody left to deliver to: settled now, its receipt to its publisher.
            let receipt = Receipt {
                message_id: record.message_id,
                status: if failed > 0 {
                    fastport_proto::codec::ReceiptStatus::Dropped
                } else {
                    fastport_proto::codec::ReceiptStatus::Delivered
                },
                delivered: m.delivered,
                failed,
            };
            let publisher = record.publisher.clone();
            let key = publisher_key.unwrap_or(ClientKey::NONE);
            self.journal.settled_at_restore.push(Record::Done {
                session: record.session.clone(),
                delivery,
                publisher: publisher.clone(),
                receipt: Frame::Receipt(receipt).encode(),
                expiry: m.remaining,
            });
            self.send_receipt(id, (key, &publisher), receipt);
            return;
        }
        for &key in &targets {
            self.timers.set(
                retry_at,
                Timer::Retry {
                    session: id,
                    client: key,
                    delivery,
                },
            );
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let cached = Cached {
            topic,
            publisher: record.publisher.clone(),
            publisher_key: publisher_key.unwrap_or(ClientKey::NONE),
            message_id: record.message_id,
            first: record.frame.clone(),
            payload_len: record.payload_len,
            resend: None,
            expires_at,
            waiting: targets.len() as u32,
            targets: Targets::new(&targets),
            delivered: m.delivered,
            failed,
            failure: (failed > 0).then_some(Failure::Dropped),
            stored_at: 0,
        };
        session.messages.insert(delivery, cached);
        session.expiry_queue.push_back((expires_at, delivery));
        if !session.sweep_armed {
            session.sweep_armed = true;
            self.timers
                .set(now + settings.expiry, Timer::SweepSeen { session: id });
        }
        self.count_cached(id, record.payload_len, true);
    }

    fn restore_tombstones(&mut self, now: Instant, id: SessionId, tombstones: Vec<Tombstone>) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let expiry = session.settings.expiry;
        for t in tombstones {
            let seen = session.seen.entry(t.publisher).or_default();
            seen.insert(now, t.message_id, expiry);
            if let Some(receipt) = t.receipt {
                seen.set_receipt(t.message_id, receipt);
            }
        }
        if !session.seen.is_empty() && !session.sweep_armed {
            session.sweep_armed = true;
            self.timers
                .set(now + expiry, Timer::SweepSeen { session: id });
        }
    }

    /// Sorts a restored session's expiry queue and sets its one expiry timer.
    fn arm_expiry(&mut self, id: SessionId) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session
            .expiry_queue
            .make_contiguous()
            .sort_by_key(|&(at, d)| (at, d));
        if let Some(&(at, _)) = session.expiry_queue.front() {
            if !session.expiry_armed {
                session.expiry_armed = true;
                self.timers.set(at, Timer::Expire { session: id });
            }
        }
    }
}

/// The receipt frame a record carries, decoded (for restores).
pub fn decode_receipt(frame: &Bytes) -> Option<Receipt> {
    match Frame::decode(frame.clone()) {
        Ok(Frame::Receipt(r)) => Some(r),
        _ => None,
    }
}
