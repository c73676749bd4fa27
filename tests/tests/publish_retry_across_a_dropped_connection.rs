//! A QoS 1 publish whose connection breaks before the ack is resent after the reconnect
//! with the same message id; the broker drops the duplicate, the subscriber gets it once
//! and the publisher's publish settles once.

use std::time::Duration;

use fastport_client_core::client::PublishOutcome;
use fastport_client_core::codec::{Frame, ReceiptStatus};
use fastport_client_core::topic::Topic;
use fastport_client_core::{Event, PublishOptions};
use fastport_tests::{subscriber_and_publisher, Sim};

#[test]
fn a_publish_interrupted_before_its_ack_is_resent_and_delivered_exactly_once() {
    let (mut sim, sub, publ) = subscriber_and_publisher(2, "orders/#");

    let topic = Topic::new("orders/42").expect("valid");
    let id = sim
        .with_client(publ, |c, now| {
            c.publish(now, &topic, b"ship it", PublishOptions::default())
        })
        .expect("publish");
    // The publish reaches the broker 20 ms later; the ack would be back 20 ms after that.
    // Break the connection in between: the broker has the message, the client no ack.
    sim.run_for(Duration::from_millis(30));
    let publishes = |s: &Sim| s.broker.received(|f| matches!(f, Frame::Publish(_)));
    assert_eq!(publishes(&sim), 1);
    sim.reset_connection(publ);

    let settled = |s: &Sim| {
        s.events_of(publ, |e| match e {
            Event::Receipt { id: r, status, .. } if *r == id => Some(*status),
            _ => None,
        })
        .next()
        .is_some()
    };
    assert!(sim.run_until(Duration::from_secs(10), settled));
    assert_eq!(publishes(&sim), 2, "resent once after the reconnect");
    assert_eq!(sim.broker.core.metrics().duplicates, 1);

    let outcomes: Vec<_> = sim
        .events_of(publ, |e| match e {
            Event::PublishSettled { id: s, outcome } if *s == id => Some(outcome.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, vec![PublishOutcome::Acked]);
    let receipts: Vec<_> = sim
        .events_of(publ, |e| match e {
            Event::Receipt {
                status, delivered, ..
            } => Some((*status, *delivered)),
            _ => None,
        })
        .collect();
    assert_eq!(receipts, vec![(ReceiptStatus::Delivered, 1)]);
    let messages = sim.events_of(sub, |e| {
        matches!(e, Event::Message(m) if m.payload == b"ship it").then_some(())
    });
    assert_eq!(messages.count(), 1);
}
