//! Several brokers in one server: placement, forwarded admin frames, shared counts.

use super::*;

/// A name that `count` brokers place on broker `index`.
fn name_on(index: usize, count: usize) -> String {
    (0..)
        .map(|i| format!("s{i}"))
        .find(|name| shard_of(name, count) == index)
        .expect("some name lands on every broker")
}

fn create() -> AdminOp {
    AdminOp::Create {
        password: "p".into(),
        secret: "s".into(),
        config: SessionConfig::default(),
    }
}

fn sharded(index: usize, totals: &Arc<Totals>, max_sessions: usize) -> T {
    T::with_config(BrokerConfig {
        hash_cost: HashCost::Test,
        shard: Shard { index, count: 2 },
        totals: totals.clone(),
        max_sessions,
        open_session_creation: true,
        ..BrokerConfig::default()
    })
}

#[test]
fn an_admin_frame_about_another_broker_s_session_is_forwarded_and_its_reply_comes_back() {
    let totals = Totals::new();
    let mut t = sharded(0, &totals, 100);
    // An admin-only connection with no session: allowed by open creation.
    t.b.handle_open(t.now, ConnId(1), Some([192, 0, 2, 7].into()));
    let hello = Hello {
        admin_only: true,
        ..Hello::default()
    };
    t.send(1, Frame::Hello(hello));
    assert!(matches!(t.frames(1)[..], [Frame::Welcome(_)]));

    let elsewhere = name_on(1, 2);
    let request = AdminRequest {
        request_id: 42,
        session: elsewhere.clone(),
        credential: String::new(),
        op: AdminOp::Describe,
    };
    t.send(1, Frame::Admin(request.clone()));
    assert!(t.frames(1).is_empty(), "not answered here");
    let forwarded = t.forwards.pop().expect("handed to the driver");
    assert_eq!(forwarded.conn, ConnId(1));
    assert_eq!(forwarded.peer, Some([192, 0, 2, 7].into()));
    assert_eq!(forwarded.request, request);

    // The other broker's answer goes to the connection as its `AdminResult`.
    let reply = AdminReply {
        code: ErrorCode::UNKNOWN_SESSION,
        message: format!("no session named `{elsewhere}`"),
        config: SessionConfig::default(),
    };
    t.b.admin_forwarded(ConnId(1), 42, reply);
    t.pump();
    match &t.frames(1)[..] {
        [Frame::AdminResult(result)] => {
            assert_eq!(result.request_id, 42);
            assert_eq!(result.code, ErrorCode::UNKNOWN_SESSION);
        }
        other => panic!("{other:?}"),
    }

    // A session this broker owns is answered here.
    let here = name_on(0, 2);
    let request = AdminRequest {
        request_id: 43,
        session: here,
        ..request
    };
    t.send(1, Frame::Admin(request));
    assert!(t.forwards.is_empty());
    assert!(matches!(&t.frames(1)[..], [Frame::AdminResult(r)] if r.request_id == 43));

    // A reply for a connection that has gone is dropped.
    t.b.handle_close(t.now, ConnId(1));
    t.b.admin_forwarded(
        ConnId(1),
        44,
        AdminReply {
            code: ErrorCode::OK,
            message: String::new(),
            config: SessionConfig::default(),
        },
    );
    t.pump();
    assert!(t.frames(1).is_empty());
}

#[test]
fn max_sessions_counts_the_sessions_of_every_broker() {
    let totals = Totals::new();
    // Each test broker starts with `demo` and `other`: four sessions over the two.
    let mut a = sharded(0, &totals, 5);
    let mut b = sharded(1, &totals, 5);
    assert_eq!(totals.sessions(), 4);
    let reply = b.admin(&name_on(1, 2), "", create());
    assert_eq!(reply.code, ErrorCode::OK, "{}", reply.message);
    let reply = a.admin(&name_on(0, 2), "", create());
    assert_eq!(reply.code, ErrorCode::TOO_MANY_SESSIONS);
    assert!(
        reply.message.contains("maximum of 5 sessions"),
        "{}",
        reply.message
    );

    // A drop on one broker makes room on the other.
    let reply = b.admin("demo", "secret", AdminOp::Drop);
    assert_eq!(reply.code, ErrorCode::OK, "{}", reply.message);
    assert_eq!(totals.sessions(), 4);
    let reply = a.admin(&name_on(0, 2), "", create());
    assert_eq!(reply.code, ErrorCode::OK, "{}", reply.message);
}

#[test]
fn sessions_of_different_brokers_get_different_ids() {
    let totals = Totals::new();
    let a = sharded(0, &totals, 100);
    let b = sharded(1, &totals, 100);
    let ids = |t: &T| t.b.session_ids.values().map(|id| id.0).collect::<Vec<_>>();
    let (mut a, mut b) = (ids(&a), ids(&b));
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, [1, 3]);
    assert_eq!(b, [2, 4]);
}
