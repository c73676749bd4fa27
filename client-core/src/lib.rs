//! fastPort client core: the sans-IO client state machine and end-to-end payload
//! encryption, on the wire protocol of `fastport-proto` (re-exported here as `codec`,
//! `topic`, `names`, `time` and `duration`, so an embedding needs one dependency).
//!
//! The core owns no socket, no clock and no thread. A driver (the tokio client, the
//! browser SDK, or a test's simulated network) feeds it what happened and carries out
//! what it asks for, in one `pump` after every input:
//!
//! ```
//! use fastport_client_core::codec::{Frame, SessionConfig, Welcome};
//! use fastport_client_core::crypto::{Key, KeyId, KeyStore, Keyring};
//! use fastport_client_core::names::SessionName;
//! use fastport_client_core::time::Instant;
//! use fastport_client_core::topic::Topic;
//! use fastport_client_core::{Client, ClientConfig, Event, PublishOptions, TransportCommand};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ClientConfig::new("ws://127.0.0.1:8080/ws", SessionName::new("demo")?, "pw");
//! let mut keys = KeyStore::new();
//! keys.set_default(Keyring::new(KeyId::default(), Key::generate()?));
//! config.keys = keys;
//!
//! let mut now = Instant::ZERO; // a real driver reads its monotonic clock here
//! let mut client = Client::new(config, now);
//!
//! // The pump: transport requests, frames to send, events, and the one timer.
//! fn pump(client: &mut Client, sent: &mut Vec<Frame>) -> Option<Instant> {
//!     while let Some(cmd) = client.poll_transport() {
//!         match cmd {
//!             TransportCommand::Connect { url } => { /* open a WebSocket to `url` */ }
//!             TransportCommand::Close { code, reason } => { /* close it */ }
//!         }
//!     }
//!     while let Some(bytes) = client.poll_transmit() {
//!         sent.push(Frame::decode(bytes).expect("valid")); // a driver sends `bytes`
//!     }
//!     while let Some(event) = client.poll_event() {
//!         if let Event::Message(m) = event { /* hand `m.payload` to the application */ }
//!     }
//!     client.poll_timeout() // re-arm the single timer with this
//! }
//!
//! let mut sent = Vec::new();
//! pump(&mut client, &mut sent);
//! client.handle_open(now); // the WebSocket opened: the core says hello
//! pump(&mut client, &mut sent);
//! assert!(matches!(sent[0], Frame::Hello(_)));
//!
//! // The server's welcome arrives as one binary message.
//! let welcome = Frame::Welcome(Welcome {
//!     session_present: false,
//!     batch: true, // this server takes batches from us
//!     client_id: client.client_id().to_owned(),
//!     resume_token: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".to_owned(),
//!     keepalive_ms: 10_000,
//!     config: SessionConfig::default(),
//! });
//! now = Instant::from_millis(20);
//! client.handle_frame(now, welcome.encode());
//! let topic = Topic::new("sensors/temperature/room1")?;
//! client.publish(now, &topic, b"21.5", PublishOptions::default())?;
//! let next_timer = pump(&mut client, &mut sent);
//! assert!(matches!(sent[1], Frame::Publish(_))); // sealed: the server sees only ciphertext
//! assert_eq!(next_timer, Some(Instant::from_millis(5_020))); // resend unless acked by then
//! # Ok(())
//! # }
//! ```
//!
//! In WebAssembly (`wasm32-unknown-unknown`) the core takes its randomness (keys, IVs,
//! client ids) from getrandom's custom source, which the embedding registers with
//! `getrandom::register_custom_getrandom!`: `fastport-wasm` registers the browser's
//! `crypto.getRandomValues`. A module that registers none lacks the source getrandom calls.

pub mod client;
pub mod crypto;
pub mod dispatch;

pub use fastport_proto::{codec, duration, names, text, time, topic};

pub use client::{Client, ClientConfig, Event, PublishOptions, State, TransportCommand};

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
