//! The login limits: guesses counted when their check starts, waiting turns, unknown
//! sessions that answer like wrong passwords, admin-only hellos and closed creation.

use std::net::IpAddr;

use super::*;

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().expect("valid address"))
}

fn hello(session: &str, password: &str) -> Hello {
    Hello {
        session: session.into(),
        password: password.into(),
        ..Hello::default()
    }
}

/// Opens `conn` from `peer` and hands it `hello` without running any job yet.
fn arrive(t: &mut T, conn: u64, peer: Option<IpAddr>, hello: Hello) {
    t.b.handle_open(t.now, ConnId(conn), peer);
    t.b.handle_message(t.now, ConnId(conn), Frame::Hello(hello).encode());
}

fn open_creation() -> BrokerConfig {
    BrokerConfig {
        hash_cost: HashCost::Test,
        open_session_creation: true,
        ..BrokerConfig::default()
    }
}

fn create() -> AdminOp {
    AdminOp::Create {
        password: "p".into(),
        secret: "s".into(),
        config: SessionConfig::default(),
    }
}

#[test]
fn concurrent_wrong_guesses_cost_four_checks_and_the_right_password_after_them_gets_in() {
    let mut t = T::new();
    let attacker = ip("192.0.2.7");
    for conn in 1..=64 {
        arrive(&mut t, conn, attacker, hello("demo", "guess"));
    }
    t.pump();
    assert_eq!(t.jobs_run, 4, "four checks start at once");
    for conn in 1..=4 {
        assert_eq!(t.closed[&ConnId(conn)], 4004);
    }
    for conn in 5..=63 {
        assert_eq!(t.closed[&ConnId(conn)], 4020, "conn {conn}");
    }
    assert!(!t.closed.contains_key(&ConnId(64)), "the newest one waits");
    arrive(&mut t, 65, attacker, hello("demo", "pw"));
    t.pump();
    assert_eq!(
        t.closed[&ConnId(64)],
        4020,
        "the newer login took its place"
    );
    assert!(t.frames(65).is_empty(), "its turn has not come yet");
    t.advance(Duration::from_secs(1));
    assert!(matches!(t.frames(65)[..], [Frame::Welcome(_)]));
    let m = t.b.metrics();
    assert_eq!(
        (m.password_checks_mismatched, m.password_checks_matched),
        (4, 1)
    );
    // The success started its pair over: four free checks again.
    for conn in 66..=69 {
        arrive(&mut t, conn, attacker, hello("demo", "guess"));
    }
    t.pump();
    assert_eq!(t.jobs_run, 9);
}

#[test]
fn other_addresses_are_not_slowed_down_by_one_guesser() {
    let mut t = T::new();
    for conn in 1..=10 {
        arrive(&mut t, conn, ip("192.0.2.7"), hello("demo", "guess"));
    }
    arrive(&mut t, 11, ip("192.0.2.8"), hello("demo", "pw"));
    t.pump();
    assert!(matches!(t.frames(11)[..], [Frame::Welcome(_)]));
}

#[test]
fn a_password_that_verified_before_gets_in_during_a_back_off() {
    let mut t = T::new();
    let attacker = ip("192.0.2.7");
    arrive(&mut t, 1, attacker, hello("demo", "pw"));
    t.pump();
    assert!(matches!(t.frames(1)[..], [Frame::Welcome(_)]));
    for conn in 2..=10 {
        arrive(&mut t, conn, attacker, hello("demo", "guess"));
    }
    arrive(&mut t, 11, attacker, hello("demo", "pw"));
    t.pump();
    assert!(matches!(t.frames(11)[..], [Frame::Welcome(_)]));
}

#[test]
fn an_unknown_session_costs_a_check_and_answers_byte_for_byte_like_a_wrong_password() {
    let mut t = T::new();
    arrive(&mut t, 1, ip("192.0.2.1"), hello("demo", "guess"));
    arrive(&mut t, 2, ip("192.0.2.2"), hello("nosuch", "guess"));
    t.pump();
    assert_eq!(t.jobs_run, 2);
    let (wrong, unknown) = (t.raw(1), t.raw(2));
    assert_eq!(wrong.len(), 1);
    assert_eq!(wrong, unknown);
    assert_eq!(t.closed[&ConnId(1)], t.closed[&ConnId(2)]);
}

#[test]
fn guesses_at_unknown_session_names_are_limited_too() {
    let mut t = T::new();
    for conn in 1..=6 {
        arrive(&mut t, conn, ip("192.0.2.1"), hello("nosuch", "guess"));
    }
    t.pump();
    assert_eq!(t.jobs_run, 4);
    assert_eq!(t.closed[&ConnId(5)], 4020);
    // Many names from one address meet the budget of the address.
    let mut t = T::new();
    for conn in 1..=70 {
        let name = format!("name{conn}");
        arrive(&mut t, conn, ip("192.0.2.1"), hello(&name, "guess"));
        t.pump();
    }
    assert_eq!(t.jobs_run, 64);
}

#[test]
fn rotating_addresses_meet_the_session_budget() {
    let mut t = T::new();
    for conn in 1..=40u64 {
        let peer = ip(&format!("10.0.0.{conn}"));
        arrive(&mut t, conn, peer, hello("demo", "guess"));
        t.pump();
    }
    assert_eq!(t.jobs_run, 32);
}

#[test]
fn a_credential_over_one_kib_is_refused_before_any_check() {
    let mut t = T::new();
    arrive(&mut t, 1, None, hello("demo", &"x".repeat(1025)));
    t.pump();
    assert_eq!(t.jobs_run, 0);
    assert_eq!(
        t.closed[&ConnId(1)],
        ErrorCode::CREDENTIAL_TOO_LARGE.close_code()
    );
    arrive(&mut t, 2, None, hello("demo", &"x".repeat(1024)));
    t.pump();
    assert_eq!(t.jobs_run, 1, "1 KiB itself is checked");
    let reply = t.admin("demo", &"s".repeat(1025), AdminOp::Describe);
    assert_eq!(reply.code, ErrorCode::CREDENTIAL_TOO_LARGE);
}

#[test]
fn admin_only_hellos_need_a_secret_key_or_the_admin_token() {
    let mut t = T::new();
    let admin_hello = |session: &str, credential: &str| Hello {
        admin_only: true,
        ..hello(session, credential)
    };
    arrive(&mut t, 1, None, admin_hello("", ""));
    arrive(&mut t, 2, None, admin_hello("demo", "wrong"));
    arrive(&mut t, 3, None, admin_hello("demo", "secret"));
    arrive(&mut t, 4, None, admin_hello("nosuch", "secret"));
    t.pump();
    assert_eq!(t.closed[&ConnId(1)], 4004);
    assert_eq!(t.closed[&ConnId(2)], 4004);
    assert!(matches!(t.frames(3)[..], [Frame::Welcome(_)]));
    assert_eq!(t.closed[&ConnId(4)], 4004);
    assert_eq!(t.jobs_run, 3, "no check without a credential");

    let mut t = T::with_config(open_creation());
    arrive(&mut t, 1, None, admin_hello("", ""));
    t.pump();
    assert!(
        matches!(t.frames(1)[..], [Frame::Welcome(_)]),
        "with open creation and no token, anyone may create sessions anyway"
    );
}

#[test]
fn creating_a_session_without_the_admin_token_needs_open_creation() {
    let mut t = T::new();
    let reply = t.admin("fresh", "", create());
    assert_eq!(reply.code, ErrorCode::NOT_AUTHORIZED);
    assert!(reply.message.contains("--open-session-creation"));
    assert_eq!(t.jobs_run, 0);
    let mut t = T::with_config(open_creation());
    assert_eq!(t.admin("fresh", "", create()).code, ErrorCode::OK);
}

#[test]
fn session_limits_are_checked_before_any_hashing() {
    let config = BrokerConfig {
        max_sessions: 2,
        ..open_creation()
    };
    let mut t = T::with_config(config);
    let reply = t.admin("fresh", "", create());
    assert_eq!(reply.code, ErrorCode::TOO_MANY_SESSIONS);
    assert_eq!(
        t.admin("demo", "", create()).code,
        ErrorCode::SESSION_EXISTS
    );
    assert_eq!(t.jobs_run, 0);
}

#[test]
fn one_address_holds_at_most_a_quarter_of_the_pending_checks() {
    let config = BrokerConfig {
        max_pending_jobs: 8,
        hash_cost: HashCost::Test,
        ..BrokerConfig::default()
    };
    let mut t = T::with_config(config);
    for conn in 1..=3 {
        let session = if conn == 1 { "demo" } else { "other" };
        arrive(&mut t, conn, ip("192.0.2.1"), hello(session, "guess"));
    }
    arrive(&mut t, 4, ip("192.0.2.2"), hello("demo", "pw"));
    t.pump();
    assert_eq!(t.closed[&ConnId(3)], 4020, "the third check of one address");
    assert!(matches!(t.frames(4)[..], [Frame::Welcome(_)]));
}

#[test]
fn an_unknown_session_answers_admin_requests_like_a_wrong_secret_key() {
    let mut t = T::new();
    let wrong = t.admin("demo", "guess", AdminOp::Describe);
    let unknown = t.admin("nosuch", "guess", AdminOp::Describe);
    assert_eq!(
        (wrong.code, unknown.code),
        (ErrorCode::NOT_AUTHORIZED, ErrorCode::NOT_AUTHORIZED)
    );
    assert_eq!(
        wrong.message.replace("demo", "nosuch"),
        unknown.message,
        "the same words"
    );
    assert_eq!(t.jobs_run, 2, "both cost a check");
}

#[test]
fn wrong_secret_keys_are_limited_apart_from_passwords() {
    let mut t = T::new();
    for _ in 0..4 {
        let reply = t.admin("demo", "guess", AdminOp::Describe);
        assert_eq!(reply.code, ErrorCode::NOT_AUTHORIZED);
    }
    let reply = t.admin("demo", "guess", AdminOp::Describe);
    assert_eq!(reply.code, ErrorCode::RATE_LIMITED);
    assert_eq!(t.jobs_run, 4);
    t.connect(1, "member");
    t.advance(Duration::from_secs(1));
    assert_eq!(
        t.admin("demo", "secret", AdminOp::Describe).code,
        ErrorCode::OK
    );
}

#[test]
fn the_stand_in_hashes_are_well_formed_and_match_nothing() {
    for cost in [HashCost::Test, HashCost::Standard] {
        let hash = crate::handshake::stand_in_hash(cost);
        assert!(!hash.verify(""));
        assert!(!hash.verify("stand-in"));
    }
}
