//! Test harness of fastPort: a deterministic network simulation that runs client cores
//! against a broker in one loop with a virtual clock.
//!
//! Reconnects, retries, expiry and loss scenarios run in milliseconds and replay exactly
//! from their seed. The broker here is a small in-memory stand-in that speaks the
//! protocol ([`FakeBroker`]); the real server's sans-IO core plugs into the same
//! [`Sim`] as [`RealBroker`]; scenarios run against either.

mod broker;
mod process;
mod real;
mod sim;

pub use broker::{BrokerStats, FakeBroker, Out, SimBroker};
pub use process::{server_binary, ServerProcess};
pub use real::RealBroker;
pub use sim::{ConnId, NetConfig, Sim, SimClient};

use fastport_client_core::crypto::{Key, KeyId, KeyStore, Keyring};
use fastport_client_core::names::{ClientId, SessionName};
use fastport_client_core::ClientConfig;

/// Session name the scenarios use.
pub const SESSION: &str = "demo";
/// Its password.
pub const PASSWORD: &str = "demo-password";

/// A broker with the scenarios' session.
pub fn broker() -> FakeBroker {
    FakeBroker::new(SESSION, PASSWORD)
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
