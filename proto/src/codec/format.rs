//! The byte layout of every frame: encoding and decoding (docs/PROTOCOL.md §3).

use bytes::{BufMut, Bytes};

use super::config::SessionConfig;
use super::error_code::ErrorCode;
use super::frames::*;
use super::wire::{put_string, put_varint, string_len, varint_len, Reader};
use super::{DecodeError, PROTOCOL_VERSION};

const HELLO: u8 = 0x01;
const WELCOME: u8 = 0x02;
const ERROR: u8 = 0x03;
const SUBSCRIBE: u8 = 0x04;
const SUB_ACK: u8 = 0x05;
const UNSUBSCRIBE: u8 = 0x06;
const UNSUB_ACK: u8 = 0x07;
const PUBLISH: u8 = 0x08;
const PUB_ACK: u8 = 0x09;
const DELIVER: u8 = 0x0A;
const DELIVER_ACK: u8 = 0x0B;
const DELIVER_NACK: u8 = 0x0C;
const RECEIPT: u8 = 0x0D;
const PRESENCE: u8 = 0x0E;
const PING: u8 = 0x0F;
const PONG: u8 = 0x10;
const ADMIN: u8 = 0x11;
const ADMIN_RESULT: u8 = 0x12;

const HELLO_RESUME: u8 = 0x01;
const HELLO_ADMIN_ONLY: u8 = 0x02;
const HELLO_BATCH: u8 = 0x04;
const WELCOME_SESSION_PRESENT: u8 = 0x01;
const WELCOME_BATCH: u8 = 0x02;
const SUBSCRIBE_PRESENCE: u8 = 0x01;

impl Frame {
    /// Encodes the frame as one WebSocket message.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        Bytes::from(out)
    }

    /// Encodes a `Deliver` frame from its parts: the bytes `Frame::Deliver(..).encode()`
    /// gives, without building the frame first (the server encodes one per publish).
    pub fn encode_deliver(
        qos: Qos,
        delivery_id: u64,
        attempt: u32,
        topic: &str,
        publisher: &str,
        payload: &[u8],
    ) -> Bytes {
        let len = 1 + deliver_len(delivery_id, attempt, topic, publisher, payload.len());
        let mut out = Vec::with_capacity(len);
        out.put_u8(DELIVER);
        put_deliver(
            &mut out,
            qos,
            delivery_id,
            attempt,
            topic,
            publisher,
            payload,
        );
        Bytes::from(out)
    }

    /// Encodes a frame that clients send (`Hello`, `Publish`, ..., `Ping` and `Pong`) as
    /// [`Frame::encode`] does; `None` for a frame only servers send. What clients use; it
    /// leaves the encoding of server frames out of their builds (a smaller WebAssembly
    /// module).
    pub fn encode_client_frame(&self) -> Option<Bytes> {
        let mut out = Vec::with_capacity(1 + client_fields_len(self)?);
        out.put_u8(self.type_byte());
        put_client_fields(self, &mut out);
        Some(Bytes::from(out))
    }

    /// Appends the encoded frame to `out`.
    pub fn encode_into(&self, out: &mut impl BufMut) {
        out.put_u8(self.type_byte());
        if !put_client_fields(self, out) {
            put_server_fields(self, out);
        }
    }

    /// The exact number of bytes [`Frame::encode`] produces.
    pub fn encoded_len(&self) -> usize {
        // Every frame is counted by one of the two.
        1 + client_fields_len(self)
            .or_else(|| server_fields_len(self))
            .unwrap_or_default()
    }

    /// Decodes one whole WebSocket message, a frame of either direction. Never panics:
    /// any input is a frame or an error. Payloads are slices of `message`, not copies.
    pub fn decode(message: Bytes) -> Result<Frame, DecodeError> {
        decode_with(message, |kind, r| {
            client_frame(kind, r).or_else(|| server_frame(kind, r))
        })
    }

    /// Decodes a message from a server: a frame a client sends (`Hello`, `Publish`, ...)
    /// is [`DecodeError::WrongDirection`]. What clients use; it leaves the decoding of
    /// client frames out of their builds (a smaller WebAssembly module).
    pub fn decode_from_server(message: Bytes) -> Result<Frame, DecodeError> {
        decode_with(message, |kind, r| {
            server_frame(kind, r)
                .or_else(|| client_only(kind).then_some(Err(DecodeError::WrongDirection(kind))))
        })
    }

    /// Decodes a message from a client: a frame only servers send (`Welcome`,
    /// `Deliver`, ...) is [`DecodeError::WrongDirection`].
    pub fn decode_from_client(message: Bytes) -> Result<Frame, DecodeError> {
        decode_with(message, |kind, r| {
            client_frame(kind, r)
                .or_else(|| server_only(kind).then_some(Err(DecodeError::WrongDirection(kind))))
        })
    }

    /// Decodes `message` as [`Frame::decode_from_client`] does if it is a `Publish`, but
    /// without copying its topic: the [`PublishRef`] borrows it from `message`. `None` when
    /// the message is not a `Publish` (its type byte says so; decode it as a [`Frame`]).
    /// What a server uses on its hot path, where the topic is looked up and encoded
    /// again, not kept.
    pub fn decode_publish(message: &Bytes) -> Option<Result<PublishRef<'_>, DecodeError>> {
        if message.first() != Some(&PUBLISH) {
            return None;
        }
        let mut r = Reader::new(message.clone());
        let decoded = r.u8("type").and_then(|_| publish_fields(&mut r));
        Some(decoded.and_then(|(qos, message_id, topic, payload)| {
            // `publish_fields` read to the end: nothing is left for `finish` to refuse.
            Ok(PublishRef {
                qos,
                message_id,
                topic: topic_str(&message[topic])?,
                payload,
            })
        }))
    }

    /// The frame's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Welcome(_) => "welcome",
            Frame::Error(_) => "error",
            Frame::Subscribe(_) => "subscribe",
            Frame::SubAck(_) => "sub_ack",
            Frame::Unsubscribe(_) => "unsubscribe",
            Frame::UnsubAck(_) => "unsub_ack",
            Frame::Publish(_) => "publish",
            Frame::PubAck(_) => "pub_ack",
            Frame::Deliver(_) => "deliver",
            Frame::DeliverAck { .. } => "deliver_ack",
            Frame::DeliverNack { .. } => "deliver_nack",
            Frame::Receipt(_) => "receipt",
            Frame::Presence(_) => "presence",
            Frame::Ping { .. } => "ping",
            Frame::Pong { .. } => "pong",
            Frame::Admin(_) => "admin",
            Frame::AdminResult(_) => "admin_result",
        }
    }

    fn type_byte(&self) -> u8 {
        match self {
            Frame::Hello(_) => HELLO,
            Frame::Welcome(_) => WELCOME,
            Frame::Error(_) => ERROR,
            Frame::Subscribe(_) => SUBSCRIBE,
            Frame::SubAck(_) => SUB_ACK,
            Frame::Unsubscribe(_) => UNSUBSCRIBE,
            Frame::UnsubAck(_) => UNSUB_ACK,
            Frame::Publish(_) => PUBLISH,
            Frame::PubAck(_) => PUB_ACK,
            Frame::Deliver(_) => DELIVER,
            Frame::DeliverAck { .. } => DELIVER_ACK,
            Frame::DeliverNack { .. } => DELIVER_NACK,
            Frame::Receipt(_) => RECEIPT,
            Frame::Presence(_) => PRESENCE,
            Frame::Ping { .. } => PING,
            Frame::Pong { .. } => PONG,
            Frame::Admin(_) => ADMIN,
            Frame::AdminResult(_) => ADMIN_RESULT,
        }
    }
}

/// Appends the fields after the type byte of a frame clients send, or of Ping or Pong;
/// `false` (and nothing appended) for the frames only servers send.
fn put_client_fields(frame: &Frame, out: &mut impl BufMut) -> bool {
    match frame {
        Frame::Hello(h) => {
            out.put_u8(PROTOCOL_VERSION);
            let flags = flag(h.resume, HELLO_RESUME)
                | flag(h.admin_only, HELLO_ADMIN_ONLY)
                | flag(h.batch, HELLO_BATCH);
            out.put_u8(flags);
            put_varint(out, h.keepalive_ms);
            put_string(out, &h.session);
            put_string(out, &h.password);
            put_string(out, &h.client_id);
            put_string(out, &h.resume_token);
            put_string(out, &h.display_name);
        }
        Frame::Subscribe(s) => {
            put_varint(out, s.request_id);
            out.put_u8(flag(s.presence, SUBSCRIBE_PRESENCE));
            put_string(out, &s.filter);
        }
        Frame::Unsubscribe(u) => {
            put_varint(out, u.request_id);
            put_string(out, &u.filter);
        }
        Frame::Publish(p) => {
            out.put_u8(p.qos as u8);
            put_varint(out, p.message_id);
            put_string(out, &p.topic);
            out.put_slice(&p.payload);
        }
        Frame::DeliverAck { delivery_id } => put_varint(out, *delivery_id),
        Frame::DeliverNack {
            delivery_id,
            reason,
        } => {
            put_varint(out, *delivery_id);
            out.put_u8(reason.to_wire());
        }
        Frame::Ping { nonce } | Frame::Pong { nonce } => put_varint(out, *nonce),
        Frame::Admin(a) => {
            put_varint(out, a.request_id);
            out.put_u8(a.op.code());
            put_string(out, &a.session);
            put_string(out, &a.credential);
            match &a.op {
                AdminOp::Create {
                    password,
                    secret,
                    config,
                } => {
                    put_string(out, password);
                    put_string(out, secret);
                    config.encode(out);
                }
                AdminOp::Configure(config) => config.encode(out),
                AdminOp::Rotate { password, secret } => {
                    put_string(out, password);
                    put_string(out, secret);
                }
                AdminOp::Drop | AdminOp::Suspend | AdminOp::Resume | AdminOp::Describe => {}
            }
        }
        _ => return false,
    }
    true
}

/// Appends the fields after the type byte of a frame only servers send; nothing for the
/// others (see [`put_client_fields`]).
fn put_server_fields(frame: &Frame, out: &mut impl BufMut) {
    match frame {
        Frame::Welcome(w) => {
            out.put_u8(PROTOCOL_VERSION);
            out.put_u8(
                flag(w.session_present, WELCOME_SESSION_PRESENT) | flag(w.batch, WELCOME_BATCH),
            );
            put_string(out, &w.client_id);
            put_string(out, &w.resume_token);
            put_varint(out, w.keepalive_ms);
            w.config.encode(out);
        }
        Frame::Error(e) => {
            out.put_u16(e.code.0);
            put_varint(out, e.ref_id);
            put_string(out, &e.message);
        }
        Frame::SubAck(a) | Frame::UnsubAck(a) | Frame::PubAck(a) => {
            put_varint(out, a.id);
            out.put_u16(a.code.0);
        }
        Frame::Deliver(d) => put_deliver(
            out,
            d.qos,
            d.delivery_id,
            d.attempt,
            &d.topic,
            &d.publisher,
            &d.payload,
        ),
        Frame::Receipt(r) => {
            put_varint(out, r.message_id);
            out.put_u8(r.status.to_wire());
            put_varint(out, u64::from(r.delivered));
            put_varint(out, u64::from(r.failed));
        }
        Frame::Presence(p) => {
            put_string(out, &p.filter);
            out.put_u8(p.kind as u8);
            put_varint(out, p.members.len() as u64);
            for m in &p.members {
                put_string(out, &m.client_id);
                put_string(out, &m.display_name);
            }
        }
        Frame::AdminResult(r) => {
            put_varint(out, r.request_id);
            out.put_u16(r.code.0);
            put_string(out, &r.message);
            r.config.encode(out);
        }
        _ => {}
    }
}

/// The length of what [`put_client_fields`] appends; `None` for the frames only servers send.
fn client_fields_len(frame: &Frame) -> Option<usize> {
    Some(match frame {
        Frame::Hello(h) => {
            2 + varint_len(h.keepalive_ms)
                + string_len(&h.session)
                + string_len(&h.password)
                + string_len(&h.client_id)
                + string_len(&h.resume_token)
                + string_len(&h.display_name)
        }
        Frame::Subscribe(s) => varint_len(s.request_id) + 1 + string_len(&s.filter),
        Frame::Unsubscribe(u) => varint_len(u.request_id) + string_len(&u.filter),
        Frame::Publish(p) => 1 + varint_len(p.message_id) + string_len(&p.topic) + p.payload.len(),
        Frame::DeliverAck { delivery_id } => varint_len(*delivery_id),
        Frame::DeliverNack { delivery_id, .. } => varint_len(*delivery_id) + 1,
        Frame::Ping { nonce } | Frame::Pong { nonce } => varint_len(*nonce),
        Frame::Admin(a) => {
            varint_len(a.request_id)
                + 1
                + string_len(&a.session)
                + string_len(&a.credential)
                + match &a.op {
                    AdminOp::Create {
                        password,
                        secret,
                        config,
                    } => string_len(password) + string_len(secret) + config.encoded_len(),
                    AdminOp::Configure(config) => config.encoded_len(),
                    AdminOp::Rotate { password, secret } => {
                        string_len(password) + string_len(secret)
                    }
                    AdminOp::Drop | AdminOp::Suspend | AdminOp::Resume | AdminOp::Describe => 0,
                }
        }
        _ => return None,
    })
}

/// The length of what [`put_server_fields`] appends; `None` for the frames clients send.
fn server_fields_len(frame: &Frame) -> Option<usize> {
    Some(match frame {
        Frame::Welcome(w) => {
            2 + string_len(&w.client_id)
                + string_len(&w.resume_token)
                + varint_len(w.keepalive_ms)
                + w.config.encoded_len()
        }
        Frame::Error(e) => 2 + varint_len(e.ref_id) + string_len(&e.message),
        Frame::SubAck(a) | Frame::UnsubAck(a) | Frame::PubAck(a) => varint_len(a.id) + 2,
        Frame::Deliver(d) => deliver_len(
            d.delivery_id,
            d.attempt,
            &d.topic,
            &d.publisher,
            d.payload.len(),
        ),
        Frame::Receipt(r) => {
            varint_len(r.message_id)
                + 1
                + varint_len(u64::from(r.delivered))
                + varint_len(u64::from(r.failed))
        }
        Frame::Presence(p) => {
            string_len(&p.filter)
                + 1
                + varint_len(p.members.len() as u64)
                + p.members
                    .iter()
                    .map(|m| string_len(&m.client_id) + string_len(&m.display_name))
                    .sum::<usize>()
        }
        Frame::AdminResult(r) => {
            varint_len(r.request_id) + 2 + string_len(&r.message) + r.config.encoded_len()
        }
        _ => return None,
    })
}

/// Reads the type byte, the frame `frames` decodes for it, and checks nothing is left.
fn decode_with(
    message: Bytes,
    frames: impl FnOnce(u8, &mut Reader) -> Option<Result<Frame, DecodeError>>,
) -> Result<Frame, DecodeError> {
    let mut r = Reader::new(message);
    if r.remaining() == 0 {
        return Err(DecodeError::Empty);
    }
    let kind = r.u8("type")?;
    let frame = frames(kind, &mut r).unwrap_or(Err(DecodeError::UnknownFrameType(kind)))?;
    r.finish()?;
    Ok(frame)
}

/// A `Publish`'s fields after its type byte, the topic as where it is in the message (its
/// UTF-8 is checked by [`topic_str`]). Reads to the end of the message.
fn publish_fields(
    r: &mut Reader,
) -> Result<(Qos, u64, core::ops::Range<usize>, Bytes), DecodeError> {
    let qos = Qos::from_bits(r.u8("qos")?)?;
    let message_id = r.varint("message_id")?;
    let topic = r.string_range("topic")?;
    Ok((qos, message_id, topic, r.rest()))
}

/// A `Publish`'s topic bytes as text.
fn topic_str(bytes: &[u8]) -> Result<&str, DecodeError> {
    core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field: "topic" })
}

/// Whether `kind` is a frame type only clients send.
fn client_only(kind: u8) -> bool {
    matches!(
        kind,
        HELLO | SUBSCRIBE | UNSUBSCRIBE | PUBLISH | DELIVER_ACK | DELIVER_NACK | ADMIN
    )
}

/// Whether `kind` is a frame type only servers send.
fn server_only(kind: u8) -> bool {
    matches!(
        kind,
        WELCOME
            | ERROR
            | SUB_ACK
            | UNSUB_ACK
            | PUB_ACK
            | DELIVER
            | RECEIPT
            | PRESENCE
            | ADMIN_RESULT
    )
}

/// A frame's decoder, after its type byte.
type Decoder = fn(&mut Reader) -> Result<Frame, DecodeError>;

/// The frames clients send, and Ping and Pong (both ways); `None` for other types.
fn client_frame(kind: u8, r: &mut Reader) -> Option<Result<Frame, DecodeError>> {
    let decode: Decoder = match kind {
        HELLO => |r| Ok(Frame::Hello(decode_hello(r)?)),
        SUBSCRIBE => |r| {
            Ok(Frame::Subscribe(Subscribe {
                request_id: r.varint("request_id")?,
                presence: flags(r.u8("flags")?, SUBSCRIBE_PRESENCE, "flags")? != 0,
                filter: r.string("filter")?,
            }))
        },
        UNSUBSCRIBE => |r| {
            Ok(Frame::Unsubscribe(Unsubscribe {
                request_id: r.varint("request_id")?,
                filter: r.string("filter")?,
            }))
        },
        PUBLISH => |r| {
            let (qos, message_id, topic, payload) = publish_fields(r)?;
            Ok(Frame::Publish(Publish {
                qos,
                message_id,
                topic: topic_str(&r.message()[topic])?.to_owned(),
                payload,
            }))
        },
        DELIVER_ACK => |r| {
            Ok(Frame::DeliverAck {
                delivery_id: r.varint("delivery_id")?,
            })
        },
        DELIVER_NACK => |r| {
            Ok(Frame::DeliverNack {
                delivery_id: r.varint("delivery_id")?,
                reason: NackReason::from_wire(r.u8("reason")?),
            })
        },
        ADMIN => |r| Ok(Frame::Admin(decode_admin(r)?)),
        _ => ping_pong(kind)?,
    };
    Some(decode(r))
}

/// The frames servers send, and Ping and Pong; `None` for other types.
fn server_frame(kind: u8, r: &mut Reader) -> Option<Result<Frame, DecodeError>> {
    let decode: Decoder = match kind {
        WELCOME => |r| Ok(Frame::Welcome(decode_welcome(r)?)),
        ERROR => |r| {
            Ok(Frame::Error(ErrorFrame {
                code: ErrorCode(r.u16("code")?),
                ref_id: r.varint("ref_id")?,
                message: r.string("message")?,
            }))
        },
        SUB_ACK => |r| Ok(Frame::SubAck(decode_ack(r)?)),
        UNSUB_ACK => |r| Ok(Frame::UnsubAck(decode_ack(r)?)),
        PUB_ACK => |r| Ok(Frame::PubAck(decode_ack(r)?)),
        DELIVER => |r| {
            Ok(Frame::Deliver(Deliver {
                qos: Qos::from_bits(r.u8("qos")?)?,
                delivery_id: r.varint("delivery_id")?,
                attempt: r.varint_u32("attempt")?,
                topic: r.string("topic")?,
                publisher: r.string("publisher")?,
                payload: r.rest(),
            }))
        },
        RECEIPT => |r| {
            Ok(Frame::Receipt(Receipt {
                message_id: r.varint("message_id")?,
                status: ReceiptStatus::from_wire(r.u8("status")?),
                delivered: r.varint_u32("delivered")?,
                failed: r.varint_u32("failed")?,
            }))
        },
        PRESENCE => |r| Ok(Frame::Presence(decode_presence(r)?)),
        ADMIN_RESULT => |r| {
            Ok(Frame::AdminResult(AdminResult {
                request_id: r.varint("request_id")?,
                code: ErrorCode(r.u16("code")?),
                message: r.string("message")?,
                config: SessionConfig::decode(r)?,
            }))
        },
        _ => ping_pong(kind)?,
    };
    Some(decode(r))
}

/// Ping and Pong, which both sides send.
fn ping_pong(kind: u8) -> Option<Decoder> {
    match kind {
        PING => Some(|r| {
            Ok(Frame::Ping {
                nonce: r.varint("nonce")?,
            })
        }),
        PONG => Some(|r| {
            Ok(Frame::Pong {
                nonce: r.varint("nonce")?,
            })
        }),
        _ => None,
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

/// Checks that only `allowed` bits are set.
fn flags(value: u8, allowed: u8, field: &'static str) -> Result<u8, DecodeError> {
    if value & !allowed != 0 {
        return Err(DecodeError::InvalidFlags { field, value });
    }
    Ok(value)
}

fn version(r: &mut Reader) -> Result<(), DecodeError> {
    match r.u8("version")? {
        PROTOCOL_VERSION => Ok(()),
        other => Err(DecodeError::UnsupportedVersion(other)),
    }
}

fn decode_hello(r: &mut Reader) -> Result<Hello, DecodeError> {
    version(r)?;
    let allowed = HELLO_RESUME | HELLO_ADMIN_ONLY | HELLO_BATCH;
    let f = flags(r.u8("flags")?, allowed, "flags")?;
    Ok(Hello {
        resume: f & HELLO_RESUME != 0,
        admin_only: f & HELLO_ADMIN_ONLY != 0,
        batch: f & HELLO_BATCH != 0,
        keepalive_ms: r.varint("keepalive_ms")?,
        session: r.string("session")?,
        password: r.string("password")?,
        client_id: r.string("client_id")?,
        resume_token: r.string("resume_token")?,
        display_name: r.string("display_name")?,
    })
}

fn decode_welcome(r: &mut Reader) -> Result<Welcome, DecodeError> {
    version(r)?;
    let f = flags(
        r.u8("flags")?,
        WELCOME_SESSION_PRESENT | WELCOME_BATCH,
        "flags",
    )?;
    Ok(Welcome {
        session_present: f & WELCOME_SESSION_PRESENT != 0,
        batch: f & WELCOME_BATCH != 0,
        client_id: r.string("client_id")?,
        resume_token: r.string("resume_token")?,
        keepalive_ms: r.varint("keepalive_ms")?,
        config: SessionConfig::decode(r)?,
    })
}

fn decode_ack(r: &mut Reader) -> Result<Ack, DecodeError> {
    Ok(Ack {
        id: r.varint("id")?,
        code: ErrorCode(r.u16("code")?),
    })
}

fn decode_presence(r: &mut Reader) -> Result<Presence, DecodeError> {
    let filter = r.string("filter")?;
    let kind = match r.u8("kind")? {
        0 => PresenceKind::Snapshot,
        1 => PresenceKind::Join,
        2 => PresenceKind::Leave,
        _ => return Err(DecodeError::InvalidValue { field: "kind" }),
    };
    let count = r.varint("member_count")?;
    // Each member takes at least two bytes, which bounds the allocation by the message.
    if count > (r.remaining() / 2) as u64 {
        return Err(DecodeError::Truncated { field: "members" });
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        members.push(Member {
            client_id: r.string("member_client_id")?,
            display_name: r.string("member_display_name")?,
        });
    }
    Ok(Presence {
        filter,
        kind,
        members,
    })
}

fn decode_admin(r: &mut Reader) -> Result<AdminRequest, DecodeError> {
    let request_id = r.varint("request_id")?;
    let op_code = r.u8("op")?;
    let session = r.string("session")?;
    let credential = r.string("credential")?;
    let op = match op_code {
        1 => AdminOp::Create {
            password: r.string("password")?,
            secret: r.string("secret")?,
            config: SessionConfig::decode(r)?,
        },
        2 => AdminOp::Drop,
        3 => AdminOp::Suspend,
        4 => AdminOp::Resume,
        5 => AdminOp::Configure(SessionConfig::decode(r)?),
        6 => AdminOp::Describe,
        7 => AdminOp::Rotate {
            password: r.string("password")?,
            secret: r.string("secret")?,
        },
        _ => return Err(DecodeError::InvalidValue { field: "op" }),
    };
    Ok(AdminRequest {
        request_id,
        session,
        credential,
        op,
    })
}

/// Bytes the fields of a `Deliver` frame take, after its type byte.
fn deliver_len(
    delivery_id: u64,
    attempt: u32,
    topic: &str,
    publisher: &str,
    payload_len: usize,
) -> usize {
    1 + varint_len(delivery_id)
        + varint_len(u64::from(attempt))
        + string_len(topic)
        + string_len(publisher)
        + payload_len
}

/// The fields of a `Deliver` frame, after its type byte.
fn put_deliver(
    out: &mut impl BufMut,
    qos: Qos,
    delivery_id: u64,
    attempt: u32,
    topic: &str,
    publisher: &str,
    payload: &[u8],
) {
    out.put_u8(qos as u8);
    put_varint(out, delivery_id);
    put_varint(out, u64::from(attempt));
    put_string(out, topic);
    put_string(out, publisher);
    out.put_slice(payload);
}
