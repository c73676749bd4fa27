#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use bytes::Bytes;

use super::*;
use crate::client::{ClientConfig, ClientError, CloseReason, ServerError};
use crate::codec::{Ack, Deliver, ErrorCode, ErrorFrame, Frame, Welcome};
use crate::crypto::{self, Key, KeyId, Keyring};
use crate::names::{ClientId, SessionName};

/// Handles that are plain labels, so outputs can be compared.
#[derive(Debug)]
struct Labels;

impl Handles for Labels {
    type Sink = &'static str;
    type Connect = &'static str;
    type Request = &'static str;
    type Publish = &'static str;
    type Admin = &'static str;
}

/// An output reduced to what a test compares.
#[derive(Debug, PartialEq)]
enum Seen {
    State(&'static str),
    Connected(&'static str),
    ConnectFailed(&'static str, &'static str),
    Request(&'static str, Result<(), &'static str>),
    Published(&'static str, Result<Qos, &'static str>),
    Admin(&'static str, Result<(), &'static str>),
    Deliver(String, Vec<&'static str>),
    Other,
}

const KEY: [u8; 32] = [9; 32];

fn config() -> ClientConfig {
    let mut c = ClientConfig::new(
        "ws://server/ws",
        SessionName::new("demo").expect("name"),
        "pw",
    );
    c.client_id = Some(ClientId::new("alice").expect("id"));
    let mut keys = crate::crypto::KeyStore::new();
    keys.set_default(Keyring::new(KeyId::default(), Key::from_bytes(KEY)));
    c.keys = keys;
    c
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("valid filter")
}

struct T {
    app: Dispatch<Labels>,
}

impl T {
    fn new() -> T {
        T {
            app: Dispatch::new(Client::new(config(), ms(0)), "connect"),
        }
    }

    /// Connected at t=0, with the connect outputs drained.
    fn connected() -> T {
        let mut t = T::new();
        t.open_and_welcome(ms(0));
        assert!(t.seen().contains(&Seen::Connected("connect")));
        t
    }

    fn open_and_welcome(&mut self, now: Instant) {
        while self.app.poll_transport().is_some() {}
        self.app.handle_open(now);
        self.sent();
        let welcome = Welcome {
            session_present: false,
            batch: true,
            client_id: "alice".into(),
            resume_token: "token".into(),
            keepalive_ms: 0,
            config: Default::default(),
        };
        self.server(now, Frame::Welcome(welcome));
    }

    fn server(&mut self, now: Instant, frame: Frame) {
        self.app.handle_frame(now, frame.encode());
    }

    fn sent(&mut self) -> Vec<Frame> {
        std::iter::from_fn(|| self.app.poll_transmit())
            .flat_map(crate::codec::batch::split)
            .map(|f| f.expect("the core sends valid batches"))
            .map(|b| Frame::decode(b).expect("the core sends valid frames"))
            .collect()
    }

    fn seen(&mut self) -> Vec<Seen> {
        let code = |f: Failure| f.code();
        std::iter::from_fn(|| self.app.poll_output())
            .map(|output| match output {
                Output::State(State::Connected { .. }) => Seen::State("connected"),
                Output::State(State::Closed { .. }) => Seen::State("closed"),
                Output::State(State::Reconnecting { .. }) => Seen::State("reconnecting"),
                Output::State(State::Connecting { .. }) => Seen::State("connecting"),
                Output::Connected(h) => Seen::Connected(h),
                Output::ConnectFailed(h, f) => Seen::ConnectFailed(h, f.code()),
                Output::Request(h, r) => Seen::Request(h, r.map_err(code)),
                Output::Published(h, r) => Seen::Published(h, r.map(|(_, q)| q).map_err(code)),
                Output::Admin(h, r) => Seen::Admin(h, r.map(drop).map_err(code)),
                Output::Deliver(m, sinks) => {
                    Seen::Deliver(String::from_utf8(m.payload).expect("utf-8"), sinks)
                }
                _ => Seen::Other,
            })
            .collect()
    }

    /// Subscribes and acks it; returns the outputs of the ack.
    fn subscribe(&mut self, at: u64, f: &str, sink: &'static str) -> Vec<Seen> {
        self.app.subscribe(ms(at), filter(f), false, sink, sink);
        let id = self
            .sent()
            .iter()
            .find_map(|frame| match frame {
                Frame::Subscribe(s) => Some(s.request_id),
                _ => None,
            })
            .expect("a subscribe was sent");
        self.ack(
            at,
            Frame::SubAck(Ack {
                id,
                code: ErrorCode::OK,
            }),
        )
    }

    fn ack(&mut self, at: u64, frame: Frame) -> Vec<Seen> {
        self.server(ms(at), frame);
        self.seen()
    }

    fn deliver(&mut self, at: u64, id: u64, topic: &str, text: &str) -> Vec<Seen> {
        let ring = Keyring::new(KeyId::default(), Key::from_bytes(KEY));
        let sealed = crypto::seal(&ring, "demo", topic, text.as_bytes()).expect("seal");
        let frame = Frame::Deliver(Deliver {
            qos: Qos::AtLeastOnce,
            delivery_id: id,
            attempt: 1,
            topic: topic.into(),
            publisher: "bob".into(),
            payload: Bytes::from(sealed),
        });
        self.ack(at, frame)
    }
}

fn deliver(text: &str, sinks: &[&'static str]) -> Seen {
    Seen::Deliver(text.into(), sinks.to_vec())
}

#[test]
fn connect_settles_once_the_welcome_came_after_listeners_saw_the_state() {
    let mut t = T::new();
    t.open_and_welcome(ms(0));
    let seen = t.seen();
    let connected = seen.iter().position(|s| *s == Seen::Connected("connect"));
    let state = seen.iter().position(|s| *s == Seen::State("connected"));
    assert!(state.is_some() && connected > state, "{seen:?}");
}

#[test]
fn a_first_attempt_that_cannot_reach_the_server_fails_connect_and_stops_the_client() {
    let mut t = T::new();
    while t.app.poll_transport().is_some() {}
    t.app.handle_close(ms(1), None, "connection refused");
    let seen = t.seen();
    assert!(
        seen.contains(&Seen::ConnectFailed("connect", "unreachable")),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&Seen::State("closed")));
    assert!(matches!(
        t.app.state(),
        State::Closed {
            reason: CloseReason::Local
        }
    ));
    assert_eq!(t.app.poll_timeout(), None, "no reconnect is scheduled");
}

#[test]
fn a_first_attempt_refused_for_now_fails_connect_with_the_server_code() {
    let mut t = T::new();
    while t.app.poll_transport().is_some() {}
    t.app.handle_open(ms(0));
    t.sent();
    let error = ErrorFrame {
        code: ErrorCode::SESSION_SUSPENDED,
        ref_id: 0,
        message: "session `demo` is suspended".into(),
    };
    t.server(ms(1), Frame::Error(error));
    let seen = t.seen();
    assert!(
        seen.contains(&Seen::ConnectFailed("connect", "session_suspended")),
        "{seen:?}"
    );
}

#[test]
fn a_first_attempt_refused_for_good_fails_connect_as_refused() {
    let mut t = T::new();
    while t.app.poll_transport().is_some() {}
    t.app.handle_open(ms(0));
    t.sent();
    let error = ErrorFrame {
        code: ErrorCode::BAD_CREDENTIALS,
        ref_id: 0,
        message: "wrong password".into(),
    };
    t.server(ms(1), Frame::Error(error));
    let seen = t.seen();
    assert!(
        seen.contains(&Seen::ConnectFailed("connect", "bad_credentials")),
        "{seen:?}"
    );
}

#[test]
fn a_later_disconnect_does_not_touch_connect_and_the_client_reconnects() {
    let mut t = T::connected();
    t.app.handle_close(ms(5), None, "network down");
    let seen = t.seen();
    assert_eq!(seen, vec![Seen::State("reconnecting")]);
    assert!(t.app.poll_timeout().is_some());
}

#[test]
fn a_message_goes_to_every_matching_subscription_in_one_delivery() {
    let mut t = T::connected();
    assert_eq!(
        t.subscribe(1, "chat/+", "all rooms"),
        vec![Seen::Request("all rooms", Ok(()))]
    );
    t.subscribe(2, "chat/lobby", "lobby");
    t.subscribe(3, "news/#", "news");
    let seen = t.deliver(4, 1, "chat/lobby", "hi");
    assert_eq!(seen, vec![deliver("hi", &["all rooms", "lobby"])]);
}

#[test]
fn messages_no_subscription_matched_wait_for_the_first_that_does_oldest_first() {
    let mut t = T::connected();
    assert!(t.deliver(1, 1, "chat/lobby", "one").is_empty());
    assert!(t.deliver(2, 2, "news/today", "other").is_empty());
    assert!(t.deliver(3, 3, "chat/lobby", "two").is_empty());
    let seen = t.subscribe(4, "chat/#", "chat");
    assert_eq!(
        seen,
        vec![
            Seen::Request("chat", Ok(())),
            deliver("one", &["chat"]),
            deliver("two", &["chat"]),
        ]
    );
    assert_eq!(t.app.unrouted.len(), 1, "the news message still waits");
    let seen = t.subscribe(5, "news/+", "news");
    assert_eq!(seen[1..], [deliver("other", &["news"])]);
}

#[test]
fn a_refused_subscribe_gets_no_messages_and_keeps_them_waiting() {
    let mut t = T::connected();
    t.app
        .subscribe(ms(1), filter("x/#"), false, "x", "x request");
    let [Frame::Subscribe(s)] = &t.sent()[..] else {
        panic!("expected a subscribe")
    };
    let code = ErrorCode::TOO_MANY_SUBSCRIPTIONS;
    let seen = t.ack(
        2,
        Frame::SubAck(Ack {
            id: s.request_id,
            code,
        }),
    );
    assert_eq!(
        seen,
        vec![Seen::Request("x request", Err("too_many_subscriptions"))]
    );
    assert!(t.deliver(3, 1, "x/y", "kept").is_empty());
    assert_eq!(t.app.unrouted.len(), 1);
}

#[test]
fn after_unsubscribe_the_filter_gets_nothing_even_before_the_server_answers() {
    let mut t = T::connected();
    t.subscribe(1, "a/+", "a");
    t.subscribe(2, "a/b", "ab");
    t.app.unsubscribe(ms(3), filter("a/+"), "unsubscribe");
    t.sent();
    assert_eq!(t.deliver(4, 1, "a/b", "m"), vec![deliver("m", &["ab"])]);
}

#[test]
fn publishes_settle_with_their_own_handle_in_any_order() {
    let mut t = T::connected();
    let topic = Topic::new("a/b").expect("topic");
    for done in ["first", "second", "third"] {
        t.app
            .publish(ms(1), &topic, b"x", PublishOptions::default(), done);
    }
    let ids: Vec<u64> = t
        .sent()
        .iter()
        .map(|f| match f {
            Frame::Publish(p) => p.message_id,
            other => panic!("expected publishes, got {other:?}"),
        })
        .collect();
    let ack = |id| {
        Frame::PubAck(Ack {
            id,
            code: ErrorCode::OK,
        })
    };
    assert_eq!(
        t.ack(2, ack(ids[1])),
        vec![Seen::Published("second", Ok(Qos::AtLeastOnce))]
    );
    assert_eq!(
        t.app.publishes.len(),
        3,
        "a hole stays until the first settles"
    );
    assert_eq!(
        t.ack(3, ack(ids[0])),
        vec![Seen::Published("first", Ok(Qos::AtLeastOnce))]
    );
    assert_eq!(t.app.publishes.len(), 1);
    let refused = Frame::PubAck(Ack {
        id: ids[2],
        code: ErrorCode::MESSAGE_TOO_LARGE,
    });
    assert_eq!(
        t.ack(4, refused),
        vec![Seen::Published("third", Err("message_too_large"))]
    );
    assert_eq!(t.app.publishes.len(), 0);
}

#[test]
fn a_qos_0_publish_settles_as_sent() {
    let mut t = T::connected();
    let topic = Topic::new("a").expect("topic");
    t.app
        .publish(ms(1), &topic, b"x", PublishOptions::at_most_once(), "q0");
    assert_eq!(t.seen(), vec![Seen::Published("q0", Ok(Qos::AtMostOnce))]);
}

#[test]
fn a_usage_mistake_comes_back_to_its_handle_with_a_code() {
    let mut t = T::connected();
    let topic = Topic::new("$sys/x").expect("a valid topic, reserved for the server");
    t.app
        .publish(ms(1), &topic, b"x", PublishOptions::default(), "reserved");
    assert_eq!(
        t.seen(),
        vec![Seen::Published("reserved", Err("forbidden_topic"))]
    );
    assert!(t.sent().is_empty(), "nothing was sent");
}

#[test]
fn closing_fails_everything_that_waits_with_closed() {
    let mut t = T::connected();
    let topic = Topic::new("a").expect("topic");
    t.app
        .publish(ms(1), &topic, b"x", PublishOptions::default(), "publish");
    t.app
        .subscribe(ms(1), filter("a"), false, "sink", "subscribe");
    let op = AdminOp::Describe;
    t.app.admin(ms(1), "demo", "secret", op, "admin");
    t.sent();
    t.app.close(ms(2));
    let seen = t.seen();
    for expected in [
        Seen::Published("publish", Err("closed")),
        Seen::Request("subscribe", Err("closed")),
        // Admin requests are not resent, so one cut off may or may not have taken effect.
        Seen::Admin("admin", Err("connection_lost")),
        Seen::State("closed"),
    ] {
        assert!(
            seen.contains(&expected),
            "{expected:?} missing from {seen:?}"
        );
    }
    t.app.subscribe(ms(3), filter("b"), false, "late", "late");
    assert_eq!(t.seen(), vec![Seen::Request("late", Err("closed"))]);
}

#[test]
fn failures_have_stable_codes_and_readable_messages() {
    let server = ServerError {
        code: ErrorCode::BAD_CREDENTIALS,
        message: "wrong password".into(),
    };
    let cases = [
        (
            Failure::Server(server.clone()),
            "bad_credentials",
            "wrong password",
        ),
        (
            Failure::Refused(server.clone()),
            "bad_credentials",
            "wrong password",
        ),
        (
            Failure::Unreachable {
                url: "ws://h/ws".into(),
                reason: "refused".into(),
            },
            "unreachable",
            "cannot connect to ws://h/ws: refused",
        ),
        (
            Failure::Unavailable {
                url: "ws://h/ws".into(),
                error: server,
            },
            "bad_credentials",
            "wrong password (the server is refusing connections)",
        ),
        (
            Failure::GaveUp { attempts: 3 },
            "unreachable",
            "gave up after 3 connection attempts",
        ),
        (
            Failure::ConnectionLost,
            "connection_lost",
            "connection lost before the server answered",
        ),
        (
            Failure::Expired,
            "expired",
            "the publish deadline passed before the server acked it",
        ),
        (
            Failure::RetriesExhausted { attempts: 5 },
            "retries_exhausted",
            "no ack after 5 attempts",
        ),
        (Failure::Closed, "closed", "the client was closed"),
        (
            Failure::Client(ClientError::AdminOnly),
            "admin_only",
            "this connection is admin-only",
        ),
    ];
    for (failure, code, message) in cases {
        assert_eq!(
            (failure.code(), failure.to_string().as_str()),
            (code, message)
        );
    }
}

#[test]
fn in_order_tables_find_ids_and_drop_settled_prefixes() {
    let mut t: InOrder<char> = InOrder::default();
    for (id, v) in [(3, 'a'), (5, 'b'), (9, 'c')] {
        t.push(id, v);
    }
    assert_eq!(t.take(4), None);
    assert_eq!(t.take(9), Some('c'));
    assert_eq!(t.take(9), None, "taken once");
    assert_eq!(t.len(), 3, "a hole stays while an earlier id is live");
    assert_eq!(t.take(3), Some('a'));
    assert_eq!(t.take(3), None);
    assert_eq!(t.drain().collect::<Vec<_>>(), vec![(5, 'b')]);
    assert_eq!(t.len(), 0);
    for id in 10..20 {
        t.push(id, 'x');
    }
    for id in 10..19 {
        assert_eq!(t.take(id), Some('x'));
    }
    assert!(
        t.len() <= 2,
        "settled in order, the table does not grow: {}",
        t.len()
    );
    assert_eq!(t.take(19), Some('x'));
}

#[test]
fn with_several_urls_connect_fails_only_once_each_url_failed_its_first_attempt() {
    let mut cfg = config();
    cfg.urls = vec!["ws://a/ws".into(), "ws://b/ws".into()];
    let mut t = T {
        app: Dispatch::new(Client::new(cfg, ms(0)), "connect"),
    };
    while t.app.poll_transport().is_some() {}
    t.app.handle_close(ms(1), None, "connection refused");
    let seen = t.seen();
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::ConnectFailed(..))),
        "{seen:?}"
    );
    let at = t.app.poll_timeout().expect("the next URL is tried");
    t.app.handle_timeout(at);
    t.app.handle_close(at, None, "connection refused");
    let seen = t.seen();
    assert!(
        seen.contains(&Seen::ConnectFailed("connect", "unreachable")),
        "{seen:?}"
    );
    assert_eq!(
        t.app.client().url(),
        "ws://b/ws",
        "the failure names the last"
    );
}

#[test]
fn with_several_urls_connect_settles_on_the_first_url_that_answers() {
    let mut cfg = config();
    cfg.urls = vec!["ws://dead/ws".into(), "ws://live/ws".into()];
    let mut t = T {
        app: Dispatch::new(Client::new(cfg, ms(0)), "connect"),
    };
    while t.app.poll_transport().is_some() {}
    t.app.handle_close(ms(1), None, "connection refused");
    let at = t.app.poll_timeout().expect("the next URL is tried");
    t.app.handle_timeout(at);
    t.open_and_welcome(at);
    let seen = t.seen();
    assert!(seen.contains(&Seen::Connected("connect")), "{seen:?}");
    assert_eq!(t.app.client().url(), "ws://live/ws");
}
