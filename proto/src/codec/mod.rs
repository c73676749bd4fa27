//! The wire codec of fastPort, shared by the client core and the server.
//!
//! One WebSocket binary message carries one [`Frame`], or several in a [`batch`] once
//! both sides said they take batches. The first byte is the
//! frame type, the fields follow in a fixed order; integers are unsigned LEB128 varints
//! (canonical form), strings a varint byte length and UTF-8, and the payload of
//! `Publish` and `Deliver` is the rest of the message, so it is never copied or
//! re-framed. docs/PROTOCOL.md is the normative description of every byte.
//!
//! ```
//! use bytes::Bytes;
//! use fastport_proto::codec::{Frame, Publish, Qos};
//!
//! let frame = Frame::Publish(Publish {
//!     qos: Qos::AtLeastOnce,
//!     message_id: 7,
//!     topic: "sensors/temperature/room1".into(),
//!     payload: Bytes::from_static(b"\x01\x00 21.5"),
//! });
//! let bytes = frame.encode();
//! assert_eq!(Frame::decode(bytes).unwrap(), frame);
//! ```
//!
//! Topics, filters and names travel as plain strings: the codec checks only that they
//! are UTF-8. Their rules are checked by the layer that can answer the request they
//! came with (a bad topic fails that one publish, not the connection).

pub mod batch;
mod config;
mod error_code;
mod format;
mod frames;
mod wire;

pub use config::{SessionConfig, SlowConsumerPolicy};
pub use error_code::ErrorCode;
pub use frames::*;

/// The protocol version this codec speaks, carried by `Hello` and `Welcome`.
pub const PROTOCOL_VERSION: u8 = 1;

/// Why a message is not a valid frame. The peer broke the protocol: the connection
/// answers with [`ErrorCode::PROTOCOL_ERROR`] (or [`ErrorCode::UNSUPPORTED_VERSION`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message has no bytes at all.
    #[error("empty message")]
    Empty,
    /// The first byte names no frame type of this version.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownFrameType(u8),
    /// A frame of a type only the receiving side sends (a `Deliver` from a client, a
    /// `Publish` from a server).
    #[error("frame type 0x{0:02x} does not travel in this direction")]
    WrongDirection(u8),
    /// A `Hello` or `Welcome` of a protocol version this codec does not speak.
    #[error("unsupported protocol version {0} (this side speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u8),
    /// The message ends inside a field.
    #[error("message truncated in field `{field}`")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A string field is not UTF-8.
    #[error("field `{field}` is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A varint does not fit 64 bits.
    #[error("varint in field `{field}` overflows 64 bits")]
    VarintOverflow {
        /// The field being read.
        field: &'static str,
    },
    /// A varint is not in its shortest form.
    #[error("varint in field `{field}` is not in canonical form")]
    NonCanonicalVarint {
        /// The field being read.
        field: &'static str,
    },
    /// Reserved flag bits are set.
    #[error("reserved bits set in field `{field}`: 0x{value:02x}")]
    InvalidFlags {
        /// The field being read.
        field: &'static str,
        /// The flag byte as received.
        value: u8,
    },
    /// A field holds a value outside its range.
    #[error("value out of range in field `{field}`")]
    InvalidValue {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes follow the last field of a frame that has no payload.
    #[error("{count} unexpected bytes after the last field")]
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
}

impl DecodeError {
    /// The error code a peer answers this decode failure with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::UnsupportedVersion(_) => ErrorCode::UNSUPPORTED_VERSION,
            _ => ErrorCode::PROTOCOL_ERROR,
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
