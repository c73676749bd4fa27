//! The slow-consumer policies: what `max_pending` does to a subscriber that acks late, one
//! that never acks, and one that is offline, and what the publishers' receipts say.

use super::*;

fn with_max_pending(max_pending: u32) -> T {
    let mut t = T::new();
    t.admin(
        "demo",
        "secret",
        AdminOp::Configure(SessionConfig {
            max_pending: Some(max_pending),
            ..SessionConfig::default()
        }),
    );
    t
}

fn ack(t: &mut T, conn: u64, delivery_id: u64) {
    t.send(conn, Frame::DeliverAck { delivery_id });
}

#[test]
fn a_delivery_acked_after_the_pending_limit_passed_it_is_reported_delivered() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    let sent = deliveries(&t.frames(2));
    assert_eq!(sent.len(), 3, "every message was sent once");
    for (delivery, _, _) in sent {
        ack(&mut t, 2, delivery);
    }
    let mut got = receipts(&t.frames(1));
    got.sort_by_key(|r| r.0);
    assert_eq!(
        got,
        (1..=3)
            .map(|id| (id, ReceiptStatus::Delivered, 1, 0))
            .collect::<Vec<_>>()
    );
    assert_eq!(t.b.metrics().dropped, 0);
    assert_eq!(t.b.metrics().cached_messages, 0);
}

#[test]
fn fan_in_with_acks_lagging_past_the_pending_limit_reports_every_message_delivered() {
    let mut t = with_max_pending(10);
    let publishers = [1, 2, 3, 4];
    for conn in publishers {
        t.connect(conn, &format!("pub{conn}"));
    }
    t.connect(5, "sub");
    t.subscribe(5, "t", false);
    // The subscriber acks each delivery once 15 more have reached it: more are unacked
    // at a time than `max_pending`, but every one arrives and is acked.
    let mut unacked = std::collections::VecDeque::new();
    let mut seen = Vec::new();
    for id in 1..=50 {
        for conn in publishers {
            t.publish(conn, id, "t", b"x");
        }
        for (delivery, attempt, _) in deliveries(&t.frames(5)) {
            assert_eq!(attempt, 1, "nothing needed a resend");
            seen.push(delivery);
            unacked.push_back(delivery);
        }
        while unacked.len() > 15 {
            let delivery = unacked.pop_front().expect("longer than 15");
            ack(&mut t, 5, delivery);
        }
    }
    while let Some(delivery) = unacked.pop_front() {
        ack(&mut t, 5, delivery);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 200, "each message arrived exactly once");
    for conn in publishers {
        let got = receipts(&t.frames(conn));
        assert_eq!(got.len(), 50, "publisher {conn}: one receipt per message");
        for receipt in got {
            assert_eq!(receipt.1, ReceiptStatus::Delivered, "{receipt:?}");
        }
    }
    assert_eq!(t.b.metrics().dropped, 0);
    assert_eq!(t.b.metrics().cached_messages, 0);
}

#[test]
fn an_evicted_delivery_never_acked_is_reported_dropped_when_its_resend_would_be_due() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    t.connect(2, "slow");
    t.subscribe(2, "t", false);
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    let sent: Vec<u64> = deliveries(&t.frames(2)).iter().map(|d| d.0).collect();
    assert_eq!(sent.len(), 3);
    assert_eq!(receipts(&t.frames(1)), vec![], "its ack may still come");
    t.advance(settings().retry_interval);
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Dropped, 0, 1)]
    );
    let resent: Vec<u64> = deliveries(&t.frames(2)).iter().map(|d| d.0).collect();
    assert_eq!(resent, sent[1..], "the evicted delivery is not resent");
    ack(&mut t, 2, sent[0]);
    assert_eq!(receipts(&t.frames(1)), vec![], "a late ack changes nothing");
    assert_eq!(t.b.metrics().dropped, 1);
    assert_eq!(t.b.metrics().cached_messages, 2);
}

#[test]
fn evicted_deliveries_beyond_max_pending_are_dropped_at_once() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    t.connect(2, "stalled");
    t.subscribe(2, "t", false);
    for id in 1..=5 {
        t.publish(1, id, "t", b"x");
    }
    // Pending 4 and 5, evicted 2 and 3: the first is given up without waiting.
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Dropped, 0, 1)]
    );
    assert_eq!(t.b.metrics().dropped, 1);
    assert_eq!(t.b.metrics().cached_messages, 4);
}

#[test]
fn evicted_deliveries_are_dropped_when_the_subscriber_disconnects() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    let frames = t.connect_as(2, "demo", "sub", true);
    assert!(matches!(frames[..], [Frame::Welcome(_)]), "{frames:?}");
    t.subscribe(2, "t", false);
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    let sent: Vec<u64> = deliveries(&t.frames(2)).iter().map(|d| d.0).collect();
    assert_eq!(sent.len(), 3);
    t.b.handle_close(t.now, ConnId(2));
    t.pump();
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Dropped, 0, 1)],
        "its ack can no longer come"
    );
    let frames = t.connect_as(3, "demo", "sub", true);
    let resent: Vec<u64> = deliveries(&frames).iter().map(|d| d.0).collect();
    assert_eq!(resent, sent[1..], "the pending ones come again on resume");
    for delivery in resent {
        ack(&mut t, 3, delivery);
    }
    assert_eq!(
        receipts(&t.frames(1)),
        vec![
            (2, ReceiptStatus::Delivered, 1, 0),
            (3, ReceiptStatus::Delivered, 1, 0)
        ]
    );
    assert_eq!(t.b.metrics().dropped, 1);
}

#[test]
fn an_offline_subscriber_s_oldest_delivery_is_dropped_at_once() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    let frames = t.connect_as(2, "demo", "sub", true);
    assert!(matches!(frames[..], [Frame::Welcome(_)]), "{frames:?}");
    t.subscribe(2, "t", false);
    t.b.handle_close(t.now, ConnId(2));
    t.pump();
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Dropped, 0, 1)],
        "never sent, so no ack can come"
    );
    assert_eq!(t.b.metrics().dropped, 1);
    assert_eq!(t.b.metrics().cached_messages, 2);
}
