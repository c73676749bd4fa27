//! A durable broker (the journal the server stores in Redis) crashes again and again while
//! resumable clients publish and subscribe through a jittery network: its storage lags
//! behind it, and each crash loses what it had not stored yet, its connections and the
//! frames in flight. Over many seeds: every publish is acknowledged, every message reaches
//! every subscriber exactly once, every receipt says `delivered` to every subscriber, and
//! the same seed replays the same run.

use std::collections::BTreeMap;
use std::time::Duration;

use fastport_broker::SessionSettings;
use fastport_client_core::client::PublishOutcome;
use fastport_client_core::codec::ReceiptStatus;
use fastport_client_core::topic::{Topic, TopicFilter};
use fastport_client_core::{Event, PublishOptions};
use fastport_tests::{client_config, NetConfig, Sim, SimBroker};

const CLIENTS: usize = 3;
const MESSAGES: usize = 15;
/// Virtual time between crashes.
const CRASH_EVERY: Duration = Duration::from_millis(700);
/// How long the storage takes to confirm a write: longer than the network's latency, so
/// an answer sent before its record were stored would reach its client before a crash
/// could lose the record.
const STORE_LATENCY: Duration = Duration::from_millis(20);

fn durable_broker() -> SimBroker {
    let mut settings = SessionSettings::default();
    settings.max_retries = 1_000;
    settings.retry_interval = Duration::from_millis(300);
    settings.expiry = Duration::from_secs(3_600);
    SimBroker::durable(settings, STORE_LATENCY)
}

/// The durable broker and `CLIENTS` resumable clients, each subscribing to `room/#`, on a
/// network with jitter and no resets (the crashes are the faults).
fn sim_with_clients(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, durable_broker());
    sim.net = NetConfig {
        latency: Duration::from_millis(2),
        jitter: Duration::from_millis(3),
        reset_probability: 0.0,
    };
    for i in 0..CLIENTS {
        let mut config = client_config(&format!("c{i}"));
        config.resume = true;
        config.publish_retry.max_attempts = 1_000;
        config.publish_retry.deadline = None;
        let c = sim.add_client(config);
        let filter = TopicFilter::new("room/#").expect("valid");
        sim.with_client(c, |core, now| core.subscribe(now, filter, false))
            .expect("subscribe");
    }
    sim
}

fn run(seed: u64) -> (Sim, usize, String) {
    let mut sim = sim_with_clients(seed);
    let subscribed = |s: &Sim| {
        (0..CLIENTS).all(|i| {
            s.events_of(i, |e| {
                matches!(e, Event::Subscribed { result: Ok(()), .. }).then_some(())
            })
            .count()
                == 1
        })
    };
    assert!(sim.run_until(Duration::from_secs(60), subscribed));
    // Let the subscriptions reach storage before the first crash.
    sim.run_for(Duration::from_millis(50));

    let mut crashes = 0;
    let mut next_crash = sim.now + CRASH_EVERY;
    // Where in a round the crash falls, from the seed: often while writes are in flight.
    let mut lcg = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    for n in 0..MESSAGES {
        for i in 0..CLIENTS {
            let topic = Topic::new(format!("room/{i}")).expect("valid");
            let payload = format!("c{i}-m{n}");
            sim.with_client(i, |core, now| {
                core.publish(now, &topic, payload.as_bytes(), PublishOptions::default())
            })
            .expect("outbox has room");
        }
        lcg = lcg.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let offset = Duration::from_millis((lcg >> 33) % 40);
        sim.run_for(offset);
        if sim.now >= next_crash {
            sim.crash_server();
            crashes += 1;
            next_crash = sim.now + CRASH_EVERY;
        }
        sim.run_for(Duration::from_millis(97) - offset);
    }
    let received = |s: &Sim, i: usize| {
        s.events_of(i, |e| matches!(e, Event::Message(_)).then_some(()))
            .count()
    };
    let receipts = |s: &Sim, i: usize| {
        s.events_of(i, |e| matches!(e, Event::Receipt { .. }).then_some(()))
            .count()
    };
    let everything = |s: &Sim| {
        (0..CLIENTS).all(|i| received(s, i) >= CLIENTS * MESSAGES && receipts(s, i) >= MESSAGES)
    };
    assert!(
        sim.run_until(Duration::from_secs(600), everything),
        "seed {seed}: messages or receipts missing: {:?}",
        (0..CLIENTS)
            .map(|i| (received(&sim, i), receipts(&sim, i)))
            .collect::<Vec<_>>()
    );
    sim.run_for(Duration::from_secs(5));
    let trace = sim
        .clients
        .iter()
        .flat_map(|c| c.events.iter())
        .map(|(at, e)| match e {
            // The envelopes' IVs come from the system's random source, not the seed.
            Event::Message(m) => format!("{at:?} message {:?}", m.payload),
            other => format!("{at:?} {other:?}"),
        })
        .collect::<Vec<_>>()
        .join("\n");
    (sim, crashes, trace)
}

fn check(sim: &Sim, seed: u64) {
    for i in 0..CLIENTS {
        let mut settled = BTreeMap::new();
        for (id, outcome) in sim.events_of(i, |e| match e {
            Event::PublishSettled { id, outcome } => Some((*id, outcome.clone())),
            _ => None,
        }) {
            assert!(
                settled.insert(id, outcome).is_none(),
                "seed {seed}: settled twice"
            );
        }
        assert_eq!(settled.len(), MESSAGES, "seed {seed}: client {i}");
        assert!(
            settled.values().all(|o| *o == PublishOutcome::Acked),
            "seed {seed}: {settled:?}"
        );
        let receipts: Vec<(ReceiptStatus, u32)> = sim
            .events_of(i, |e| match e {
                Event::Receipt {
                    status, delivered, ..
                } => Some((*status, *delivered)),
                _ => None,
            })
            .collect();
        assert_eq!(receipts.len(), MESSAGES, "seed {seed}: client {i} receipts");
        assert!(
            receipts
                .iter()
                .all(|r| *r == (ReceiptStatus::Delivered, CLIENTS as u32)),
            "seed {seed}: client {i}: {receipts:?}"
        );
        let mut payloads: Vec<String> = sim
            .events_of(i, |e| match e {
                Event::Message(m) => Some(String::from_utf8(m.payload.clone()).expect("utf-8")),
                _ => None,
            })
            .collect();
        assert_eq!(
            payloads.len(),
            CLIENTS * MESSAGES,
            "seed {seed}: client {i} got duplicates or gaps"
        );
        payloads.sort();
        payloads.dedup();
        assert_eq!(
            payloads.len(),
            CLIENTS * MESSAGES,
            "seed {seed}: client {i}"
        );
    }
}

#[test]
fn across_crashes_nothing_acknowledged_is_lost_or_delivered_twice() {
    let mut crashes = 0;
    for seed in 1..=40 {
        let (sim, c, _) = run(seed);
        check(&sim, seed);
        crashes += c;
        assert_eq!(
            sim.broker.core.metrics().cached_messages,
            0,
            "seed {seed}: messages left in the cache"
        );
    }
    assert!(crashes >= 40, "only {crashes} crashes");
}

#[test]
fn the_same_seed_replays_the_same_crashes() {
    let (_, _, first) = run(5);
    let (_, _, second) = run(5);
    assert!(first == second, "two runs with seed 5 differ");
}

/// The storage goes away for a while (Redis down) and comes back, with a crash during the
/// outage: QoS 1 publishes are refused `storage_unavailable` meanwhile and resent by their
/// clients, and in the end every message arrives once and every publish settles.
#[test]
fn an_outage_of_the_storage_refuses_qos1_and_loses_nothing() {
    for seed in 1..=12 {
        let mut sim = sim_with_clients(seed);
        sim.run_for(Duration::from_millis(200));
        for n in 0..MESSAGES {
            if n == 3 {
                sim.broker.set_storage_down(true);
            }
            if n == 8 && seed % 2 == 0 {
                sim.crash_server();
            }
            if n == 10 {
                sim.broker.set_storage_down(false);
            }
            for i in 0..CLIENTS {
                let topic = Topic::new(format!("room/{i}")).expect("valid");
                let payload = format!("c{i}-m{n}");
                sim.with_client(i, |core, now| {
                    core.publish(now, &topic, payload.as_bytes(), PublishOptions::default())
                })
                .expect("outbox has room");
            }
            sim.run_for(Duration::from_millis(97));
        }
        let refused = sim.broker.core.metrics().publishes_refused_storage;
        let done = |s: &Sim| {
            (0..CLIENTS).all(|i| {
                s.events_of(i, |e| matches!(e, Event::Receipt { .. }).then_some(()))
                    .count()
                    >= MESSAGES
            })
        };
        assert!(
            sim.run_until(Duration::from_secs(600), done),
            "seed {seed}: receipts missing"
        );
        sim.run_for(Duration::from_secs(5));
        check(&sim, seed);
        if seed % 2 == 1 {
            // Without a crash the broker's own count shows the refusals.
            assert!(
                refused > 0,
                "seed {seed}: nothing was refused during the outage"
            );
        }
    }
}
