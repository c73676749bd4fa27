//! fastPort client core: the sans-IO client state machine, the wire codec shared with the
//! server, topics, and end-to-end payload encryption.

pub mod client;
pub mod codec;
pub mod crypto;
pub mod names;
mod text;
pub mod time;
pub mod topic;

pub use client::{Client, ClientConfig, Event, PublishOptions, State, TransportCommand};

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
