//! A resumable subscriber that stays away longer than the session's expiry loses what
//! was published meanwhile, and the publisher is told `expired`; one that returns in time
//! gets everything, once.

use std::time::Duration;

use fastport_broker::SessionSettings;
use fastport_client_core::codec::ReceiptStatus;
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Event, PublishOptions, State};
use fastport_tests::{client_config, Sim, SimBroker};

fn sim_with_expiry(expiry: Duration) -> (Sim, usize, usize) {
    let mut settings = SessionSettings::default();
    settings.expiry = expiry;
    let mut sim = Sim::new(11, SimBroker::new(settings));
    let mut config = client_config("phone");
    config.resume = true;
    let sub = sim.add_client(config);
    let publ = sim.add_client(client_config("server-side"));
    let filter = TopicFilter::new("alerts/#").expect("valid");
    sim.with_client(sub, |c, now| c.subscribe(now, filter, false))
        .expect("subscribe");
    sim.run_for(Duration::from_secs(1));
    (sim, sub, publ)
}

fn receipts(sim: &Sim, publ: usize) -> Vec<ReceiptStatus> {
    sim.events_of(publ, |e| match e {
        Event::Receipt { status, .. } => Some(*status),
        _ => None,
    })
    .collect()
}

fn messages(sim: &Sim, sub: usize) -> usize {
    sim.events_of(sub, |e| matches!(e, Event::Message(_)).then_some(()))
        .count()
}

/// Takes the subscriber offline (server down for it only: a partition) for `away`,
/// publishes one alert meanwhile, then lets it back.
fn publish_while_away(sim: &mut Sim, sub: usize, publ: usize, away: Duration) {
    sim.with_client(sub, |c, now| c.close(now));
    let topic = Topic::new("alerts/door").expect("valid");
    sim.with_client(publ, |c, now| {
        c.publish(now, &topic, b"open", PublishOptions::default())
    })
    .expect("publish");
    sim.run_for(away);
}

#[test]
fn a_subscriber_back_within_the_expiry_gets_the_message_and_the_publisher_a_delivered_receipt() {
    let (mut sim, sub, publ) = sim_with_expiry(Duration::from_secs(60));
    // A closed client core is gone for good; the returning phone is a new core with the
    // same client id, `resume` and the resume token it kept, as after an app restart.
    let token = sim.with_client(sub, |c, _| c.resume_token().to_owned());
    publish_while_away(&mut sim, sub, publ, Duration::from_secs(30));
    assert_eq!(
        receipts(&sim, publ),
        Vec::<ReceiptStatus>::new(),
        "still pending"
    );
    let mut config = client_config("phone");
    config.resume = true;
    config.resume_token = token;
    let back = sim.add_client(config);
    assert!(sim.run_until(Duration::from_secs(5), |s| messages(s, back) == 1));
    let resumed = sim.events_of(back, |e| match e {
        Event::StateChanged(State::Connected {
            session_present, ..
        }) => Some(*session_present),
        _ => None,
    });
    assert_eq!(resumed.collect::<Vec<_>>(), vec![true]);
    assert!(sim.run_until(Duration::from_secs(5), |s| !receipts(s, publ).is_empty()));
    assert_eq!(receipts(&sim, publ), vec![ReceiptStatus::Delivered]);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(messages(&sim, back), 1, "exactly once");
}

#[test]
fn a_subscriber_away_beyond_the_expiry_misses_the_message_and_the_publisher_hears_expired() {
    let (mut sim, sub, publ) = sim_with_expiry(Duration::from_secs(20));
    publish_while_away(&mut sim, sub, publ, Duration::from_secs(25));
    assert_eq!(receipts(&sim, publ), vec![ReceiptStatus::Expired]);
    // Its state is gone, so the client id is free again: no token needed.
    let mut config = client_config("phone");
    config.resume = true;
    let back = sim.add_client(config);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(messages(&sim, back), 0);
    let resumed = sim.events_of(back, |e| match e {
        Event::StateChanged(State::Connected {
            session_present, ..
        }) => Some(*session_present),
        _ => None,
    });
    assert_eq!(
        resumed.collect::<Vec<_>>(),
        vec![false],
        "its state expired with it"
    );
    assert_eq!(sim.broker.core.metrics().cached_messages, 0);
}
