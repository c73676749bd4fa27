//! The in-flight window and the slow-consumer policies: what `max_pending` does to a
//! subscriber that acks late, one that never acks, and one that is offline, and what the
//! publishers' receipts say (only a delivery that was never sent can be `dropped`).

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

#[test]
fn deliveries_past_the_window_wait_and_go_out_as_acks_free_it() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    t.connect(2, "sub");
    t.subscribe(2, "t", false);
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    let sent = deliveries(&t.frames(2));
    assert_eq!(sent.len(), 2, "two in flight, the third waits");
    ack(&mut t, 2, sent[0].0);
    let third = deliveries(&t.frames(2));
    assert_eq!(third.len(), 1, "an ack lets the waiting one out");
    assert_eq!(third[0].1, 1, "as its first attempt");
    ack(&mut t, 2, sent[1].0);
    ack(&mut t, 2, third[0].0);
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
fn fan_in_far_past_the_window_with_prompt_acks_reports_every_message_delivered() {
    let mut t = with_max_pending(10);
    let publishers = [1, 2, 3, 4];
    for conn in publishers {
        t.connect(conn, &format!("pub{conn}"));
    }
    t.connect(5, "sub");
    t.subscribe(5, "t", false);
    // Four messages a round, the subscriber acks what reached it at the end of each
    // round: up to 20 wait at a time, twice the window.
    let mut seen = Vec::new();
    for id in 1..=50 {
        for conn in publishers {
            t.publish(conn, id, "t", b"x");
        }
        loop {
            let got = deliveries(&t.frames(5));
            if got.is_empty() {
                break;
            }
            for (delivery, attempt, _) in got {
                assert_eq!(attempt, 1, "nothing needed a resend");
                seen.push(delivery);
                ack(&mut t, 5, delivery);
            }
        }
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
fn at_twice_the_window_the_oldest_waiting_delivery_is_dropped_never_one_in_flight() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    t.connect(2, "stalled");
    t.subscribe(2, "t", false);
    for id in 1..=5 {
        t.publish(1, id, "t", b"x");
    }
    // In flight 1 and 2, waiting 3 and 4; the fifth makes room by dropping 3.
    let sent: Vec<u64> = deliveries(&t.frames(2)).iter().map(|d| d.0).collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(3, ReceiptStatus::Dropped, 0, 1)]
    );
    for delivery in &sent {
        ack(&mut t, 2, *delivery);
    }
    let rest = deliveries(&t.frames(2));
    assert_eq!(rest.len(), 2, "4 and 5 go out; 3 never does");
    assert!(rest.iter().all(|d| !sent.contains(&d.0)));
    for (delivery, _, _) in rest {
        ack(&mut t, 2, delivery);
    }
    let mut got = receipts(&t.frames(1));
    got.sort_by_key(|r| r.0);
    assert_eq!(
        got,
        [1, 2, 4, 5]
            .iter()
            .map(|&id| (id, ReceiptStatus::Delivered, 1, 0))
            .collect::<Vec<_>>()
    );
    assert_eq!(t.b.metrics().dropped, 1);
    assert_eq!(t.b.metrics().cached_messages, 0);
}

#[test]
fn a_subscriber_that_never_acks_gets_only_its_window_and_its_deliveries_run_out_of_retries() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    t.connect(2, "silent");
    t.subscribe(2, "t", false);
    for id in 1..=3 {
        t.publish(1, id, "t", b"x");
    }
    assert_eq!(deliveries(&t.frames(2)).len(), 2);
    // `settings()`: a resend every second, two resends; then the window frees up.
    for _ in 0..3 {
        t.advance(settings().retry_interval);
    }
    let mut got = receipts(&t.frames(1));
    got.sort_by_key(|r| r.0);
    assert_eq!(
        &got[..2],
        &[
            (1, ReceiptStatus::RetriesExhausted, 0, 1),
            (2, ReceiptStatus::RetriesExhausted, 0, 1)
        ]
    );
    assert_eq!(t.b.metrics().dropped, 0, "nothing sent is dropped");
}

#[test]
fn an_offline_subscriber_keeps_twice_the_window_and_the_oldest_is_dropped_at_once() {
    let mut t = with_max_pending(2);
    t.connect(1, "pub");
    let frames = t.connect_as(2, "demo", "sub", true);
    assert!(matches!(frames[..], [Frame::Welcome(_)]), "{frames:?}");
    t.subscribe(2, "t", false);
    t.b.handle_close(t.now, ConnId(2));
    t.pump();
    for id in 1..=5 {
        t.publish(1, id, "t", b"x");
    }
    assert_eq!(
        receipts(&t.frames(1)),
        vec![(1, ReceiptStatus::Dropped, 0, 1)],
        "never sent, so no ack can come"
    );
    let frames = t.connect_as(3, "demo", "sub", true);
    let resent = deliveries(&frames);
    assert_eq!(resent.len(), 2, "the window's worth on resume");
    assert_eq!(t.b.metrics().dropped, 1);
    assert_eq!(t.b.metrics().cached_messages, 4);
}
