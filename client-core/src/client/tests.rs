//! State machine tests against a scripted server: each test plays the server's frames by
//! hand and checks what the core sends, asks of the transport and reports.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use core::time::Duration;

use bytes::Bytes;

use super::*;
use crate::codec::{
    Ack, AdminOp, Deliver, ErrorFrame, NackReason, Publish, Receipt, ReceiptStatus, SessionConfig,
    Welcome,
};
use crate::crypto::{self, Key, KeyId, KeyStore, Keyring};
use crate::names::SessionName;
use crate::topic::Topic;

const KEY: [u8; 32] = [7; 32];

fn keys() -> KeyStore {
    let mut store = KeyStore::new();
    store.set_default(Keyring::new(KeyId::default(), Key::from_bytes(KEY)));
    store
}

fn config() -> ClientConfig {
    let session = SessionName::new("demo").expect("valid name");
    let mut c = ClientConfig::new("ws://server/ws", session, "pw");
    c.client_id = Some(ClientId::new("alice").expect("valid id"));
    c.keys = keys();
    c
}

fn topic(s: &str) -> Topic {
    Topic::new(s).expect("valid topic")
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("valid filter")
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// A client plus helpers to play the server.
struct T {
    c: Client,
}

impl T {
    fn new(config: ClientConfig) -> T {
        T {
            c: Client::new(config, ms(0)),
        }
    }

    /// A client that is connected at t=0.
    fn connected() -> T {
        let mut t = T::new(config());
        t.open_and_welcome(ms(0), SessionConfig::default());
        t.events();
        t
    }

    fn open_and_welcome(&mut self, now: Instant, config: SessionConfig) {
        assert_eq!(
            self.c.poll_transport(),
            Some(TransportCommand::Connect {
                url: "ws://server/ws".into()
            })
        );
        self.c.handle_open(now);
        let hello = self.sent();
        assert!(matches!(hello.as_slice(), [Frame::Hello(_)]), "{hello:?}");
        self.server(
            now,
            Frame::Welcome(Welcome {
                session_present: false,
                batch: true,
                client_id: "alice".into(),
                resume_token: "token-of-alice".into(),
                keepalive_ms: 0,
                config,
            }),
        );
    }

    fn server(&mut self, now: Instant, frame: Frame) {
        self.c.handle_frame(now, frame.encode());
    }

    fn sent(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.c.poll_transmit())
            .flat_map(crate::codec::batch::split)
            .map(|f| f.expect("the core sends valid batches"))
            .map(|b| Frame::decode(b).expect("the core sends valid frames"))
            .collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }

    fn transport(&mut self) -> Vec<TransportCommand> {
        std::iter::from_fn(|| self.c.poll_transport()).collect()
    }
}

fn sealed(topic: &str, plaintext: &[u8]) -> Bytes {
    let ring = Keyring::new(KeyId::default(), Key::from_bytes(KEY));
    Bytes::from(crypto::seal(&ring, "demo", topic, plaintext).expect("seal"))
}

fn deliver(id: u64, topic: &str, payload: Bytes) -> Frame {
    Frame::Deliver(Deliver {
        qos: Qos::AtLeastOnce,
        delivery_id: id,
        attempt: 1,
        topic: topic.into(),
        publisher: "bob".into(),
        payload,
    })
}

#[test]
fn a_new_client_asks_to_connect_and_says_hello_with_its_settings() {
    let mut cfg = config();
    cfg.resume = true;
    cfg.display_name = Some(crate::names::DisplayName::new("Alice").expect("valid"));
    let mut t = T::new(cfg);
    assert_eq!(
        t.events(),
        vec![Event::StateChanged(State::Connecting { attempt: 1 })]
    );
    assert!(matches!(
        t.transport()[..],
        [TransportCommand::Connect { .. }]
    ));
    t.c.handle_open(ms(5));
    let [Frame::Hello(h)] = &t.sent()[..] else {
        panic!("expected one hello")
    };
    assert_eq!(
        (
            h.session.as_str(),
            h.password.as_str(),
            h.client_id.as_str()
        ),
        ("demo", "pw", "alice")
    );
    assert!(h.resume && !h.admin_only);
    assert_eq!((h.keepalive_ms, h.display_name.as_str()), (10_000, "Alice"));
}

#[test]
fn the_resume_token_of_the_welcome_goes_into_every_later_hello() {
    let mut cfg = config();
    cfg.resume_token = "token-of-an-earlier-run".into();
    let mut t = T::new(cfg);
    assert_eq!(t.c.resume_token(), "token-of-an-earlier-run");
    t.transport();
    t.c.handle_open(ms(1));
    let [Frame::Hello(h)] = &t.sent()[..] else {
        panic!("expected one hello")
    };
    assert_eq!(h.resume_token, "token-of-an-earlier-run");
    t.server(
        ms(2),
        Frame::Welcome(Welcome {
            client_id: "alice".into(),
            resume_token: "token-of-alice".into(),
            ..Welcome::default()
        }),
    );
    assert_eq!(t.c.resume_token(), "token-of-alice");
    t.c.handle_close(ms(3), None, "network");
    t.c.handle_timeout(ms(60_000));
    assert!(matches!(
        t.transport()[..],
        [TransportCommand::Connect { .. }]
    ));
    t.c.handle_open(ms(60_001));
    let [Frame::Hello(h)] = &t.sent()[..] else {
        panic!("expected one hello")
    };
    assert_eq!(
        h.resume_token, "token-of-alice",
        "the reconnect proves the id"
    );
    let shown = format!(
        "{:?}",
        ClientConfig {
            resume_token: "secret-token".into(),
            ..config()
        }
    );
    assert!(!shown.contains("secret-token"), "{shown}");
}

#[test]
fn the_welcome_connects_and_applies_the_session_limits() {
    let mut t = T::new(config());
    let limits = SessionConfig {
        max_message_size: Some(100),
        ..SessionConfig::default()
    };
    t.open_and_welcome(ms(1), limits);
    assert!(t.events().contains(&Event::StateChanged(State::Connected {
        client_id: "alice".into(),
        session_present: false
    })));
    assert_eq!(t.c.max_message_size(), 100);
    let err =
        t.c.publish(ms(2), &topic("a"), &[0; 100], PublishOptions::default());
    assert!(
        matches!(err, Err(ClientError::MessageTooLarge { max: 100, .. })),
        "{err:?}"
    );
}

#[test]
fn subscribe_is_sent_and_settles_on_the_sub_ack() {
    let mut t = T::connected();
    let req =
        t.c.subscribe(ms(1), filter("chat/+"), true)
            .expect("subscribe");
    let [Frame::Subscribe(s)] = &t.sent()[..] else {
        panic!("expected subscribe")
    };
    assert_eq!(
        (s.filter.as_str(), s.presence, s.request_id),
        ("chat/+", true, req.0)
    );
    t.server(
        ms(2),
        Frame::SubAck(Ack {
            id: req.0,
            code: ErrorCode::OK,
        }),
    );
    assert_eq!(
        t.events(),
        vec![Event::Subscribed {
            request: req,
            filter: filter("chat/+"),
            result: Ok(())
        }]
    );
}

#[test]
fn a_refused_subscribe_settles_with_the_server_error_and_is_forgotten() {
    let mut t = T::connected();
    let req =
        t.c.subscribe(ms(1), filter("x/#"), false)
            .expect("subscribe");
    t.sent();
    t.server(
        ms(2),
        Frame::SubAck(Ack {
            id: req.0,
            code: ErrorCode::TOO_MANY_SUBSCRIPTIONS,
        }),
    );
    let events = t.events();
    let [Event::Subscribed {
        result: Err(RequestFailure::Server(e)),
        ..
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(e.code, ErrorCode::TOO_MANY_SUBSCRIPTIONS);
    assert_eq!(t.c.subs.len(), 0);
}

#[test]
fn a_publish_made_offline_is_sent_after_the_welcome_and_settles_once_on_the_ack() {
    let mut t = T::new(config());
    let id =
        t.c.publish(ms(0), &topic("a/b"), b"hi", PublishOptions::default())
            .expect("pub");
    assert!(t.sent().is_empty(), "nothing is sent before the handshake");
    t.open_and_welcome(ms(1), SessionConfig::default());
    let [Frame::Publish(p)] = &t.sent()[..] else {
        panic!("expected the held publish")
    };
    assert_eq!(
        (p.message_id, p.topic.as_str(), p.qos),
        (id.0, "a/b", Qos::AtLeastOnce)
    );
    t.events();
    t.server(
        ms(2),
        Frame::PubAck(Ack {
            id: id.0,
            code: ErrorCode::OK,
        }),
    );
    t.server(
        ms(3),
        Frame::PubAck(Ack {
            id: id.0,
            code: ErrorCode::OK,
        }),
    );
    assert_eq!(
        t.events(),
        vec![Event::PublishSettled {
            id,
            outcome: PublishOutcome::Acked
        }]
    );
    t.server(
        ms(4),
        Frame::Receipt(Receipt {
            message_id: id.0,
            status: ReceiptStatus::Delivered,
            delivered: 2,
            failed: 0,
        }),
    );
    assert_eq!(
        t.events(),
        vec![Event::Receipt {
            id,
            status: ReceiptStatus::Delivered,
            delivered: 2,
            failed: 0
        }]
    );
}

/// After a failover the server sends the receipt it queued for the resumed publisher, then
/// answers the publish resent at the restore with its `PubAck` and the receipt again: the
/// application sees the publish settle, then one receipt.
#[test]
fn a_receipt_the_server_sends_again_for_a_resent_publish_reaches_the_application_once() {
    let mut t = T::connected();
    let id =
        t.c.publish(ms(1), &topic("a/b"), b"hi", PublishOptions::default())
            .expect("pub");
    t.sent();
    t.c.handle_close(ms(2), Some(1006), "");
    let State::Reconnecting { at, .. } = t.c.state() else {
        panic!("reconnecting: {:?}", t.c.state())
    };
    t.c.handle_timeout(at);
    t.transport();
    t.c.handle_open(at);
    t.sent();
    let welcome = Welcome {
        session_present: true,
        batch: false,
        client_id: "alice".into(),
        resume_token: "token-of-alice".into(),
        keepalive_ms: 0,
        config: SessionConfig::default(),
    };
    t.server(at, Frame::Welcome(welcome));
    assert!(
        matches!(&t.sent()[..], [Frame::Publish(p)] if p.message_id == id.0),
        "the unacknowledged publish is resent"
    );
    t.events();
    let receipt = Frame::Receipt(Receipt {
        message_id: id.0,
        status: ReceiptStatus::Delivered,
        delivered: 1,
        failed: 0,
    });
    t.server(at, receipt.clone());
    let ack = Frame::PubAck(Ack {
        id: id.0,
        code: ErrorCode::OK,
    });
    t.server(at, ack);
    t.server(at, receipt);
    assert_eq!(
        t.events(),
        vec![
            Event::PublishSettled {
                id,
                outcome: PublishOutcome::Acked
            },
            Event::Receipt {
                id,
                status: ReceiptStatus::Delivered,
                delivered: 1,
                failed: 0
            }
        ]
    );
    assert_eq!(t.c.outbox.len(), 0, "settled by its receipt");
}

#[test]
fn qos0_publishes_settle_as_sent_when_handed_to_the_transport() {
    let mut t = T::connected();
    let id =
        t.c.publish(ms(1), &topic("a"), b"x", PublishOptions::at_most_once())
            .expect("pub");
    assert!(matches!(&t.sent()[..], [Frame::Publish(p)] if p.qos == Qos::AtMostOnce));
    assert_eq!(
        t.events(),
        vec![Event::PublishSettled {
            id,
            outcome: PublishOutcome::Sent
        }]
    );
    assert_eq!(t.c.outbox_len(), 0);
}

#[test]
fn publishing_needs_a_key_unless_plaintext_is_asked_for_and_never_to_system_topics() {
    let mut cfg = config();
    cfg.keys = KeyStore::new();
    let mut t = T::new(cfg);
    let r =
        t.c.publish(ms(0), &topic("a"), b"x", PublishOptions::default());
    assert_eq!(r, Err(ClientError::NoKey("a".into())));
    let plain = PublishOptions {
        plaintext: true,
        ..PublishOptions::default()
    };
    assert!(t.c.publish(ms(0), &topic("a"), b"x", plain).is_ok());
    let r = t.c.publish(ms(0), &topic("$SYS/x"), b"x", plain);
    assert_eq!(r, Err(ClientError::ForbiddenTopic("$SYS/x".into())));
}

#[test]
fn an_unacked_publish_is_resent_with_the_same_bytes_then_fails_after_max_attempts() {
    let mut cfg = config();
    cfg.publish_retry.max_attempts = 3;
    cfg.publish_retry.deadline = None;
    let mut t = T::new(cfg);
    t.open_and_welcome(ms(0), SessionConfig::default());
    let id =
        t.c.publish(ms(0), &topic("a"), b"x", PublishOptions::default())
            .expect("pub");
    let first = t.c.poll_transmit().expect("first send");
    assert_eq!(t.c.poll_timeout(), Some(ms(5_000)));
    for at in [5_000, 10_000] {
        t.server(ms(at - 1), Frame::Pong { nonce: 0 }); // keep the connection alive
        t.c.handle_timeout(ms(at));
        assert_eq!(t.c.poll_transmit(), Some(first.clone()), "resend at {at}");
    }
    t.events();
    t.server(ms(14_999), Frame::Pong { nonce: 0 });
    t.c.handle_timeout(ms(15_000));
    let outcome = PublishOutcome::Failed(PublishFailure::RetriesExhausted { attempts: 3 });
    assert_eq!(t.events(), vec![Event::PublishSettled { id, outcome }]);
}

#[test]
fn a_publish_answered_queue_full_stays_held_and_is_resent_until_taken() {
    let mut t = T::connected();
    let id =
        t.c.publish(ms(1), &topic("a"), b"x", PublishOptions::default())
            .expect("pub");
    let first = t.c.poll_transmit().expect("first send");
    t.server(
        ms(2),
        Frame::PubAck(Ack {
            id: id.0,
            code: ErrorCode::QUEUE_FULL,
        }),
    );
    assert!(
        !t.events()
            .iter()
            .any(|e| matches!(e, Event::PublishSettled { .. })),
        "not settled: the server did not take it"
    );
    // The retry interval of `config()` is 5 s.
    t.server(ms(5_000), Frame::Pong { nonce: 0 }); // keep the connection alive
    t.c.handle_timeout(ms(5_001));
    let resent: Vec<_> = std::iter::from_fn(|| t.c.poll_transmit()).collect();
    assert!(resent.contains(&first), "resent, same bytes");
    t.server(
        ms(5_002),
        Frame::PubAck(Ack {
            id: id.0,
            code: ErrorCode::OK,
        }),
    );
    assert_eq!(
        t.events(),
        vec![Event::PublishSettled {
            id,
            outcome: PublishOutcome::Acked
        }]
    );
}

#[test]
fn a_publish_past_its_deadline_expires_even_while_offline() {
    let mut cfg = config();
    cfg.publish_retry.deadline = Some(Duration::from_secs(2));
    let mut t = T::new(cfg);
    let id =
        t.c.publish(ms(0), &topic("a"), b"x", PublishOptions::default())
            .expect("pub");
    t.c.handle_timeout(ms(1_999));
    assert!(!t
        .events()
        .iter()
        .any(|e| matches!(e, Event::PublishSettled { .. })));
    t.c.handle_timeout(ms(2_000));
    assert_eq!(
        t.events(),
        vec![Event::PublishSettled {
            id,
            outcome: PublishOutcome::Expired
        }]
    );
}

#[test]
fn the_outbox_is_bounded_by_count_and_bytes() {
    let mut cfg = config();
    cfg.outbox_max_messages = 2;
    let mut t = T::new(cfg);
    for _ in 0..2 {
        t.c.publish(ms(0), &topic("a"), b"x", PublishOptions::default())
            .expect("room");
    }
    let r =
        t.c.publish(ms(0), &topic("a"), b"x", PublishOptions::default());
    assert!(matches!(
        r,
        Err(ClientError::OutboxFull {
            messages: 2,
            max_messages: 2,
            ..
        })
    ));

    let mut cfg = config();
    cfg.outbox_max_bytes = 200;
    let mut t = T::new(cfg);
    t.c.publish(ms(0), &topic("a"), &[0; 100], PublishOptions::default())
        .expect("room");
    let r =
        t.c.publish(ms(0), &topic("a"), &[0; 100], PublishOptions::default());
    assert!(
        matches!(r, Err(ClientError::OutboxFull { max_bytes: 200, .. })),
        "{r:?}"
    );
}

#[test]
fn a_verified_delivery_reaches_the_application_once_and_is_acked_every_time() {
    let mut t = T::connected();
    let frame = deliver(42, "chat/lobby", sealed("chat/lobby", b"hello"));
    t.server(ms(1), frame.clone());
    t.server(ms(2), frame);
    let events = t.events();
    let [Event::Message(m)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (m.payload.as_slice(), m.publisher.as_str()),
        (&b"hello"[..], "bob")
    );
    assert!(m.encrypted);
    let acks = t.sent();
    assert_eq!(acks, vec![Frame::DeliverAck { delivery_id: 42 }; 2]);
}

#[test]
fn a_delivery_replayed_into_another_topic_is_nacked_and_never_handed_over() {
    let mut t = T::connected();
    t.server(
        ms(1),
        deliver(7, "chat/other", sealed("chat/lobby", b"secret")),
    );
    let events = t.events();
    let [Event::DeliveryRejected {
        error: DeliveryError::Open(_),
        ..
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    let nack = Frame::DeliverNack {
        delivery_id: 7,
        reason: NackReason::Rejected,
    };
    assert_eq!(t.sent(), vec![nack]);
}

#[test]
fn plaintext_deliveries_are_refused_unless_accepted() {
    let mut t = T::connected();
    let plain = Bytes::from(crypto::seal_plaintext(b"hi"));
    t.server(ms(1), deliver(1, "a", plain.clone()));
    assert!(matches!(
        &t.events()[..],
        [Event::DeliveryRejected {
            error: DeliveryError::Plaintext,
            ..
        }]
    ));
    assert_eq!(
        t.sent(),
        vec![Frame::DeliverNack {
            delivery_id: 1,
            reason: NackReason::Plaintext
        }]
    );
    let mut cfg = config();
    cfg.accept_plaintext = true;
    let mut t = T::new(cfg);
    t.open_and_welcome(ms(0), SessionConfig::default());
    t.events();
    t.server(ms(1), deliver(1, "a", plain));
    assert!(matches!(&t.events()[..], [Event::Message(m)] if !m.encrypted && m.payload == b"hi"));
}

#[test]
fn a_fatal_error_closes_the_client_for_good_and_fails_what_was_held() {
    let mut t = T::new(config());
    let id =
        t.c.publish(ms(0), &topic("a"), b"x", PublishOptions::default())
            .expect("pub");
    let req = t.c.subscribe(ms(0), filter("a"), false).expect("sub");
    t.transport();
    t.c.handle_open(ms(1));
    t.events();
    t.server(
        ms(2),
        Frame::Error(ErrorFrame {
            code: ErrorCode::BAD_CREDENTIALS,
            ref_id: 0,
            message: "wrong password".into(),
        }),
    );
    let events = t.events();
    assert!(events.contains(&Event::PublishSettled {
        id,
        outcome: PublishOutcome::Failed(PublishFailure::Closed)
    }));
    assert!(events.contains(&Event::Subscribed {
        request: req,
        filter: filter("a"),
        result: Err(RequestFailure::Closed)
    }));
    let error = ServerError {
        code: ErrorCode::BAD_CREDENTIALS,
        message: "wrong password".into(),
    };
    let closed = State::Closed {
        reason: CloseReason::Fatal(error),
    };
    assert_eq!(events.last(), Some(&Event::StateChanged(closed)));
    assert!(matches!(
        t.transport()[..],
        [TransportCommand::Close { code: 4004, .. }]
    ));
    assert_eq!(t.c.poll_timeout(), None);
    t.c.handle_timeout(ms(100_000));
    assert!(t.transport().is_empty(), "no reconnect after a fatal error");
    assert_eq!(
        t.c.publish(ms(3), &topic("a"), b"x", PublishOptions::default()),
        Err(ClientError::Closed)
    );
}

#[test]
fn a_close_code_for_a_fatal_error_also_stops_reconnecting() {
    let mut t = T::connected();
    t.c.handle_close(
        ms(5),
        Some(ErrorCode::SESSION_DROPPED.close_code()),
        "session dropped",
    );
    assert!(
        matches!(t.c.state(), State::Closed { reason: CloseReason::Fatal(e) }
        if e.code == ErrorCode::SESSION_DROPPED)
    );
    assert_eq!(t.c.poll_timeout(), None);
}

#[test]
fn a_silent_connection_is_pinged_then_declared_dead_and_replaced() {
    let mut t = T::connected();
    assert_eq!(t.c.poll_timeout(), Some(ms(10_000)));
    t.c.handle_timeout(ms(10_000));
    assert!(matches!(t.sent()[..], [Frame::Ping { .. }]));
    assert_eq!(t.c.poll_timeout(), Some(ms(15_000)));
    t.c.handle_timeout(ms(14_999));
    assert!(t.transport().is_empty());
    t.c.handle_timeout(ms(15_000));
    assert!(matches!(
        t.transport()[..],
        [TransportCommand::Close { code: 4009, .. }]
    ));
    let events = t.events();
    let [Event::StateChanged(State::Reconnecting {
        attempt: 1,
        at,
        delay,
        ..
    })] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert!(*delay <= Duration::from_millis(500) && *delay >= Duration::from_millis(250));
    t.c.handle_timeout(*at);
    assert!(matches!(
        t.transport()[..],
        [TransportCommand::Connect { .. }]
    ));
}

#[test]
fn any_frame_from_the_server_counts_as_a_sign_of_life() {
    let mut t = T::connected();
    t.c.handle_timeout(ms(10_000));
    t.sent();
    t.server(ms(12_000), Frame::Pong { nonce: 1 });
    t.c.handle_timeout(ms(15_000));
    assert!(t.transport().is_empty(), "pong arrived: no reconnect");
}

#[test]
fn the_server_s_pings_are_answered() {
    let mut t = T::connected();
    t.server(ms(1), Frame::Ping { nonce: 99 });
    assert_eq!(t.sent(), vec![Frame::Pong { nonce: 99 }]);
}

#[test]
fn after_a_reconnect_subscriptions_come_back_and_unacked_publishes_are_resent() {
    let mut t = T::connected();
    let req = t.c.subscribe(ms(1), filter("a/#"), false).expect("sub");
    t.server(
        ms(1),
        Frame::SubAck(Ack {
            id: req.0,
            code: ErrorCode::OK,
        }),
    );
    let id =
        t.c.publish(ms(2), &topic("a/b"), b"x", PublishOptions::default())
            .expect("pub");
    t.sent();
    t.events();
    t.c.handle_close(ms(3), Some(1006), "");
    let Some(at) = t.c.poll_timeout() else {
        panic!("reconnect timer")
    };
    t.c.handle_timeout(at);
    t.open_and_welcome(at, SessionConfig::default());
    let sent = t.sent();
    assert!(
        matches!(&sent[..], [Frame::Subscribe(s), Frame::Publish(p)]
        if s.filter == "a/#" && p.message_id == id.0),
        "{sent:?}"
    );
    let Frame::Subscribe(s) = &sent[0] else {
        unreachable!()
    };
    t.server(
        at,
        Frame::SubAck(Ack {
            id: s.request_id,
            code: ErrorCode::OK,
        }),
    );
    let events = t.events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Subscribed { .. })),
        "{events:?}"
    );
}

#[test]
fn backoff_grows_and_gives_up_after_max_attempts() {
    let mut cfg = config();
    cfg.backoff.jitter = 0.0;
    cfg.backoff.max_attempts = Some(3);
    let mut t = T::new(cfg);
    let mut delays = Vec::new();
    let mut now = ms(0);
    loop {
        t.transport();
        t.c.handle_close(now, None, "refused");
        match t.c.state() {
            State::Reconnecting { at, delay, .. } => {
                delays.push(delay.as_millis());
                now = at;
                t.c.handle_timeout(now);
            }
            State::Closed { reason } => {
                assert_eq!(reason, CloseReason::GaveUp { attempts: 3 });
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delays, vec![1_000, 2_000]);
}

#[test]
fn a_retryable_refusal_during_the_handshake_backs_off_and_retries() {
    let mut t = T::new(config());
    t.transport();
    t.c.handle_open(ms(0));
    t.server(
        ms(1),
        Frame::Error(ErrorFrame {
            code: ErrorCode::SESSION_SUSPENDED,
            ref_id: 0,
            message: "suspended".into(),
        }),
    );
    assert!(
        matches!(t.c.state(), State::Reconnecting { attempt: 2, .. }),
        "{:?}",
        t.c.state()
    );
    let State::Reconnecting { error, .. } = t.c.state() else {
        panic!("reconnecting")
    };
    assert_eq!(error.map(|e| e.code), Some(ErrorCode::SESSION_SUSPENDED));
}

#[test]
fn garbage_from_the_server_drops_the_connection_without_panicking() {
    let mut t = T::connected();
    t.c.handle_frame(ms(1), Bytes::from_static(&[0xff, 0, 1]));
    assert!(matches!(
        t.transport()[..],
        [TransportCommand::Close { code: 4001, .. }]
    ));
    assert!(matches!(t.c.state(), State::Reconnecting { .. }));
}

#[test]
fn a_client_frame_or_a_second_welcome_from_the_server_drops_the_connection() {
    let publish = Frame::Publish(Publish {
        qos: Qos::AtMostOnce,
        message_id: 1,
        topic: "t".into(),
        payload: Bytes::new(),
    });
    let welcome = Frame::Welcome(Welcome {
        session_present: false,
        batch: false,
        client_id: "c".into(),
        resume_token: String::new(),
        keepalive_ms: 10_000,
        config: SessionConfig::default(),
    });
    for (frame, reason) in [
        (publish, "undecodable frame from server: frame type 0x08"),
        (welcome, "server sent welcome after the welcome"),
    ] {
        let mut t = T::connected();
        t.c.handle_frame(ms(1), frame.encode());
        let closes = t.transport();
        assert!(
            matches!(&closes[..], [TransportCommand::Close { code: 4001, reason: r }] if r.starts_with(reason)),
            "{closes:?}"
        );
        assert!(matches!(t.c.state(), State::Reconnecting { .. }));
    }
}

#[test]
fn admin_requests_wait_for_the_connection_and_fail_if_it_drops() {
    let mut t = T::new(ClientConfig::admin("ws://server/ws"));
    let req =
        t.c.admin(ms(0), "team", "token", AdminOp::Suspend)
            .expect("admin");
    assert_eq!(
        t.c.subscribe(ms(0), filter("a"), false),
        Err(ClientError::AdminOnly)
    );
    t.c.poll_transport();
    t.c.handle_open(ms(0));
    let [Frame::Hello(h)] = &t.sent()[..] else {
        panic!()
    };
    assert!(h.admin_only && h.session.is_empty());
    t.server(ms(1), Frame::Welcome(Welcome::default()));
    assert!(matches!(&t.sent()[..], [Frame::Admin(a)] if a.request_id == req.0));
    t.events();
    t.c.handle_close(ms(2), None, "");
    assert!(t.events().contains(&Event::AdminResult {
        request: req,
        result: Err(RequestFailure::ConnectionLost)
    }));
}

#[test]
fn close_settles_everything_exactly_once() {
    let mut t = T::connected();
    let a =
        t.c.publish(ms(1), &topic("a"), b"x", PublishOptions::default())
            .expect("pub");
    let b =
        t.c.publish(ms(1), &topic("a"), b"y", PublishOptions::default())
            .expect("pub");
    t.events();
    t.c.close(ms(2));
    t.c.close(ms(3));
    let settled: Vec<_> = t
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PublishSettled { id, outcome } => Some((id, outcome)),
            _ => None,
        })
        .collect();
    let closed = PublishOutcome::Failed(PublishFailure::Closed);
    assert_eq!(settled, vec![(a, closed.clone()), (b, closed)]);
    let transport = t.transport();
    assert!(matches!(
        &transport[..],
        [TransportCommand::Close { code: 1000, .. }]
    ));
}

#[test]
fn reconnect_now_skips_the_backoff_wait() {
    let mut t = T::connected();
    t.c.handle_close(ms(1), None, "");
    t.transport();
    t.c.reconnect_now(ms(2));
    assert!(matches!(
        t.transport()[..],
        [TransportCommand::Connect { .. }]
    ));
}

#[test]
fn an_answer_of_the_wrong_kind_leaves_the_request_waiting_for_its_own() {
    let mut t = T::connected();
    let req = t.c.unsubscribe(ms(1), filter("a")).expect("unsubscribe");
    t.sent();
    t.server(
        ms(2),
        Frame::AdminResult(crate::codec::AdminResult {
            request_id: req.0,
            code: ErrorCode::OK,
            message: String::new(),
            config: SessionConfig::default(),
        }),
    );
    assert!(t.events().is_empty());
    t.server(
        ms(3),
        Frame::UnsubAck(Ack {
            id: req.0,
            code: ErrorCode::OK,
        }),
    );
    assert_eq!(
        t.events(),
        vec![Event::Unsubscribed {
            request: req,
            filter: filter("a"),
            result: Ok(())
        }]
    );
}

#[test]
fn a_clean_session_forgets_delivery_ids_so_a_restarted_server_s_ids_are_not_duplicates() {
    let mut t = T::connected();
    t.server(ms(1), deliver(1, "a", sealed("a", b"before")));
    t.sent();
    t.c.handle_close(ms(2), Some(1006), "server crashed");
    let Some(at) = t.c.poll_timeout() else {
        panic!("reconnect timer")
    };
    t.c.handle_timeout(at);
    t.open_and_welcome(at, SessionConfig::default());
    t.events();
    t.server(at, deliver(1, "a", sealed("a", b"after")));
    let events = t.events();
    assert!(
        matches!(&events[..], [Event::Message(m)] if m.payload == b"after"),
        "{events:?}"
    );
}

#[test]
fn after_a_reconnect_restored_comes_once_every_resubscribe_was_answered() {
    let mut t = T::connected();
    for f in ["a", "b"] {
        let req = t.c.subscribe(ms(1), filter(f), false).expect("sub");
        t.server(
            ms(1),
            Frame::SubAck(Ack {
                id: req.0,
                code: ErrorCode::OK,
            }),
        );
    }
    t.sent();
    t.events();
    t.c.handle_close(ms(2), Some(1006), "");
    let Some(at) = t.c.poll_timeout() else {
        panic!("reconnect timer")
    };
    t.c.handle_timeout(at);
    t.open_and_welcome(at, SessionConfig::default());
    let ids: Vec<u64> = t
        .sent()
        .iter()
        .filter_map(|f| match f {
            Frame::Subscribe(s) => Some(s.request_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    t.events();
    t.server(
        at,
        Frame::SubAck(Ack {
            id: ids[0],
            code: ErrorCode::OK,
        }),
    );
    assert!(t.events().is_empty(), "one re-subscribe still open");
    t.server(
        at,
        Frame::SubAck(Ack {
            id: ids[1],
            code: ErrorCode::TOO_MANY_SUBSCRIPTIONS,
        }),
    );
    let events = t.events();
    assert!(
        matches!(
            &events[..],
            [
                Event::SubscriptionLost { .. },
                Event::Restored { subscriptions: 1 }
            ]
        ),
        "{events:?}"
    );
}

#[test]
fn an_admin_only_hello_carries_the_secret_key_and_its_session_or_the_admin_token() {
    let session = SessionName::new("team").expect("valid name");
    let mut t = T::new(ClientConfig::admin_with(
        "ws://server/ws",
        Some(session),
        "team-secret",
    ));
    t.c.poll_transport();
    t.c.handle_open(ms(0));
    let [Frame::Hello(h)] = &t.sent()[..] else {
        panic!()
    };
    assert!(h.admin_only);
    assert_eq!(
        (h.session.as_str(), h.password.as_str()),
        ("team", "team-secret")
    );
    let mut t = T::new(ClientConfig::admin_with("ws://server/ws", None, "token"));
    t.c.poll_transport();
    t.c.handle_open(ms(0));
    let [Frame::Hello(h)] = &t.sent()[..] else {
        panic!()
    };
    assert!(h.admin_only && h.session.is_empty());
    assert_eq!(h.password, "token");
}

#[cfg(not(target_arch = "wasm32"))]
fn packed(frames: &[Frame]) -> Bytes {
    let mut b = crate::codec::batch::Builder::new();
    for frame in frames {
        b.push(&frame.encode());
    }
    b.finish()
}

// The browser build does not ask for batches (`BATCHES`).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn every_hello_asks_for_batches() {
    let mut t = T::new(config());
    t.transport();
    t.c.handle_open(ms(5));
    let [Frame::Hello(h)] = &t.sent()[..] else {
        panic!("expected one hello")
    };
    assert!(h.batch);
}

// The browser build does not ask for batches (`BATCHES`).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_batch_from_the_server_is_handled_frame_by_frame_in_order() {
    let mut t = T::connected();
    let message = packed(&[
        deliver(1, "a", sealed("a", b"one")),
        deliver(2, "a", sealed("a", b"two")),
        Frame::Ping { nonce: 3 },
    ]);
    t.c.handle_frame(ms(1), message);
    let payloads: Vec<Vec<u8>> = t
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.payload.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(
        t.sent(),
        vec![
            Frame::DeliverAck { delivery_id: 1 },
            Frame::DeliverAck { delivery_id: 2 },
            Frame::Pong { nonce: 3 },
        ]
    );
}

// The browser build does not ask for batches (`BATCHES`).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_malformed_batch_from_the_server_drops_the_connection_after_the_good_frames() {
    let mut t = T::connected();
    let good = deliver(1, "a", sealed("a", b"kept")).encode();
    let mut message = vec![crate::codec::batch::BATCH, good.len() as u8];
    message.extend_from_slice(&good);
    message.extend_from_slice(&[0x7F, 0x0F]);
    t.c.handle_frame(ms(1), Bytes::from(message));
    let events = t.events();
    assert!(
        matches!(&events[0], Event::Message(m) if m.payload == b"kept"),
        "{events:?}"
    );
    assert!(
        matches!(
            t.c.state(),
            State::Connecting { .. } | State::Reconnecting { .. }
        ),
        "{:?}",
        t.c.state()
    );
}

// The browser build does not ask for batches (`BATCHES`).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn frames_queued_together_go_out_as_one_batch_once_the_server_takes_them() {
    let mut t = T::connected();
    for id in 1..=3 {
        t.server(ms(1), deliver(id, "a", sealed("a", b"x")));
    }
    t.events();
    let first = t.c.poll_transmit().expect("a message");
    assert!(crate::codec::batch::is_batch(&first));
    assert_eq!(t.c.poll_transmit(), None, "one message holds all three");
    let acks: Vec<Frame> = crate::codec::batch::split(first)
        .map(|f| f.expect("valid"))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|b| Frame::decode(b).expect("valid"))
        .collect();
    assert_eq!(
        acks,
        (1..=3)
            .map(|delivery_id| Frame::DeliverAck { delivery_id })
            .collect::<Vec<_>>()
    );
}

#[test]
fn without_the_servers_word_every_frame_goes_alone() {
    let mut t = T::new(config());
    t.transport();
    t.c.handle_open(ms(0));
    t.sent();
    t.server(
        ms(0),
        Frame::Welcome(Welcome {
            client_id: "alice".into(),
            resume_token: "token-of-alice".into(),
            ..Welcome::default()
        }),
    );
    t.events();
    for id in 1..=3 {
        t.server(ms(1), deliver(id, "a", sealed("a", b"x")));
    }
    let messages: Vec<Bytes> = std::iter::from_fn(|| t.c.poll_transmit()).collect();
    assert_eq!(messages.len(), 3);
    assert!(messages.iter().all(|m| !crate::codec::batch::is_batch(m)));
}

#[test]
fn a_batch_never_exceeds_the_sessions_max_message_size() {
    let mut t = T::new(config());
    let limits = SessionConfig {
        max_message_size: Some(300),
        ..SessionConfig::default()
    };
    t.open_and_welcome(ms(0), limits);
    t.events();
    for _ in 0..4 {
        t.c.publish(ms(1), &topic("a"), &[7; 60], PublishOptions::default())
            .expect("room");
    }
    let messages: Vec<Bytes> = std::iter::from_fn(|| t.c.poll_transmit()).collect();
    assert!(
        messages.len() > 1,
        "four sealed publishes do not fit 300 bytes"
    );
    assert!(
        messages.iter().all(|m| m.len() <= 300),
        "{:?}",
        messages.iter().map(Bytes::len).collect::<Vec<_>>()
    );
    let frames: usize = messages
        .into_iter()
        .map(|m| crate::codec::batch::split(m).count())
        .sum();
    assert_eq!(frames, 4);
}

// ----- several server URLs --------------------------------------------------------------

/// A client of the URLs `a`, `b` and `c`, without jitter.
fn three_urls() -> T {
    let mut cfg = config();
    cfg.urls = ["ws://a/ws", "ws://b/ws", "ws://c/ws"]
        .map(String::from)
        .to_vec();
    cfg.backoff.jitter = 0.0;
    T::new(cfg)
}

/// The URL the next transport request opens (and checks it is the only request).
fn connect_url(t: &mut T) -> String {
    match &t.transport()[..] {
        [TransportCommand::Connect { url }] => url.clone(),
        other => panic!("expected one connect, got {other:?}"),
    }
}

/// Fails the current attempt and starts the next one after the backoff; returns its delay.
fn fail_and_wait(t: &mut T, now: &mut Instant) -> Duration {
    t.c.handle_close(*now, None, "refused");
    let State::Reconnecting { at, delay, .. } = t.c.state() else {
        panic!("reconnecting: {:?}", t.c.state())
    };
    *now = at;
    t.c.handle_timeout(*now);
    delay
}

#[test]
fn attempts_go_round_the_urls_in_order_and_the_backoff_grows_per_round() {
    let mut t = three_urls();
    let mut now = ms(0);
    let mut urls = vec![connect_url(&mut t)];
    assert_eq!(t.c.url(), "ws://a/ws");
    let mut delays = Vec::new();
    for _ in 0..6 {
        delays.push(fail_and_wait(&mut t, &mut now).as_millis());
        urls.push(connect_url(&mut t));
        assert_eq!(t.c.url(), urls.last().expect("an attempt").as_str());
    }
    assert_eq!(
        urls,
        ["a", "b", "c", "a", "b", "c", "a"].map(|h| format!("ws://{h}/ws"))
    );
    // Attempts 2 and 3 are in the first round, 4 to 6 in the second, 7 in the third.
    assert_eq!(delays, [500, 500, 1_000, 1_000, 1_000, 2_000]);
}

#[test]
fn a_bad_url_in_the_list_is_skipped_and_the_next_one_connects() {
    let mut t = three_urls();
    assert_eq!(connect_url(&mut t), "ws://a/ws");
    // The driver cannot open it (refused, unparsable, DNS): it reports a close.
    t.c.handle_close(ms(0), None, "invalid URL");
    let State::Reconnecting { at, .. } = t.c.state() else {
        panic!("reconnecting: {:?}", t.c.state())
    };
    t.c.handle_timeout(at);
    assert_eq!(connect_url(&mut t), "ws://b/ws");
    t.c.handle_open(at);
    t.sent();
    t.server(
        at,
        Frame::Welcome(Welcome {
            session_present: false,
            batch: false,
            client_id: "alice".into(),
            resume_token: String::new(),
            keepalive_ms: 0,
            config: SessionConfig::default(),
        }),
    );
    assert!(matches!(t.c.state(), State::Connected { .. }));
    assert_eq!(t.c.url(), "ws://b/ws");
}

#[test]
fn a_connect_timeout_moves_to_the_next_url() {
    let mut t = three_urls();
    assert_eq!(connect_url(&mut t), "ws://a/ws");
    let deadline = t.c.poll_timeout().expect("connect deadline");
    t.c.handle_timeout(deadline);
    assert!(
        matches!(&t.transport()[..], [TransportCommand::Close { .. }]),
        "the timed out attempt is closed"
    );
    let at = t.c.poll_timeout().expect("reconnect timer");
    t.c.handle_timeout(at);
    assert_eq!(connect_url(&mut t), "ws://b/ws");
}

#[test]
fn a_lost_connection_reconnects_to_the_next_url_and_restores_there() {
    let mut cfg = config();
    cfg.urls = vec!["ws://server/ws".into(), "ws://other/ws".into()];
    let mut t = T::new(cfg);
    t.open_and_welcome(ms(0), SessionConfig::default());
    let req = t.c.subscribe(ms(1), filter("a/#"), false).expect("sub");
    t.server(
        ms(1),
        Frame::SubAck(Ack {
            id: req.0,
            code: ErrorCode::OK,
        }),
    );
    t.sent();
    t.c.handle_close(ms(2), Some(1006), "");
    // Made while no server is connected: held, sent on the next one.
    let id =
        t.c.publish(ms(3), &topic("a/b"), b"x", PublishOptions::default())
            .expect("pub");
    let State::Reconnecting { at, delay, .. } = t.c.state() else {
        panic!("reconnecting: {:?}", t.c.state())
    };
    let first_round = BackoffConfig::default().initial;
    assert!(
        delay <= first_round && delay >= first_round / 2,
        "{delay:?}"
    );
    t.c.handle_timeout(at);
    assert_eq!(connect_url(&mut t), "ws://other/ws");
    t.c.handle_open(at);
    t.sent();
    t.server(
        at,
        Frame::Welcome(Welcome {
            session_present: false,
            batch: false,
            client_id: "alice".into(),
            resume_token: String::new(),
            keepalive_ms: 0,
            config: SessionConfig::default(),
        }),
    );
    assert_eq!(t.c.url(), "ws://other/ws");
    let sent = t.sent();
    assert!(
        matches!(&sent[..], [Frame::Subscribe(s), Frame::Publish(p)]
        if s.filter == "a/#" && p.message_id == id.0),
        "{sent:?}"
    );
}

#[test]
fn one_url_is_tried_again_and_again_with_the_backoff_of_before() {
    let mut cfg = config();
    cfg.backoff.jitter = 0.0;
    let mut t = T::new(cfg);
    let mut now = ms(0);
    let mut delays = Vec::new();
    assert_eq!(connect_url(&mut t), "ws://server/ws");
    for _ in 0..4 {
        delays.push(fail_and_wait(&mut t, &mut now).as_millis());
        assert_eq!(connect_url(&mut t), "ws://server/ws");
    }
    // As before several URLs existed: attempt `n` waits `initial * 2^(n-1)`.
    assert_eq!(delays, [1_000, 2_000, 4_000, 8_000]);
}

#[test]
fn max_attempts_counts_attempts_across_the_urls() {
    let mut t = three_urls();
    t.c.config.backoff.max_attempts = Some(4);
    let mut now = ms(0);
    for _ in 0..3 {
        t.transport();
        fail_and_wait(&mut t, &mut now);
    }
    t.transport();
    t.c.handle_close(now, None, "refused");
    assert_eq!(
        t.c.state(),
        State::Closed {
            reason: CloseReason::GaveUp { attempts: 4 }
        }
    );
}

#[test]
fn an_empty_url_list_fails_every_attempt_without_panicking() {
    let mut cfg = config();
    cfg.urls.clear();
    cfg.backoff.max_attempts = Some(2);
    let mut t = T::new(cfg);
    assert_eq!(connect_url(&mut t), "");
    assert_eq!(t.c.url(), "");
    let mut now = ms(0);
    fail_and_wait(&mut t, &mut now);
    assert_eq!(connect_url(&mut t), "");
    t.c.handle_close(now, None, "invalid URL");
    assert!(matches!(t.c.state(), State::Closed { .. }));
}
