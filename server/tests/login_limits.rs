//! Logins resist guessing without locking out the right credential (docs/SECURITY.md,
//! "Logins and limits"): guesses are counted when their check starts, per (session,
//! address), per session and per address; unknown sessions answer like wrong passwords;
//! admin-only hellos need a credential; large hellos and anonymous creation are refused;
//! proxies are believed only when trusted.
//!
//! No test relies on timing: where a back-off turn could come while the test runs, the
//! bound allows for every turn that fits in the measured time.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{assert_refused, hello, metric, start, Clients, Received, WsClient, WAIT};
use fastport_proto::codec::{Frame, Hello};
use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};

const MISMATCH: &str = "fastport_password_checks_total{outcome=\"mismatch\"}";
const MATCH: &str = "fastport_password_checks_total{outcome=\"match\"}";
const RATE_LIMITED: &str = "fastport_rate_limited_total";

fn local(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// Back-off turns (after 1 s, then 2 s, 4 s, ... more) that can have come within `elapsed`.
fn turns_within(elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    (1..64).take_while(|k| 2f64.powi(*k) - 1.0 <= secs).count() as u64
}

/// The error code name a refused connection got (`"welcome"` if it was welcomed).
async fn outcome(mut client: WsClient) -> String {
    match client.recv().await {
        Received::Frame(Frame::Welcome(_)) => "welcome".to_owned(),
        Received::Frame(Frame::Error(e)) => e.code.name().to_owned(),
        other => panic!("unexpected {other:?}"),
    }
}

/// Polls `/metrics` until `sample` reaches `at_least` (bounded by the test wait).
async fn until_metric(addr: std::net::SocketAddr, sample: &str, at_least: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = metric(addr, sample).await;
        if value >= at_least {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sample} stayed at {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sixty_four_concurrent_wrong_passwords_cost_four_checks_and_the_right_one_gets_in() {
    let server = start(&[]).await;
    let mut guesses = Vec::new();
    for _ in 0..64 {
        guesses.push(server.connect().await);
    }
    let started = Instant::now();
    join_all(guesses.iter_mut().map(|c| c.hello("demo", "guess"))).await;
    let mut answers: FuturesUnordered<_> = guesses.into_iter().map(outcome).collect();
    let mut codes = Vec::new();
    // All but the one that waits for its turn are answered at once.
    while codes.len() < 63 {
        codes.push(answers.next().await.expect("an answer"));
    }
    let mut right = server.connect().await;
    right.hello("demo", "demo").await;
    assert_eq!(outcome(right).await, "welcome");
    codes.extend(answers.collect::<Vec<_>>().await);
    let elapsed = started.elapsed();
    assert!(
        codes
            .iter()
            .all(|c| c == "bad_credentials" || c == "rate_limited"),
        "{codes:?}"
    );
    let mismatched = metric(server.addr(), MISMATCH).await;
    let allowed = 4 + turns_within(elapsed);
    assert!(
        (4..=allowed).contains(&mismatched),
        "{mismatched} argon2 checks of wrong passwords in {elapsed:?} (at most {allowed})"
    );
    assert_eq!(metric(server.addr(), MATCH).await, 1);
}

#[tokio::test]
async fn rotating_source_addresses_are_still_limited_per_session() {
    let server = start(&[]).await;
    for n in 2..34 {
        let mut client = WsClient::connect_from(server.addr(), local(n), &[]).await;
        client.hello("demo", "guess").await;
        assert_refused(&mut client, "bad_credentials", 4004).await;
    }
    let started = Instant::now();
    let mut waiting = Vec::new();
    for n in 34..42 {
        let mut client = WsClient::connect_from(server.addr(), local(n), &[]).await;
        client.hello("demo", "guess").await;
        waiting.push(client);
    }
    // Each of them waits for its turn (and is counted as limited) instead of being checked.
    until_metric(server.addr(), RATE_LIMITED, 8).await;
    let mismatched = metric(server.addr(), MISMATCH).await;
    let allowed = 32 + turns_within(started.elapsed());
    assert!(
        (32..=allowed).contains(&mismatched),
        "{mismatched} checks from 40 addresses (at most {allowed})"
    );
}

#[tokio::test]
async fn an_unknown_session_answers_byte_for_byte_like_a_wrong_password_and_is_limited() {
    let server = start(&[]).await;
    let mut wrong = WsClient::connect_from(server.addr(), local(2), &[]).await;
    wrong.hello("demo", "guess").await;
    let mut unknown = WsClient::connect_from(server.addr(), local(3), &[]).await;
    unknown.hello("nosuch", "guess").await;
    let (a, b) = (wrong.recv().await, unknown.recv().await);
    let encoded = |r: &Received| match r {
        Received::Frame(f) => f.encode(),
        other => panic!("expected an error frame, got {other:?}"),
    };
    assert_eq!(encoded(&a), encoded(&b));
    assert_eq!(wrong.recv().await, unknown.recv().await, "the same close");
    assert_eq!(
        metric(server.addr(), MISMATCH).await,
        2,
        "both cost a check"
    );

    let mut guesses = Vec::new();
    for _ in 0..16 {
        guesses.push(WsClient::connect_from(server.addr(), local(4), &[]).await);
    }
    let started = Instant::now();
    join_all(guesses.iter_mut().map(|c| c.hello("nosuch", "guess"))).await;
    let codes = join_all(guesses.into_iter().map(outcome)).await;
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    let mismatched = metric(server.addr(), MISMATCH).await - 2;
    let allowed = 4 + turns_within(started.elapsed());
    assert!(
        (4..=allowed).contains(&mismatched),
        "{mismatched} checks for an unknown session (at most {allowed})"
    );
}

#[tokio::test]
async fn an_admin_only_hello_without_a_credential_is_refused() {
    let server = start(&[]).await;
    let admin_hello = |session: &str, credential: &str| {
        Frame::Hello(Hello {
            admin_only: true,
            session: session.into(),
            password: credential.into(),
            ..Hello::default()
        })
    };
    let mut anonymous = server.connect().await;
    anonymous.send(&admin_hello("", "")).await;
    assert_refused(&mut anonymous, "bad_credentials", 4004).await;
    let mut with_secret = server.connect().await;
    with_secret.send(&admin_hello("demo", "demo-secret")).await;
    assert!(matches!(with_secret.frame().await, Frame::Welcome(_)));
}

#[tokio::test]
async fn sessions_are_created_anonymously_only_with_open_session_creation() {
    let body = r#"{"name":"team","password":"pw","secret":"sec"}"#;
    let closed = start(&[]).await;
    let refused = closed.http("POST", "/admin/sessions", &[], body).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "not_authorized");
    assert!(
        refused.body.contains("--open-session-creation"),
        "{}",
        refused.body
    );
    assert_eq!(metric(closed.addr(), MATCH).await, 0);

    let open = start(&["--open-session-creation"]).await;
    let created = open.http("POST", "/admin/sessions", &[], body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let mut member = open.connect().await;
    member.join("team", "pw").await;
}

#[tokio::test]
async fn a_too_large_hello_is_refused_with_credential_too_large() {
    let server = start(&[]).await;
    let mut long_password = server.connect().await;
    long_password.hello("demo", &"x".repeat(2048)).await;
    assert_refused(&mut long_password, "credential_too_large", 4027).await;

    let mut huge = server.connect().await;
    let frame = hello("demo", &"x".repeat(1024 * 1024));
    huge.send(&frame).await;
    assert_refused(&mut huge, "credential_too_large", 4027).await;
    assert_eq!(
        metric(server.addr(), MISMATCH).await,
        0,
        "neither was hashed"
    );
    let mut member = server.connect().await;
    member.join("demo", "demo").await;
}

#[tokio::test]
async fn forwarding_headers_count_only_from_a_trusted_proxy() {
    let server = start(&["--trusted-proxy", "127.0.0.2"]).await;
    let addr = server.addr();
    // From an untrusted peer the header is ignored: a fifth guess with another forwarded
    // address still counts against the peer, and waits.
    for n in 1..=4 {
        let forwarded = format!("192.0.2.{n}");
        let headers = [("X-Forwarded-For", forwarded.as_str())];
        let mut c = WsClient::connect_from(addr, local(3), &headers).await;
        c.hello("demo", "guess").await;
        assert_refused(&mut c, "bad_credentials", 4004).await;
    }
    let headers = [("X-Forwarded-For", "192.0.2.99")];
    let mut waits = WsClient::connect_from(addr, local(3), &headers).await;
    waits.hello("demo", "guess").await;
    until_metric(addr, RATE_LIMITED, 1).await;

    // From the trusted proxy, each forwarded client is counted on its own.
    let client_a = [("X-Forwarded-For", "203.0.113.9, 192.0.2.50")];
    for _ in 0..4 {
        let mut c = WsClient::connect_from(addr, local(2), &client_a).await;
        c.hello("demo", "guess").await;
        assert_refused(&mut c, "bad_credentials", 4004).await;
    }
    let limited = metric(addr, RATE_LIMITED).await;
    for headers in [
        [("X-Forwarded-For", "192.0.2.51")],
        [("Forwarded", "for=\"192.0.2.52:1234\"")],
    ] {
        let mut c = WsClient::connect_from(addr, local(2), &headers).await;
        c.hello("demo", "guess").await;
        assert_refused(&mut c, "bad_credentials", 4004).await;
    }
    assert_eq!(
        metric(addr, RATE_LIMITED).await,
        limited,
        "other forwarded clients did not wait for the first one's turn"
    );
    drop(waits);
}
