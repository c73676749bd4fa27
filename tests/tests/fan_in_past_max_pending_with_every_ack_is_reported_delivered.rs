//! Four publishers and one subscriber under the default `drop_oldest` policy, publishing
//! faster than the acks come back: more deliveries are unacked at a time than the
//! session's `max_pending`, yet every one arrives and is acked, so every receipt says
//! `delivered` and nothing is counted as dropped. When the acks never reach the broker,
//! the publishers are still told `dropped` (or `retries_exhausted`).

use std::collections::HashSet;
use std::time::Duration;

use fastport_broker::SessionSettings;
use fastport_client_core::codec::{Frame, ReceiptStatus};
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Event, PublishOptions};
use fastport_tests::{client_config, Action, Fault, Sim, SimBroker};

const PUBLISHERS: usize = 4;
const ROUNDS: usize = 40;
const PER_ROUND: usize = 5;
const MAX_PENDING: u32 = 50;

/// A subscriber to `fan/#` and four publishers, connected, at `max_pending` 50.
fn fan_in() -> (Sim, usize, Vec<usize>) {
    let mut settings = SessionSettings::default();
    settings.max_pending = MAX_PENDING;
    let mut sim = Sim::new(7, SimBroker::new(settings));
    let sub = sim.add_client(client_config("sink"));
    let publishers = (0..PUBLISHERS)
        .map(|i| sim.add_client(client_config(&format!("source{i}"))))
        .collect();
    let filter = TopicFilter::new("fan/#").expect("valid");
    sim.with_client(sub, |c, now| c.subscribe(now, filter, false))
        .expect("subscribe");
    sim.run_for(Duration::from_secs(1));
    (sim, sub, publishers)
}

/// Every publisher publishes `PER_ROUND` messages every 10 ms for `ROUNDS` rounds: with
/// a 40 ms round trip, some 80 deliveries are unacked at a time.
fn publish_rounds(sim: &mut Sim, publishers: &[usize]) {
    let topic = Topic::new("fan/in").expect("valid");
    for _ in 0..ROUNDS {
        for &p in publishers {
            for _ in 0..PER_ROUND {
                sim.with_client(p, |c, now| {
                    c.publish(now, &topic, b"reading", PublishOptions::default())
                })
                .expect("publish");
            }
        }
        sim.run_for(Duration::from_millis(10));
    }
}

fn receipts(sim: &Sim, publ: usize) -> Vec<ReceiptStatus> {
    sim.events_of(publ, |e| match e {
        Event::Receipt { status, .. } => Some(*status),
        _ => None,
    })
    .collect()
}

#[test]
fn every_message_delivered_and_acked_gets_a_delivered_receipt_past_max_pending() {
    let (mut sim, sub, publishers) = fan_in();
    publish_rounds(&mut sim, &publishers);
    let total = PUBLISHERS * ROUNDS * PER_ROUND;
    let all_receipts = |s: &Sim| {
        publishers
            .iter()
            .all(|&p| receipts(s, p).len() == ROUNDS * PER_ROUND)
    };
    assert!(sim.run_until(Duration::from_secs(30), all_receipts));
    let messages: Vec<_> = sim
        .events_of(sub, |e| match e {
            Event::Message(m) => Some((m.publisher.clone(), m.payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), total, "each message arrived once");
    let senders: HashSet<_> = messages.iter().map(|m| m.0.clone()).collect();
    assert_eq!(senders.len(), PUBLISHERS);
    for &p in &publishers {
        for status in receipts(&sim, p) {
            assert_eq!(status, ReceiptStatus::Delivered);
        }
    }
    let metrics = sim.broker.core.metrics();
    assert_eq!(metrics.dropped, 0);
    assert_eq!(metrics.retries, 0, "every ack came before a resend was due");
    assert_eq!(metrics.cached_messages, 0);
}

#[test]
fn deliveries_whose_acks_never_reach_the_broker_are_reported_dropped_or_exhausted() {
    let (mut sim, sub, publishers) = fan_in();
    let acks = Fault::to_broker(Action::Drop, |f| matches!(f, Frame::DeliverAck { .. }));
    sim.broker.faults.add(acks);
    publish_rounds(&mut sim, &publishers);
    let all_receipts = |s: &Sim| {
        publishers
            .iter()
            .all(|&p| receipts(s, p).len() == ROUNDS * PER_ROUND)
    };
    assert!(sim.run_until(Duration::from_secs(120), all_receipts));
    let statuses: Vec<_> = publishers.iter().flat_map(|&p| receipts(&sim, p)).collect();
    let dropped = statuses
        .iter()
        .filter(|s| **s == ReceiptStatus::Dropped)
        .count();
    let exhausted = statuses
        .iter()
        .filter(|s| **s == ReceiptStatus::RetriesExhausted)
        .count();
    assert_eq!(dropped + exhausted, statuses.len(), "none is delivered");
    assert_eq!(
        exhausted, MAX_PENDING as usize,
        "the last max_pending stayed pending"
    );
    let metrics = sim.broker.core.metrics();
    assert_eq!(metrics.dropped, dropped as u64);
    assert_eq!(metrics.cached_messages, 0);
    assert!(
        sim.events_of(sub, |e| matches!(e, Event::Message(_)).then_some(()))
            .count()
            == statuses.len(),
        "the subscriber got every message; only its acks were lost"
    );
}
