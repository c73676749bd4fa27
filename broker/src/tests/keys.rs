//! Routing by interned client keys: one copy per subscriber, receipts and timers that
//! outlive the key they were made with.

use super::*;

#[test]
fn a_subscriber_matching_through_several_filters_gets_one_copy_and_counts_once() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "many");
    t.connect(3, "one");
    for filter in ["a/b", "a/+", "a/#", "+/b"] {
        t.subscribe(2, filter, false);
    }
    t.subscribe(3, "a/#", false);
    t.publish(1, 1, "a/b", b"qos1");
    t.send(
        1,
        Frame::Publish(Publish {
            qos: Qos::AtMostOnce,
            message_id: 0,
            topic: "a/b".into(),
            payload: Bytes::from_static(b"qos0"),
        }),
    );
    let (many, one) = (deliveries(&t.frames(2)), deliveries(&t.frames(3)));
    assert_eq!(many, one, "the same deliveries, once each");
    assert_eq!(many.len(), 2, "{many:?}");
    ack(&mut t, 2, many[0].0);
    ack(&mut t, 3, one[0].0);
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Delivered, 2, 0)]
    );
}

#[test]
fn a_receipt_reaches_a_publisher_that_reconnected_cleanly_since_it_published() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    t.publish(1, 1, "t", b"x");
    t.b.handle_close(t.now, ConnId(1));
    t.connect(3, "pub");
    let delivery = deliveries(&t.frames(2))[0].0;
    ack(&mut t, 2, delivery);
    assert_eq!(
        receipts(&t.frames(3)),
        vec![(1, ReceiptStatus::Delivered, 1, 0)]
    );
}

#[test]
fn a_dropped_client_s_timers_do_not_touch_the_client_that_reuses_its_slot() {
    let mut t = T::new();
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    t.publish(1, 1, "t", b"x");
    t.b.handle_close(t.now, ConnId(2));
    t.pump();
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Dropped, 0, 1)]
    );
    t.connect(3, "newcomer");
    t.connect(4, "sub");
    t.subscribe(3, "t", false);
    t.subscribe(4, "t", false);
    t.advance(Duration::from_secs(2));
    assert!(deliveries(&t.frames(3)).is_empty());
    assert!(deliveries(&t.frames(4)).is_empty());
    assert_eq!(t.b.metrics().retries, 0);
}

#[test]
fn expiry_fails_only_the_subscribers_that_still_owe_an_ack() {
    let mut t = T::new();
    t.admin(
        "demo",
        "secret",
        AdminOp::Configure(SessionConfig {
            retry_interval_ms: Some(60_000),
            expiry_ms: Some(5_000),
            ..SessionConfig::default()
        }),
    );
    t.connect(1, "pub");
    t.connect(2, "fast");
    t.connect(3, "slow");
    t.subscribe(2, "t", false);
    t.subscribe(3, "t", false);
    t.publish(1, 1, "t", b"x");
    let delivery = deliveries(&t.frames(2))[0].0;
    ack(&mut t, 2, delivery);
    t.send(3, Frame::Ping { nonce: 0 });
    t.advance(Duration::from_secs(5));
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Expired, 1, 1)]
    );
    assert_eq!(t.b.metrics().expired, 1);
}
