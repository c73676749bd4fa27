//! The cross-implementation frame vectors in `docs/test-vectors/frames-v1.json`.
//!
//! Every vector's bytes decode to the frame its JSON fields describe, and encoding that
//! frame gives the bytes back; every reject case fails to decode with the named
//! [`DecodeError`]. The expected frames are built from the documented field values (not
//! by round-tripping the hex), so the file documents the layout for other implementations;
//! `scripts/check-protocol.py` checks the same file with a Python codec written from
//! docs/PROTOCOL.md alone. Embedded with `include_str!` so the tests also run in a browser.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::collections::BTreeSet;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::*;

/// The vectors file, as text.
const JSON: &str = include_str!("../../../docs/test-vectors/frames-v1.json");

/// One valid frame: its bytes and its fields.
struct Vector {
    name: String,
    frame: Frame,
    bytes: Vec<u8>,
    /// What an encoder writes, when that differs from `bytes`.
    reencoded: Option<Vec<u8>>,
}

/// One message that must not decode.
struct Reject {
    name: String,
    bytes: Vec<u8>,
    error: String,
}

fn load() -> Value {
    let doc: Value = serde_json::from_str(JSON).expect("frames-v1.json is valid JSON");
    assert_eq!(
        doc["version"], 1,
        "frames-v1.json is for protocol version 1"
    );
    doc
}

fn entries<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("frames-v1.json has a `{key}` array"))
}

fn unhex(name: &str, value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{name}: hex is a string"));
    hex::decode(text).unwrap_or_else(|e| panic!("{name}: invalid hex: {e}"))
}

fn vectors() -> Vec<Vector> {
    let doc = load();
    entries(&doc, "vectors")
        .iter()
        .map(|entry| {
            let name = entry["name"]
                .as_str()
                .expect("every vector has a name")
                .to_owned();
            let reencoded = entry.get("reencoded_hex").map(|h| unhex(&name, h));
            Vector {
                frame: frame_from_json(&name, &entry["frame"]),
                bytes: unhex(&name, &entry["hex"]),
                reencoded,
                name,
            }
        })
        .collect()
}

fn rejects() -> Vec<Reject> {
    let doc = load();
    entries(&doc, "reject")
        .iter()
        .map(|entry| {
            let name = entry["name"]
                .as_str()
                .expect("every reject case has a name")
                .to_owned();
            assert_eq!(entry["expect"], "reject", "{name}: reject cases say so");
            Reject {
                bytes: unhex(&name, &entry["hex"]),
                error: entry["error"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: `error` names a DecodeError variant"))
                    .to_owned(),
                name,
            }
        })
        .collect()
}

/// A JSON object whose keys must all be used: a documented field that the frame does not
/// have is a mistake in the file.
struct Fields<'a> {
    context: String,
    map: &'a Map<String, Value>,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(context: String, value: &'a Value) -> Self {
        let map = value
            .as_object()
            .unwrap_or_else(|| panic!("{context}: expected a JSON object"));
        Fields {
            context,
            map,
            read: Vec::new(),
        }
    }

    fn optional(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.map.get(key)
    }

    fn get(&mut self, key: &'static str) -> &'a Value {
        match self.optional(key) {
            Some(value) => value,
            None => panic!("{}: missing field `{key}`", self.context),
        }
    }

    fn u64_of(&self, key: &str, value: &Value) -> u64 {
        value
            .as_u64()
            .unwrap_or_else(|| panic!("{}: `{key}` is not a u64", self.context))
    }

    fn u32_of(&self, key: &str, value: &Value) -> u32 {
        u32::try_from(self.u64_of(key, value))
            .unwrap_or_else(|_| panic!("{}: `{key}` does not fit a u32", self.context))
    }

    fn u64(&mut self, key: &'static str) -> u64 {
        let value = self.get(key);
        self.u64_of(key, value)
    }

    fn u32(&mut self, key: &'static str) -> u32 {
        let value = self.get(key);
        self.u32_of(key, value)
    }

    fn u8(&mut self, key: &'static str) -> u8 {
        u8::try_from(self.u64(key))
            .unwrap_or_else(|_| panic!("{}: `{key}` does not fit a u8", self.context))
    }

    fn code(&mut self, key: &'static str) -> ErrorCode {
        let value = u16::try_from(self.u64(key))
            .unwrap_or_else(|_| panic!("{}: `{key}` does not fit a u16", self.context));
        ErrorCode(value)
    }

    fn bool(&mut self, key: &'static str) -> bool {
        self.get(key)
            .as_bool()
            .unwrap_or_else(|| panic!("{}: `{key}` is not a boolean", self.context))
    }

    fn str(&mut self, key: &'static str) -> &'a str {
        self.get(key)
            .as_str()
            .unwrap_or_else(|| panic!("{}: `{key}` is not a string", self.context))
    }

    fn string(&mut self, key: &'static str) -> String {
        self.str(key).to_owned()
    }

    fn payload(&mut self, key: &'static str) -> Bytes {
        let context = format!("{}: `{key}`", self.context);
        Bytes::from(unhex(&context, self.get(key)))
    }

    fn opt_u64(&mut self, key: &'static str) -> Option<u64> {
        self.optional(key).map(|v| self.u64_of(key, v))
    }

    fn opt_u32(&mut self, key: &'static str) -> Option<u32> {
        self.optional(key).map(|v| self.u32_of(key, v))
    }

    /// An enumeration: its name, or a number for a value without a name.
    fn named<T>(
        &mut self,
        key: &'static str,
        by_name: impl Fn(&str) -> Option<T>,
        by_number: impl Fn(u8) -> T,
    ) -> T {
        match self.get(key) {
            Value::String(name) => by_name(name)
                .unwrap_or_else(|| panic!("{}: unknown `{key}` name {name:?}", self.context)),
            number => {
                let n = u8::try_from(self.u64_of(key, number))
                    .unwrap_or_else(|_| panic!("{}: `{key}` does not fit a u8", self.context));
                by_number(n)
            }
        }
    }

    fn config(&mut self, key: &'static str) -> SessionConfig {
        let context = format!("{}: `{key}`", self.context);
        config_from_json(context, self.get(key))
    }

    /// Checks that the object has no field the frame does not use.
    fn finish(self) {
        for key in self.map.keys() {
            assert!(
                self.read.contains(&key.as_str()),
                "{}: unexpected field `{key}`",
                self.context
            );
        }
    }
}

fn qos(context: &str, value: u8) -> Qos {
    match value {
        0 => Qos::AtMostOnce,
        1 => Qos::AtLeastOnce,
        other => panic!("{context}: qos {other} is not 0 or 1"),
    }
}

fn config_from_json(context: String, value: &Value) -> SessionConfig {
    let mut f = Fields::new(context, value);
    let config = SessionConfig {
        retry_interval_ms: f.opt_u64("retry_interval"),
        max_retries: f.opt_u32("max_retries"),
        expiry_ms: f.opt_u64("expiry"),
        max_message_size: f.opt_u32("max_message_size"),
        max_connections: f.opt_u32("max_connections"),
        max_subscriptions: f.opt_u32("max_subscriptions"),
        max_pending: f.opt_u32("max_pending"),
        max_cache_bytes: f.opt_u32("max_cache_bytes"),
        slow_consumer_policy: f
            .optional("slow_consumer_policy")
            .map(|v| match v.as_str() {
                Some("disconnect") => SlowConsumerPolicy::Disconnect,
                Some("drop_oldest") => SlowConsumerPolicy::DropOldest,
                _ => panic!("{}: unknown slow_consumer_policy {v}", f.context),
            }),
    };
    f.finish();
    config
}

fn members_from_json(context: &str, value: &Value) -> Vec<Member> {
    let list = value
        .as_array()
        .unwrap_or_else(|| panic!("{context}: `members` is a list"));
    list.iter()
        .map(|m| {
            let mut f = Fields::new(format!("{context}: member"), m);
            let member = Member {
                client_id: f.string("client_id"),
                display_name: f.string("display_name"),
            };
            f.finish();
            member
        })
        .collect()
}

/// Builds the frame a vector documents, field by field.
fn frame_from_json(name: &str, value: &Value) -> Frame {
    let mut f = Fields::new(name.to_owned(), value);
    let kind = f.str("type");
    let frame = match kind {
        "hello" | "welcome" => {
            assert_eq!(f.u8("version"), PROTOCOL_VERSION, "{name}: version");
            if kind == "hello" {
                Frame::Hello(Hello {
                    resume: f.bool("resume"),
                    admin_only: f.bool("admin_only"),
                    batch: f.bool("batch"),
                    keepalive_ms: f.u64("keepalive_ms"),
                    session: f.string("session"),
                    password: f.string("password"),
                    client_id: f.string("client_id"),
                    resume_token: f.string("resume_token"),
                    display_name: f.string("display_name"),
                })
            } else {
                Frame::Welcome(Welcome {
                    session_present: f.bool("session_present"),
                    batch: f.bool("batch"),
                    client_id: f.string("client_id"),
                    resume_token: f.string("resume_token"),
                    keepalive_ms: f.u64("keepalive_ms"),
                    config: f.config("config"),
                })
            }
        }
        "error" => Frame::Error(ErrorFrame {
            code: f.code("code"),
            ref_id: f.u64("ref_id"),
            message: f.string("message"),
        }),
        "subscribe" => Frame::Subscribe(Subscribe {
            request_id: f.u64("request_id"),
            presence: f.bool("presence"),
            filter: f.string("filter"),
        }),
        "unsubscribe" => Frame::Unsubscribe(Unsubscribe {
            request_id: f.u64("request_id"),
            filter: f.string("filter"),
        }),
        "sub_ack" | "unsub_ack" | "pub_ack" => {
            let ack = Ack {
                id: f.u64("id"),
                code: f.code("code"),
            };
            match kind {
                "sub_ack" => Frame::SubAck(ack),
                "unsub_ack" => Frame::UnsubAck(ack),
                _ => Frame::PubAck(ack),
            }
        }
        "publish" => Frame::Publish(Publish {
            qos: qos(name, f.u8("qos")),
            message_id: f.u64("message_id"),
            topic: f.string("topic"),
            payload: f.payload("payload"),
        }),
        "deliver" => Frame::Deliver(Deliver {
            qos: qos(name, f.u8("qos")),
            delivery_id: f.u64("delivery_id"),
            attempt: f.u32("attempt"),
            topic: f.string("topic"),
            publisher: f.string("publisher"),
            payload: f.payload("payload"),
        }),
        "deliver_ack" => Frame::DeliverAck {
            delivery_id: f.u64("delivery_id"),
        },
        "deliver_nack" => Frame::DeliverNack {
            delivery_id: f.u64("delivery_id"),
            reason: f.named(
                "reason",
                |n| match n {
                    "rejected" => Some(NackReason::Rejected),
                    "no_key" => Some(NackReason::NoKey),
                    "plaintext" => Some(NackReason::Plaintext),
                    _ => None,
                },
                NackReason::Other,
            ),
        },
        "receipt" => Frame::Receipt(Receipt {
            message_id: f.u64("message_id"),
            status: f.named(
                "status",
                |n| match n {
                    "delivered" => Some(ReceiptStatus::Delivered),
                    "expired" => Some(ReceiptStatus::Expired),
                    "retries_exhausted" => Some(ReceiptStatus::RetriesExhausted),
                    "dropped" => Some(ReceiptStatus::Dropped),
                    "no_subscribers" => Some(ReceiptStatus::NoSubscribers),
                    _ => None,
                },
                ReceiptStatus::Other,
            ),
            delivered: f.u32("delivered"),
            failed: f.u32("failed"),
        }),
        "presence" => {
            let filter = f.string("filter");
            let kind = match f.str("kind") {
                "snapshot" => PresenceKind::Snapshot,
                "join" => PresenceKind::Join,
                "leave" => PresenceKind::Leave,
                other => panic!("{name}: unknown presence kind {other:?}"),
            };
            let members = members_from_json(name, f.get("members"));
            Frame::Presence(Presence {
                filter,
                kind,
                members,
            })
        }
        "ping" => Frame::Ping {
            nonce: f.u64("nonce"),
        },
        "pong" => Frame::Pong {
            nonce: f.u64("nonce"),
        },
        "admin" => {
            let request_id = f.u64("request_id");
            let op_name = f.str("op");
            let session = f.string("session");
            let credential = f.string("credential");
            let op = match op_name {
                "create" => AdminOp::Create {
                    password: f.string("password"),
                    secret: f.string("secret"),
                    config: f.config("config"),
                },
                "drop" => AdminOp::Drop,
                "suspend" => AdminOp::Suspend,
                "resume" => AdminOp::Resume,
                "configure" => AdminOp::Configure(f.config("config")),
                "describe" => AdminOp::Describe,
                "rotate" => AdminOp::Rotate {
                    password: f.string("password"),
                    secret: f.string("secret"),
                },
                other => panic!("{name}: unknown admin op {other:?}"),
            };
            Frame::Admin(AdminRequest {
                request_id,
                session,
                credential,
                op,
            })
        }
        "admin_result" => Frame::AdminResult(AdminResult {
            request_id: f.u64("request_id"),
            code: f.code("code"),
            message: f.string("message"),
            config: f.config("config"),
        }),
        other => panic!("{name}: unknown frame type {other:?}"),
    };
    f.finish();
    frame
}

/// The name of a [`DecodeError`] variant, as the vectors file spells it.
fn error_name(error: &DecodeError) -> &'static str {
    match error {
        DecodeError::Empty => "Empty",
        DecodeError::UnknownFrameType(_) => "UnknownFrameType",
        DecodeError::UnsupportedVersion(_) => "UnsupportedVersion",
        DecodeError::Truncated { .. } => "Truncated",
        DecodeError::InvalidUtf8 { .. } => "InvalidUtf8",
        DecodeError::VarintOverflow { .. } => "VarintOverflow",
        DecodeError::NonCanonicalVarint { .. } => "NonCanonicalVarint",
        DecodeError::InvalidFlags { .. } => "InvalidFlags",
        DecodeError::InvalidValue { .. } => "InvalidValue",
        DecodeError::TrailingBytes { .. } => "TrailingBytes",
        DecodeError::WrongDirection(_) => "WrongDirection",
    }
}

#[test]
fn every_vector_decodes_to_its_documented_frame_and_encodes_to_its_bytes() {
    let mut failures = Vec::new();
    for v in vectors() {
        let decoded = Frame::decode(Bytes::from(v.bytes.clone()));
        if decoded.as_ref() != Ok(&v.frame) {
            failures.push(format!(
                "{}: decoded {decoded:?}, documented {:?}",
                v.name, v.frame
            ));
        }
        let encoded = v.frame.encode();
        let expected = v.reencoded.as_ref().unwrap_or(&v.bytes);
        if &encoded[..] != expected.as_slice() {
            failures.push(format!(
                "{}: encodes to {}, expected {}",
                v.name,
                hex::encode(&encoded),
                hex::encode(expected)
            ));
        }
        if encoded.len() != v.frame.encoded_len() {
            failures.push(format!("{}: encoded_len is not the encoded length", v.name));
        }
        if v.reencoded.as_ref() == Some(&v.bytes) {
            failures.push(format!("{}: reencoded_hex repeats hex", v.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_reject_case_fails_to_decode_with_the_named_error() {
    let mut failures = Vec::new();
    for r in rejects() {
        match Frame::decode(Bytes::from(r.bytes)) {
            Ok(frame) => failures.push(format!("{}: decoded to {frame:?}", r.name)),
            Err(e) if error_name(&e) != r.error => {
                failures.push(format!(
                    "{}: failed with {e:?}, expected {}",
                    r.name, r.error
                ));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_batch_splits_into_its_documented_frames_or_fails_as_documented() {
    let doc = load();
    let cases = entries(&doc, "batches");
    assert!(cases.len() >= 6, "batch cases are there");
    for case in cases {
        let name = case["name"].as_str().expect("every batch case has a name");
        let message = unhex(name, &case["hex"]);
        assert!(batch::is_batch(&message), "{name}: starts with 0x13");
        let expected: Vec<Vec<u8>> = case["frames"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: `frames` is a list"))
            .iter()
            .map(|h| unhex(name, h))
            .collect();
        let mut got = Vec::new();
        let mut error = None;
        for entry in batch::frames(Bytes::from(message)) {
            match entry {
                Ok(frame) => got.push(frame.to_vec()),
                Err(e) => error = Some(error_name(&e)),
            }
        }
        assert_eq!(got, expected, "{name}: frames");
        assert_eq!(
            error,
            case.get("error").and_then(Value::as_str),
            "{name}: error"
        );
    }
}

#[test]
fn the_frames_of_valid_batches_decode_except_a_nested_batch() {
    let doc = load();
    for case in entries(&doc, "batches") {
        let name = case["name"].as_str().expect("named");
        for frame in batch::frames(Bytes::from(unhex(name, &case["hex"]))).flatten() {
            let decoded = Frame::decode(frame.clone());
            if batch::is_batch(&frame) {
                assert_eq!(decoded, Err(DecodeError::UnknownFrameType(batch::BATCH)));
            } else {
                assert!(decoded.is_ok(), "{name}: {decoded:?}");
            }
        }
    }
}

#[test]
fn vector_and_reject_names_are_unique() {
    let doc = load();
    let mut seen = BTreeSet::new();
    for entry in entries(&doc, "vectors")
        .iter()
        .chain(entries(&doc, "reject"))
        .chain(entries(&doc, "batches"))
    {
        let name = entry["name"].as_str().expect("every entry has a name");
        assert!(seen.insert(name), "duplicate name {name:?}");
    }
}

/// Whether the config states every setting this version knows.
fn all_stated(c: &SessionConfig) -> bool {
    let SessionConfig {
        retry_interval_ms,
        max_retries,
        expiry_ms,
        max_message_size,
        max_connections,
        max_subscriptions,
        max_pending,
        slow_consumer_policy,
        max_cache_bytes,
    } = c;
    retry_interval_ms.is_some()
        && max_retries.is_some()
        && expiry_ms.is_some()
        && max_message_size.is_some()
        && max_connections.is_some()
        && max_subscriptions.is_some()
        && max_pending.is_some()
        && slow_consumer_policy.is_some()
        && max_cache_bytes.is_some()
}

/// Whether any string in the JSON value has a non-ASCII character.
fn has_non_ascii(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.is_ascii(),
        Value::Array(items) => items.iter().any(has_non_ascii),
        Value::Object(map) => map.values().any(has_non_ascii),
        _ => false,
    }
}

#[test]
fn the_vectors_cover_every_frame_enumeration_and_edge_case() {
    let vectors = vectors();
    let frames = || vectors.iter().map(|v| &v.frame);

    let names: BTreeSet<&str> = frames().map(Frame::name).collect();
    assert_eq!(names.len(), 18, "every frame type appears: {names:?}");

    let ops: BTreeSet<u8> = frames()
        .filter_map(|f| match f {
            Frame::Admin(a) => Some(a.op.code()),
            _ => None,
        })
        .collect();
    assert_eq!(ops, (1..=7).collect(), "every admin op appears");

    let kinds: BTreeSet<u8> = frames()
        .filter_map(|f| match f {
            Frame::Presence(p) => Some(p.kind as u8),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, (0..=2).collect(), "every presence kind appears");

    let reasons: BTreeSet<u8> = frames()
        .filter_map(|f| match f {
            Frame::DeliverNack { reason, .. } => Some(reason.to_wire()),
            _ => None,
        })
        .collect();
    assert!(
        (1..=3).all(|r| reasons.contains(&r)) && reasons.len() > 3,
        "every nack reason and an unknown one appear: {reasons:?}"
    );

    let statuses: BTreeSet<u8> = frames()
        .filter_map(|f| match f {
            Frame::Receipt(r) => Some(r.status.to_wire()),
            _ => None,
        })
        .collect();
    assert!(
        (1..=5).all(|s| statuses.contains(&s)) && statuses.len() > 5,
        "every receipt status and an unknown one appear: {statuses:?}"
    );

    let configs: Vec<&SessionConfig> = frames()
        .filter_map(|f| match f {
            Frame::Welcome(w) => Some(&w.config),
            Frame::AdminResult(r) => Some(&r.config),
            Frame::Admin(AdminRequest {
                op: AdminOp::Create { config, .. } | AdminOp::Configure(config),
                ..
            }) => Some(config),
            _ => None,
        })
        .collect();
    assert!(
        configs.iter().any(|c| all_stated(c)),
        "a config states all 9 settings"
    );
    assert!(
        configs.iter().any(|c| c.is_empty()),
        "an empty config appears"
    );
    assert!(
        configs
            .iter()
            .any(|c| c.slow_consumer_policy == Some(SlowConsumerPolicy::Disconnect))
            && configs
                .iter()
                .any(|c| c.slow_consumer_policy == Some(SlowConsumerPolicy::DropOldest)),
        "both slow consumer policies appear"
    );
    assert!(
        vectors.iter().any(|v| v.reencoded.is_some()),
        "a config with an unknown tag is skipped"
    );

    let max_varint = "ffffffffffffffffff01";
    assert!(
        vectors
            .iter()
            .any(|v| hex::encode(&v.bytes).contains(max_varint)),
        "a 10-byte varint (u64::MAX) appears"
    );
    assert!(
        frames().any(|f| matches!(f, Frame::Hello(h) if h.session.is_empty()
            && h.password.is_empty() && h.client_id.is_empty() && h.display_name.is_empty())),
        "empty strings appear"
    );
    let doc = load();
    assert!(
        entries(&doc, "vectors")
            .iter()
            .any(|v| has_non_ascii(&v["frame"])),
        "non-ASCII strings appear"
    );
    assert!(
        frames().any(|f| matches!(f, Frame::Publish(p) if p.payload.is_empty())),
        "an empty payload appears"
    );

    let errors: BTreeSet<String> = rejects().into_iter().map(|r| r.error).collect();
    assert_eq!(
        errors.len(),
        10,
        "every DecodeError variant is rejected: {errors:?}"
    );
}
