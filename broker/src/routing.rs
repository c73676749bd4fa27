//! Session frames, subscriptions and publishes: the routing half of the hot path. What
//! becomes of a QoS 1 delivery afterwards (acks, retries, expiry, receipts) is in
//! `delivery.rs`, presence in `presence.rs`.

use std::sync::Arc;

use bytes::Bytes;
use fastport_proto::codec::{
    Ack, ErrorCode, ErrorFrame, Frame, PublishRef, Qos, Receipt, ReceiptStatus,
};
use fastport_proto::time::Instant;
use fastport_proto::topic::{Topic, TopicFilter, TopicRef};

use super::clients::ClientKey;
use super::session::{Cached, Failure, SessionId, Targets};
use super::shrink::shrink_deque;
use super::timers::Timer;
use super::{queue_send, Broker, ConnId};

impl Broker {
    pub(crate) fn on_session_frame(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: SessionId,
        client: ClientKey,
        frame: Frame,
    ) {
        match frame {
            Frame::Publish(p) => self.on_publish(now, conn, id, client, p.as_publish_ref()),
            Frame::DeliverAck { delivery_id } => self.settle(now, id, client, delivery_id, None),
            Frame::DeliverNack { delivery_id, .. } => {
                self.metrics.nacks += 1;
                self.settle(now, id, client, delivery_id, Some(Failure::Dropped));
            }
            Frame::Subscribe(s) => {
                let code = self.subscribe(now, id, client, &s.filter, s.presence);
                if code.is_ok() {
                    self.journal_client(id, client);
                }
                self.send(
                    conn,
                    &Frame::SubAck(Ack {
                        id: s.request_id,
                        code,
                    }),
                );
                if code.is_ok() && s.presence {
                    // At the filter's next flush, after this `SubAck` (`presence.rs`).
                    self.presence_snapshot_owed(now, id, &s.filter, conn);
                }
            }
            Frame::Unsubscribe(u) => {
                self.unsubscribe(now, id, client, &u.filter);
                self.journal_client(id, client);
                self.send(
                    conn,
                    &Frame::UnsubAck(Ack {
                        id: u.request_id,
                        code: ErrorCode::OK,
                    }),
                );
            }
            Frame::Hello(_) => self.fail(conn, ErrorCode::NOT_AUTHENTICATED, "hello sent twice"),
            // Not reached: `decode_from_client` refuses server frames, and ping, pong and
            // admin are handled before a frame gets here. Kept as a protocol error.
            other => {
                self.metrics.protocol_errors += 1;
                let message = format!("unexpected {} from a client", other.name());
                self.fail(conn, ErrorCode::PROTOCOL_ERROR, &message);
            }
        }
    }

    fn subscribe(
        &mut self,
        now: Instant,
        id: SessionId,
        client: ClientKey,
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
            self.presence_changed(now, id, filter, client, true);
        }
        ErrorCode::OK
    }

    fn unsubscribe(&mut self, now: Instant, id: SessionId, client: ClientKey, filter: &str) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(state) = session.clients.get_mut(client) {
            state.subs.remove(filter);
        }
        if session.topics.remove(filter, client) {
            self.presence_changed(now, id, filter, client, false);
        }
    }

    pub(crate) fn on_publish(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: SessionId,
        client: ClientKey,
        p: PublishRef<'_>,
    ) {
        let qos1 = p.qos == Qos::AtLeastOnce;
        let message_id = p.message_id;
        let refuse = |b: &mut Broker, code: ErrorCode, message: String| {
            let frame = if qos1 {
                Frame::PubAck(Ack {
                    id: message_id,
                    code,
                })
            } else {
                Frame::Error(ErrorFrame {
                    code,
                    ref_id: message_id,
                    message,
                })
            };
            b.send(conn, &frame);
            if code == ErrorCode::QUEUE_FULL {
                b.pause_publisher(conn);
            }
        };
        // Validated where it was received (a slice of the message): QoS 0 only looks it up
        // and encodes it, so only a cached QoS 1 message copies it.
        let topic = match TopicRef::new(p.topic) {
            Ok(t) if t.is_system() => {
                let message = format!("`{}` is reserved for the server", t.as_str());
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
            if let Err(message) = self.admit_publish(id, p.payload.len(), p.qos) {
                return refuse(self, ErrorCode::QUEUE_FULL, message);
            }
            self.metrics.messages_in += 1;
            self.publish_taken(conn);
            return self.fan_out_qos0(id, client, topic, &p.payload);
        }
        if self.journal.failing {
            self.metrics.publishes_refused_storage += 1;
            let message = "the server's storage is unreachable: resend later".to_owned();
            return refuse(self, ErrorCode::STORAGE_UNAVAILABLE, message);
        }
        match self.is_duplicate(now, conn, id, client, message_id, p.payload.len()) {
            Admission::New => {}
            Admission::Duplicate => return,
            Admission::Full(message) => return refuse(self, ErrorCode::QUEUE_FULL, message),
        }
        self.metrics.messages_in += 1;
        self.publish_taken(conn);
        self.send(
            conn,
            &Frame::PubAck(Ack {
                id: message_id,
                code: ErrorCode::OK,
            }),
        );
        self.cache_and_deliver(now, id, client, topic.to_topic(), message_id, p.payload);
    }

    /// Answers a resent QoS 1 publish (ack, and the receipt if there is one yet), or
    /// remembers a new message id if its `len` payload bytes fit the budgets.
    fn is_duplicate(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: SessionId,
        client: ClientKey,
        message_id: u64,
        len: usize,
    ) -> Admission {
        let Some(session) = self.sessions.get(&id) else {
            return Admission::Duplicate;
        };
        let Some(publisher) = session.clients.get(client).map(|c| Arc::clone(&c.id)) else {
            return Admission::Duplicate;
        };
        let known = session
            .seen
            .get(&publisher)
            .is_some_and(|seen| seen.get(message_id).is_some());
        if !known {
            if let Err(message) = self.admit_publish(id, len, Qos::AtLeastOnce) {
                return Admission::Full(message);
            }
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            return Admission::Duplicate;
        };
        let expiry = session.settings.expiry;
        // The key is an `Arc` clone: no allocation when the publisher is known already.
        let seen = session.seen.entry(publisher).or_default();
        if let Some(receipt) = seen.get(message_id) {
            self.metrics.duplicates += 1;
            // Its original may not be stored yet: this ack waits for it.
            self.wait_for_barriers();
            self.send(
                conn,
                &Frame::PubAck(Ack {
                    id: message_id,
                    code: ErrorCode::OK,
                }),
            );
            if let Some(receipt) = receipt {
                self.send_receipt_frame(conn, receipt);
            }
            return Admission::Duplicate;
        }
        seen.insert(now, message_id, expiry);
        if !session.sweep_armed {
            session.sweep_armed = true;
            self.timers
                .set(now + expiry, Timer::SweepSeen { session: id });
        }
        Admission::New
    }

    /// QoS 0: one encoding, the same `Bytes` queued for every connected subscriber.
    fn fan_out_qos0(
        &mut self,
        id: SessionId,
        client: ClientKey,
        topic: TopicRef<'_>,
        payload: &Bytes,
    ) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(publisher) = session.clients.get(client) else {
            return;
        };
        session.topics.targets(topic, &mut self.targets);
        if self.targets.is_empty() {
            return;
        }
        let frame = Frame::encode_deliver(
            Qos::AtMostOnce,
            0,
            1,
            topic.as_str(),
            &publisher.id,
            payload,
        );
        // The last connection gets the frame itself: a `Bytes` made from a `Vec` allocates
        // its shared header on the first clone, so a single subscriber costs no clone.
        let mut last = None;
        for &target in &self.targets {
            let Some(conn) = session.clients.get(target).and_then(|c| c.conn) else {
                continue;
            };
            if self.conns.get(&conn).is_some_and(|c| c.congested) {
                self.metrics.deliveries_shed += 1;
                continue;
            }
            self.metrics.messages_out += 1;
            if let Some(previous) = last.replace(conn) {
                queue_send(
                    &mut self.metrics,
                    &mut self.outputs,
                    previous,
                    frame.clone(),
                );
            }
        }
        if let Some(conn) = last {
            queue_send(&mut self.metrics, &mut self.outputs, conn, frame);
        }
    }

    fn cache_and_deliver(
        &mut self,
        now: Instant,
        id: SessionId,
        client: ClientKey,
        topic: Topic,
        message_id: u64,
        payload: Bytes,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(publisher) = session.clients.get(client).map(|c| Arc::clone(&c.id)) else {
            return;
        };
        session.topics.targets(&topic, &mut self.targets);
        if self.targets.is_empty() {
            let receipt = Receipt {
                message_id,
                status: ReceiptStatus::NoSubscribers,
                delivered: 0,
                failed: 0,
            };
            return self.send_receipt(id, (client, &publisher), receipt);
        }
        let delivery = session.next_delivery;
        session.next_delivery += 1;
        let first = Frame::encode_deliver(
            Qos::AtLeastOnce,
            delivery,
            1,
            topic.as_str(),
            &publisher,
            &payload,
        );
        let expires_at = now + session.settings.expiry;
        let len = payload.len();
        session.messages.insert(
            delivery,
            Cached {
                topic,
                publisher,
                publisher_key: client,
                message_id,
                // Not the decoded payload: that is a slice of the connection's read buffer,
                // which it would keep alive (whole) until the message settles. The frame
                // is a fresh allocation of its own, and its tail is the payload.
                first: first.clone(),
                payload_len: payload.len(),
                resend: None,
                expires_at,
                targets: Targets::new(&self.targets),
                // Targets are distinct client slots, which are numbered by u32.
                waiting: self.targets.len() as u32,
                delivered: 0,
                failed: 0,
                failure: None,
                stored_at: 0,
            },
        );
        // One expiry timer per session, for its oldest cached message: timer memory stays
        // proportional to what is cached, not to the publish rate times the expiry.
        session.expiry_queue.push_back((expires_at, delivery));
        while let Some(&(_, oldest)) = session.expiry_queue.front() {
            if session.messages.contains_key(&oldest) {
                break;
            }
            session.expiry_queue.pop_front();
        }
        shrink_deque(&mut session.expiry_queue);
        if !session.expiry_armed {
            session.expiry_armed = true;
            let at = session
                .expiry_queue
                .front()
                .map_or(expires_at, |&(at, _)| at);
            self.timers.set(at, Timer::Expire { session: id });
        }
        self.count_cached(id, len, true);
        if self.journal.enabled {
            self.journal_message(id, delivery);
        }
        self.deliver_to_targets(now, id, delivery, first);
    }

    /// Queues the first attempt for every target of the message being routed.
    fn deliver_to_targets(&mut self, now: Instant, id: SessionId, delivery: u64, first: Bytes) {
        // Taken for the loop (deliver_first needs `&mut self`) and put back, keeping its
        // capacity for the next publish.
        let targets = std::mem::take(&mut self.targets);
        if let Some((&last, others)) = targets.split_last() {
            for &target in others {
                self.deliver_first(now, id, target, delivery, first.clone());
            }
            // Moved, not cloned: see `fan_out_qos0`.
            self.deliver_first(now, id, last, delivery, first);
        }
        self.targets = targets;
    }
}

/// Whether a QoS 1 publish is new, a resend of one already taken, or refused for a full
/// budget (the message says which).
enum Admission {
    New,
    Duplicate,
    Full(String),
}
