//! Rotating a session's password and secret key: connections stay, old credentials stop.

use super::*;

fn rotate(password: &str, secret: &str) -> AdminOp {
    AdminOp::Rotate {
        password: password.into(),
        secret: secret.into(),
    }
}

fn hello(password: &str, client: &str) -> Frame {
    Frame::Hello(Hello {
        keepalive_ms: 10_000,
        session: "demo".into(),
        password: password.into(),
        client_id: client.into(),
        ..Hello::default()
    })
}

/// Opens `conn` and says `hello`; the frames it got back.
fn login(t: &mut T, conn: u64, password: &str, client: &str) -> Vec<Frame> {
    t.b.handle_open(t.now, ConnId(conn), None);
    t.send(conn, hello(password, client));
    t.frames(conn)
}

fn refused_with(frames: &[Frame], code: ErrorCode) -> bool {
    matches!(frames, [Frame::Error(e)] if e.code == code)
}

#[test]
fn a_rotated_password_and_secret_replace_the_old_ones_and_connections_stay() {
    let mut t = T::new();
    // The old password verified once, so it is remembered: rotation must forget that too.
    t.connect(1, "publisher");
    t.connect(2, "subscriber");
    t.subscribe(2, "a/b", false);
    let reply = t.admin("demo", "secret", rotate("pw2", "secret2"));
    assert_eq!(reply.code, ErrorCode::OK, "{}", reply.message);
    assert_eq!(
        reply.config,
        settings().to_config(),
        "the settings are untouched"
    );
    assert!(
        t.closed.is_empty(),
        "nobody was disconnected: {:?}",
        t.closed
    );

    t.publish(1, 1, "a/b", b"after");
    let payloads: Vec<Vec<u8>> = deliveries(&t.frames(2)).into_iter().map(|d| d.2).collect();
    assert_eq!(
        payloads,
        [b"after".to_vec()],
        "the connections keep working"
    );

    assert!(refused_with(
        &login(&mut t, 3, "pw", "c"),
        ErrorCode::BAD_CREDENTIALS
    ));
    assert!(matches!(
        login(&mut t, 4, "pw2", "d")[..],
        [Frame::Welcome(_)]
    ));
    assert_eq!(
        t.admin("demo", "secret", AdminOp::Describe).code,
        ErrorCode::NOT_AUTHORIZED
    );
    assert_eq!(
        t.admin("demo", "secret2", AdminOp::Describe).code,
        ErrorCode::OK
    );
    // The other session shares nothing.
    assert_eq!(
        t.admin("other", "secret", AdminOp::Describe).code,
        ErrorCode::OK
    );
    let frames = t.connect_as(5, "other", "e", false);
    assert!(matches!(frames[..], [Frame::Welcome(_)]), "{frames:?}");
}

#[test]
fn either_credential_rotates_alone() {
    let mut t = T::new();
    assert_eq!(
        t.admin("demo", "secret", rotate("", "secret2")).code,
        ErrorCode::OK
    );
    assert!(matches!(
        login(&mut t, 1, "pw", "a")[..],
        [Frame::Welcome(_)]
    ));
    assert_eq!(
        t.admin("demo", "secret2", rotate("pw2", "")).code,
        ErrorCode::OK
    );
    assert!(matches!(
        login(&mut t, 2, "pw2", "b")[..],
        [Frame::Welcome(_)]
    ));
    assert_eq!(
        t.admin("demo", "secret2", AdminOp::Describe).code,
        ErrorCode::OK
    );
}

#[test]
fn rotation_needs_the_current_secret_and_something_to_rotate() {
    let mut t = T::new();
    let reply = t.admin("demo", "wrong", rotate("pw2", ""));
    assert_eq!(reply.code, ErrorCode::NOT_AUTHORIZED);
    let reply = t.admin("demo", "secret", rotate("", ""));
    assert_eq!(reply.code, ErrorCode::INVALID_CONFIG);
    assert!(reply.message.contains("new password"), "{}", reply.message);
    // An unknown session is answered like a wrong secret key: names cannot be probed.
    let reply = t.admin("nowhere", "secret", rotate("pw2", ""));
    assert_eq!(reply.code, ErrorCode::NOT_AUTHORIZED);
    // Nothing changed.
    assert!(matches!(
        login(&mut t, 1, "pw", "a")[..],
        [Frame::Welcome(_)]
    ));
}

#[test]
fn a_login_checked_against_the_old_password_during_a_rotation_is_checked_again() {
    let mut t = T::new();
    t.b.handle_open(t.now, ConnId(1), None);
    t.b.handle_message(t.now, ConnId(1), hello("pw", "late").encode());
    // The driver has not run the check yet when the rotation lands.
    let Some(Output::Run(old_job)) = t.b.poll_output() else {
        panic!("the hello starts a password check")
    };
    assert_eq!(
        t.admin("demo", "secret", rotate("pw2", "")).code,
        ErrorCode::OK
    );
    // The old job's result (the old password matched the old hash) no longer counts...
    let result = old_job.run();
    assert_eq!(result.outcome, crate::auth::JobOutcome::Verified(true));
    t.b.handle_job_done(t.now, result);
    t.pump();
    // ...the check against the new hash, started by the rotation, refused it.
    assert!(refused_with(&t.frames(1), ErrorCode::BAD_CREDENTIALS));
}
