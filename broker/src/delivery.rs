//! QoS 1 deliveries after routing: queueing under the slow-consumer policy, acks, retries,
//! expiry, resume and receipts (docs/PROTOCOL.md §8).

use bytes::Bytes;
use fastport_proto::codec::{ErrorCode, Frame, Receipt, ReceiptStatus, SlowConsumerPolicy};
use fastport_proto::time::Instant;

use super::clients::{ClientKey, PendingDelivery};
use super::session::{Failure, SessionId, SessionSettings};
use super::shrink::{shrink_deque, shrink_map};
use super::timers::Timer;
use super::{queue_receipt, Broker, ConnId};
use crate::journal::Record;

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
        // `max_pending` in flight, and as many more waiting.
        if state.pending.len() >= 2 * settings.max_pending as usize
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
        // Held: offline, behind an older held one, past the in-flight window, or the
        // connection's queue is at its budget (`budget.rs`).
        let held = conn.is_none_or(|c| self.conns.get(&c).is_some_and(|c| c.congested))
            || state.held_from != u64::MAX
            || state.in_flight >= settings.max_pending;
        state.pending.insert(
            delivery,
            PendingDelivery {
                attempt: 1,
                retry_at,
                held,
            },
        );
        if held {
            state.held_from = state.held_from.min(delivery);
        } else {
            state.in_flight += 1;
        }
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

    /// A subscriber has `max_pending` deliveries in flight and as many waiting: drops its
    /// oldest waiting one, or drops the new one and disconnects it. Returns whether the
    /// new delivery may be queued.
    fn make_room(
        &mut self,
        now: Instant,
        id: SessionId,
        target: ClientKey,
        delivery: u64,
        settings: SessionSettings,
    ) -> bool {
        if settings.slow_consumer == SlowConsumerPolicy::DropOldest
            && self.drop_oldest_held(id, target)
        {
            return true;
        }
        // The new delivery was never queued: it is settled here, not through `pending`.
        self.metrics.dropped += 1;
        self.journal_settled_key(id, target, delivery, false);
        self.count_settled(id, delivery, Some(Failure::Dropped));
        if settings.slow_consumer == SlowConsumerPolicy::Disconnect {
            if let Some(conn) = self.conn_of(id, target) {
                self.metrics.slow_consumer_disconnects += 1;
                let message = format!("{} deliveries unacked", settings.max_pending);
                self.close_conn(now, conn, ErrorCode::SLOW_CONSUMER, &message);
            }
        }
        false
    }

    /// `drop_oldest`: the oldest delivery still waiting to be sent is given up. It never
    /// went out, so the subscriber cannot have it: its receipt's `dropped` is the truth.
    /// Deliveries in flight are never given up this way. Returns whether one was dropped.
    fn drop_oldest_held(&mut self, id: SessionId, target: ClientKey) -> bool {
        let Some(state) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.clients.get_mut(target))
        else {
            return false;
        };
        let Some(&oldest) = state
            .pending
            .range(state.held_from..)
            .next()
            .map(|(d, _)| d)
        else {
            return false;
        };
        state.pending.remove(&oldest);
        state.held_from = next_held(state, oldest);
        self.metrics.dropped += 1;
        self.timers_went_stale(1);
        self.journal_settled_key(id, target, oldest, false);
        self.count_settled(id, oldest, Some(Failure::Dropped));
        true
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
            // Waits for room in the window or for the queue to drain (`budget.rs`), which
            // sends it; the timer only looks again, and a wait costs no attempt.
            pending.retry_at = now + settings.retry_interval;
            let timer = Timer::Retry {
                session: id,
                client,
                delivery,
            };
            self.timers.set(pending.retry_at, timer);
            if let (false, Some(conn)) = (congested, state.conn) {
                // Should a drain have been missed: send what the window takes.
                self.refill(now, id, client, conn);
            }
            return;
        }
        if pending.attempt > settings.max_retries {
            self.metrics.retries_exhausted += 1;
            return self.settle(now, id, client, delivery, Some(Failure::Exhausted));
        }
        pending.attempt += 1;
        pending.retry_at = now + settings.retry_interval;
        let (attempt, retry_at) = (pending.attempt, pending.retry_at);
        self.journal_attempt(id, client, delivery, attempt);
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
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let retry_interval = session.settings.retry_interval;
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        let receipts: Vec<Bytes> = state.receipts.drain(..).collect();
        let attempts: Vec<(u64, u32)> = if self.journal.enabled {
            state
                .pending
                .iter()
                .map(|(&d, p)| (d, p.attempt + 1))
                .collect()
        } else {
            Vec::new()
        };
        // Every pending delivery goes again, as a new attempt: held, then sent as the
        // window and the outbound budget allow (`budget.rs`), so a long backlog does not
        // flood the new connection's queue. Each keeps a retry timer, which sends it should a drain
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
        state.in_flight = 0;
        state.held_from = state.pending.keys().next().copied().unwrap_or(u64::MAX);
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
        for (delivery, attempt) in attempts {
            self.journal_attempt(id, client, delivery, attempt);
        }
        if !receipts.is_empty() && self.journal.enabled {
            if let Some(session) = self.sessions.get(&id) {
                if let Some(c) = session.clients.get(client) {
                    let record = Record::ReceiptsTaken {
                        session: session.name.clone(),
                        client: c.id.clone(),
                    };
                    self.journal(record);
                }
            }
        }
        if let Some(conn) = conn {
            self.metrics.retries += resends;
            if self.refill(now, id, client, conn) {
                self.handle_congested(conn);
            }
            for receipt in receipts {
                queue_receipt(&mut self.metrics, &mut self.outputs, conn, receipt);
            }
        }
        self.presence_changed_all(now, id, client, true);
        if let Some(conn) = conn {
            self.presence_resumed(now, id, client, conn);
        }
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
                shrink_deque(&mut session.expiry_queue);
                return;
            };
            if !session.messages.contains_key(&delivery) {
                session.expiry_queue.pop_front();
                continue;
            }
            if at > now {
                shrink_deque(&mut session.expiry_queue);
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
            self.settle(now, id, client, delivery, Some(Failure::Expired));
        }
        self.targets = targets;
    }

    /// A subscriber is done with a delivery (acked, or failed with `failure`), if it still
    /// owed it; a delivery in flight leaves room in the window for the next held one.
    pub(crate) fn settle(
        &mut self,
        now: Instant,
        id: SessionId,
        client: ClientKey,
        delivery: u64,
        failure: Option<Failure>,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(state) = session.clients.get_mut(client) else {
            return;
        };
        let Some(pending) = state.pending.remove(&delivery) else {
            return;
        };
        if pending.held {
            if state.held_from == delivery {
                state.held_from = next_held(state, delivery);
            }
        } else {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        let conn = state.conn;
        // Its retry timer has nothing left to do.
        self.timers_went_stale(1);
        self.journal_settled_key(id, client, delivery, failure.is_none());
        self.count_settled(id, delivery, failure);
        if let Some(conn) = conn {
            if !pending.held && self.refill(now, id, client, conn) {
                self.handle_congested(conn);
            }
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
        shrink_map(&mut session.messages);
        let stored_as = self
            .journal
            .enabled
            .then(|| (session.name.clone(), session.settings.expiry));
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
        if let Some((session, expiry)) = stored_as {
            let record = Record::Done {
                session,
                delivery,
                publisher: m.publisher.clone(),
                receipt: Frame::Receipt(receipt).encode(),
                expiry,
            };
            self.journal(record);
        }
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
                let frame = Frame::Receipt(receipt).encode();
                state.receipts.push_back(frame.clone());
                if self.journal.enabled {
                    let record = Record::ReceiptQueued {
                        session: session.name.clone(),
                        client: state.id.clone(),
                        receipt: frame,
                        expiry: session.settings.expiry,
                    };
                    self.journal(record);
                }
            }
            None => {}
        }
    }

    pub(crate) fn conn_of(&self, id: SessionId, client: ClientKey) -> Option<ConnId> {
        self.sessions.get(&id)?.clients.get(client)?.conn
    }
}

/// The first held delivery after `delivery` (`u64::MAX`: none): held deliveries are the
/// newest pending ones, so it is simply the next one.
pub(crate) fn next_held(state: &crate::clients::ClientState, delivery: u64) -> u64 {
    state
        .pending
        .range(delivery.saturating_add(1)..)
        .next()
        .map_or(u64::MAX, |(&d, _)| d)
}
