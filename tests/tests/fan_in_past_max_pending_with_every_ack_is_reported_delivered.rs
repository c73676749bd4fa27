//! Four publishers and one subscriber under the default `drop_oldest` policy, publishing
//! bursts larger than the subscriber's in-flight window (`max_pending`): the deliveries past
//! it wait in the broker and go out as acks come back, so every one arrives and is acked,
//! every receipt says `delivered` and nothing is counted as dropped. When the acks never
//! reach the broker, the window never frees: what was sent runs out of retries, what waited
//! past twice the window is `dropped`, and the subscriber got exactly the former.

use std::collections::HashSet;
use std::time::Duration;

use fastport_broker::SessionSettings;
use fastport_client_core::codec::{Frame, ReceiptStatus};
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Event, PublishOptions};
use fastport_tests::{client_config, Action, Fault, Sim, SimBroker};

const PUBLISHERS: usize = 4;
const ROUNDS: usize = 10;
const PER_ROUND: usize = 20;
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

/// Every publisher publishes `PER_ROUND` messages at once, every 300 ms, for `ROUNDS`
/// rounds: bursts of 80, past the window of 50 and within twice it.
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
        sim.run_for(Duration::from_millis(300));
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
    assert!(
        exhausted >= MAX_PENDING as usize,
        "the first window was sent and ran out of retries: {exhausted}"
    );
    assert!(dropped > 0, "what waited past twice the window was dropped");
    let metrics = sim.broker.core.metrics();
    // Silent but for its lost acks, the subscriber may be closed for keepalive, and what
    // still waited for it is then settled `dropped` with it (not by the policy's counter).
    assert!(metrics.dropped <= dropped as u64);
    assert_eq!(metrics.cached_messages, 0);
    let received = sim
        .events_of(sub, |e| matches!(e, Event::Message(_)).then_some(()))
        .count();
    // It got what was sent: the deliveries that ran out of retries, and at most one window
    // that was in flight (unacked, so `dropped`) when its connection ended. Nothing that
    // only waited reached it.
    assert!(
        received >= exhausted && received <= exhausted + MAX_PENDING as usize,
        "{received} received, {exhausted} exhausted"
    );
}
