//! Batch messages (several frames in one WebSocket message): taken from a connection
//! that asked for them in its `Hello`, once welcomed; refused from any other.

use fastport_proto::codec::{batch, Welcome};

use super::*;

/// Connects `client` on `conn`, asking for batches or not; the `Welcome`'s answer.
fn connect_batching(t: &mut T, conn: u64, client: &str, ask: bool) -> bool {
    t.b.handle_open(t.now, ConnId(conn), None);
    t.send(
        conn,
        Frame::Hello(Hello {
            batch: ask,
            keepalive_ms: 10_000,
            session: "demo".into(),
            password: "pw".into(),
            client_id: client.into(),
            ..Hello::default()
        }),
    );
    match &t.frames(conn)[..] {
        [Frame::Welcome(w)] => w.batch,
        other => panic!("expected a welcome, got {other:?}"),
    }
}

fn packed(frames: &[Frame]) -> Bytes {
    let mut b = batch::Builder::new();
    for frame in frames {
        b.push(&frame.encode());
    }
    b.finish()
}

fn publish(id: u64, payload: &'static [u8]) -> Frame {
    Frame::Publish(Publish {
        qos: Qos::AtLeastOnce,
        message_id: id,
        topic: "t".into(),
        payload: Bytes::from_static(payload),
    })
}

fn closed_with(t: &T, conn: u64) -> Option<u16> {
    t.closed.get(&ConnId(conn)).copied()
}

#[test]
fn the_welcome_says_batch_only_to_a_hello_that_asked() {
    let mut t = T::new();
    assert!(connect_batching(&mut t, 1, "a", true));
    assert!(!connect_batching(&mut t, 2, "b", false));
}

#[test]
fn the_frames_of_a_batch_are_handled_in_order_like_single_messages() {
    let mut t = T::new();
    assert!(connect_batching(&mut t, 1, "pub", true));
    t.connect(2, "sub");
    let subscribe = Frame::Subscribe(Subscribe {
        request_id: 5,
        presence: false,
        filter: "u".into(),
    });
    let message = packed(&[
        subscribe,
        publish(1, b"one"),
        publish(2, b"two"),
        Frame::Ping { nonce: 9 },
    ]);
    t.subscribe(2, "t", false);
    t.b.handle_message(t.now, ConnId(1), message);
    t.pump();
    let answers = t.frames(1);
    assert!(
        matches!(
            &answers[..],
            [
                Frame::SubAck(Ack { id: 5, .. }),
                Frame::PubAck(Ack { id: 1, .. }),
                Frame::PubAck(Ack { id: 2, .. }),
                Frame::Pong { nonce: 9 },
            ]
        ),
        "{answers:?}"
    );
    let got: Vec<Vec<u8>> = deliveries(&t.frames(2)).into_iter().map(|d| d.2).collect();
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
    let m = t.b.metrics();
    assert_eq!(m.batches_in, 1);
    assert_eq!(m.messages_in, 2);
}

#[test]
fn a_batch_from_a_connection_that_did_not_ask_is_an_unknown_frame_type() {
    let mut t = T::new();
    assert!(!connect_batching(&mut t, 1, "a", false));
    t.b.handle_message(t.now, ConnId(1), packed(&[Frame::Ping { nonce: 1 }]));
    t.pump();
    let frames = t.frames(1);
    assert!(
        matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::PROTOCOL_ERROR
            && e.message.contains("0x13")),
        "{frames:?}"
    );
    assert_eq!(
        closed_with(&t, 1),
        Some(ErrorCode::PROTOCOL_ERROR.close_code())
    );
    assert_eq!(t.b.metrics().batches_in, 0);
}

#[test]
fn a_hello_cannot_come_in_a_batch() {
    let mut t = T::new();
    t.b.handle_open(t.now, ConnId(1), None);
    let hello = Frame::Hello(Hello {
        batch: true,
        session: "demo".into(),
        password: "pw".into(),
        ..Hello::default()
    });
    t.b.handle_message(t.now, ConnId(1), packed(&[hello]));
    t.pump();
    let frames = t.frames(1);
    assert!(
        matches!(&frames[..], [Frame::Error(e)] if e.code == ErrorCode::PROTOCOL_ERROR),
        "{frames:?}"
    );
}

#[test]
fn a_malformed_batch_keeps_the_frames_before_the_fault_and_closes_the_connection() {
    let mut t = T::new();
    assert!(connect_batching(&mut t, 1, "pub", true));
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    let good = publish(1, b"kept").encode();
    let mut message = vec![batch::BATCH, good.len() as u8];
    message.extend_from_slice(&good);
    // An entry that claims more bytes than are left.
    message.extend_from_slice(&[0x40, 0x0F, 0x01]);
    t.b.handle_message(t.now, ConnId(1), Bytes::from(message));
    t.pump();
    let frames = t.frames(1);
    assert!(
        matches!(
            &frames[..],
            [Frame::PubAck(Ack { id: 1, .. }), Frame::Error(e)]
                if e.code == ErrorCode::PROTOCOL_ERROR && e.message.contains("malformed batch")
        ),
        "{frames:?}"
    );
    assert_eq!(
        deliveries(&t.frames(2)).len(),
        1,
        "the good publish went out"
    );
    assert_eq!(t.b.metrics().protocol_errors, 1);
}

#[test]
fn a_frame_that_ends_the_connection_ends_the_batch() {
    let mut t = T::new();
    assert!(connect_batching(&mut t, 1, "pub", true));
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    // A server-only frame ends the connection; the publish after it is not taken.
    let server_only = Frame::Welcome(Welcome::default());
    t.b.handle_message(
        t.now,
        ConnId(1),
        packed(&[server_only, publish(1, b"after")]),
    );
    t.pump();
    assert!(closed_with(&t, 1).is_some());
    assert!(deliveries(&t.frames(2)).is_empty());
    assert_eq!(t.b.metrics().messages_in, 0);
}
