//! Commands from the application.

use bytes::Bytes;

use super::event::{ClientError, CloseReason, Event, PublishId, RequestId};
use super::outbox::Entry;
use super::{Client, Pending, Phase, PublishOptions, Sub, TransportCommand};
use crate::codec::{AdminOp, AdminRequest, Frame, Publish, Unsubscribe};
use crate::crypto::{self, KeyStore};
use crate::time::Instant;
use crate::topic::{Topic, TopicFilter};

impl Client {
    /// Subscribes to `filter` (again after every reconnect, until unsubscribed). With
    /// `presence`, [`Event::Presence`] reports who else is subscribed to it. Settles with
    /// one [`Event::Subscribed`].
    pub fn subscribe(
        &mut self,
        now: Instant,
        filter: TopicFilter,
        presence: bool,
    ) -> Result<RequestId, ClientError> {
        self.check_session_command()?;
        let request = self.new_request();
        let sub = self.subs.get_or_insert_with(filter.clone(), Sub::default);
        sub.presence = presence;
        sub.requests.push(request);
        if self.phase == Phase::Connected {
            self.send_subscribe(now, request.0, filter, presence);
        }
        Ok(request)
    }

    /// Unsubscribes from `filter`. Settles with one [`Event::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filter: TopicFilter,
    ) -> Result<RequestId, ClientError> {
        self.check_session_command()?;
        let request = self.new_request();
        if let Some(sub) = self.subs.remove(&filter) {
            // Subscribes not yet answered settle now, as subscribed then unsubscribed; a
            // late sub-ack finds no subscription and is ignored.
            for r in sub.requests {
                self.events.push_back(Event::Subscribed {
                    request: r,
                    filter: filter.clone(),
                    result: Ok(()),
                });
            }
        }
        if self.phase == Phase::Connected {
            self.pending.insert(
                request.0,
                Pending::Unsubscribe {
                    filter: filter.clone(),
                    request,
                },
            );
            let frame = Frame::Unsubscribe(Unsubscribe {
                request_id: request.0,
                filter: filter.as_str().to_owned(),
            });
            self.send(now, &frame);
        } else {
            self.queued_unsubs.push((request, filter));
        }
        Ok(request)
    }

    /// Seals `payload` for `topic` with the topic's key (unless `options.plaintext`) and
    /// publishes it, now or after the next (re)connect. Settles with exactly one
    /// [`Event::PublishSettled`]; QoS 1 publishes later also get an [`Event::Receipt`].
    pub fn publish(
        &mut self,
        now: Instant,
        topic: &Topic,
        payload: &[u8],
        options: PublishOptions,
    ) -> Result<PublishId, ClientError> {
        self.check_session_command()?;
        if topic.is_system() {
            return Err(ClientError::ForbiddenTopic(topic.as_str().to_owned()));
        }
        let session = self.session_name();
        let envelope = if options.plaintext {
            crypto::seal_plaintext(payload)
        } else {
            let ring = self
                .config
                .keys
                .keyring_for(topic)
                .ok_or_else(|| ClientError::NoKey(topic.as_str().to_owned()))?;
            crypto::seal(ring, session, topic.as_str(), payload)?
        };
        if envelope.len() > self.max_message_size {
            return Err(ClientError::MessageTooLarge {
                size: envelope.len(),
                max: self.max_message_size,
            });
        }
        let full = self.outbox.len() >= self.config.outbox_max_messages
            || self.outbox.bytes() + envelope.len() > self.config.outbox_max_bytes;
        if full {
            return Err(ClientError::OutboxFull {
                messages: self.outbox.len(),
                bytes: self.outbox.bytes(),
                max_messages: self.config.outbox_max_messages,
                max_bytes: self.config.outbox_max_bytes,
            });
        }
        let id = self.next_message_id;
        self.next_message_id += 1;
        let frame = Frame::Publish(Publish {
            qos: options.qos,
            message_id: id,
            topic: topic.as_str().to_owned(),
            payload: Bytes::from(envelope),
        })
        .encode_client_frame()
        .expect("Publish is a client frame");
        let deadline = self.config.publish_retry.deadline.map(|d| now + d);
        let entry = Entry {
            qos: options.qos,
            frame,
            attempts: 0,
            deadline,
            retry_at: None,
        };
        self.outbox.insert(id, entry);
        if self.phase == Phase::Connected {
            self.send_held(now, id);
        }
        Ok(PublishId(id))
    }

    /// Sends a session administration request (queued until connected). Settles with one
    /// [`Event::AdminResult`]. `credential` is the server's admin token for
    /// [`AdminOp::Create`] and the session's secret key otherwise.
    pub fn admin(
        &mut self,
        now: Instant,
        session: &str,
        credential: &str,
        op: AdminOp,
    ) -> Result<RequestId, ClientError> {
        if matches!(self.phase, Phase::Closed(_)) {
            return Err(ClientError::Closed);
        }
        let request = self.new_request();
        let req = AdminRequest {
            request_id: request.0,
            session: session.to_owned(),
            credential: credential.to_owned(),
            op,
        };
        if self.phase == Phase::Connected {
            self.pending.insert(request.0, Pending::Admin { request });
            self.send(now, &Frame::Admin(req));
        } else {
            self.queued_admin.push((request, req));
        }
        Ok(request)
    }

    /// Closes the client for good: the transport is closed, every held publish fails with
    /// [`PublishFailure::Closed`] and every pending request with
    /// [`RequestFailure::Closed`]. Closing twice does nothing.
    pub fn close(&mut self, _now: Instant) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        if self.has_transport() {
            self.transport.push_back(TransportCommand::Close {
                code: 1000,
                reason: "client closed".into(),
            });
        }
        self.close_with(CloseReason::Local);
    }

    /// Something suggests the network changed (the browser went online, a tab became
    /// visible, a laptop woke up): reconnect now if waiting, or check a live connection
    /// with a ping right away instead of trusting it until the next keepalive.
    pub fn reconnect_now(&mut self, now: Instant) {
        match self.phase {
            Phase::Waiting { .. } => self.start_connect(now),
            Phase::Connected if self.ping_sent_at.is_none() => self.ping(now),
            _ => {}
        }
    }

    /// The keys used to seal and open payloads; change them at any time (rotation,
    /// joining a private channel).
    pub fn keys_mut(&mut self) -> &mut KeyStore {
        &mut self.config.keys
    }
}
