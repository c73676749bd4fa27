//! The fastPort broker: multi-session publish/subscribe over WebSocket.
//!
//! [`broker`] is the sans-IO core (sessions, routing, the retrying message cache);
//! [`server`] runs it on tokio: one router task owns the broker, each connection is a task
//! with a bounded outbound queue, and one listener serves the WebSocket endpoint, health,
//! metrics, the admin API and the demo's static files.

pub mod auth;
pub mod broker;
pub mod config;
pub mod http;
pub mod prometheus;
pub mod server;
