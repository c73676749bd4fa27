//! A publisher whose publishes are refused `queue_full` is not read from for a while (its
//! connection's reads pause): each refusal counts in `fastport_publishers_paused_total`, its
//! publishes are taken again once the cache has room, nothing is lost or delivered twice,
//! its pings are answered, keepalive does not close it, and a shutdown closes it as usual.

mod common;

use bytes::Bytes;
use common::{assert_refused, metric, start, Clients, WsClient};
use fastport_proto::codec::{ErrorCode, Frame, Hello, Publish, Qos};

/// A session cache of 64 KiB holds one 40 KiB message: the next is refused until it is
/// acknowledged.
const CACHE: &str = "65536";
const PAYLOAD: usize = 40 * 1024;

fn publish(message_id: u64) -> Frame {
    let mut payload = vec![0u8; PAYLOAD];
    payload[..8].copy_from_slice(&message_id.to_be_bytes());
    Frame::Publish(Publish {
        qos: Qos::AtLeastOnce,
        message_id,
        topic: "t".into(),
        payload: Bytes::from(payload),
    })
}

/// Publishes `message_id` and returns the code of its `PubAck` (skipping receipts).
async fn publish_once(publisher: &mut WsClient, message_id: u64) -> ErrorCode {
    publisher.send(&publish(message_id)).await;
    loop {
        match publisher.frame().await {
            Frame::PubAck(ack) if ack.id == message_id => return ack.code,
            Frame::Receipt(_) => {}
            other => panic!("expected the PubAck of {message_id}, got {other:?}"),
        }
    }
}

/// The next first attempt of a `Deliver` (skipping receipts and resends of one received
/// before), as its delivery id and the message id it carries.
async fn delivery(subscriber: &mut WsClient) -> (u64, u64) {
    loop {
        match subscriber.frame().await {
            Frame::Deliver(d) if d.attempt > 1 => {}
            Frame::Deliver(d) => {
                let id = u64::from_be_bytes(d.payload[..8].try_into().expect("8 bytes"));
                return (d.delivery_id, id);
            }
            Frame::Receipt(_) => {}
            other => panic!("expected a Deliver, got {other:?}"),
        }
    }
}

async fn ack(subscriber: &mut WsClient, delivery_id: u64) {
    subscriber.send(&Frame::DeliverAck { delivery_id }).await;
}

/// Pings and expects the `Pong` with the same nonce, skipping any receipts and resent
/// deliveries before it.
async fn ping(client: &mut WsClient, nonce: u64) {
    client.send(&Frame::Ping { nonce }).await;
    loop {
        match client.frame().await {
            Frame::Pong { nonce: n } if n == nonce => return,
            Frame::Receipt(_) => {}
            Frame::Deliver(d) if d.attempt > 1 => {}
            other => panic!("expected the Pong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_refused_publisher_is_paused_and_its_resend_is_taken_once_there_is_room() {
    let server = start(&["--max-cache-bytes", CACHE]).await;
    let addr = server.addr();
    let mut subscriber = server.connect().await;
    subscriber.join("demo", "demo").await;
    subscriber.subscribe("t").await;
    let mut publisher = server.connect().await;
    publisher.join("demo", "demo").await;

    assert_eq!(publish_once(&mut publisher, 1).await, ErrorCode::OK);
    let (first, id) = delivery(&mut subscriber).await;
    assert_eq!(id, 1);
    // Unacknowledged, 1 fills the cache: 2 is refused, each time it is sent, and every
    // refusal pauses the publisher's reads.
    let mut refused = 0u64;
    for _ in 0..3 {
        assert_eq!(publish_once(&mut publisher, 2).await, ErrorCode::QUEUE_FULL);
        refused += 1;
    }
    assert_eq!(
        metric(addr, "fastport_publishers_paused_total").await,
        refused
    );
    assert_eq!(
        metric(addr, "fastport_publishes_refused_full_total").await,
        refused
    );
    // The subscriber acknowledges 1 (its pong says the server has handled the ack): the
    // cache has room, and the resend of 2 is taken.
    ack(&mut subscriber, first).await;
    ping(&mut subscriber, 1).await;
    assert_eq!(publish_once(&mut publisher, 2).await, ErrorCode::OK);
    let (second, id) = delivery(&mut subscriber).await;
    assert_eq!(id, 2, "2 is delivered once it is taken, not before");
    ack(&mut subscriber, second).await;
    ping(&mut subscriber, 2).await;
    assert_eq!(publish_once(&mut publisher, 3).await, ErrorCode::OK);
    let (third, id) = delivery(&mut subscriber).await;
    assert_eq!(id, 3, "each message delivered once, in order");
    ack(&mut subscriber, third).await;
    ping(&mut subscriber, 7).await;
    assert_eq!(
        metric(addr, "fastport_publishers_paused_total").await,
        refused,
        "taken publishes pause nobody"
    );
    assert_eq!(metric(addr, "fastport_duplicates_total").await, 0);
}

#[tokio::test]
async fn a_publisher_refused_for_longer_than_its_keepalive_is_not_closed_for_silence() {
    let server = start(&["--max-cache-bytes", CACHE]).await;
    let addr = server.addr();
    let mut subscriber = server.connect().await;
    subscriber.join("demo", "demo").await;
    subscriber.subscribe("t").await;
    let mut publisher = server.connect().await;
    // The shortest keepalive the server allows: 1 s, so silence closes it after 1.5 s.
    let hello = Frame::Hello(Hello {
        session: "demo".into(),
        password: "demo".into(),
        keepalive_ms: 1_000,
        ..Hello::default()
    });
    publisher.send(&hello).await;
    match publisher.frame().await {
        Frame::Welcome(w) => assert_eq!(w.keepalive_ms, 1_000),
        other => panic!("expected Welcome, got {other:?}"),
    }
    assert_eq!(publish_once(&mut publisher, 1).await, ErrorCode::OK);
    // The publisher sends nothing but refused publishes, one after each refusal, for three
    // keepalives: its reads are paused almost all that time (up to a quarter keepalive
    // each), yet each pause ends before the keepalive would.
    let start = std::time::Instant::now();
    let mut refused = 0;
    while start.elapsed() < std::time::Duration::from_secs(3) {
        assert_eq!(publish_once(&mut publisher, 2).await, ErrorCode::QUEUE_FULL);
        refused += 1;
    }
    ping(&mut publisher, 42).await;
    assert_eq!(metric(addr, "fastport_keepalive_timeouts_total").await, 0);
    assert_eq!(
        metric(addr, "fastport_publishers_paused_total").await,
        refused
    );
    let (first, id) = delivery(&mut subscriber).await;
    assert_eq!(id, 1);
    ack(&mut subscriber, first).await;
    ping(&mut subscriber, 1).await;
    assert_eq!(
        publish_once(&mut publisher, 2).await,
        ErrorCode::OK,
        "taken once there is room"
    );
}

#[tokio::test]
async fn a_paused_publisher_is_closed_by_a_shutdown_like_everyone() {
    let mut server = start(&["--max-cache-bytes", CACHE]).await;
    let mut subscriber = server.connect().await;
    subscriber.join("demo", "demo").await;
    subscriber.subscribe("t").await;
    let mut publisher = server.connect().await;
    publisher.join("demo", "demo").await;
    assert_eq!(publish_once(&mut publisher, 1).await, ErrorCode::OK);
    // Seven refusals in a row: the pause is at its longest.
    for _ in 0..7 {
        assert_eq!(publish_once(&mut publisher, 2).await, ErrorCode::QUEUE_FULL);
    }
    // Sent into the pause: the server reads it no sooner than the pause ends.
    publisher.send(&publish(2)).await;
    server.terminate();
    let (frames, close) = publisher.until_closed().await;
    let errors: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Error(e) => Some(e.code),
            _ => None,
        })
        .collect();
    assert_eq!(errors, [ErrorCode::SERVER_SHUTTING_DOWN], "{frames:?}");
    assert_eq!(close, 4011);
    assert_refused(&mut subscriber, "server_shutting_down", 4011).await;
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(0), "stderr: {}", server.stderr());
}
