//! Whatever a server (or the network) sends and whatever the application calls, in any
//! order, the client core never panics and settles every publish and request exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use fastport_client_core::client::RequestId;
use fastport_client_core::codec::{
    batch, Ack, AdminOp, AdminResult, Deliver, ErrorCode, ErrorFrame, Frame, Member, Presence,
    PresenceKind, Qos, Receipt, ReceiptStatus, SessionConfig, Welcome,
};
use fastport_client_core::crypto::{seal, Key, KeyId, Keyring};
use fastport_client_core::time::Instant;
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Client, Event, PublishOptions};
use fastport_tests::client_config;
use proptest::prelude::*;

const FILTERS: [&str; 3] = ["a/#", "a/+", "b"];
const TOPICS: [&str; 3] = ["a/x", "a/y/z", "b"];

#[derive(Debug, Clone)]
enum Op {
    Open,
    Welcome {
        present: bool,
        batch: bool,
        max_size: Option<u32>,
    },
    AckPublish {
        nth: usize,
        code: u16,
    },
    AckRequest {
        nth: usize,
        code: u16,
        kind: u8,
    },
    Deliver {
        id: u64,
        topic: usize,
        sealed: bool,
        payload: Vec<u8>,
    },
    ServerError {
        code: u16,
    },
    Presence,
    Receipt {
        nth: usize,
    },
    Ping,
    Garbage(Vec<u8>),
    TransportClosed {
        code: Option<u16>,
    },
    Advance {
        ms: u64,
    },
    Publish {
        topic: usize,
        qos1: bool,
        len: usize,
    },
    Subscribe {
        filter: usize,
        presence: bool,
    },
    Unsubscribe {
        filter: usize,
    },
    Admin,
    ReconnectNow,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Open),
        3 => (any::<bool>(), any::<bool>(), proptest::option::of(0u32..2_000)).prop_map(
            |(present, batch, max_size)| Op::Welcome {
                present,
                batch,
                max_size
            }
        ),
        4 => (0usize..8, prop_oneof![Just(0u16), 0u16..30])
            .prop_map(|(nth, code)| Op::AckPublish { nth, code }),
        3 => (0usize..8, prop_oneof![Just(0u16), 0u16..30], 0u8..3)
            .prop_map(|(nth, code, kind)| Op::AckRequest { nth, code, kind }),
        4 => (0u64..6, 0usize..3, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(id, topic, sealed, payload)| Op::Deliver { id, topic, sealed, payload }),
        1 => (0u16..30).prop_map(|code| Op::ServerError { code }),
        1 => Just(Op::Presence),
        1 => (0usize..8).prop_map(|nth| Op::Receipt { nth }),
        1 => Just(Op::Ping),
        1 => proptest::collection::vec(any::<u8>(), 0..16).prop_map(Op::Garbage),
        2 => proptest::option::of(prop_oneof![Just(1000u16), Just(1006), 4000u16..4030])
            .prop_map(|code| Op::TransportClosed { code }),
        4 => (0u64..20_000).prop_map(|ms| Op::Advance { ms }),
        4 => (0usize..3, any::<bool>(), 0usize..1_500)
            .prop_map(|(topic, qos1, len)| Op::Publish { topic, qos1, len }),
        2 => (0usize..3, any::<bool>()).prop_map(|(filter, presence)| Op::Subscribe { filter, presence }),
        1 => (0usize..3).prop_map(|filter| Op::Unsubscribe { filter }),
        1 => Just(Op::Admin),
        1 => Just(Op::ReconnectNow),
        1 => Just(Op::Close),
    ]
}

/// The client plus what the test has seen of it.
struct Run {
    client: Client,
    now: Instant,
    publishes: Vec<u64>,
    requests: Vec<RequestId>,
    settled: BTreeMap<u64, usize>,
    answered: BTreeMap<RequestId, usize>,
    sent: Vec<Frame>,
}

impl Run {
    fn pump(&mut self) {
        while self.client.poll_transport().is_some() {}
        while let Some(bytes) = self.client.poll_transmit() {
            // One frame, or a batch once a welcome said the server takes them.
            for frame in batch::split(bytes) {
                let frame = frame.expect("the core only sends valid batches");
                self.sent
                    .push(Frame::decode(frame).expect("the core only sends valid frames"));
            }
        }
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::PublishSettled { id, .. } => {
                    assert!(self.publishes.contains(&id.0), "settled an unknown publish");
                    *self.settled.entry(id.0).or_default() += 1;
                }
                Event::Subscribed { request, .. }
                | Event::Unsubscribed { request, .. }
                | Event::AdminResult { request, .. } => {
                    assert!(
                        self.requests.contains(&request),
                        "answered an unknown request"
                    );
                    *self.answered.entry(request).or_default() += 1;
                }
                _ => {}
            }
        }
        if let Some(t) = self.client.poll_timeout() {
            assert!(t.as_micros() < u64::MAX, "timer at the end of time");
        }
    }

    fn frame(&mut self, frame: Frame) {
        self.client.handle_frame(self.now, frame.encode());
    }

    /// The wire id of the n-th request frame the client sent of a kind.
    fn sent_request_id(&self, nth: usize, kind: u8) -> Option<u64> {
        let ids: Vec<u64> = self
            .sent
            .iter()
            .filter_map(|f| match (kind, f) {
                (0, Frame::Subscribe(s)) => Some(s.request_id),
                (1, Frame::Unsubscribe(u)) => Some(u.request_id),
                (2, Frame::Admin(a)) => Some(a.request_id),
                _ => None,
            })
            .collect();
        ids.get(nth % ids.len().max(1)).copied()
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        let key = Keyring::new(KeyId::default(), Key::from_bytes([42; 32]));
        match op {
            Op::Open => self.client.handle_open(now),
            Op::Welcome {
                present,
                batch,
                max_size,
            } => self.frame(Frame::Welcome(Welcome {
                session_present: present,
                batch,
                client_id: "x".into(),
                resume_token: "t".into(),
                keepalive_ms: 5_000,
                config: SessionConfig {
                    max_message_size: max_size,
                    ..SessionConfig::default()
                },
            })),
            Op::AckPublish { nth, code } => {
                let id = self
                    .publishes
                    .get(nth % self.publishes.len().max(1))
                    .copied();
                self.frame(Frame::PubAck(Ack {
                    id: id.unwrap_or(1),
                    code: ErrorCode(code),
                }));
            }
            Op::AckRequest { nth, code, kind } => {
                let id = self.sent_request_id(nth, kind).unwrap_or(1);
                let ack = Ack {
                    id,
                    code: ErrorCode(code),
                };
                self.frame(match kind {
                    0 => Frame::SubAck(ack),
                    1 => Frame::UnsubAck(ack),
                    _ => Frame::AdminResult(AdminResult {
                        request_id: id,
                        code: ErrorCode(code),
                        message: String::new(),
                        config: SessionConfig::default(),
                    }),
                });
            }
            Op::Deliver {
                id,
                topic,
                sealed,
                payload,
            } => {
                let topic = TOPICS[topic];
                let payload = if sealed {
                    seal(&key, "demo", topic, &payload).expect("short context")
                } else {
                    payload
                };
                self.frame(Frame::Deliver(Deliver {
                    qos: if id == 0 {
                        Qos::AtMostOnce
                    } else {
                        Qos::AtLeastOnce
                    },
                    delivery_id: id,
                    attempt: 1,
                    topic: topic.into(),
                    publisher: "p".into(),
                    payload: Bytes::from(payload),
                }));
            }
            Op::ServerError { code } => self.frame(Frame::Error(ErrorFrame {
                code: ErrorCode(code),
                ref_id: 0,
                message: "e".into(),
            })),
            Op::Presence => self.frame(Frame::Presence(Presence {
                filter: "a/#".into(),
                kind: PresenceKind::Join,
                members: vec![Member {
                    client_id: "m".into(),
                    display_name: String::new(),
                }],
            })),
            Op::Receipt { nth } => {
                let id = self
                    .publishes
                    .get(nth % self.publishes.len().max(1))
                    .copied();
                self.frame(Frame::Receipt(Receipt {
                    message_id: id.unwrap_or(1),
                    status: ReceiptStatus::Delivered,
                    delivered: 1,
                    failed: 0,
                }));
            }
            Op::Ping => self.frame(Frame::Ping { nonce: 3 }),
            Op::Garbage(bytes) => self.client.handle_frame(now, Bytes::from(bytes)),
            Op::TransportClosed { code } => self.client.handle_close(now, code, "closed"),
            Op::Advance { ms } => {
                self.now = now + Duration::from_millis(ms);
                self.client.handle_timeout(self.now);
            }
            Op::Publish { topic, qos1, len } => {
                let topic = Topic::new(TOPICS[topic]).expect("valid");
                let options = if qos1 {
                    PublishOptions::default()
                } else {
                    PublishOptions::at_most_once()
                };
                if let Ok(id) = self.client.publish(now, &topic, &vec![7; len], options) {
                    self.publishes.push(id.0);
                }
            }
            Op::Subscribe { filter, presence } => {
                let filter = TopicFilter::new(FILTERS[filter]).expect("valid");
                if let Ok(r) = self.client.subscribe(now, filter, presence) {
                    self.requests.push(r);
                }
            }
            Op::Unsubscribe { filter } => {
                let filter = TopicFilter::new(FILTERS[filter]).expect("valid");
                if let Ok(r) = self.client.unsubscribe(now, filter) {
                    self.requests.push(r);
                }
            }
            Op::Admin => {
                if let Ok(r) = self.client.admin(now, "demo", "secret", AdminOp::Describe) {
                    self.requests.push(r);
                }
            }
            Op::ReconnectNow => self.client.reconnect_now(now),
            Op::Close => self.client.close(now),
        }
        self.pump();
        assert!(
            self.settled.values().all(|&n| n == 1),
            "a publish settled twice"
        );
        assert!(
            self.answered.values().all(|&n| n == 1),
            "a request was answered twice"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_sequence_of_inputs_settles_everything_exactly_once_without_panicking(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let mut config = client_config("fuzz");
        config.outbox_max_messages = 5;
        let now = Instant::from_millis(1);
        let mut run = Run {
            client: Client::new(config, now),
            now,
            publishes: Vec::new(),
            requests: Vec::new(),
            settled: BTreeMap::new(),
            answered: BTreeMap::new(),
            sent: Vec::new(),
        };
        run.pump();
        for op in ops {
            run.apply(op);
        }
        run.apply(Op::Close);
        for id in &run.publishes {
            prop_assert_eq!(run.settled.get(id), Some(&1), "publish {} never settled", id);
        }
        for r in &run.requests {
            prop_assert_eq!(run.answered.get(r), Some(&1), "request {:?} never answered", r);
        }
    }
}
