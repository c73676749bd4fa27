//! A subscriber whose connection breaks reconnects on its own and gets its subscription
//! back; the application sees one `Subscribed` and every message published afterwards.

use std::time::Duration;

use fastport_client_core::codec::Frame;
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Event, PublishOptions, State};
use fastport_tests::{broker, client_config, Sim};

fn received(sim: &Sim, i: usize) -> Vec<Vec<u8>> {
    sim.events_of(i, |e| match e {
        Event::Message(m) => Some(m.payload.clone()),
        _ => None,
    })
    .collect()
}

#[test]
fn a_subscriber_reconnects_and_resubscribes_without_the_application_doing_anything() {
    let mut sim = Sim::new(1, broker());
    let sub = sim.add_client(client_config("sub"));
    let publ = sim.add_client(client_config("pub"));
    let filter = TopicFilter::new("sensors/+/room1").expect("valid");
    sim.with_client(sub, |c, now| c.subscribe(now, filter, false))
        .expect("subscribe");
    let subscribed = |s: &Sim| {
        s.events_of(sub, |e| matches!(e, Event::Subscribed { .. }).then_some(()))
            .count()
            == 1
    };
    assert!(sim.run_until(Duration::from_secs(5), subscribed));

    let topic = Topic::new("sensors/temperature/room1").expect("valid");
    let t = topic.clone();
    sim.with_client(publ, |c, now| {
        c.publish(now, &t, b"before", PublishOptions::default())
    })
    .expect("publish");
    assert!(sim.run_until(Duration::from_secs(5), |s| received(s, sub).len() == 1));

    sim.reset_connection(sub);
    let reconnected = |s: &Sim| {
        s.events_of(sub, |e| {
            matches!(e, Event::StateChanged(State::Connected { .. })).then_some(())
        })
        .count()
            == 2
    };
    assert!(sim.run_until(Duration::from_secs(10), reconnected));
    sim.run_for(Duration::from_millis(200));

    sim.with_client(publ, |c, now| {
        c.publish(now, &topic, b"after", PublishOptions::default())
    })
    .expect("publish");
    assert!(sim.run_until(Duration::from_secs(5), |s| received(s, sub).len() == 2));
    assert_eq!(
        received(&sim, sub),
        vec![b"before".to_vec(), b"after".to_vec()]
    );
    let subscribed_events = sim
        .events_of(sub, |e| matches!(e, Event::Subscribed { .. }).then_some(()))
        .count();
    assert_eq!(
        subscribed_events, 1,
        "the re-subscribe is invisible to the application"
    );
    let welcomes = sim.broker.sent(|f| matches!(f, Frame::Welcome(_)));
    assert_eq!(welcomes, 3);
}
