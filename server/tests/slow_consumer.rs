//! Outbound budgets in bytes: a burst far larger than a subscriber's budget reaches it
//! whole (held deliveries wait, they are not lost and it is not closed), and a subscriber
//! that stops reading is closed as a slow consumer after the stall timeout, with what it
//! could not take shed rather than buffered.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use common::{metric, start, Clients, Received};
use fastport_proto::codec::{Frame, Publish, Qos, ReceiptStatus};

fn publish(qos: Qos, message_id: u64, topic: &str, payload: Bytes) -> Frame {
    Frame::Publish(Publish {
        qos,
        message_id,
        topic: topic.into(),
        payload,
    })
}

/// 1,000 QoS 1 messages of 1 KiB in one write: 15 times the subscriber's 64 KiB budget, and
/// as many as the session's `max_pending` lets wait for one subscriber.
const BURST: u64 = 1_000;

#[tokio::test]
async fn a_burst_fifteen_times_the_budget_reaches_the_subscriber_whole_and_every_receipt_says_delivered(
) {
    let server = start(&["--max-outbound-bytes", "65536"]).await;
    let mut subscriber = server.connect().await;
    subscriber.join("demo", "demo").await;
    subscriber.subscribe("burst").await;
    let mut publisher = server.connect().await;
    publisher.join("demo", "demo").await;
    let payload = Bytes::from(vec![0x42; 1024]);
    for message_id in 1..=BURST {
        publisher
            .feed(&publish(
                Qos::AtLeastOnce,
                message_id,
                "burst",
                payload.clone(),
            ))
            .await;
    }
    publisher.flush().await;

    let mut delivered = HashSet::new();
    while (delivered.len() as u64) < BURST {
        match subscriber.frame().await {
            Frame::Deliver(d) => {
                assert_eq!(
                    d.attempt, 1,
                    "a held delivery goes out as its first attempt"
                );
                assert!(delivered.insert(d.delivery_id), "delivered twice");
                subscriber
                    .send(&Frame::DeliverAck {
                        delivery_id: d.delivery_id,
                    })
                    .await;
            }
            other => panic!("expected a delivery, got {other:?}"),
        }
    }
    let mut receipts = HashSet::new();
    while (receipts.len() as u64) < BURST {
        match publisher.frame().await {
            Frame::PubAck(ack) => assert!(ack.code.is_ok(), "{ack:?}"),
            Frame::Receipt(r) => {
                assert_eq!(
                    (r.status, r.delivered, r.failed),
                    (ReceiptStatus::Delivered, 1, 0),
                    "{r:?}"
                );
                assert!(receipts.insert(r.message_id));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let addr = server.addr();
    assert!(
        metric(addr, "fastport_deliveries_held_total").await > 0,
        "the budget was reached, so deliveries were held"
    );
    assert_eq!(
        metric(addr, "fastport_slow_consumer_disconnects_total").await,
        0
    );
    assert_eq!(metric(addr, "fastport_dropped_total").await, 0);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_closed_after_the_stall_timeout_and_others_carry_on() {
    // A long keepalive: on a loaded machine filling the socket buffers may take longer
    // than the default's 15 s of silence, and only the stall may close anyone here.
    let server = start(&[
        "--max-outbound-bytes",
        "65536",
        "--slow-consumer-timeout",
        "1s",
        "--keepalive",
        "120s",
    ])
    .await;
    let addr = server.addr();
    let mut stuck = server.connect().await;
    stuck.join("demo", "demo").await;
    stuck.subscribe("bulk").await;
    let mut reader = server.connect().await;
    reader.join("demo", "demo").await;
    reader.subscribe("bulk").await;
    let mut publisher = server.connect().await;
    publisher.join("demo", "demo").await;

    // Megabyte QoS 0 messages, a few at a time, until the stuck subscriber's socket
    // buffers are full, its writes stall and it is closed; the other one reads them all.
    let payload = Bytes::from(vec![0x5a; 1_000_000]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut published = 0;
    while metric(addr, "fastport_slow_consumer_disconnects_total").await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never closed after {published} messages"
        );
        published += 1;
        publisher
            .send(&publish(
                Qos::AtMostOnce,
                published,
                "bulk",
                payload.clone(),
            ))
            .await;
        match reader.frame().await {
            Frame::Deliver(d) => assert_eq!(d.payload.len(), payload.len()),
            other => panic!("expected a delivery, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(addr, "fastport_keepalive_timeouts_total").await, 0);
    assert!(
        metric(addr, "fastport_deliveries_shed_total").await > 0,
        "what the stuck subscriber could not take was shed, not buffered"
    );
    // What made it into the stuck subscriber's socket, then the end of the connection.
    let mut received = 0;
    loop {
        match stuck.recv().await {
            Received::Frame(Frame::Deliver(_)) => received += 1,
            Received::Frame(other) => panic!("unexpected {other:?}"),
            Received::Closed { .. } => break,
        }
    }
    assert!(
        received < published,
        "{received} of {published}: nothing was shed"
    );
    // The others carry on.
    published += 1;
    publisher
        .send(&publish(
            Qos::AtMostOnce,
            published,
            "bulk",
            payload.clone(),
        ))
        .await;
    assert!(matches!(reader.frame().await, Frame::Deliver(_)));
    assert_eq!(server.http("GET", "/healthz", &[], "").await.status, 200);
}
