//! Subscriptions, publishes, deliveries, acks, retries, expiry, receipts and presence.

use std::collections::BTreeSet;

use bytes::Bytes;
use fastport_client_core::codec::{
    Ack, Deliver, ErrorCode, ErrorFrame, Frame, Member, Presence, PresenceKind, Publish, Qos,
    Receipt, ReceiptStatus, SlowConsumerPolicy,
};
use fastport_client_core::time::Instant;
use fastport_client_core::topic::{Topic, TopicFilter};

use super::session::{Cached, Failure, PendingDelivery, SessionId};
use super::timers::Timer;
use super::{Broker, ConnId};

impl Broker {
    pub(crate) fn on_session_frame(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: SessionId,
        client: &str,
        frame: Frame,
    ) {
        match frame {
            Frame::Publish(p) => self.on_publish(now, conn, id, client, p),
            Frame::DeliverAck { delivery_id } => {
                self.settle_delivered(now, id, client, delivery_id)
            }
            Frame::DeliverNack { delivery_id, .. } => {
                self.metrics.nacks += 1;
                self.settle_failed(now, id, client, delivery_id, Failure::Dropped);
            }
            Frame::Subscribe(s) => {
                let code = self.subscribe(id, client, &s.filter, s.presence);
                self.send(
                    conn,
                    &Frame::SubAck(Ack {
                        id: s.request_id,
                        code,
                    }),
                );
                if code.is_ok() && s.presence {
                    self.send_snapshot(conn, id, &s.filter);
                }
            }
            Frame::Unsubscribe(u) => {
                self.unsubscribe(id, client, &u.filter);
                self.send(
                    conn,
                    &Frame::UnsubAck(Ack {
                        id: u.request_id,
                        code: ErrorCode::OK,
                    }),
                );
            }
            Frame::Hello(_) => self.fail(conn, ErrorCode::NOT_AUTHENTICATED, "hello sent twice"),
            other => {
                self.metrics.protocol_errors += 1;
                let message = format!("{} is not a client frame", other.name());
                self.fail(conn, ErrorCode::PROTOCOL_ERROR, &message);
            }
        }
    }

    fn subscribe(
        &mut self,
        id: SessionId,
        client: &str,
        filter: &str,
        presence: bool,
    ) -> ErrorCode {
        let Ok(parsed) = TopicFilter::new(filter) else {
            return ErrorCode::INVALID_FILTER;
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return ErrorCode::UNKNOWN_SESSION;
        };
        let max = session.settings.max_subscriptions as usize;
        let Some(state) = session.clients.get_mut(client) else {
            return ErrorCode::INTERNAL_ERROR;
        };
        if !state.subs.contains_key(filter) && state.subs.len() >= max {
            return ErrorCode::TOO_MANY_SUBSCRIPTIONS;
        }
        state.subs.insert(filter.to_owned(), presence);
        let joined = session.topics.add(&parsed, client, presence);
        if joined {
            self.announce(id, filter, client, PresenceKind::Join);
        }
        ErrorCode::OK
    }

    fn unsubscribe(&mut self, id: SessionId, client: &str, filter: &str) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(state) = session.clients.get_mut(client) {
            state.subs.remove(filter);
        }
        if session.topics.remove(filter, client) {
            self.announce(id, filter, client, PresenceKind::Leave);
        }
    }

    fn on_publish(&mut self, now: Instant, conn: ConnId, id: SessionId, client: &str, p: Publish) {
        let qos1 = p.qos == Qos::AtLeastOnce;
        let refuse = |b: &mut Broker, code: ErrorCode, message: String| {
            let frame = if qos1 {
                Frame::PubAck(Ack {
                    id: p.message_id,
                    code,
                })
            } else {
                Frame::Error(ErrorFrame {
                    code,
                    ref_id: p.message_id,
                    message,
                })
            };
            b.send(conn, &frame);
        };
        let topic = match Topic::new(p.topic.as_str()) {
            Ok(t) if t.is_system() => {
                let message = format!("`{}` is reserved for the server", p.topic);
                return refuse(self, ErrorCode::FORBIDDEN_TOPIC, message);
            }
            Ok(t) => t,
            Err(e) => return refuse(self, ErrorCode::INVALID_TOPIC, e.to_string()),
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let max = session.settings.max_message_size as usize;
        if p.payload.len() > max {
            let message = format!("{} bytes, the session allows {max}", p.payload.len());
            return refuse(self, ErrorCode::MESSAGE_TOO_LARGE, message);
        }
        if !qos1 {
            self.metrics.messages_in += 1;
            return self.fan_out_qos0(id, client, &topic, &p.payload);
        }
        let expiry = session.settings.expiry;
        let seen = session.seen.entry(client.to_owned()).or_default();
        if let Some(receipt) = seen.get(p.message_id).cloned() {
            self.metrics.duplicates += 1;
            self.send(
                conn,
                &Frame::PubAck(Ack {
                    id: p.message_id,
                    code: ErrorCode::OK,
                }),
            );
            if let Some(receipt) = receipt {
                self.send_bytes(conn, receipt);
            }
            return;
        }
        seen.insert(now, p.message_id, expiry);
        if !session.sweep_armed {
            session.sweep_armed = true;
            self.timers
                .set(now + expiry, Timer::SweepSeen { session: id });
        }
        self.metrics.messages_in += 1;
        self.send(
            conn,
            &Frame::PubAck(Ack {
                id: p.message_id,
                code: ErrorCode::OK,
            }),
        );
        self.cache_and_deliver(now, id, client, &topic, p);
    }

    fn fan_out_qos0(&mut self, id: SessionId, client: &str, topic: &Topic, payload: &Bytes) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let frame = Frame::Deliver(Deliver {
            qos: Qos::AtMostOnce,
            delivery_id: 0,
            attempt: 1,
            topic: topic.as_str().to_owned(),
            publisher: client.to_owned(),
            payload: payload.clone(),
        })
        .encode();
        let conns: Vec<ConnId> = session
            .topics
            .targets(topic)
            .iter()
            .filter_map(|t| session.clients.get(t).and_then(|c| c.conn))
            .collect();
        for conn in conns {
            self.metrics.messages_out += 1;
            self.send_bytes(conn, frame.clone());
        }
    }

    fn cache_and_deliver(
        &mut self,
        now: Instant,
        id: SessionId,
        client: &str,
        topic: &Topic,
        p: Publish,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let targets = session.topics.targets(topic);
        if targets.is_empty() {
            let receipt = receipt_frame(p.message_id, ReceiptStatus::NoSubscribers, 0, 0);
            return self.send_receipt(id, client, p.message_id, receipt);
        }
        let delivery = session.next_delivery;
        session.next_delivery += 1;
        let first = Frame::Deliver(Deliver {
            qos: Qos::AtLeastOnce,
            delivery_id: delivery,
            attempt: 1,
            topic: p.topic.clone(),
            publisher: client.to_owned(),
            payload: p.payload.clone(),
        })
        .encode();
        let expires_at = now + session.settings.expiry;
        session.messages.insert(
            delivery,
            Cached {
                topic: p.topic,
                publisher: client.to_owned(),
                message_id: p.message_id,
                payload: p.payload,
                expires_at,
                waiting: targets.clone(),
                delivered: 0,
                failed: 0,
                failure: None,
            },
        );
        self.timers.set(
            expires_at,
            Timer::Expire {
                session: id,
                delivery,
            },
        );
        for target in targets {
            self.deliver_first(now, id, &target, delivery, &first);
        }
    }

    /// Queues a message for one subscriber, applying the slow-consumer policy at the limit.
    fn deliver_first(
        &mut self,
        now: Instant,
        id: SessionId,
        target: &str,
        delivery: u64,
        first: &Bytes,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let settings = session.settings;
        let Some(state) = session.clients.get_mut(target) else {
            return;
        };
        if state.pending.len() >= settings.max_pending as usize {
            match settings.slow_consumer {
                SlowConsumerPolicy::DropOldest => {
                    if let Some((&oldest, _)) = state.pending.iter().next() {
                        self.metrics.dropped += 1;
                        self.settle_failed(now, id, target, oldest, Failure::Dropped);
                    }
                }
                _ => {
                    self.metrics.dropped += 1;
                    self.settle_failed(now, id, target, delivery, Failure::Dropped);
                    let conn = self.conn_of(id, target);
                    if let Some(conn) = conn {
                        self.metrics.slow_consumer_disconnects += 1;
                        let message = format!("{} deliveries unacked", settings.max_pending);
                        self.close_conn(now, conn, ErrorCode::SLOW_CONSUMER, &message);
                    }
                    return;
                }
            }
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(state) = session.clients.get_mut(target) else {
            return;
        };
        let retry_at = now + settings.retry_interval;
        state.pending.insert(
            delivery,
            PendingDelivery {
                attempt: 1,
                retry_at,
            },
        );
        let conn = state.conn;
        self.timers.set(
            retry_at,
            Timer::Retry {
                session: id,
                client: target.to_owned(),
                delivery,
            },
        );
        if let Some(conn) = conn {
            self.metrics.messages_out += 1;
            self.send_bytes(conn, first.clone());
        }
    }

    pub(crate) fn retry_delivery(
        &mut self,
        now: Instant,
        id: SessionId,
        client: &str,
        delivery: u64,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let settings = session.settings;
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        let Some(pending) = state.pending.get_mut(&delivery) else {
            return;
        };
        if pending.retry_at > now || state.conn.is_none() {
            // Acked and re-sent since, or offline: the resume resends it.
            return;
        }
        if pending.attempt > settings.max_retries {
            self.metrics.retries_exhausted += 1;
            return self.settle_failed(now, id, client, delivery, Failure::Exhausted);
        }
        pending.attempt += 1;
        pending.retry_at = now + settings.retry_interval;
        let (attempt, retry_at) = (pending.attempt, pending.retry_at);
        self.timers.set(
            retry_at,
            Timer::Retry {
                session: id,
                client: client.to_owned(),
                delivery,
            },
        );
        self.resend(id, client, delivery, attempt);
    }

    /// Sends a delivery again with its attempt number.
    fn resend(&mut self, id: SessionId, client: &str, delivery: u64, attempt: u32) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(conn) = session.clients.get(client).and_then(|c| c.conn) else {
            return;
        };
        let Some(m) = session.messages.get(&delivery) else {
            return;
        };
        let frame = Frame::Deliver(Deliver {
            qos: Qos::AtLeastOnce,
            delivery_id: delivery,
            attempt,
            topic: m.topic.clone(),
            publisher: m.publisher.clone(),
            payload: m.payload.clone(),
        });
        self.metrics.retries += 1;
        self.metrics.messages_out += 1;
        self.send(conn, &frame);
    }

    /// A resumed client gets its pending deliveries again, its queued receipts, and its
    /// presence announced.
    pub(crate) fn resume_client(&mut self, now: Instant, id: SessionId, client: &str) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let retry_interval = session.settings.retry_interval;
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        let receipts: Vec<Bytes> = state.receipts.drain(..).collect();
        let mut resends = Vec::new();
        for (delivery, pending) in state.pending.iter_mut() {
            pending.attempt += 1;
            pending.retry_at = now + retry_interval;
            resends.push((*delivery, pending.attempt, pending.retry_at));
        }
        let conn = state.conn;
        for (delivery, attempt, retry_at) in resends {
            self.timers.set(
                retry_at,
                Timer::Retry {
                    session: id,
                    client: client.to_owned(),
                    delivery,
                },
            );
            self.resend(id, client, delivery, attempt);
        }
        if let Some(conn) = conn {
            for receipt in receipts {
                self.send_bytes(conn, receipt);
            }
        }
        self.announce_all(id, client, true);
    }

    pub(crate) fn expire_message(&mut self, now: Instant, id: SessionId, delivery: u64) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(m) = session.messages.get(&delivery) else {
            return;
        };
        if m.expires_at > now {
            return;
        }
        self.metrics.expired += 1;
        let waiting: Vec<String> = m.waiting.iter().cloned().collect();
        for client in waiting {
            self.settle_failed(now, id, &client, delivery, Failure::Expired);
        }
    }

    fn settle_delivered(&mut self, now: Instant, id: SessionId, client: &str, delivery: u64) {
        self.settle(now, id, client, delivery, None);
    }

    pub(crate) fn settle_failed(
        &mut self,
        now: Instant,
        id: SessionId,
        client: &str,
        delivery: u64,
        why: Failure,
    ) {
        self.settle(now, id, client, delivery, Some(why));
    }

    /// One subscriber is done with a message; the last one completes it with a receipt.
    fn settle(
        &mut self,
        _now: Instant,
        id: SessionId,
        client: &str,
        delivery: u64,
        failure: Option<Failure>,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(state) = session.clients.get_mut(client) {
            state.pending.remove(&delivery);
        }
        let Some(m) = session.messages.get_mut(&delivery) else {
            return;
        };
        if !m.waiting.remove(client) {
            return;
        }
        match failure {
            None => m.delivered += 1,
            Some(why) => {
                m.failed += 1;
                m.failure = Some(m.failure.map_or(why, |f| f.min(why)));
            }
        }
        if !m.waiting.is_empty() {
            return;
        }
        let Some(m) = session.messages.remove(&delivery) else {
            return;
        };
        let status = match m.failure {
            None => ReceiptStatus::Delivered,
            Some(Failure::Expired) => ReceiptStatus::Expired,
            Some(Failure::Exhausted) => ReceiptStatus::RetriesExhausted,
            Some(Failure::Dropped) => ReceiptStatus::Dropped,
        };
        let receipt = receipt_frame(m.message_id, status, m.delivered, m.failed);
        self.send_receipt(id, &m.publisher, m.message_id, receipt);
    }

    /// Sends a receipt to its publisher: now if connected, on resume if it may come back,
    /// and again if it resends the publish.
    fn send_receipt(&mut self, id: SessionId, publisher: &str, message_id: u64, receipt: Frame) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let bytes = receipt.encode();
        if let Some(seen) = session.seen.get_mut(publisher) {
            seen.set_receipt(message_id, bytes.clone());
        }
        let max = session.settings.max_pending as usize;
        let Some(state) = session.clients.get_mut(publisher) else {
            return;
        };
        match state.conn {
            Some(conn) => self.send_bytes(conn, bytes),
            None if state.resume && state.receipts.len() < max => state.receipts.push_back(bytes),
            None => {}
        }
    }

    fn conn_of(&self, id: SessionId, client: &str) -> Option<ConnId> {
        self.sessions.get(&id)?.clients.get(client)?.conn
    }

    // ----- presence ----------------------------------------------------------------

    fn send_snapshot(&mut self, conn: ConnId, id: SessionId, filter: &str) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let members = session.topics.get(filter).map_or_else(Vec::new, |subs| {
            subs.clients
                .keys()
                .filter_map(|c| {
                    let state = session.clients.get(c)?;
                    state.conn?;
                    Some(Member {
                        client_id: c.clone(),
                        display_name: state.display_name.clone(),
                    })
                })
                .collect()
        });
        let frame = Presence {
            filter: filter.to_owned(),
            kind: PresenceKind::Snapshot,
            members,
        };
        self.send(conn, &Frame::Presence(frame));
    }

    /// Tells presence subscribers of `filter` (other than `client`) that it joined or left.
    pub(crate) fn announce(
        &mut self,
        id: SessionId,
        filter: &str,
        client: &str,
        kind: PresenceKind,
    ) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(subs) = session.topics.get(filter) else {
            return;
        };
        let display_name = session
            .clients
            .get(client)
            .map(|c| c.display_name.clone())
            .unwrap_or_default();
        let watchers: BTreeSet<ConnId> = subs
            .clients
            .iter()
            .filter(|(c, presence)| **presence && c.as_str() != client)
            .filter_map(|(c, _)| session.clients.get(c).and_then(|s| s.conn))
            .collect();
        if watchers.is_empty() {
            return;
        }
        let frame = Frame::Presence(Presence {
            filter: filter.to_owned(),
            kind,
            members: vec![Member {
                client_id: client.to_owned(),
                display_name,
            }],
        })
        .encode();
        for conn in watchers {
            self.send_bytes(conn, frame.clone());
        }
    }

    /// Announces a client on every filter it holds (it connected or left).
    pub(crate) fn announce_all(&mut self, id: SessionId, client: &str, joined: bool) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(state) = session.clients.get(client) else {
            return;
        };
        let filters: Vec<String> = state.subs.keys().cloned().collect();
        let kind = if joined {
            PresenceKind::Join
        } else {
            PresenceKind::Leave
        };
        for filter in filters {
            self.announce(id, &filter, client, kind);
        }
    }
}

fn receipt_frame(message_id: u64, status: ReceiptStatus, delivered: u32, failed: u32) -> Frame {
    Frame::Receipt(Receipt {
        message_id,
        status,
        delivered,
        failed,
    })
}
