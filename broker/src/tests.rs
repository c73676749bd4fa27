//! Broker tests: a driver that runs jobs inline and plays clients frame by frame.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use fastport_proto::codec::{
    Ack, AdminOp, AdminRequest, ErrorCode, Frame, Hello, Publish, Qos, ReceiptStatus,
    SessionConfig, SlowConsumerPolicy, Subscribe, Unsubscribe,
};
use fastport_proto::time::Instant;

use super::*;
use crate::auth::{HashCost, SecretHash};

/// The broker plus everything it sent, per connection.
struct T {
    b: Broker,
    now: Instant,
    sent: HashMap<ConnId, Vec<Bytes>>,
    closed: HashMap<ConnId, u16>,
    admin: Vec<AdminAnswer>,
    jobs_run: usize,
    /// The resume token of each client id's last `Welcome`, sent again as a real client
    /// does when it reconnects.
    tokens: HashMap<String, String>,
    /// Connections the broker asked to hear about when their queue drains.
    watches: Vec<ConnId>,
    /// `Admin` frames for sessions another broker owns.
    forwards: Vec<Forwarded>,
    /// Every `Output::PauseReading`, in order.
    pauses: Vec<(ConnId, Duration)>,
}

fn settings() -> SessionSettings {
    SessionSettings {
        retry_interval: Duration::from_secs(1),
        max_retries: 2,
        expiry: Duration::from_secs(30),
        ..SessionSettings::default()
    }
}

fn hash(s: &str) -> SecretHash {
    SecretHash::new(s, HashCost::Test).expect("hash")
}

impl T {
    fn new() -> T {
        let config = BrokerConfig {
            hash_cost: HashCost::Test,
            ..BrokerConfig::default()
        };
        T::with_config(config)
    }

    fn with_config(config: BrokerConfig) -> T {
        let mut b = Broker::new(config);
        b.create_session("demo", hash("pw"), hash("secret"), settings())
            .expect("create");
        b.create_session("other", hash("pw"), hash("secret"), settings())
            .expect("create");
        T {
            b,
            now: Instant::from_millis(1_000),
            sent: HashMap::new(),
            closed: HashMap::new(),
            admin: Vec::new(),
            jobs_run: 0,
            tokens: HashMap::new(),
            watches: Vec::new(),
            forwards: Vec::new(),
            pauses: Vec::new(),
        }
    }

    /// Drains outputs, running jobs inline as the driver would on a blocking thread.
    fn pump(&mut self) {
        while let Some(out) = self.b.poll_output() {
            match out {
                Output::Send { conn, frame } | Output::Receipt { conn, frame } => {
                    self.sent.entry(conn).or_default().push(frame);
                }
                Output::Close { conn, code, .. } => {
                    self.closed.insert(conn, code);
                }
                Output::Run(job) => {
                    self.jobs_run += 1;
                    let result = job.run();
                    self.b.handle_job_done(self.now, result);
                }
                Output::Admin(answer) => self.admin.push(*answer),
                Output::Watch { conn } => self.watches.push(conn),
                Output::PauseReading { conn, pause } => self.pauses.push((conn, pause)),
                Output::Forward(forwarded) => self.forwards.push(*forwarded),
            }
        }
    }

    fn frames(&mut self, conn: u64) -> Vec<Frame> {
        self.sent
            .remove(&ConnId(conn))
            .unwrap_or_default()
            .into_iter()
            .map(|b| Frame::decode(b).expect("the broker sends valid frames"))
            .collect()
    }

    fn raw(&mut self, conn: u64) -> Vec<Bytes> {
        self.sent.remove(&ConnId(conn)).unwrap_or_default()
    }

    fn send(&mut self, conn: u64, frame: Frame) {
        self.b
            .handle_message(self.now, ConnId(conn), frame.encode());
        self.pump();
    }

    fn connect_as(&mut self, conn: u64, session: &str, client: &str, resume: bool) -> Vec<Frame> {
        self.b.handle_open(self.now, ConnId(conn), None);
        self.send(
            conn,
            Frame::Hello(Hello {
                resume,
                keepalive_ms: 10_000,
                session: session.into(),
                password: "pw".into(),
                client_id: client.into(),
                resume_token: self.tokens.get(client).cloned().unwrap_or_default(),
                display_name: client.to_uppercase(),
                ..Hello::default()
            }),
        );
        let frames = self.frames(conn);
        if let Some(Frame::Welcome(w)) = frames.first() {
            self.tokens
                .insert(w.client_id.clone(), w.resume_token.clone());
        }
        frames
    }

    fn connect(&mut self, conn: u64, client: &str) {
        let frames = self.connect_as(conn, "demo", client, false);
        assert!(matches!(frames[..], [Frame::Welcome(_)]), "{frames:?}");
    }

    fn subscribe(&mut self, conn: u64, filter: &str, presence: bool) -> Vec<Frame> {
        self.send(
            conn,
            Frame::Subscribe(Subscribe {
                request_id: 1,
                presence,
                filter: filter.into(),
            }),
        );
        self.frames(conn)
    }

    fn publish(&mut self, conn: u64, id: u64, topic: &str, payload: &'static [u8]) {
        self.send(
            conn,
            Frame::Publish(Publish {
                qos: Qos::AtLeastOnce,
                message_id: id,
                topic: topic.into(),
                payload: Bytes::from_static(payload),
            }),
        );
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.b.handle_timeout(self.now);
        self.pump();
    }

    fn admin(&mut self, session: &str, credential: &str, op: AdminOp) -> AdminReply {
        self.b.admin(
            self.now,
            9,
            None,
            AdminRequest {
                request_id: 0,
                session: session.into(),
                credential: credential.into(),
                op,
            },
        );
        self.pump();
        self.admin.pop().expect("an admin answer").reply
    }
}

/// The subscriber on `conn` acknowledges a delivery.
fn ack(t: &mut T, conn: u64, delivery_id: u64) {
    t.send(conn, Frame::DeliverAck { delivery_id });
}

fn deliveries(frames: &[Frame]) -> Vec<(u64, u32, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Deliver(d) => Some((d.delivery_id, d.attempt, d.payload.to_vec())),
            _ => None,
        })
        .collect()
}

fn receipts(frames: &[Frame]) -> Vec<(u64, ReceiptStatus, u32, u32)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Receipt(r) => Some((r.message_id, r.status, r.delivered, r.failed)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_right_password_gets_a_welcome_with_the_session_settings() {
    let mut t = T::new();
    let frames = t.connect_as(1, "demo", "alice", false);
    let [Frame::Welcome(w)] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert_eq!(w.client_id, "alice");
    assert_eq!(w.config, settings().to_config());
    assert_eq!(w.keepalive_ms, 10_000);
}

#[test]
fn wrong_passwords_unknown_sessions_and_bad_names_are_refused_with_their_codes() {
    let mut t = T::new();
    t.b.handle_open(t.now, ConnId(1), None);
    t.send(
        1,
        Frame::Hello(Hello {
            session: "demo".into(),
            password: "nope".into(),
            client_id: "a".into(),
            ..Hello::default()
        }),
    );
    assert!(matches!(&t.frames(1)[..], [Frame::Error(e)] if e.code == ErrorCode::BAD_CREDENTIALS));
    assert_eq!(t.closed[&ConnId(1)], 4004);
    let frames = t.connect_as(2, "nosuch", "a", false);
    assert!(matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::BAD_CREDENTIALS));
    assert_eq!(t.closed[&ConnId(2)], 4004);
    let frames = t.connect_as(3, "demo", "bad id!", false);
    assert!(matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::INVALID_NAME));
    assert_eq!(t.b.metrics().auth_failures, 2);
}

#[test]
fn a_password_that_verified_once_is_checked_without_another_job() {
    let mut t = T::new();
    t.connect(1, "a");
    assert_eq!(t.jobs_run, 1);
    t.connect(2, "b");
    assert_eq!(t.jobs_run, 1);
}

#[test]
fn logins_beyond_the_job_limit_are_rate_limited_not_queued() {
    let config = BrokerConfig {
        max_pending_jobs: 1,
        hash_cost: HashCost::Test,
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    for conn in [1, 2] {
        t.b.handle_open(t.now, ConnId(conn), None);
        let hello = Hello {
            session: "demo".into(),
            password: "x".into(),
            ..Hello::default()
        };
        t.b.handle_message(t.now, ConnId(conn), Frame::Hello(hello).encode());
    }
    // Not pumped: the first job is still running when the second hello arrives.
    t.pump();
    assert_eq!(
        t.closed.get(&ConnId(2)),
        Some(&ErrorCode::RATE_LIMITED.close_code())
    );
    assert_eq!(t.closed.get(&ConnId(1)), Some(&4004));
}

#[test]
fn a_message_is_encoded_once_for_every_subscriber_and_ends_in_one_receipt() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "s1");
    t.connect(3, "s2");
    t.subscribe(2, "sensors/+/room1", false);
    t.subscribe(3, "sensors/#", false);
    t.publish(1, 7, "sensors/temp/room1", b"ciphertext");
    assert_eq!(
        t.frames(1),
        vec![Frame::PubAck(Ack {
            id: 7,
            code: ErrorCode::OK
        })]
    );
    let (a, b) = (t.raw(2), t.raw(3));
    assert_eq!(a, b);
    assert_eq!(a[0].as_ptr(), b[0].as_ptr(), "the same buffer is shared");
    let Ok(Frame::Deliver(d)) = Frame::decode(a[0].clone()) else {
        panic!()
    };
    assert_eq!(
        (d.attempt, d.publisher.as_str(), &d.payload[..]),
        (1, "pub", &b"ciphertext"[..])
    );
    t.send(
        2,
        Frame::DeliverAck {
            delivery_id: d.delivery_id,
        },
    );
    assert!(
        t.frames(1).is_empty(),
        "no receipt before every subscriber acked"
    );
    t.send(
        3,
        Frame::DeliverAck {
            delivery_id: d.delivery_id,
        },
    );
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(7, ReceiptStatus::Delivered, 2, 0)]
    );
    assert_eq!(t.b.metrics().cached_messages, 0);
}

#[test]
fn a_publish_nobody_subscribed_to_gets_a_no_subscribers_receipt() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.publish(1, 1, "void", b"x");
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::NoSubscribers, 0, 0)]
    );
}

#[test]
fn topics_appear_with_the_first_subscriber_and_go_with_the_last() {
    let mut t = T::new();
    t.connect(1, "a");
    t.connect(2, "b");
    assert_eq!(t.b.metrics().topics, 0);
    t.subscribe(1, "chat/room", false);
    t.subscribe(2, "chat/room", false);
    t.subscribe(2, "chat/#", false);
    assert_eq!(t.b.metrics().topics, 2);
    t.send(
        1,
        Frame::Unsubscribe(Unsubscribe {
            request_id: 2,
            filter: "chat/room".into(),
        }),
    );
    assert_eq!(t.b.metrics().topics, 2, "b still holds chat/room");
    t.b.handle_close(t.now, ConnId(2));
    assert_eq!(t.b.metrics().topics, 0);
}

#[test]
fn a_resent_publish_is_acked_again_but_delivered_once() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    t.publish(1, 5, "t", b"x");
    t.publish(1, 5, "t", b"x");
    let acks = t.frames(1);
    assert_eq!(
        acks,
        vec![
            Frame::PubAck(Ack {
                id: 5,
                code: ErrorCode::OK
            });
            2
        ]
    );
    assert_eq!(deliveries(&t.frames(2)).len(), 1);
    assert_eq!(t.b.metrics().duplicates, 1);
}

#[test]
fn duplicate_detection_forgets_publishers_silent_for_longer_than_the_expiry() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.publish(1, 5, "t", b"x");
    t.send(1, Frame::Ping { nonce: 0 });
    t.advance(Duration::from_secs(10));
    t.send(1, Frame::Ping { nonce: 0 });
    t.advance(Duration::from_secs(10));
    t.send(1, Frame::Ping { nonce: 0 });
    t.advance(Duration::from_secs(10));
    let id = t.b.session_ids["demo"];
    assert!(
        t.b.sessions[&id].seen.is_empty(),
        "the publisher's ids were forgotten"
    );
    t.frames(1);
    t.publish(1, 5, "t", b"x");
    assert_eq!(
        t.b.metrics().duplicates,
        0,
        "after the expiry the id is new again"
    );
}

#[test]
fn a_burst_of_ids_is_forgotten_once_it_expires_not_a_whole_sweep_later() {
    let mut t = T::new();
    let expiry = Duration::from_secs(30);
    let id = t.b.session_ids["demo"];
    t.connect(1, "pub");
    // The first publish arms the sweep for one expiry later, ...
    t.publish(1, 1, "t", b"x");
    for _ in 0..2 {
        t.advance(Duration::from_secs(10));
        t.send(1, Frame::Ping { nonce: 0 });
    }
    // ... a burst comes 20 s later, ...
    for message_id in 2..=1_000 {
        t.publish(1, message_id, "t", b"x");
    }
    t.advance(Duration::from_secs(10));
    // ... and that sweep forgets the first id only.
    assert_eq!(
        t.b.sessions[&id]
            .seen
            .values()
            .map(crate::session::SeenIds::len)
            .sum::<usize>(),
        999
    );
    t.send(1, Frame::Ping { nonce: 0 });
    t.advance(Duration::from_secs(10));
    t.send(1, Frame::Ping { nonce: 0 });
    t.advance(expiry - Duration::from_secs(20) + Duration::from_millis(1));
    assert!(
        t.b.sessions[&id].seen.is_empty(),
        "the burst is forgotten as it expires, not a whole expiry after the sweep before"
    );
}

#[test]
fn a_publisher_that_never_stops_costs_at_most_four_sweeps_per_expiry() {
    let mut t = T::new();
    let id = t.b.session_ids["demo"];
    t.connect(1, "pub");
    let mut sweeps = 0;
    let mut armed_at = None;
    // One publish every 100 ms for two minutes (four expiries).
    for message_id in 1..=1_200 {
        t.publish(1, message_id, "t", b"x");
        if message_id % 50 == 0 {
            t.send(1, Frame::Ping { nonce: 0 });
        }
        t.advance(Duration::from_millis(100));
        let due =
            t.b.timers
                .deadlines(|timer| matches!(timer, Timer::SweepSeen { .. }))
                .into_iter()
                .max();
        if due != armed_at {
            sweeps += 1;
            armed_at = due;
        }
    }
    assert!(sweeps <= 4 * 4 + 1, "{sweeps} sweeps in four expiries");
    assert!(
        !t.b.sessions[&id].seen.is_empty(),
        "the last 30 s are remembered"
    );
}

#[test]
fn an_unacked_delivery_is_retried_then_given_up_with_a_receipt() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    t.publish(1, 1, "t", b"x");
    t.frames(1);
    let mut attempts = vec![deliveries(&t.frames(2))[0].1];
    for _ in 0..3 {
        t.send(2, Frame::Ping { nonce: 0 }); // keep the connection alive
        t.advance(Duration::from_secs(1));
        attempts.extend(deliveries(&t.frames(2)).iter().map(|d| d.1));
    }
    assert_eq!(attempts, vec![1, 2, 3], "max_retries = 2 resends");
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::RetriesExhausted, 0, 1)]
    );
    assert_eq!(t.b.metrics().retries, 2);
}

#[test]
fn a_cached_message_does_not_keep_the_connection_s_read_buffer_alive() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    // As a WebSocket read hands it over: the frame at the start of a larger read buffer.
    let frame = Frame::Publish(Publish {
        qos: Qos::AtLeastOnce,
        message_id: 1,
        topic: "t".into(),
        payload: Bytes::from_static(b"small"),
    })
    .encode();
    let mut buffer = vec![0u8; 64 * 1024];
    buffer[..frame.len()].copy_from_slice(&frame);
    let buffer = Bytes::from(buffer);
    t.b.handle_message(t.now, ConnId(1), buffer.slice(..frame.len()));
    t.pump();
    // Delivered and cached until the subscriber acks, yet nothing refers to the buffer.
    assert_eq!(deliveries(&t.frames(2)).len(), 1);
    assert!(
        buffer.is_unique(),
        "the cache holds a slice of the read buffer"
    );
}

#[test]
fn acked_messages_leave_no_expiry_bookkeeping_behind() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    for id in 1..=1_000 {
        t.publish(1, id, "t", b"x");
        for d in deliveries(&t.frames(2)) {
            t.send(2, Frame::DeliverAck { delivery_id: d.0 });
        }
    }
    let id = t.b.session_ids["demo"];
    let queue = t.b.sessions[&id].expiry_queue.len();
    assert!(
        queue <= 1,
        "{queue} expiry entries kept for settled messages"
    );
    t.frames(1);
    t.send(2, Frame::Ping { nonce: 0 });
    t.send(1, Frame::Ping { nonce: 0 });
    t.advance(Duration::from_secs(31));
    assert_eq!(t.b.metrics().expired, 0);
}

#[test]
fn a_message_past_its_expiry_is_dropped_and_reported_expired() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    t.admin(
        "demo",
        "secret",
        AdminOp::Configure(SessionConfig {
            retry_interval_ms: Some(60_000),
            expiry_ms: Some(5_000),
            ..SessionConfig::default()
        }),
    );
    t.publish(1, 1, "t", b"x");
    t.frames(1);
    t.send(2, Frame::Ping { nonce: 0 });
    t.advance(Duration::from_secs(5));
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Expired, 0, 1)]
    );
    assert_eq!(t.b.metrics().cached_messages, 0);
}

#[test]
fn a_resuming_subscriber_gets_what_was_published_while_it_was_away() {
    let mut t = T::new();
    t.connect_as(2, "demo", "sub", true);
    t.subscribe(2, "t", false);
    t.b.handle_close(t.now, ConnId(2));
    t.connect(1, "pub");
    t.publish(1, 1, "t", b"while away");
    assert!(t.frames(1).iter().all(|f| !matches!(f, Frame::Receipt(_))));
    let frames = t.connect_as(3, "demo", "sub", true);
    let [Frame::Welcome(w), Frame::Deliver(d)] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert!(w.session_present);
    assert_eq!((&d.payload[..], d.attempt), (&b"while away"[..], 2));
    t.send(
        3,
        Frame::DeliverAck {
            delivery_id: d.delivery_id,
        },
    );
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Delivered, 1, 0)]
    );
}

#[test]
fn a_clean_reconnect_discards_the_old_state() {
    let mut t = T::new();
    t.connect_as(2, "demo", "sub", true);
    t.subscribe(2, "t", false);
    t.b.handle_close(t.now, ConnId(2));
    let frames = t.connect_as(3, "demo", "sub", false);
    assert!(matches!(&frames[..], [Frame::Welcome(w)] if !w.session_present));
    assert_eq!(t.b.metrics().topics, 0);
}

#[test]
fn an_offline_client_s_state_expires() {
    let mut t = T::new();
    t.connect_as(2, "demo", "sub", true);
    t.subscribe(2, "t", false);
    t.b.handle_close(t.now, ConnId(2));
    t.advance(Duration::from_secs(30));
    assert_eq!(
        t.b.metrics().per_session[0].clients + t.b.metrics().per_session[1].clients,
        0
    );
}

#[test]
fn an_offline_client_s_state_lives_for_the_expiry_of_its_last_disconnect() {
    let mut t = T::new();
    t.connect_as(2, "demo", "sub", true);
    t.b.handle_close(t.now, ConnId(2));
    t.advance(Duration::from_secs(20));
    t.connect_as(3, "demo", "sub", true);
    t.b.handle_close(t.now, ConnId(3));
    t.advance(Duration::from_secs(10));
    let frames = t.connect_as(4, "demo", "sub", true);
    assert!(matches!(&frames[..], [Frame::Welcome(w)] if w.session_present));
}

#[test]
fn sessions_share_nothing_even_with_the_same_topics_and_client_ids() {
    let mut t = T::new();
    t.connect(1, "same");
    let frames = t.connect_as(2, "other", "same", false);
    assert!(
        matches!(frames[..], [Frame::Welcome(_)]),
        "same client id in another session"
    );
    t.subscribe(1, "t", true);
    t.subscribe(2, "t", true);
    t.publish(1, 1, "t", b"demo only");
    assert_eq!(deliveries(&t.frames(1)).len(), 1);
    assert!(
        t.frames(2).is_empty(),
        "nothing crossed into the other session"
    );
    assert!(t.closed.is_empty());
}

#[test]
fn the_disconnect_policy_closes_a_slow_consumer() {
    let mut t = T::new();
    t.admin(
        "demo",
        "secret",
        AdminOp::Configure(SessionConfig {
            max_pending: Some(1),
            slow_consumer_policy: Some(SlowConsumerPolicy::Disconnect),
            ..SessionConfig::default()
        }),
    );
    t.connect(1, "pub");
    t.connect(2, "slow");
    t.subscribe(2, "t", false);
    // One in flight and one waiting; the third is one too many.
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    assert_eq!(
        t.closed.get(&ConnId(2)),
        Some(&ErrorCode::SLOW_CONSUMER.close_code())
    );
    assert_eq!(t.b.metrics().slow_consumer_disconnects, 1);
}

#[test]
fn qos0_messages_are_sent_and_never_cached() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    t.send(
        1,
        Frame::Publish(Publish {
            qos: Qos::AtMostOnce,
            message_id: 0,
            topic: "t".into(),
            payload: Bytes::from_static(b"x"),
        }),
    );
    assert!(t.frames(1).is_empty(), "no ack for QoS 0");
    assert_eq!(deliveries(&t.frames(2)), vec![(0, 1, b"x".to_vec())]);
    assert_eq!(t.b.metrics().cached_messages, 0);
}

#[test]
fn bad_publishes_fail_alone_with_specific_codes() {
    let mut t = T::new();
    t.connect(1, "pub");
    let big: &'static [u8] = Box::leak(vec![0u8; 1024 * 1024 + 1].into_boxed_slice());
    t.publish(1, 1, "a//b", b"x");
    t.publish(1, 2, "$SYS/x", b"x");
    t.publish(1, 3, "t", big);
    let codes: Vec<_> = t
        .frames(1)
        .into_iter()
        .map(|f| match f {
            Frame::PubAck(a) => a.code,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        [
            ErrorCode::INVALID_TOPIC,
            ErrorCode::FORBIDDEN_TOPIC,
            ErrorCode::MESSAGE_TOO_LARGE
        ]
    );
    assert!(t.closed.is_empty(), "the connection goes on");
}

#[test]
fn protocol_breaches_close_the_connection_with_their_codes() {
    let mut t = T::new();
    t.b.handle_open(t.now, ConnId(1), None);
    t.send(1, Frame::Ping { nonce: 1 });
    assert_eq!(t.closed[&ConnId(1)], 4003, "a frame before hello");
    t.connect(2, "a");
    t.b.handle_message(t.now, ConnId(2), Bytes::from_static(&[0xee]));
    t.pump();
    assert_eq!(t.closed[&ConnId(2)], 4001);
    t.b.handle_open(t.now, ConnId(3), None);
    let mut hello = Frame::Hello(Hello::default()).encode().to_vec();
    hello[1] = 2;
    t.b.handle_message(t.now, ConnId(3), Bytes::from(hello));
    t.pump();
    assert_eq!(t.closed[&ConnId(3)], 4002);
    // A frame only servers send is a protocol error too.
    t.connect(4, "b");
    t.send(
        4,
        Frame::PubAck(Ack {
            id: 1,
            code: ErrorCode::OK,
        }),
    );
    assert_eq!(t.closed[&ConnId(4)], 4001, "a PubAck from a client");
    assert_eq!(t.b.metrics().connections, 0);
}

#[test]
fn silent_connections_and_missing_hellos_time_out() {
    let mut t = T::new();
    t.b.handle_open(t.now, ConnId(1), None);
    t.connect(2, "a");
    t.advance(Duration::from_secs(10));
    assert_eq!(t.closed.get(&ConnId(1)), Some(&4003));
    t.advance(Duration::from_secs(5));
    assert_eq!(
        t.closed.get(&ConnId(2)),
        Some(&ErrorCode::KEEPALIVE_TIMEOUT.close_code())
    );
}

#[test]
fn a_hello_deadline_from_before_the_open_is_kept_and_cannot_extend_the_timeout() {
    let mut t = T::new();
    let accepted = t.now;
    t.now += Duration::from_secs(7);
    // Accepted 7 s ago: 3 s of the 10 s hello timeout are left.
    let deadline = accepted + Duration::from_secs(10);
    t.b.handle_open_by(t.now, ConnId(1), None, deadline);
    // A deadline after the hello timeout from now is cut to it.
    t.b.handle_open_by(t.now, ConnId(2), None, t.now + Duration::from_secs(60));
    // A deadline already past closes at the next timeout.
    t.b.handle_open_by(t.now, ConnId(3), None, accepted);
    t.advance(Duration::ZERO);
    assert_eq!(t.closed.get(&ConnId(3)), Some(&4003));
    t.advance(Duration::from_millis(2_999));
    assert_eq!(t.closed.get(&ConnId(1)), None);
    t.advance(Duration::from_millis(1));
    assert_eq!(t.closed.get(&ConnId(1)), Some(&4003));
    t.advance(Duration::from_millis(6_999));
    assert_eq!(t.closed.get(&ConnId(2)), None);
    t.advance(Duration::from_millis(1));
    assert_eq!(t.closed.get(&ConnId(2)), Some(&4003));
}

#[test]
fn the_same_client_reconnecting_with_its_token_takes_over_its_old_connection() {
    let mut t = T::new();
    t.connect(1, "dup");
    t.connect(2, "dup");
    assert_eq!(t.closed.get(&ConnId(1)), Some(&4008));
    assert_eq!(
        t.b.metrics().per_session[0].connections + t.b.metrics().per_session[1].connections,
        1
    );
}

#[test]
fn another_connection_without_the_token_cannot_take_a_client_id_and_the_real_one_keeps_its_deliveries(
) {
    let mut t = T::new();
    let frames = t.connect_as(1, "demo", "victim", true);
    assert!(matches!(frames[..], [Frame::Welcome(_)]), "{frames:?}");
    t.connect(2, "publisher");
    t.subscribe(1, "a/b", false);
    let token = t.tokens["victim"].clone();
    assert_eq!(token.len(), 32, "128 bits in hex: {token}");
    for (conn, presented) in [
        (3, String::new()),
        (4, "0".repeat(32)),
        (5, token[..31].into()),
    ] {
        t.tokens.insert("victim".into(), presented);
        let frames = t.connect_as(conn, "demo", "victim", true);
        assert!(
            matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::CLIENT_ID_IN_USE),
            "{frames:?}"
        );
        assert_eq!(t.closed.get(&ConnId(conn)), Some(&4026));
    }
    assert_eq!(t.closed.get(&ConnId(1)), None, "the real client stays");
    t.publish(2, 1, "a/b", b"still yours");
    let got = deliveries(&t.frames(1));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].2, b"still yours");

    // Offline with resumable state, the id is still the real client's alone.
    t.b.handle_close(t.now, ConnId(1));
    t.pump();
    let frames = t.connect_as(6, "demo", "victim", true);
    assert!(matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::CLIENT_ID_IN_USE));
    t.tokens.insert("victim".into(), token.clone());
    let frames = t.connect_as(7, "demo", "victim", true);
    assert!(
        matches!(&frames[..], [Frame::Welcome(w), ..] if w.session_present && w.resume_token == token),
        "a resumed state keeps its token: {frames:?}"
    );
    // Another session knows nothing of this client id.
    let frames = t.connect_as(8, "other", "victim", false);
    assert!(matches!(&frames[..], [Frame::Welcome(w)] if w.resume_token != token));
}

#[test]
fn admin_operations_need_the_right_credentials_and_take_effect() {
    let mut t = T::new();
    let reply = t.admin("demo", "wrong", AdminOp::Describe);
    assert_eq!(reply.code, ErrorCode::NOT_AUTHORIZED);
    t.connect(1, "a");
    assert_eq!(
        t.admin("demo", "secret", AdminOp::Suspend).code,
        ErrorCode::OK
    );
    assert_eq!(t.closed.get(&ConnId(1)), Some(&4006));
    let frames = t.connect_as(2, "demo", "a", false);
    assert!(matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::SESSION_SUSPENDED));
    assert_eq!(
        t.admin("demo", "secret", AdminOp::Resume).code,
        ErrorCode::OK
    );
    t.connect(3, "a");
    let bad = SessionConfig {
        max_retries: Some(5_000),
        ..SessionConfig::default()
    };
    let reply = t.admin("demo", "secret", AdminOp::Configure(bad));
    assert_eq!(reply.code, ErrorCode::INVALID_CONFIG);
    assert!(reply.message.contains("max_retries"), "{}", reply.message);
    assert_eq!(t.admin("demo", "secret", AdminOp::Drop).code, ErrorCode::OK);
    assert_eq!(t.closed.get(&ConnId(3)), Some(&4007));
    assert_eq!(
        t.admin("demo", "secret", AdminOp::Describe).code,
        ErrorCode::NOT_AUTHORIZED,
        "a dropped session answers like a wrong secret key"
    );
}

#[test]
fn sessions_are_created_at_run_time_with_the_admin_token_when_one_is_set() {
    let config = BrokerConfig {
        admin_token: Some(hash("token")),
        hash_cost: HashCost::Test,
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    let create = |token: &str| AdminRequest {
        request_id: 4,
        session: "team".into(),
        credential: token.into(),
        op: AdminOp::Create {
            password: "team-pw".into(),
            secret: "team-secret".into(),
            config: SessionConfig {
                max_retries: Some(9),
                ..SessionConfig::default()
            },
        },
    };
    t.b.handle_open(t.now, ConnId(1), None);
    t.send(
        1,
        Frame::Hello(Hello {
            admin_only: true,
            password: "token".into(),
            ..Hello::default()
        }),
    );
    assert!(matches!(t.frames(1)[..], [Frame::Welcome(_)]));
    t.send(1, Frame::Admin(create("wrong")));
    assert!(
        matches!(&t.frames(1)[..], [Frame::AdminResult(r)] if r.code == ErrorCode::NOT_AUTHORIZED)
    );
    t.send(1, Frame::Admin(create("token")));
    let frames = t.frames(1);
    let [Frame::AdminResult(r)] = &frames[..] else {
        panic!("{frames:?}")
    };
    assert_eq!(
        (r.request_id, r.code, r.config.max_retries),
        (4, ErrorCode::OK, Some(9))
    );
    t.b.handle_open(t.now, ConnId(2), None);
    t.send(
        2,
        Frame::Hello(Hello {
            session: "team".into(),
            password: "team-pw".into(),
            client_id: "x".into(),
            ..Hello::default()
        }),
    );
    assert!(matches!(t.frames(2)[..], [Frame::Welcome(_)]));
    t.send(1, Frame::Admin(create("token")));
    assert!(
        matches!(&t.frames(1)[..], [Frame::AdminResult(r)] if r.code == ErrorCode::SESSION_EXISTS)
    );
    t.send(1, Frame::Admin(create("wrong")));
    let frames = t.frames(1);
    assert!(
        matches!(&frames[..], [Frame::AdminResult(r)] if r.code == ErrorCode::NOT_AUTHORIZED),
        "without the token, existing names are not revealed: {frames:?}"
    );
}

#[test]
fn shutdown_closes_everyone_and_refuses_newcomers() {
    let mut t = T::new();
    t.connect(1, "a");
    t.b.shutdown(t.now);
    t.pump();
    assert_eq!(t.closed.get(&ConnId(1)), Some(&4011));
    t.b.handle_open(t.now, ConnId(2), None);
    t.pump();
    assert_eq!(t.closed.get(&ConnId(2)), Some(&4011));
}

mod batches;
mod budgets;
mod journal;
mod keys;
mod logins;
mod presence;
mod rotation;
mod shards;
mod slow_consumer;
mod timers;
