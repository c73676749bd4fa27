//! Test harness of fastPort: a deterministic network simulation that runs client cores
//! against the real broker core in one loop with a virtual clock. (The end-to-end tests of
//! `tests/` start the real server binary with `fastport-harness` instead.)
//!
//! Reconnects, retries, expiry and loss scenarios run in milliseconds and replay exactly
//! from their seed. There is one broker: [`SimBroker`] is `fastport-broker`'s sans-IO
//! [`Broker`](fastport_broker::Broker), with password checks run inline. What a correct
//! broker never does (lose an ack, send a delivery twice, hold one back, answer with
//! another frame, close a connection) is scripted with [`Fault`]s, rules at the broker's
//! edge that match frames going one way. The network ([`NetConfig`], partitions, resets)
//! misbehaves on its own, from the seed. Scenarios assert on the clients' events, on the
//! frames the broker took in and sent out ([`SimBroker::received`], [`SimBroker::sent`])
//! and on its metrics.
//!
//! ```
//! use std::time::Duration;
//!
//! use fastport_client_core::codec::Frame;
//! use fastport_client_core::topic::{Topic, TopicFilter};
//! use fastport_client_core::{Event, PublishOptions};
//! use fastport_tests::{broker, client_config, Action, Fault, Sim};
//!
//! let mut sim = Sim::new(7, broker());
//! let sub = sim.add_client(client_config("sub"));
//! let publ = sim.add_client(client_config("pub"));
//! let filter = TopicFilter::new("room/#").unwrap();
//! sim.with_client(sub, |core, now| core.subscribe(now, filter, false)).unwrap();
//! sim.run_for(Duration::from_secs(1));
//!
//! // The broker's first delivery goes out twice; the subscriber must not notice.
//! let deliver = |f: &Frame| matches!(f, Frame::Deliver(_));
//! sim.broker.faults.add(Fault::to_client(Action::Duplicate, deliver).times(1));
//! let topic = Topic::new("room/1").unwrap();
//! sim.with_client(publ, |core, now| core.publish(now, &topic, b"hi", PublishOptions::default()))
//!     .unwrap();
//! sim.run_for(Duration::from_secs(5)); // virtual time: returns at once
//!
//! let messages = sim.events_of(sub, |e| matches!(e, Event::Message(_)).then_some(()));
//! assert_eq!(messages.count(), 1);
//! assert_eq!(sim.broker.received(|f| matches!(f, Frame::DeliverAck { .. })), 2);
//! ```

mod broker;
mod fault;
mod sim;

pub use broker::SimBroker;
pub use fault::{Action, Direction, Fault, Faults};
pub use sim::{ConnId, NetConfig, Sim, SimClient};

use std::time::Duration;

use fastport_broker::SessionSettings;
use fastport_client_core::crypto::{Key, KeyId, KeyStore, Keyring};
use fastport_client_core::names::{ClientId, SessionName};
use fastport_client_core::topic::TopicFilter;
use fastport_client_core::ClientConfig;

/// Session name the scenarios use.
pub const SESSION: &str = "demo";
/// Its password.
pub const PASSWORD: &str = "demo-password";

/// The real broker core with the scenarios' session at default settings, and no faults.
pub fn broker() -> SimBroker {
    SimBroker::new(SessionSettings::default())
}

/// A client of the scenarios' session with a stable id and the shared key.
pub fn client_config(client_id: &str) -> ClientConfig {
    let session = SessionName::new(SESSION).expect("valid session name");
    let mut config = ClientConfig::new("ws://sim/ws", session, PASSWORD);
    config.client_id = Some(ClientId::new(client_id).expect("valid client id"));
    let mut keys = KeyStore::new();
    keys.set_default(Keyring::new(KeyId::default(), Key::from_bytes([42; 32])));
    config.keys = keys;
    config
}

/// A simulation from `seed` against [`broker`] with a subscriber to `filter` (client id
/// `sub`) and a publisher (`pub`), one second in: both connected, the subscription in
/// place. Returns it with the two clients' indices.
pub fn subscriber_and_publisher(seed: u64, filter: &str) -> (Sim, usize, usize) {
    let mut sim = Sim::new(seed, broker());
    let sub = sim.add_client(client_config("sub"));
    let publ = sim.add_client(client_config("pub"));
    let filter = TopicFilter::new(filter).expect("valid filter");
    sim.with_client(sub, |c, now| c.subscribe(now, filter, false))
        .expect("subscribe");
    sim.run_for(Duration::from_secs(1));
    (sim, sub, publ)
}
