//! An in-memory broker that speaks the protocol: enough of the server's behaviour
//! (handshake, subscriptions, QoS 1 cache with retries, dedup, receipts, resume) to test
//! client cores against it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use fastport_client_core::codec::{
    Ack, Deliver, ErrorCode, ErrorFrame, Frame, Hello, Publish, Qos, Receipt, ReceiptStatus,
    SessionConfig, SlowConsumerPolicy, Welcome,
};
use fastport_client_core::time::Instant;
use fastport_client_core::topic::{Topic, TopicFilter};

use crate::sim::ConnId;

/// What a broker wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// A binary message.
    Frame(Bytes),
    /// Close the connection with this code.
    Close(u16),
}

/// A broker the simulation can run: the stand-in below, or the real server's core.
pub trait SimBroker {
    /// A connection opened.
    fn on_open(&mut self, now: Instant, conn: ConnId);
    /// A message arrived on a connection.
    fn on_frame(&mut self, now: Instant, conn: ConnId, bytes: Bytes);
    /// A connection closed.
    fn on_close(&mut self, now: Instant, conn: ConnId);
    /// Everything to send, in order.
    fn drain(&mut self) -> Vec<(ConnId, Out)>;
    /// When to call `on_timeout` next.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// The timer fired.
    fn on_timeout(&mut self, now: Instant);
}

impl SimBroker for FakeBroker {
    fn on_open(&mut self, _now: Instant, conn: ConnId) {
        self.open(conn);
    }
    fn on_frame(&mut self, now: Instant, conn: ConnId, bytes: Bytes) {
        self.frame(now, conn, bytes);
    }
    fn on_close(&mut self, _now: Instant, conn: ConnId) {
        self.close(conn);
    }
    fn drain(&mut self) -> Vec<(ConnId, Out)> {
        std::mem::take(&mut self.out)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_timeout()
    }
    fn on_timeout(&mut self, now: Instant) {
        self.timeout(now);
    }
}

/// Counters the scenarios assert on.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BrokerStats {
    /// Publish frames received, resends included.
    pub publishes: u64,
    /// Resent publishes recognised and not delivered again.
    pub duplicate_publishes: u64,
    /// Deliver frames sent, resends included.
    pub deliveries: u64,
    /// Hello frames accepted.
    pub welcomes: u64,
}

/// The stand-in broker. One session per name; each with its password.
#[derive(Debug)]
pub struct FakeBroker {
    sessions: BTreeMap<String, Session>,
    conns: BTreeMap<ConnId, Option<(String, String)>>,
    next_delivery: u64,
    out: Vec<(ConnId, Out)>,
    /// Resend interval of unacked deliveries.
    pub retry_interval: Duration,
    /// Resends after the first attempt.
    pub max_retries: u32,
    /// Counters.
    pub stats: BrokerStats,
}

#[derive(Debug)]
struct Session {
    password: String,
    clients: BTreeMap<String, ClientState>,
    messages: BTreeMap<u64, Cached>,
    /// QoS 1 message ids seen per client id, with the receipt once there is one. Kept
    /// across clean reconnects: a client resends unacked publishes on its next connection
    /// whether or not it resumes, and a resend after the message settled gets the
    /// receipt again (the first may have found the publisher offline).
    seen: BTreeMap<String, BTreeMap<u64, Option<Frame>>>,
}

#[derive(Debug, Default)]
struct ClientState {
    conn: Option<ConnId>,
    resume: bool,
    subs: BTreeMap<String, TopicFilter>,
    pending: BTreeMap<u64, (u32, Instant)>,
}

#[derive(Debug)]
struct Cached {
    topic: String,
    publisher: String,
    message_id: u64,
    payload: Bytes,
    waiting: BTreeSet<String>,
    delivered: u32,
    failed: u32,
}

impl FakeBroker {
    /// A broker with one session `session` / `password`.
    pub fn new(session: &str, password: &str) -> Self {
        let mut sessions = BTreeMap::new();
        sessions.insert(
            session.to_owned(),
            Session {
                password: password.into(),
                clients: BTreeMap::new(),
                messages: BTreeMap::new(),
                seen: BTreeMap::new(),
            },
        );
        FakeBroker {
            sessions,
            conns: BTreeMap::new(),
            next_delivery: 1,
            out: Vec::new(),
            retry_interval: Duration::from_secs(2),
            max_retries: 5,
            stats: BrokerStats::default(),
        }
    }

    /// Subscribers currently holding unacked deliveries, summed over clients.
    pub fn pending_deliveries(&self) -> usize {
        self.sessions
            .values()
            .flat_map(|s| s.clients.values())
            .map(|c| c.pending.len())
            .sum()
    }

    fn open(&mut self, conn: ConnId) {
        self.conns.insert(conn, None);
    }

    fn close(&mut self, conn: ConnId) {
        let Some(Some((session, client))) = self.conns.remove(&conn) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let Some(c) = s.clients.get_mut(&client) else {
            return;
        };
        if c.conn != Some(conn) {
            return;
        }
        c.conn = None;
        if !c.resume {
            let pending: Vec<u64> = c.pending.keys().copied().collect();
            s.clients.remove(&client);
            for id in pending {
                self.settle_delivery(&session, &client, id, false);
            }
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .flat_map(|s| s.clients.values())
            .filter(|c| c.conn.is_some())
            .flat_map(|c| c.pending.values().map(|(_, at)| *at))
            .min()
    }

    fn timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (name, s) in &self.sessions {
            for (id, c) in &s.clients {
                if c.conn.is_none() {
                    continue;
                }
                for (delivery, (attempt, at)) in &c.pending {
                    if *at <= now {
                        due.push((name.clone(), id.clone(), *delivery, *attempt));
                    }
                }
            }
        }
        for (session, client, delivery, attempt) in due {
            if attempt > self.max_retries {
                self.settle_delivery(&session, &client, delivery, false);
            } else {
                self.send_delivery(now, &session, &client, delivery, attempt + 1);
            }
        }
    }

    fn frame(&mut self, now: Instant, conn: ConnId, bytes: Bytes) {
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => return self.fail(conn, e.code(), &e.to_string()),
        };
        let who = match self.conns.get(&conn) {
            Some(Some(who)) => who.clone(),
            Some(None) => match frame {
                Frame::Hello(h) => return self.on_hello(now, conn, h),
                _ => return self.fail(conn, ErrorCode::NOT_AUTHENTICATED, "hello first"),
            },
            None => return,
        };
        let (session, client) = who;
        match frame {
            Frame::Subscribe(s) => {
                let code = match TopicFilter::new(s.filter.clone()) {
                    Ok(f) => {
                        self.client(&session, &client).subs.insert(s.filter, f);
                        ErrorCode::OK
                    }
                    Err(_) => ErrorCode::INVALID_FILTER,
                };
                self.send(
                    conn,
                    &Frame::SubAck(Ack {
                        id: s.request_id,
                        code,
                    }),
                );
            }
            Frame::Unsubscribe(u) => {
                self.client(&session, &client).subs.remove(&u.filter);
                self.send(
                    conn,
                    &Frame::UnsubAck(Ack {
                        id: u.request_id,
                        code: ErrorCode::OK,
                    }),
                );
            }
            Frame::Publish(p) => self.on_publish(now, conn, &session, &client, p),
            Frame::DeliverAck { delivery_id } => {
                self.settle_delivery(&session, &client, delivery_id, true)
            }
            Frame::DeliverNack { delivery_id, .. } => {
                self.settle_delivery(&session, &client, delivery_id, false)
            }
            Frame::Ping { nonce } => self.send(conn, &Frame::Pong { nonce }),
            Frame::Pong { .. } => {}
            other => self.fail(conn, ErrorCode::PROTOCOL_ERROR, other.name()),
        }
    }

    fn on_hello(&mut self, now: Instant, conn: ConnId, h: Hello) {
        let Some(s) = self.sessions.get_mut(&h.session) else {
            return self.fail(conn, ErrorCode::UNKNOWN_SESSION, "no such session");
        };
        if s.password != h.password {
            return self.fail(conn, ErrorCode::BAD_CREDENTIALS, "wrong password");
        }
        let present = h.resume && s.clients.contains_key(&h.client_id);
        if !present {
            s.clients
                .insert(h.client_id.clone(), ClientState::default());
        }
        let c = s.clients.get_mut(&h.client_id).expect("inserted above");
        let old = c.conn.replace(conn);
        c.resume = h.resume;
        let pending: Vec<(u64, u32)> = c.pending.iter().map(|(d, (a, _))| (*d, *a)).collect();
        if let Some(old) = old {
            self.conns.insert(old, None);
            self.fail(old, ErrorCode::CLIENT_ID_TAKEN_OVER, "taken over");
        }
        self.conns
            .insert(conn, Some((h.session.clone(), h.client_id.clone())));
        self.stats.welcomes += 1;
        let config = SessionConfig {
            retry_interval_ms: Some(self.retry_interval.as_millis() as u64),
            max_retries: Some(self.max_retries),
            expiry_ms: Some(60_000),
            max_message_size: Some(64 * 1024),
            max_connections: Some(100),
            max_subscriptions: Some(100),
            max_pending: Some(1_000),
            slow_consumer_policy: Some(SlowConsumerPolicy::Disconnect),
        };
        self.send(
            conn,
            &Frame::Welcome(Welcome {
                session_present: present,
                client_id: h.client_id.clone(),
                keepalive_ms: h.keepalive_ms,
                config,
            }),
        );
        for (delivery, attempt) in pending {
            self.send_delivery(now, &h.session, &h.client_id, delivery, attempt + 1);
        }
    }

    fn on_publish(&mut self, now: Instant, conn: ConnId, session: &str, client: &str, p: Publish) {
        self.stats.publishes += 1;
        if Topic::new(p.topic.clone()).is_err() {
            let ack = Ack {
                id: p.message_id,
                code: ErrorCode::INVALID_TOPIC,
            };
            return self.send(conn, &Frame::PubAck(ack));
        }
        if p.qos == Qos::AtLeastOnce {
            let s = self
                .sessions
                .get_mut(session)
                .expect("connection's session exists");
            let seen = s.seen.entry(client.to_owned()).or_default();
            if let Some(receipt) = seen.get(&p.message_id).cloned() {
                self.stats.duplicate_publishes += 1;
                let ack = Ack {
                    id: p.message_id,
                    code: ErrorCode::OK,
                };
                self.send(conn, &Frame::PubAck(ack));
                if let Some(receipt) = receipt {
                    self.send(conn, &receipt);
                }
                return;
            }
            seen.insert(p.message_id, None);
            self.send(
                conn,
                &Frame::PubAck(Ack {
                    id: p.message_id,
                    code: ErrorCode::OK,
                }),
            );
        }
        let topic = Topic::new(p.topic.clone()).expect("checked above");
        let s = self
            .sessions
            .get_mut(session)
            .expect("connection's session exists");
        let targets: Vec<String> = s
            .clients
            .iter()
            .filter(|(_, c)| c.subs.values().any(|f| f.matches(&topic)))
            .map(|(id, _)| id.clone())
            .collect();
        if p.qos == Qos::AtMostOnce {
            for target in targets {
                let Some(conn) = s.clients[&target].conn else {
                    continue;
                };
                let frame = deliver_frame(Qos::AtMostOnce, 0, 1, &p.topic, client, &p.payload);
                self.out.push((conn, Out::Frame(frame.encode())));
                self.stats.deliveries += 1;
            }
            return;
        }
        if targets.is_empty() {
            let r = receipt(p.message_id, ReceiptStatus::NoSubscribers, 0, 0);
            return self.send(conn, &r);
        }
        let delivery = self.next_delivery;
        self.next_delivery += 1;
        s.messages.insert(
            delivery,
            Cached {
                topic: p.topic,
                publisher: client.to_owned(),
                message_id: p.message_id,
                payload: p.payload,
                waiting: targets.iter().cloned().collect(),
                delivered: 0,
                failed: 0,
            },
        );
        for target in targets {
            self.send_delivery(now, session, &target, delivery, 1);
        }
    }

    fn send_delivery(&mut self, now: Instant, session: &str, client: &str, id: u64, attempt: u32) {
        let retry_at = now + self.retry_interval;
        let s = self.sessions.get_mut(session).expect("session exists");
        let Some(m) = s.messages.get(&id) else { return };
        let frame = deliver_frame(
            Qos::AtLeastOnce,
            id,
            attempt,
            &m.topic,
            &m.publisher,
            &m.payload,
        );
        let Some(c) = s.clients.get_mut(client) else {
            return;
        };
        c.pending.insert(id, (attempt, retry_at));
        if let Some(conn) = c.conn {
            self.out.push((conn, Out::Frame(frame.encode())));
            self.stats.deliveries += 1;
        }
    }

    fn settle_delivery(&mut self, session: &str, client: &str, id: u64, ok: bool) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        if let Some(c) = s.clients.get_mut(client) {
            if c.pending.remove(&id).is_none() {
                return;
            }
        }
        let Some(m) = s.messages.get_mut(&id) else {
            return;
        };
        if !m.waiting.remove(client) {
            return;
        }
        if ok {
            m.delivered += 1;
        } else {
            m.failed += 1;
        }
        if !m.waiting.is_empty() {
            return;
        }
        let Some(m) = s.messages.remove(&id) else {
            return;
        };
        let status = if m.failed == 0 {
            ReceiptStatus::Delivered
        } else {
            ReceiptStatus::RetriesExhausted
        };
        let frame = receipt(m.message_id, status, m.delivered, m.failed);
        if let Some(slot) = s
            .seen
            .get_mut(&m.publisher)
            .and_then(|seen| seen.get_mut(&m.message_id))
        {
            *slot = Some(frame.clone());
        }
        let publisher_conn = s.clients.get(&m.publisher).and_then(|c| c.conn);
        if let Some(conn) = publisher_conn {
            self.out.push((conn, Out::Frame(frame.encode())));
        }
    }

    fn client(&mut self, session: &str, client: &str) -> &mut ClientState {
        let s = self
            .sessions
            .get_mut(session)
            .expect("connection's session exists");
        s.clients.entry(client.to_owned()).or_default()
    }

    fn send(&mut self, conn: ConnId, frame: &Frame) {
        self.out.push((conn, Out::Frame(frame.encode())));
    }

    fn fail(&mut self, conn: ConnId, code: ErrorCode, message: &str) {
        let frame = Frame::Error(ErrorFrame {
            code,
            ref_id: 0,
            message: message.into(),
        });
        self.send(conn, &frame);
        self.out.push((conn, Out::Close(code.close_code())));
        self.close(conn);
    }
}

fn deliver_frame(
    qos: Qos,
    id: u64,
    attempt: u32,
    topic: &str,
    from: &str,
    payload: &Bytes,
) -> Frame {
    Frame::Deliver(Deliver {
        qos,
        delivery_id: id,
        attempt,
        topic: topic.to_owned(),
        publisher: from.to_owned(),
        payload: payload.clone(),
    })
}

fn receipt(message_id: u64, status: ReceiptStatus, delivered: u32, failed: u32) -> Frame {
    Frame::Receipt(Receipt {
        message_id,
        status,
        delivered,
        failed,
    })
}
