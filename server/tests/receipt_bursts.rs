//! Receipts in a publisher's outbound queue: a subscriber acking a
//! burst of messages sends the publisher a burst of receipts, which must not get the
//! publisher closed as a slow consumer, and each receipt still follows its `PubAck`.

mod common;

use bytes::Bytes;
use common::{start, Clients};
use fastport_proto::codec::{Frame, Publish, Qos, ReceiptStatus, Subscribe};

const MESSAGES: u64 = 300;

#[tokio::test]
async fn a_burst_of_receipts_does_not_close_the_publisher() {
    let server = start(&["--max-outbound-bytes", "65536"]).await;
    let mut subscriber = server.connect().await;
    subscriber.join("demo", "demo").await;
    let subscribe = Subscribe {
        request_id: 1,
        presence: false,
        filter: "burst".into(),
    };
    subscriber.send(&Frame::Subscribe(subscribe)).await;
    assert!(matches!(subscriber.frame().await, Frame::SubAck(ack) if ack.code.is_ok()));

    let mut publisher = server.connect().await;
    publisher.join("demo", "demo").await;
    // One at a time, so the subscriber's own queue stays far below its budget.
    let mut deliveries = Vec::new();
    for message_id in 1..=MESSAGES {
        let publish = Publish {
            qos: Qos::AtLeastOnce,
            message_id,
            topic: "burst".into(),
            payload: Bytes::from_static(b"x"),
        };
        publisher.send(&Frame::Publish(publish)).await;
        match subscriber.frame().await {
            Frame::Deliver(d) => deliveries.push(d.delivery_id),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }
    // Every ack in one write: the server settles them together and owes the publisher
    // hundreds of receipts at once.
    for delivery_id in deliveries {
        subscriber.feed(&Frame::DeliverAck { delivery_id }).await;
    }
    subscriber.flush().await;

    let mut acked = vec![false; MESSAGES as usize + 1];
    let mut receipts = 0;
    while receipts < MESSAGES {
        match publisher.frame().await {
            Frame::PubAck(ack) => {
                assert!(ack.code.is_ok(), "{ack:?}");
                acked[ack.id as usize] = true;
            }
            Frame::Receipt(r) => {
                assert!(
                    acked[r.message_id as usize],
                    "receipt {} before its PubAck",
                    r.message_id
                );
                assert_eq!(
                    (r.status, r.delivered, r.failed),
                    (ReceiptStatus::Delivered, 1, 0)
                );
                receipts += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let metrics = server.http("GET", "/metrics", &[], "").await.body;
    assert!(
        metrics.contains("\nfastport_slow_consumer_disconnects_total 0\n"),
        "{metrics}"
    );
}
