//! Budgets in bytes: what the broker does when a connection's outbound queue, a session's
//! cache or the server's memory is full (docs/SERVER.md, "Budgets and slow consumers").
//!
//! The driver owns the outbound queues and counts their bytes. When one reaches its
//! budget it calls [`Broker::handle_congested`]; from then on the broker sends that
//! connection no deliveries: QoS 0 deliveries are shed (counted, at most once as QoS 0
//! promises), QoS 1 deliveries are held in the subscriber's pending set, unsent, and their
//! retries wait too. The broker asks with [`Output::Watch`] to hear when the queue has
//! drained to half its budget; [`Broker::handle_drained`] then sends what was held, oldest
//! first, up to one budget at a time. Replies to the connection's own requests (acks,
//! receipts, errors) are always queued: the driver stops reading from a connection whose
//! queue is half full, which bounds them.
//!
//! Publishes are refused with `queue_full` where memory would otherwise grow: a QoS 1
//! publish whose payload would take the session's cache beyond `max_cache_bytes`, and any
//! publish while the cached payloads of all sessions plus the queued outbound bytes are at
//! the server's `max_memory`. The refusal is the publish's answer (a `PubAck` with the
//! code for QoS 1, an `Error` for QoS 0); the message id is not remembered, so the
//! client's resend is a new attempt.
//!
//! A refused publisher is also slowed down: with the refusal the broker asks the driver to
//! read nothing more from that connection for a while ([`Output::PauseReading`]), so the
//! server does not read (and unmask, and route) megabytes only to refuse them, and TCP
//! pushes the wait back onto the publisher. The first pause is [`PUBLISHER_PAUSE_FIRST`],
//! doubled at each refusal in a row up to [`PUBLISHER_PAUSE_MAX`], and never more than a
//! quarter of the connection's keepalive, so that a paused client is never closed for
//! silence (the broker closes after 1.5 keepalives with nothing received) and its pings
//! are answered late by at most that much. A publish taken ends the streak.

use std::time::Duration;

use fastport_proto::codec::{Frame, Qos};
use fastport_proto::time::Instant;

use super::clients::ClientKey;
use super::session::SessionId;
use super::timers::Timer;
use super::{queue_send, Broker, ConnId, Output};

/// How long a connection whose publish was refused `queue_full` is not read from, the first
/// time: about a client's own pause before resending, so a publisher that met a brief
/// shortage hardly notices.
pub const PUBLISHER_PAUSE_FIRST: Duration = Duration::from_millis(10);

/// The longest such pause, reached after 6 refusals in a row. Long enough that a publisher
/// refused again and again costs the server a read or two of its messages per pause
/// instead of as many as it can send; short enough that it sees room in the budget
/// half a second after it appears, and that pings get their answers in time.
pub const PUBLISHER_PAUSE_MAX: Duration = Duration::from_millis(500);

impl Broker {
    /// The connection's outbound queue reached its budget: deliveries wait until
    /// [`Broker::handle_drained`]. The broker answers with [`Output::Watch`].
    pub fn handle_congested(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.congested {
                c.congested = true;
                self.outputs.push_back(Output::Watch { conn });
            }
        }
    }

    /// The connection's outbound queue drained to half its budget after an
    /// [`Output::Watch`]: what was held for it is sent, up to `max_outbound_bytes`; if some
    /// is still held, the broker asks for another [`Output::Watch`].
    pub fn handle_drained(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.congested = false;
        if let super::ConnState::Active { session, client } = c.state {
            if self.refill(now, session, client, conn) {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.congested = true;
                }
                self.outputs.push_back(Output::Watch { conn });
            }
        }
    }

    /// The bytes queued for writing over all connections, for the memory budget. A driver
    /// calls it as often as it likes (the router: once per batch of messages).
    pub fn set_outbound_bytes(&mut self, bytes: usize) {
        self.outbound_bytes = bytes;
    }

    /// Whether a publish of `len` payload bytes fits the budgets; the refusal's message
    /// names the budget that is full.
    pub(crate) fn admit_publish(
        &mut self,
        id: SessionId,
        len: usize,
        qos: Qos,
    ) -> Result<(), String> {
        let cached = self.config.totals.cache_bytes();
        let in_use = cached.saturating_add(self.outbound_bytes);
        let refusal = if in_use.saturating_add(len) > self.config.max_memory && in_use > 0 {
            Some(format!(
                "the server's memory budget ({} bytes) is in use",
                self.config.max_memory
            ))
        } else if qos == Qos::AtLeastOnce {
            self.sessions.get(&id).and_then(|s| {
                let max = s.settings.max_cache_bytes as usize;
                (s.cache_bytes > 0 && s.cache_bytes.saturating_add(len) > max).then(|| {
                    format!(
                        "the session's cache holds {} of its {max} bytes",
                        s.cache_bytes
                    )
                })
            })
        } else {
            None
        };
        match refusal {
            Some(message) => {
                self.metrics.publishes_refused_full += 1;
                Err(message)
            }
            None => Ok(()),
        }
    }

    /// A publish of `conn` was refused `queue_full`: asks the driver to stop reading it for
    /// a while, longer at each refusal in a row.
    pub(crate) fn pause_publisher(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let doublings = u32::from(c.refusals).min(16);
        c.refusals = c.refusals.saturating_add(1);
        let pause = PUBLISHER_PAUSE_FIRST
            .saturating_mul(1 << doublings)
            .min(PUBLISHER_PAUSE_MAX)
            .min(c.keepalive / 4);
        if pause.is_zero() {
            return;
        }
        self.metrics.publishers_paused += 1;
        self.outputs.push_back(Output::PauseReading { conn, pause });
    }

    /// A publish of `conn` was taken: its next refusal pauses it for the shortest time.
    pub(crate) fn publish_taken(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.refusals = 0;
        }
    }

    /// A message of `len` payload bytes entered (`true`) or left a session's cache.
    pub(crate) fn count_cached(&mut self, id: SessionId, len: usize, entered: bool) {
        let session = self.sessions.get_mut(&id);
        if entered {
            self.cache_bytes += len;
            self.config.totals.add_cache(len);
            if let Some(s) = session {
                s.cache_bytes += len;
            }
        } else {
            self.cache_bytes = self.cache_bytes.saturating_sub(len);
            self.config.totals.remove_cache(len);
            if let Some(s) = session {
                s.cache_bytes = s.cache_bytes.saturating_sub(len);
            }
        }
    }

    /// A dropped session's cache leaves the server's count.
    pub(crate) fn forget_cache(&mut self, bytes: usize) {
        self.cache_bytes = self.cache_bytes.saturating_sub(bytes);
        self.config.totals.remove_cache(bytes);
    }

    /// Sends the client's held deliveries on `conn`, oldest first, while its in-flight
    /// window (`max_pending`) has room, until one outbound budget's worth went out.
    /// Returns whether it stopped at the budget with some still held (the caller then
    /// waits for the queue to drain).
    pub(crate) fn refill(
        &mut self,
        now: Instant,
        id: SessionId,
        client: ClientKey,
        conn: ConnId,
    ) -> bool {
        if self.conns.get(&conn).is_some_and(|c| c.congested) {
            return false;
        }
        let budget = self.config.max_outbound_bytes;
        let mut sent = 0;
        let mut superseded = 0;
        let stopped = loop {
            let Some(session) = self.sessions.get_mut(&id) else {
                break false;
            };
            let retry_at = now + session.settings.retry_interval;
            let window = session.settings.max_pending;
            let Some(state) = session.clients.get_mut(client) else {
                break false;
            };
            if state.in_flight >= window {
                break false;
            }
            let from = state.held_from;
            let Some((&delivery, pending)) = state.pending.range_mut(from..).next() else {
                state.held_from = u64::MAX;
                break false;
            };
            if sent >= budget {
                break true;
            }
            pending.held = false;
            let attempt = pending.attempt;
            // A timer for `retry_at` is set already if it was held at this instant.
            let rearm = std::mem::replace(&mut pending.retry_at, retry_at) != retry_at;
            state.in_flight += 1;
            state.held_from = crate::delivery::next_held(state, delivery);
            if rearm {
                superseded += 1;
                let timer = Timer::Retry {
                    session: id,
                    client,
                    delivery,
                };
                self.timers.set(retry_at, timer);
            }
            sent += self.send_delivery(conn, id, delivery, attempt);
        };
        self.timers_went_stale(superseded);
        stopped
    }

    /// Queues one QoS 1 delivery of a cached message; returns its size. The first attempt
    /// is the cached frame itself, and a resend's encoding is shared by every subscriber
    /// resent the same attempt after it.
    pub(crate) fn send_delivery(
        &mut self,
        conn: ConnId,
        id: SessionId,
        delivery: u64,
        attempt: u32,
    ) -> usize {
        let stored = self.journal_stored();
        let Some(m) = self
            .sessions
            .get_mut(&id)
            .and_then(|s| s.messages.get_mut(&delivery))
        else {
            return 0;
        };
        if m.stored_at > stored {
            // Its first attempt goes out once its record is stored (`journal.rs`); a retry
            // or a refill before that would show subscribers a message a crash can lose.
            return 0;
        }
        let frame = match &m.resend {
            _ if attempt == 1 => m.first.clone(),
            Some((a, frame)) if *a == attempt => frame.clone(),
            _ => {
                let frame = Frame::encode_deliver(
                    Qos::AtLeastOnce,
                    delivery,
                    attempt,
                    m.topic.as_str(),
                    &m.publisher,
                    &m.payload(),
                );
                m.resend = Some((attempt, frame.clone()));
                frame
            }
        };
        let len = frame.len();
        self.metrics.messages_out += 1;
        queue_send(&mut self.metrics, &mut self.outputs, conn, frame);
        len
    }
}
