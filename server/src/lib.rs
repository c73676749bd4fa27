//! The fastPort broker: multi-session publish/subscribe over WebSocket.
//!
//! [`broker`] is the sans-IO core (sessions, routing, the retrying message cache; crate
//! `fastport-broker`, re-exported here); [`server`] runs it on tokio: router shards each own a broker and the sessions placed on it, each connection is a task
//! with a bounded outbound queue, and one listener serves the WebSocket endpoint, health,
//! metrics, the admin API and the demo's static files.

pub use fastport_broker as broker;
pub use fastport_broker::auth;
pub mod cluster;
pub mod config;
mod durable;
pub mod engine;
pub mod http;
pub mod prometheus;
pub mod server;
pub mod tls;
