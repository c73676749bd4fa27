//! The server closes a publisher's connection (shutting down) as its publish arrives, so
//! the broker never takes the message: the client reconnects, resends it with the same
//! message id, and it is delivered and settled once.

use std::time::Duration;

use fastport_client_core::client::PublishOutcome;
use fastport_client_core::codec::{ErrorCode, Frame, ReceiptStatus};
use fastport_client_core::topic::Topic;
use fastport_client_core::{Event, PublishOptions};
use fastport_tests::{subscriber_and_publisher, Action, Fault, Sim};

fn is_publish(frame: &Frame) -> bool {
    matches!(frame, Frame::Publish(_))
}

#[test]
fn a_publish_the_server_closed_the_connection_on_is_resent_after_the_reconnect_and_delivered_once()
{
    let (mut sim, sub, publ) = subscriber_and_publisher(6, "orders/#");

    let going_away = Action::Close(ErrorCode::SERVER_SHUTTING_DOWN.close_code());
    sim.broker
        .faults
        .add(Fault::to_broker(going_away, is_publish).times(1));
    let topic = Topic::new("orders/7").expect("valid");
    let id = sim
        .with_client(publ, |c, now| {
            c.publish(now, &topic, b"pack it", PublishOptions::default())
        })
        .expect("publish");
    let settled = |s: &Sim| {
        s.events_of(publ, |e| match e {
            Event::PublishSettled { id: s, outcome } if *s == id => Some(outcome.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
    };
    assert!(sim.run_until(Duration::from_secs(10), |s| !settled(s).is_empty()));
    sim.run_for(Duration::from_secs(10));

    assert_eq!(settled(&sim), [PublishOutcome::Acked]);
    assert_eq!(sim.clients[publ].connects.len(), 2, "one reconnect");
    assert_eq!(
        sim.clients[sub].connects.len(),
        1,
        "only the publisher was closed"
    );
    assert_eq!(sim.broker.faults.rules()[0].hits(), 1);
    assert_eq!(
        sim.broker.received(is_publish),
        1,
        "the broker only ever took the resend"
    );
    assert_eq!(sim.broker.core.metrics().duplicates, 0);
    let receipts: Vec<&Event> = sim
        .events_of(publ, |e| matches!(e, Event::Receipt { .. }).then_some(e))
        .collect();
    let delivered = Event::Receipt {
        id,
        status: ReceiptStatus::Delivered,
        delivered: 1,
        failed: 0,
    };
    assert_eq!(receipts, [&delivered]);
    let messages = sim.events_of(sub, |e| {
        matches!(e, Event::Message(m) if m.payload == b"pack it").then_some(())
    });
    assert_eq!(messages.count(), 1);
}
