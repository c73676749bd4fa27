//! The first messages of a connection, as the broker handles them: the `Hello` path (names,
//! keepalive, the session lookup, the password check) and the refusal of anything else,
//! also of messages that arrive while the password is being checked.
//!
//! The input is one message, or several separated by [`SEPARATOR`]; all arrive before the
//! broker's password check (a job it hands out) finishes, as they can on a real connection.
//! The broker holds one session, `demo` (password `pw`, secret `secret`). Whatever the
//! messages, the broker only answers this connection, sends frames a client decodes and
//! nothing after closing it, and welcomes the connection or closes it with one of the
//! protocol's close codes.

use std::sync::OnceLock;

use bytes::Bytes;
use fastport_broker::auth::{HashCost, SecretHash};
use fastport_broker::{Broker, BrokerConfig, ConnId, Output, SessionSettings};
use fastport_proto::codec::{ErrorCode, Frame};
use fastport_proto::time::Instant;

/// Separates the messages of one input.
pub const SEPARATOR: &[u8] = b"\xff\xfe\xfd\xfc";

/// Feeds the messages of `data` to a new broker as the first messages of a new connection,
/// and says whether the broker welcomed the connection.
pub fn first_messages(data: &[u8]) -> bool {
    let mut broker = demo_broker();
    let conn = ConnId(1);
    let now = Instant::ZERO;
    broker.handle_open(now, conn, Some([192, 0, 2, 1].into()));
    for message in split(data) {
        broker.handle_message(now, conn, Bytes::copy_from_slice(message));
    }
    let (mut welcomed, mut closed) = (false, false);
    while let Some(output) = broker.poll_output() {
        match output {
            Output::Run(job) => broker.handle_job_done(now, job.run()),
            Output::Send { conn: to, frame } | Output::Receipt { conn: to, frame } => {
                assert_eq!(to, conn, "the broker answers the one connection");
                assert!(!closed, "a frame after the connection was closed");
                let frame = Frame::decode_from_server(frame.clone())
                    .unwrap_or_else(|e| panic!("the broker sent a frame clients refuse: {e}"));
                welcomed |= matches!(frame, Frame::Welcome(_));
            }
            Output::Close { conn: to, code, .. } => {
                assert_eq!(to, conn, "the broker closes the one connection");
                assert!(!closed, "the connection is closed twice");
                let error = ErrorCode::from_close_code(code);
                assert!(
                    error.is_some_and(|e| !e.is_ok()),
                    "close code {code} is an error code of the protocol"
                );
                closed = true;
            }
            Output::Admin(_) => panic!("an admin answer without an HTTP admin request"),
            Output::Watch { .. } => panic!("a watch without a full queue"),
            Output::PauseReading { conn: to, .. } => {
                assert_eq!(to, conn, "the broker pauses the one connection");
            }
            Output::Forward(_) => panic!("a forward from the only broker"),
        }
    }
    // A later message may still close a welcomed connection.
    assert!(
        welcomed || closed,
        "the first messages either open the connection or close it"
    );
    welcomed
}

/// A broker with the session `demo` (password `pw`, secret `secret`), hashing at argon2's
/// test cost.
pub fn demo_broker() -> Broker {
    let mut broker = Broker::new(BrokerConfig {
        hash_cost: HashCost::Test,
        ..BrokerConfig::default()
    });
    let (password, secret) = hashes();
    broker
        .create_session(
            "demo",
            password.clone(),
            secret.clone(),
            SessionSettings::default(),
        )
        .expect("the session `demo` can be created");
    broker
}

/// The messages of `data`: the bytes between separators.
fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut messages = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        messages.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    messages.push(rest);
    messages
}

/// The session's hashes, made once (argon2 at its test cost).
fn hashes() -> &'static (SecretHash, SecretHash) {
    static HASHES: OnceLock<(SecretHash, SecretHash)> = OnceLock::new();
    HASHES.get_or_init(|| {
        let hash = |s: &str| SecretHash::new(s, HashCost::Test).expect("argon2 hashes");
        (hash("pw"), hash("secret"))
    })
}
