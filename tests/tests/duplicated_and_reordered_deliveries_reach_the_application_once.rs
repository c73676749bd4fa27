//! A broker that sends some deliveries twice and holds others back until later ones have
//! overtaken them: the subscriber hands each message to the application once, in the
//! order it arrived, acks every copy, and the publisher hears every message delivered.

use std::time::Duration;

use fastport_client_core::codec::{Frame, ReceiptStatus};
use fastport_client_core::topic::Topic;
use fastport_client_core::{Event, PublishOptions};
use fastport_tests::{subscriber_and_publisher, Action, Fault, Sim};

const MESSAGES: usize = 5;

fn is_deliver(frame: &Frame) -> bool {
    matches!(frame, Frame::Deliver(_))
}

#[test]
fn deliveries_sent_twice_or_overtaken_reach_the_application_exactly_once() {
    let (mut sim, sub, publ) = subscriber_and_publisher(5, "feed/#");

    // Well within the broker's retry interval: the held ones are late, not lost.
    let held = Action::Delay(Duration::from_millis(300));
    sim.broker
        .faults
        .add(Fault::to_client(held, is_deliver).times(2));
    sim.broker
        .faults
        .add(Fault::to_client(Action::Duplicate, is_deliver));
    let topic = Topic::new("feed/news").expect("valid");
    for n in 0..MESSAGES {
        let payload = format!("m{n}");
        sim.with_client(publ, |c, now| {
            c.publish(now, &topic, payload.as_bytes(), PublishOptions::default())
        })
        .expect("publish");
    }
    let receipts = |s: &Sim| {
        s.events_of(publ, |e| match e {
            Event::Receipt { status, .. } => Some(*status),
            _ => None,
        })
        .collect::<Vec<_>>()
    };
    assert!(sim.run_until(Duration::from_secs(5), |s| receipts(s).len() == MESSAGES));
    sim.run_for(Duration::from_secs(10));

    let messages: Vec<String> = sim
        .events_of(sub, |e| match e {
            Event::Message(m) => Some(String::from_utf8(m.payload.clone()).expect("utf-8")),
            _ => None,
        })
        .collect();
    assert_eq!(messages, ["m2", "m3", "m4", "m0", "m1"]);
    let hits: Vec<u32> = sim.broker.faults.rules().iter().map(Fault::hits).collect();
    assert_eq!(hits, [2, 3], "two held back, three sent twice");
    assert_eq!(
        sim.broker.sent(is_deliver),
        MESSAGES,
        "no resend was needed"
    );
    let acks = sim
        .broker
        .received(|f| matches!(f, Frame::DeliverAck { .. }));
    assert_eq!(acks, 2 + 3 * 2, "every copy acked");
    assert_eq!(receipts(&sim), [ReceiptStatus::Delivered; MESSAGES]);
    assert_eq!(sim.broker.core.metrics().cached_messages, 0);
}
