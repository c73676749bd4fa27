//! The fastPort wire protocol, shared by every client and the server: the frames and
//! their codec, error and close codes, the topic and filter rules, session and client
//! names, the table of session settings, and the monotonic `Instant` and wire durations
//! the cores compute with.
//!
//! It is pure: no socket, no clock, no randomness, no crypto. The client core
//! (`fastport-client-core`) and the server (`fastport-server`) both build on it, so a
//! frame is encoded and a topic is checked by one piece of code on both sides.
//! docs/PROTOCOL.md describes every byte; `docs/test-vectors/frames-v1.json` pins them.
//!
//! ```
//! use fastport_proto::codec::{Frame, Publish, Qos};
//! use fastport_proto::topic::{Topic, TopicFilter};
//!
//! let topic = Topic::new("sensors/temperature/room1")?;
//! assert!(TopicFilter::new("sensors/+/room1")?.matches(&topic));
//!
//! let frame = Frame::Publish(Publish {
//!     qos: Qos::AtLeastOnce,
//!     message_id: 7,
//!     topic: topic.as_str().into(),
//!     payload: bytes::Bytes::from_static(b"sealed bytes"),
//! });
//! // A server decodes what clients send; a client what servers send.
//! assert_eq!(Frame::decode_from_client(frame.encode())?, frame);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod codec;
pub mod duration;
pub mod names;
pub mod settings;
pub mod text;
pub mod time;
pub mod topic;

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
