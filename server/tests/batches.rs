//! Batch messages through the real server (docs/PROTOCOL.md §1): a client whose `Hello`
//! asks for them gets frames queued together in one WebSocket message and may send its own
//! that way; nothing is lost, duplicated or reordered; a client that did not ask never
//! gets one, and sending one is a protocol error.

mod common;

use bytes::Bytes;
use common::{metric, start, Clients, Server, WsClient};
use fastport_proto::codec::{
    batch, ErrorCode, Frame, Hello, Publish, Qos, ReceiptStatus, Subscribe,
};

/// Publishes per batch message, and most rounds before a batch must have come back.
const PER_ROUND: u64 = 200;
const MAX_ROUNDS: u64 = 20;

async fn join(server: &Server, client_id: &str, batching: bool) -> WsClient {
    let mut client = server.connect().await;
    client
        .send(&Frame::Hello(Hello {
            batch: batching,
            session: "demo".into(),
            password: "demo".into(),
            client_id: client_id.into(),
            ..Hello::default()
        }))
        .await;
    let frames = next_frames(&mut client).await.0;
    match &frames[..] {
        [Frame::Welcome(w)] => assert_eq!(w.batch, batching, "the welcome answers the hello"),
        other => panic!("expected a welcome, got {other:?}"),
    }
    client
}

/// The frames of the next message, and whether it was a batch.
async fn next_frames(client: &mut WsClient) -> (Vec<Frame>, bool) {
    let message = client.recv_raw().await.expect("a message, not a close");
    let packed = batch::is_batch(&message);
    let parts: Vec<Bytes> = batch::split(message)
        .collect::<Result<_, _>>()
        .expect("the server sends valid batches");
    let frames = parts
        .into_iter()
        .map(|part| Frame::decode(part).expect("the server sends valid frames"))
        .collect();
    (frames, packed)
}

fn packed(frames: impl IntoIterator<Item = Frame>) -> Bytes {
    let mut b = batch::Builder::new();
    for frame in frames {
        b.push(&frame.encode());
    }
    b.finish()
}

async fn subscribe(client: &mut WsClient) {
    let subscribe = Subscribe {
        request_id: 1,
        presence: false,
        filter: "t".into(),
    };
    client.send(&Frame::Subscribe(subscribe)).await;
    let (frames, _) = next_frames(client).await;
    assert!(
        matches!(&frames[..], [Frame::SubAck(a)] if a.code.is_ok()),
        "{frames:?}"
    );
}

fn publish(id: u64) -> Frame {
    Frame::Publish(Publish {
        qos: Qos::AtLeastOnce,
        message_id: id,
        topic: "t".into(),
        payload: Bytes::from(id.to_be_bytes().to_vec()),
    })
}

#[tokio::test]
async fn batches_both_ways_lose_nothing_and_keep_the_order() {
    let server = start(&[]).await;
    let mut sub = join(&server, "sub", true).await;
    subscribe(&mut sub).await;
    let mut publisher = join(&server, "pub", true).await;

    let mut next_id = 1;
    let mut received = Vec::new();
    let mut batches_seen = 0;
    let mut rounds = 0;
    let mut receipts = 0;
    while rounds < MAX_ROUNDS && (rounds == 0 || batches_seen == 0) {
        rounds += 1;
        let ids: Vec<u64> = (next_id..next_id + PER_ROUND).collect();
        next_id += PER_ROUND;
        publisher
            .send_raw(packed(ids.iter().map(|&id| publish(id))))
            .await;
        // The subscriber gets every delivery and acks them, a batch of acks per message.
        let mut got = 0;
        while got < ids.len() {
            let (frames, was_batch) = next_frames(&mut sub).await;
            batches_seen += usize::from(was_batch);
            let mut acks = Vec::new();
            for frame in frames {
                let Frame::Deliver(d) = frame else {
                    panic!("expected deliveries, got {frame:?}")
                };
                let id = u64::from_be_bytes(d.payload[..].try_into().expect("8 bytes"));
                received.push(id);
                acks.push(Frame::DeliverAck {
                    delivery_id: d.delivery_id,
                });
                got += 1;
            }
            sub.send_raw(packed(acks)).await;
        }
        // The publisher gets a PubAck and a delivered receipt for each.
        let mut acked = 0;
        let mut receipted = 0;
        while acked < ids.len() || receipted < ids.len() {
            for frame in next_frames(&mut publisher).await.0 {
                match frame {
                    Frame::PubAck(a) => {
                        assert_eq!(a.code, ErrorCode::OK);
                        assert_eq!(a.id, ids[acked], "PubAcks in publish order");
                        acked += 1;
                    }
                    Frame::Receipt(r) => {
                        assert_eq!((r.status, r.delivered), (ReceiptStatus::Delivered, 1));
                        receipted += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        receipts += receipted;
    }
    let expected: Vec<u64> = (1..next_id).collect();
    assert_eq!(received, expected, "every message once, in order");
    assert_eq!(receipts as u64, next_id - 1);
    assert!(
        batches_seen > 0,
        "{rounds} rounds of {PER_ROUND} publishes in one message brought no batch"
    );
    let addr = server.endpoint();
    let batches_in = metric(addr, "fastport_batches_in_total").await;
    assert!(
        batches_in >= 2 * rounds,
        "{batches_in} batches in, {rounds} rounds"
    );
    assert!(metric(addr, "fastport_batches_out_total").await >= batches_seen as u64);
    assert_eq!(
        metric(addr, "fastport_frames_in_total").await,
        // Two hellos, a subscribe, and per message a publish and an ack.
        3 + 2 * (next_id - 1)
    );
    // Everything sent was read: nothing counts as queued any more.
    assert_eq!(metric(addr, "fastport_outbound_bytes").await, 0);
}

#[tokio::test]
async fn queued_bytes_count_back_to_zero_after_a_burst_to_many_subscribers() {
    // The router counts a frame as queued, its connection's task uncounts it once taken
    // off: after a burst read to the end, with and without batches, nothing counts.
    let server = start(&[]).await;
    let mut subs = Vec::new();
    for i in 0..4 {
        let mut sub = join(&server, &format!("sub-{i}"), i % 2 == 0).await;
        subscribe(&mut sub).await;
        subs.push(sub);
    }
    let mut publisher = join(&server, "pub", true).await;
    const MESSAGES: u64 = 5_000;
    for chunk in (1..=MESSAGES).collect::<Vec<_>>().chunks(100) {
        let frames = chunk.iter().map(|&id| {
            Frame::Publish(Publish {
                qos: Qos::AtMostOnce,
                message_id: 0,
                topic: "t".into(),
                payload: Bytes::from(id.to_be_bytes().to_vec()),
            })
        });
        publisher.send_raw(packed(frames)).await;
    }
    for sub in &mut subs {
        let mut got = 0;
        while got < MESSAGES {
            for frame in next_frames(sub).await.0 {
                assert!(matches!(frame, Frame::Deliver(_)), "{frame:?}");
                got += 1;
            }
        }
    }
    assert_eq!(
        metric(server.endpoint(), "fastport_outbound_bytes").await,
        0
    );
}

#[tokio::test]
async fn a_client_that_did_not_ask_gets_single_frames_and_may_not_send_a_batch() {
    let server = start(&[]).await;
    let mut sub = join(&server, "plain-sub", false).await;
    subscribe(&mut sub).await;
    let mut publisher = join(&server, "pub", true).await;
    publisher
        .send_raw(packed((1..=PER_ROUND).map(publish)))
        .await;
    for _ in 0..PER_ROUND {
        let (frames, was_batch) = next_frames(&mut sub).await;
        assert!(!was_batch, "no batch to a client that did not ask");
        assert!(matches!(&frames[..], [Frame::Deliver(_)]), "{frames:?}");
    }
    sub.send_raw(packed([Frame::Ping { nonce: 1 }])).await;
    let (frames, code) = sub.until_closed().await;
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::Error(e) if e.code == ErrorCode::PROTOCOL_ERROR)),
        "{frames:?}"
    );
    assert_eq!(code, ErrorCode::PROTOCOL_ERROR.close_code());
}
