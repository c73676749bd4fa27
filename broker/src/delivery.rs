//! QoS 1 deliveries after routing: queueing under the slow-consumer policy, acks, retries,
//! expiry, resume and receipts (docs/PROTOCOL.md §8).

use bytes::Bytes;
use fastport_proto::codec::{
    Deliver, ErrorCode, Frame, Qos, Receipt, ReceiptStatus, SlowConsumerPolicy,
};
use fastport_proto::time::Instant;

use super::clients::{ClientKey, PendingDelivery};
use super::session::{Failure, SessionId, SessionSettings};
use super::timers::Timer;
use super::{queue_receipt, Broker, ConnId};

impl Broker {
    /// Queues a message for one subscriber, applying the slow-consumer policy at the limit.
    pub(crate) fn deliver_first(
        &mut self,
        now: Instant,
        id: SessionId,
        target: ClientKey,
        delivery: u64,
        first: Bytes,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let settings = session.settings;
        let Some(state) = session.clients.get_mut(target) else {
            // Unreachable (the topic index holds only clients with state), and settled
            // rather than left for the expiry to find.
            return self.count_settled(id, delivery, Some(Failure::Dropped));
        };
        if state.pending.len() >= settings.max_pending as usize
            && !self.make_room(now, id, target, delivery, settings)
        {
            return;
        }
        let Some(state) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.clients.get_mut(target))
        else {
            return;
        };
        let retry_at = now + settings.retry_interval;
        let conn = state.conn;
        let held = conn.is_some_and(|c| self.conns.get(&c).is_some_and(|c| c.congested));
        state.pending.insert(
            delivery,
            PendingDelivery {
                attempt: 1,
                retry_at,
                held,
            },
        );
        self.timers.set(
            retry_at,
            Timer::Retry {
                session: id,
                client: target,
                delivery,
            },
        );
        match conn {
            Some(_) if held => self.metrics.deliveries_held += 1,
            Some(conn) => {
                self.metrics.messages_out += 1;
                self.send_bytes(conn, first);
            }
            None => {}
        }
    }

    /// A subscriber is at `max_pending`: evicts its oldest delivery, or drops the new one
    /// and disconnects it. Returns whether the new delivery may be queued.
    fn make_room(
        &mut self,
        now: Instant,
        id: SessionId,
        target: ClientKey,
        delivery: u64,
        settings: SessionSettings,
    ) -> bool {
        if settings.slow_consumer == SlowConsumerPolicy::DropOldest {
            self.evict_oldest(id, target, settings.max_pending as usize);
            return true;
        }
        // The new delivery was never queued: it is settled here, not through `pending`.
        self.metrics.dropped += 1;
        self.count_settled(id, delivery, Some(Failure::Dropped));
        if let Some(conn) = self.conn_of(id, target) {
            self.metrics.slow_consumer_disconnects += 1;
            let message = format!("{} deliveries unacked", settings.max_pending);
            self.close_conn(now, conn, ErrorCode::SLOW_CONSUMER, &message);
        }
        false
    }

    /// `drop_oldest`: the oldest pending delivery is not resent any more. If it went out on
    /// the subscriber's connection, its ack may be on its way: it is dropped only if none
    /// comes before its next resend would have been due, the connection ends, or
    /// `max_pending` younger ones are evicted after it. Unsent (the subscriber is
    /// offline, or held back by a full outbound queue), it is dropped at once.
    fn evict_oldest(&mut self, id: SessionId, target: ClientKey, max: usize) {
        let Some(state) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.clients.get_mut(target))
        else {
            return;
        };
        let Some((oldest, pending)) = state.pending.pop_first() else {
            return;
        };
        // Held (never sent) or offline: no ack can come.
        let dropped = if state.conn.is_none() || pending.held {
            Some(oldest)
        } else {
            state.evicted.insert(oldest, pending.retry_at);
            (state.evicted.len() > max)
                .then(|| state.evicted.pop_first().map(|(d, _)| d))
                .flatten()
        };
        if let Some(dropped) = dropped {
            self.metrics.dropped += 1;
            self.timers_went_stale(1);
            self.count_settled(id, dropped, Some(Failure::Dropped));
        }
    }

    /// The subscriber's connection ended or was replaced: acks of its evicted deliveries
    /// can no longer come, so they are dropped.
    pub(crate) fn drop_evicted(&mut self, id: SessionId, client: ClientKey) {
        let Some(state) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.clients.get_mut(client))
        else {
            return;
        };
        let evicted = std::mem::take(&mut state.evicted);
        self.timers_went_stale(evicted.len());
        for delivery in evicted.into_keys() {
            self.metrics.dropped += 1;
            self.count_settled(id, delivery, Some(Failure::Dropped));
        }
    }

    pub(crate) fn retry_delivery(
        &mut self,
        now: Instant,
        id: SessionId,
        client: ClientKey,
        delivery: u64,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let settings = session.settings;
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        if let Some(&due) = state.evicted.get(&delivery) {
            // Evicted, and its ack did not come in the time a resend would have waited.
            if due <= now {
                state.evicted.remove(&delivery);
                self.metrics.dropped += 1;
                self.count_settled(id, delivery, Some(Failure::Dropped));
            }
            return;
        }
        let Some(pending) = state.pending.get_mut(&delivery) else {
            return;
        };
        if pending.retry_at > now || state.conn.is_none() {
            // Acked and re-sent since, or offline: the resume resends it.
            return;
        }
        let congested = state
            .conn
            .is_some_and(|c| self.conns.get(&c).is_some_and(|c| c.congested));
        if congested || pending.held {
            // Waits for the queue to drain (`budget.rs`), which sends it; the timer only
            // looks again, and a wait costs no attempt.
            pending.retry_at = now + settings.retry_interval;
            let timer = Timer::Retry {
                session: id,
                client,
                delivery,
            };
            self.timers.set(pending.retry_at, timer);
            if !congested {
                // Held, but the drain was missed: send it now.
                pending.held = false;
                let attempt = pending.attempt;
                if let Some(conn) = state.conn {
                    self.send_delivery(conn, id, delivery, attempt);
                }
            }
            return;
        }
        if pending.attempt > settings.max_retries {
            self.metrics.retries_exhausted += 1;
            return self.settle(id, client, delivery, Some(Failure::Exhausted));
        }
        pending.attempt += 1;
        pending.retry_at = now + settings.retry_interval;
        let (attempt, retry_at) = (pending.attempt, pending.retry_at);
        self.timers.set(
            retry_at,
            Timer::Retry {
                session: id,
                client,
                delivery,
            },
        );
        self.resend(id, client, delivery, attempt);
    }

    /// Sends a delivery again with its attempt number.
    fn resend(&mut self, id: SessionId, client: ClientKey, delivery: u64, attempt: u32) {
        let Some(session) = self.sessions.get(&id) else {
            return;
        };
        let Some(conn) = session.clients.get(client).and_then(|c| c.conn) else {
            return;
        };
        if session.messages.contains_key(&delivery) {
            self.metrics.retries += 1;
            self.send_delivery(conn, id, delivery, attempt);
        }
    }

    /// A resumed client gets its pending deliveries again, its queued receipts, and its
    /// presence announced.
    pub(crate) fn resume_client(&mut self, now: Instant, id: SessionId, client: ClientKey) {
        // Evicted on a connection this one replaced: their acks would have come on it.
        self.drop_evicted(id, client);
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let retry_interval = session.settings.retry_interval;
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        let receipts: Vec<Bytes> = state.receipts.drain(..).collect();
        // Every pending delivery goes again, as a new attempt: held, then sent up to one
        // outbound budget at a time (`budget.rs`), so a long backlog does not flood the
        // new connection's queue. Each keeps a retry timer, which sends it should a drain
        // be missed.
        let retry_at = now + retry_interval;
        let mut rearms = Vec::new();
        let mut resends = 0;
        for (delivery, pending) in state.pending.iter_mut() {
            pending.attempt += 1;
            pending.held = true;
            resends += 1;
            // Resent already at this instant: its timer for `retry_at` is set.
            if std::mem::replace(&mut pending.retry_at, retry_at) != retry_at {
                rearms.push(*delivery);
            }
        }
        let conn = state.conn;
        // Each timer set below supersedes its delivery's previous one.
        let superseded = rearms.len();
        for delivery in rearms {
            let timer = Timer::Retry {
                session: id,
                client,
                delivery,
            };
            self.timers.set(retry_at, timer);
        }
        self.timers_went_stale(superseded);
        if let Some(conn) = conn {
            self.metrics.retries += resends;
            if !self.send_held(now, id, client, conn) {
                self.handle_congested(conn);
            }
            for receipt in receipts {
                queue_receipt(&mut self.metrics, &mut self.outputs, conn, receipt);
            }
        }
        self.announce_all(id, client, true);
    }

    /// The session's expiry timer fired: expires every cached message whose time has
    /// come, then sets the timer for the next one.
    pub(crate) fn expire_due(&mut self, now: Instant, id: SessionId) {
        loop {
            let Some(session) = self.sessions.get_mut(&id) else {
                return;
            };
            let Some(&(at, delivery)) = session.expiry_queue.front() else {
                session.expiry_armed = false;
                return;
            };
            if !session.messages.contains_key(&delivery) {
                session.expiry_queue.pop_front();
                continue;
            }
            if at > now {
                self.timers.set(at, Timer::Expire { session: id });
                return;
            }
            session.expiry_queue.pop_front();
            self.expire_message(now, id, delivery);
        }
    }

    fn expire_message(&mut self, now: Instant, id: SessionId, delivery: u64) {
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
        let mut targets = std::mem::take(&mut self.targets);
        targets.clear();
        targets.extend_from_slice(m.targets.as_slice());
        // Targets that settled already have no pending entry left: `settle` skips them.
        for &client in &targets {
            self.settle(id, client, delivery, Some(Failure::Expired));
        }
        self.targets = targets;
    }

    /// A subscriber is done with a delivery (acked, or failed with `failure`), if it still
    /// owed one: pending, or evicted but still waited for.
    pub(crate) fn settle(
        &mut self,
        id: SessionId,
        client: ClientKey,
        delivery: u64,
        failure: Option<Failure>,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let owed = session.clients.get_mut(client).is_some_and(|state| {
            state.pending.remove(&delivery).is_some() || state.evicted.remove(&delivery).is_some()
        });
        if owed {
            // Its retry timer has nothing left to do.
            self.timers_went_stale(1);
            self.count_settled(id, delivery, failure);
        }
    }

    /// Counts one subscriber of a cached message as settled; the last one completes the
    /// message with a receipt.
    pub(crate) fn count_settled(&mut self, id: SessionId, delivery: u64, failure: Option<Failure>) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(m) = session.messages.get_mut(&delivery) else {
            return;
        };
        m.waiting = m.waiting.saturating_sub(1);
        match failure {
            None => m.delivered += 1,
            Some(why) => {
                m.failed += 1;
                m.failure = Some(m.failure.map_or(why, |f| f.min(why)));
            }
        }
        if m.waiting > 0 {
            return;
        }
        let Some(m) = session.messages.remove(&delivery) else {
            return;
        };
        self.count_cached(id, m.payload_len, false);
        let status = match m.failure {
            None => ReceiptStatus::Delivered,
            Some(Failure::Expired) => ReceiptStatus::Expired,
            Some(Failure::Exhausted) => ReceiptStatus::RetriesExhausted,
            Some(Failure::Dropped) => ReceiptStatus::Dropped,
        };
        let receipt = Receipt {
            message_id: m.message_id,
            status,
            delivered: m.delivered,
            failed: m.failed,
        };
        self.send_receipt(id, (m.publisher_key, &m.publisher), receipt);
    }

    /// Sends a receipt to its publisher: now if connected, on resume if it may come back,
    /// and again if it resends the publish. The publisher is named by key and id: the key
    /// finds it without hashing, and if it went stale (the publisher reconnected cleanly
    /// since) the id still finds the client that now has that id.
    pub(crate) fn send_receipt(
        &mut self,
        id: SessionId,
        (key, publisher): (ClientKey, &str),
        receipt: Receipt,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(seen) = session.seen.get_mut(publisher) {
            seen.set_receipt(receipt.message_id, receipt);
        }
        let max = session.settings.max_pending as usize;
        let key = match session.clients.get(key) {
            Some(_) => key,
            None => match session.clients.key(publisher) {
                Some(key) => key,
                None => return,
            },
        };
        let Some(state) = session.clients.get_mut(key) else {
            return;
        };
        match state.conn {
            Some(conn) => self.send_receipt_frame(conn, receipt),
            None if state.resume && state.receipts.len() < max => {
                state.receipts.push_back(Frame::Receipt(receipt).encode());
            }
            None => {}
        }
    }

    pub(crate) fn conn_of(&self, id: SessionId, client: ClientKey) -> Option<ConnId> {
        self.sessions.get(&id)?.clients.get(client)?.conn
    }
}

/// Encodes `Deliver` frames allocating nothing but the frame itself. The codec's `Deliver`
/// owns its topic and publisher strings; one is kept here and its buffers refilled for
/// each frame instead of building fresh strings per message.
#[derive(Debug)]
pub(crate) struct DeliverEncoder {
    scratch: Deliver,
}

impl Default for DeliverEncoder {
    fn default() -> Self {
        DeliverEncoder {
            scratch: empty_deliver(),
        }
    }
}

impl DeliverEncoder {
    pub(crate) fn encode(
        &mut self,
        qos: Qos,
        delivery_id: u64,
        attempt: u32,
        topic: &str,
        publisher: &str,
        payload: &Bytes,
    ) -> Bytes {
        let mut d = std::mem::replace(&mut self.scratch, empty_deliver());
        d.qos = qos;
        d.delivery_id = delivery_id;
        d.attempt = attempt;
        d.topic.clear();
        d.topic.push_str(topic);
        d.publisher.clear();
        d.publisher.push_str(publisher);
        d.payload = payload.clone();
        let frame = Frame::Deliver(d);
        let bytes = frame.encode();
        if let Frame::Deliver(mut d) = frame {
            // Not kept alive by the scratch copy.
            d.payload = Bytes::new();
            self.scratch = d;
        }
        bytes
    }
}

fn empty_deliver() -> Deliver {
    Deliver {
        qos: Qos::AtMostOnce,
        delivery_id: 0,
        attempt: 1,
        topic: String::new(),
        publisher: String::new(),
        payload: Bytes::new(),
    }
}
