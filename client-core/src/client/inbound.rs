//! Frames from the server.

use bytes::Bytes;

use super::event::{DeliveryError, Event, Message, PublishId, RequestFailure, ServerError, State};
use super::outbox::Entry;
use super::{Client, Pending, Phase, PublishFailure, PublishOutcome, TransportCommand, BATCHES};
use crate::codec::{
    batch, Ack, AdminResult, DecodeError, Deliver, ErrorCode, ErrorFrame, Frame, NackReason, Qos,
    Receipt, Welcome,
};
use crate::crypto::{self, ENVELOPE_VERSION, FLAG_ENCRYPTED};
use crate::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    Subscribe,
    Unsubscribe,
    Admin,
}
use crate::topic::{Topic, TopicFilter};

impl Client {
    /// One binary WebSocket message from the server: a frame, or a batch of frames
    /// (handled in order).
    pub fn handle_frame(&mut self, now: Instant, message: Bytes) {
        // The browser build does not ask for batches (see `BATCHES`): no unpacking there.
        if BATCHES && batch::is_batch(&message) {
            for frame in batch::frames(message) {
                match frame {
                    Ok(frame) => self.handle_one(now, frame),
                    Err(e) => return self.server_broke_protocol(now, &e),
                }
            }
            return;
        }
        self.handle_one(now, message)
    }

    fn handle_one(&mut self, now: Instant, message: Bytes) {
        let handshaking = matches!(self.phase, Phase::Handshaking { .. });
        if !handshaking && self.phase != Phase::Connected {
            return;
        }
        self.last_rx = now;
        self.ping_sent_at = None;
        let frame = match Frame::decode_from_server(message) {
            Ok(frame) => frame,
            Err(e) => return self.server_broke_protocol(now, &e),
        };
        match frame {
            Frame::Welcome(w) if handshaking => self.on_welcome(now, w),
            Frame::Error(e) => self.on_error(now, e),
            Frame::Ping { nonce } => self.send(now, &Frame::Pong { nonce }),
            Frame::Pong { .. } => {}
            _ if handshaking => {
                let reason = format!("server sent {} before welcome", frame.name());
                self.violation(now, &reason);
            }
            Frame::SubAck(ack) => self.on_sub_ack(ack),
            Frame::UnsubAck(ack) => self.on_unsub_ack(ack),
            Frame::PubAck(ack) => self.on_pub_ack(ack),
            Frame::Deliver(d) => self.on_deliver(now, d),
            Frame::Receipt(r) => self.on_receipt(r),
            Frame::Presence(p) => self.events.push_back(Event::Presence {
                filter: p.filter,
                kind: p.kind,
                members: p.members,
            }),
            Frame::AdminResult(r) => self.on_admin_result(r),
            // A second welcome (client frames are refused by the decoder already).
            other => {
                let reason = format!("server sent {} after the welcome", other.name());
                self.violation(now, &reason);
            }
        }
    }

    fn server_broke_protocol(&mut self, now: Instant, error: &DecodeError) {
        if let DecodeError::UnsupportedVersion(_) = error {
            let message = error.to_string();
            return self.close_fatal(ServerError {
                code: ErrorCode::UNSUPPORTED_VERSION,
                message,
            });
        }
        self.violation(now, &format!("undecodable frame from server: {error}"));
    }

    /// The server misbehaved: drop the connection and try again later (a restarted or
    /// fixed server may behave).
    fn violation(&mut self, now: Instant, reason: &str) {
        self.drop_connection(now, ErrorCode::PROTOCOL_ERROR.close_code(), reason);
    }

    fn on_welcome(&mut self, now: Instant, w: Welcome) {
        if !w.client_id.is_empty() {
            self.client_id = w.client_id;
        }
        if !w.resume_token.is_empty() {
            self.resume_token = w.resume_token;
        }
        if w.keepalive_ms > 0 {
            self.keepalive = core::time::Duration::from_millis(w.keepalive_ms);
        }
        if let Some(max) = w.config.max_message_size {
            self.max_message_size = max as usize;
        }
        self.phase = Phase::Connected;
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.batching = w.batch;
        }
        self.attempt = 0;
        self.session_present = w.session_present;
        if !w.session_present {
            // Without our earlier state the server will resend nothing, and its delivery
            // ids may start over (a restarted server): ids seen before mean nothing now.
            self.dedup.clear();
        }
        self.set_state(State::Connected {
            client_id: self.client_id.clone(),
            session_present: w.session_present,
        });
        self.restore(now, w.session_present);
    }

    /// Re-establishes subscriptions, sends what was queued offline and resends held
    /// publishes, in that order, so resent messages find the subscriptions in place.
    fn restore(&mut self, now: Instant, session_present: bool) {
        let subs: Vec<_> = self
            .subs
            .iter()
            .map(|(f, s)| (f.clone(), s.presence))
            .collect();
        let mut restoring = Vec::new();
        for (filter, presence) in subs {
            let wire_id = self.new_request().0;
            restoring.push(wire_id);
            self.send_subscribe(now, wire_id, filter, presence);
        }
        self.restoring = Some(restoring);
        self.check_restored();
        for (request, filter) in std::mem::take(&mut self.queued_unsubs) {
            if session_present {
                self.pending.insert(
                    request.0,
                    Pending::Unsubscribe {
                        filter: filter.clone(),
                        request,
                    },
                );
                let frame = Frame::Unsubscribe(crate::codec::Unsubscribe {
                    request_id: request.0,
                    filter: filter.as_str().to_owned(),
                });
                self.send(now, &frame);
            } else {
                // A clean session holds no subscriptions: nothing to undo on the server.
                self.events.push_back(Event::Unsubscribed {
                    request,
                    filter,
                    result: Ok(()),
                });
            }
        }
        for (request, req) in std::mem::take(&mut self.queued_admin) {
            self.pending.insert(request.0, Pending::Admin { request });
            self.send(now, &Frame::Admin(req));
        }
        for id in self.outbox.ids() {
            self.send_held(now, id);
        }
    }

    /// A publish's receipt reaches the application once, however often the server sends it,
    /// and after the publish settled.
    fn on_receipt(&mut self, r: Receipt) {
        if self.receipted.contains(r.message_id) {
            return;
        }
        self.receipted.insert(r.message_id);
        // The server had the publish: one still held (its `PubAck` lost with a connection,
        // the receipt queued for us while we were away) is settled now, before its receipt,
        // in the order the protocol promises; the `PubAck` of its resend finds it gone.
        if let Some(Entry {
            qos: Qos::AtLeastOnce,
            ..
        }) = self.outbox.get(r.message_id)
        {
            self.settle(r.message_id, PublishOutcome::Acked);
        }
        self.events.push_back(Event::Receipt {
            id: PublishId(r.message_id),
            status: r.status,
            delivered: r.delivered,
            failed: r.failed,
        });
    }

    fn on_error(&mut self, now: Instant, e: ErrorFrame) {
        let error = ServerError {
            code: e.code,
            message: e.message,
        };
        if e.code.is_fatal() {
            return self.close_fatal(error);
        }
        if matches!(self.phase, Phase::Handshaking { .. }) {
            // The server refused the handshake for a reason worth retrying (suspended
            // session, too many connections): back off and try again.
            let reason = error.to_string();
            self.transport.push_back(TransportCommand::Close {
                code: 1000,
                reason: reason.clone(),
            });
            return self.connection_lost(now, reason, Some(error));
        }
        self.events.push_back(Event::ServerError(error));
    }

    /// Removes the pending request `id` if it is of `kind`. An answer of the wrong kind
    /// (a `SubAck` for an admin request) leaves the request waiting for its real answer.
    fn take_pending(&mut self, id: u64, kind: PendingKind) -> Option<Pending> {
        let matches = match self.pending.get_mut(&id)? {
            Pending::Subscribe { .. } => kind == PendingKind::Subscribe,
            Pending::Unsubscribe { .. } => kind == PendingKind::Unsubscribe,
            Pending::Admin { .. } => kind == PendingKind::Admin,
        };
        if matches {
            self.pending.remove(&id)
        } else {
            None
        }
    }

    fn on_sub_ack(&mut self, ack: Ack) {
        let Some(Pending::Subscribe { filter }) = self.take_pending(ack.id, PendingKind::Subscribe)
        else {
            return;
        };
        if let Some(restoring) = self.restoring.as_mut() {
            restoring.retain(|&id| id != ack.id);
        }
        self.on_subscribe_answer(ack, filter);
        self.check_restored();
    }

    /// Emits [`Event::Restored`] once every re-subscribe of this connection was answered.
    fn check_restored(&mut self) {
        if self.restoring.as_ref().is_some_and(|r| r.is_empty()) {
            self.restoring = None;
            let subscriptions = self.subs.len();
            self.events.push_back(Event::Restored { subscriptions });
        }
    }

    fn on_subscribe_answer(&mut self, ack: Ack, filter: TopicFilter) {
        let Some(sub) = self.subs.get_mut(&filter) else {
            return;
        };
        let requests = std::mem::take(&mut sub.requests);
        let result = match ack.code {
            ErrorCode::OK => Ok(()),
            code => {
                self.subs.remove(&filter);
                let message = format!("subscribe to `{}` refused", filter.as_str());
                Err(ServerError { code, message })
            }
        };
        if requests.is_empty() {
            if let Err(error) = result {
                self.events
                    .push_back(Event::SubscriptionLost { filter, error });
            }
            return;
        }
        for request in requests {
            let result = result.clone().map_err(RequestFailure::Server);
            self.events.push_back(Event::Subscribed {
                request,
                filter: filter.clone(),
                result,
            });
        }
    }

    fn on_unsub_ack(&mut self, ack: Ack) {
        let Some(Pending::Unsubscribe { filter, request }) =
            self.take_pending(ack.id, PendingKind::Unsubscribe)
        else {
            return;
        };
        let result = match ack.code {
            ErrorCode::OK => Ok(()),
            code => {
                let message = format!("unsubscribe from `{}` refused", filter.as_str());
                Err(RequestFailure::Server(ServerError { code, message }))
            }
        };
        self.events.push_back(Event::Unsubscribed {
            request,
            filter,
            result,
        });
    }

    fn on_pub_ack(&mut self, ack: Ack) {
        let outcome = match ack.code {
            ErrorCode::OK => PublishOutcome::Acked,
            // Not taken for now (a cache or the server's memory is full, or its storage is
            // unreachable): it stays in the outbox and is resent after the retry interval,
            // like an unanswered publish.
            ErrorCode::QUEUE_FULL | ErrorCode::STORAGE_UNAVAILABLE => return,
            code => {
                let message = format!("publish refused: {}", code.name());
                PublishOutcome::Failed(PublishFailure::Server(ServerError { code, message }))
            }
        };
        if let Some(Entry {
            qos: Qos::AtLeastOnce,
            ..
        }) = self.outbox.get(ack.id)
        {
            self.settle(ack.id, outcome);
        }
    }

    fn on_admin_result(&mut self, r: AdminResult) {
        let Some(Pending::Admin { request }) = self.take_pending(r.request_id, PendingKind::Admin)
        else {
            return;
        };
        let result = match r.code {
            ErrorCode::OK => Ok(r.config),
            code => Err(RequestFailure::Server(ServerError {
                code,
                message: r.message,
            })),
        };
        self.events
            .push_back(Event::AdminResult { request, result });
    }

    /// Verifies and decrypts a delivery, hands it to the application once, and acks it;
    /// a delivery that does not verify is nacked and reported instead.
    fn on_deliver(&mut self, now: Instant, d: Deliver) {
        let qos1 = d.qos == Qos::AtLeastOnce;
        if qos1 && self.dedup.contains(d.delivery_id) {
            // A resend of something already handled: the ack was lost, send it again.
            return self.send(
                now,
                &Frame::DeliverAck {
                    delivery_id: d.delivery_id,
                },
            );
        }
        match self.open(&d) {
            Ok(message) => {
                self.events.push_back(Event::Message(message));
                if qos1 {
                    self.send(
                        now,
                        &Frame::DeliverAck {
                            delivery_id: d.delivery_id,
                        },
                    );
                }
            }
            Err((reason, error)) => {
                self.events.push_back(Event::DeliveryRejected {
                    topic: d.topic.clone(),
                    publisher: d.publisher.clone(),
                    error,
                    envelope: d.payload.clone(),
                });
                if qos1 {
                    self.send(
                        now,
                        &Frame::DeliverNack {
                            delivery_id: d.delivery_id,
                            reason,
                        },
                    );
                }
            }
        }
        if qos1 {
            self.dedup.insert(d.delivery_id);
        }
    }

    fn open(&self, d: &Deliver) -> Result<Message, (NackReason, DeliveryError)> {
        let topic = Topic::new(d.topic.as_str()).map_err(|_| {
            (
                NackReason::Rejected,
                DeliveryError::InvalidTopic(d.topic.clone()),
            )
        })?;
        let plaintext = d.payload.len() >= 2
            && d.payload[0] == ENVELOPE_VERSION
            && d.payload[1] & FLAG_ENCRYPTED == 0;
        let opened = if plaintext {
            if !self.config.accept_plaintext {
                return Err((NackReason::Plaintext, DeliveryError::Plaintext));
            }
            crypto::Opened {
                plaintext: d.payload[2..].to_vec(),
                key_id: None,
                encrypted: false,
            }
        } else {
            let ring = self
                .config
                .keys
                .keyring_for(&topic)
                .ok_or_else(|| (NackReason::NoKey, DeliveryError::NoKey(d.topic.clone())))?;
            let session = self.session_name();
            crypto::open(ring, session, topic.as_str(), &d.payload)
                .map_err(|e| (NackReason::Rejected, DeliveryError::Open(e)))?
        };
        Ok(Message {
            topic,
            publisher: d.publisher.clone(),
            payload: opened.plaintext,
            encrypted: opened.encrypted,
            key_id: opened.key_id,
            qos: d.qos,
            delivery_id: d.delivery_id,
            envelope: d.payload.clone(),
        })
    }
}
