//! A subscriber that stops reading fills its bounded outbound queue and is closed as a
//! slow consumer (4010); the server's memory does not grow with what it cannot send.

mod common;

use bytes::Bytes;
use common::{start, Clients, Server, WsClient};
use fastport_proto::codec::{Frame, Publish, Qos, Subscribe};

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_closed_with_4010() {
    let server = start(&["--outbound-queue", "2"]).await;
    let mut subscriber = server.connect().await;
    subscriber.join("demo", "demo").await;
    let subscribe = Subscribe {
        request_id: 1,
        presence: false,
        filter: "bulk".into(),
    };
    subscriber.send(&Frame::Subscribe(subscribe)).await;
    assert!(matches!(subscriber.frame().await, Frame::SubAck(ack) if ack.code.is_ok()));

    // Megabyte messages until the server gives up on the subscriber: the socket buffers
    // fill, then its queue. Checking after each one keeps the subscriber's close frame
    // waiting only briefly for the test to read again.
    let mut publisher = server.connect().await;
    publisher.join("demo", "demo").await;
    let payload = Bytes::from(vec![0x5a; 1_000_000]);
    let mut published = 0;
    while !slow_consumer_closed(&server).await {
        assert!(
            published < MAX_MESSAGES,
            "{published} MB queued: nothing is bounded"
        );
        published += 1;
        let publish = Publish {
            qos: Qos::AtMostOnce,
            message_id: published,
            topic: "bulk".into(),
            payload: payload.clone(),
        };
        publisher.send(&Frame::Publish(publish)).await;
    }

    assert_refused_after_deliveries(&mut subscriber, published).await;
    let health = server.http("GET", "/healthz", &[], "").await;
    assert_eq!(health.status, 200);
}

/// More than the loopback socket buffers can hold.
const MAX_MESSAGES: u64 = 200;

async fn slow_consumer_closed(server: &Server) -> bool {
    let metrics = server.http("GET", "/metrics", &[], "").await.body;
    metrics.contains("\nfastport_slow_consumer_disconnects_total 1\n")
}

/// Reads the deliveries that made it out (fewer than were published), then expects the
/// slow-consumer close.
async fn assert_refused_after_deliveries(subscriber: &mut WsClient, published: u64) {
    let (frames, code) = subscriber.until_closed().await;
    assert!((frames.len() as u64) < published, "nothing was dropped");
    let others: Vec<&Frame> = frames
        .iter()
        .filter(|f| !matches!(f, Frame::Deliver(_)))
        .collect();
    // With the queue full the error frame may not fit; the close code says it all the same.
    assert!(
        others
            .iter()
            .all(|f| matches!(f, Frame::Error(e) if e.code.name() == "slow_consumer")),
        "{others:?}"
    );
    assert_eq!(code, 4010);
}
