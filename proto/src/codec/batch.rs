//! `Batch` (0x13): several frames in one WebSocket message (docs/PROTOCOL.md §3).
//!
//! A connection whose `Hello` set `batch` may receive batches from the server, and once
//! its `Welcome` set `batch` too it may send them. A batch is the type byte, then one or
//! more entries, each a varint length and that many bytes: one whole frame, never a
//! `Hello` and never another batch. The receiver handles the frames in order, as if each
//! had come in a message of its own. It saves a WebSocket header, a message event and a
//! wake-up per frame, which at small messages costs more than the frame itself.
//!
//! ```
//! use bytes::Bytes;
//! use fastport_proto::codec::{batch, Frame};
//!
//! let frames = [Frame::Ping { nonce: 1 }.encode(), Frame::Pong { nonce: 2 }.encode()];
//! let mut packed = batch::Builder::new();
//! for frame in &frames {
//!     packed.push(frame);
//! }
//! let message = packed.finish();
//! assert!(batch::is_batch(&message));
//! let unpacked: Vec<Bytes> = batch::frames(message).collect::<Result<_, _>>().unwrap();
//! assert_eq!(unpacked, frames);
//! ```

use bytes::{BufMut, Bytes};

use super::wire::{put_varint, varint_len, Reader};
use super::DecodeError;

/// The type byte of a batch.
pub const BATCH: u8 = 0x13;

/// Whether `message` is a batch (its type byte is [`BATCH`]).
pub fn is_batch(message: &[u8]) -> bool {
    message.first() == Some(&BATCH)
}

/// Whether the first message of a connection is a version 1 `Hello` that asks for batches
/// (its `batch` flag), read from the bytes alone: what a server's transport needs to know
/// before it writes anything. The broker decides the rest from the decoded frame.
pub fn requested(first_message: &[u8]) -> bool {
    // Type, version, flags: `Hello`, 1, bit 2.
    matches!(first_message, [0x01, 0x01, flags, ..] if flags & 0x04 != 0)
}

/// The frames of the batch `message`, in order, as slices of it (not copies). After a
/// malformed entry it yields that error and ends: the frames before it are good, nothing
/// after it can be trusted. A batch without a frame is [`DecodeError::Truncated`].
/// Frames are not decoded here; a frame inside that is itself a batch (or a `Hello`) is
/// refused by whoever decodes it.
pub fn frames(message: Bytes) -> Frames {
    let mut reader = Reader::new(message);
    // The type byte; `is_batch` was checked by the caller, and an empty message has no
    // entries, which is the error below.
    let _ = reader.u8("type");
    Frames {
        reader,
        single: false,
        done: false,
    }
}

/// The frames of any message: the entries of a batch as [`frames`] gives them, or the
/// message itself when it is not a batch (for a receiver that takes batches).
pub fn split(message: Bytes) -> Frames {
    if is_batch(&message) {
        return frames(message);
    }
    Frames {
        reader: Reader::new(message),
        single: true,
        done: false,
    }
}

/// The iterator of [`frames`] and [`split`].
#[derive(Debug)]
pub struct Frames {
    reader: Reader,
    /// Not a batch: the whole message is the one frame.
    single: bool,
    done: bool,
}

impl Iterator for Frames {
    type Item = Result<Bytes, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let entry = if self.single {
            Ok(self.reader.rest())
        } else {
            match self.reader.bytes("frame") {
                Ok(frame) if frame.is_empty() => Err(DecodeError::Empty),
                other => other,
            }
        };
        self.done = entry.is_err() || self.reader.remaining() == 0;
        Some(entry)
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

/// The bytes a frame of `len` bytes takes in a batch.
pub fn entry_len(len: usize) -> usize {
    varint_len(len as u64) + len
}

/// Packs frames into one batch message.
#[derive(Debug)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Builder {
    /// An empty batch.
    pub fn new() -> Builder {
        Builder::with_capacity(0)
    }

    /// An empty batch with room for `bytes` of entries (see [`entry_len`]).
    pub fn with_capacity(bytes: usize) -> Builder {
        let mut buf = Vec::with_capacity(1 + bytes);
        buf.put_u8(BATCH);
        Builder { buf, count: 0 }
    }

    /// Appends one encoded frame (not empty, not a batch).
    pub fn push(&mut self, frame: &[u8]) {
        put_varint(&mut self.buf, frame.len() as u64);
        self.buf.extend_from_slice(frame);
        self.count += 1;
    }

    /// The frames pushed so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The message's length so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no frame was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The batch message.
    pub fn finish(self) -> Bytes {
        Bytes::from(self.buf)
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::codec::Frame;

    fn unpack(message: &[u8]) -> Vec<Result<Bytes, DecodeError>> {
        frames(Bytes::copy_from_slice(message)).collect()
    }

    #[test]
    fn frames_come_out_as_they_went_in() {
        let frames: Vec<Bytes> = (0..300u64)
            .map(|nonce| Frame::Ping { nonce: nonce << 20 }.encode())
            .chain([Bytes::from(vec![0x0F; 200])])
            .collect();
        let mut builder = Builder::with_capacity(frames.iter().map(|f| entry_len(f.len())).sum());
        for frame in &frames {
            builder.push(frame);
        }
        assert_eq!(builder.count(), frames.len());
        let expected = 1 + frames.iter().map(|f| entry_len(f.len())).sum::<usize>();
        assert_eq!(builder.len(), expected);
        let message = builder.finish();
        assert_eq!(message.len(), expected);
        let out: Vec<Bytes> = super::frames(message).map(Result::unwrap).collect();
        assert_eq!(out, frames);
    }

    #[test]
    fn a_batch_without_frames_is_truncated() {
        assert_eq!(
            unpack(&[BATCH]),
            vec![Err(DecodeError::Truncated { field: "frame" })]
        );
    }

    #[test]
    fn an_entry_longer_than_the_rest_is_truncated_and_ends_the_batch() {
        let out = unpack(&[BATCH, 0x02, 0x0F, 0x01, 0x05, 0x0F, 0x01]);
        assert_eq!(
            out,
            vec![
                Ok(Bytes::from_static(&[0x0F, 0x01])),
                Err(DecodeError::Truncated { field: "frame" })
            ]
        );
    }

    #[test]
    fn an_empty_entry_is_an_empty_frame() {
        assert_eq!(
            unpack(&[BATCH, 0x00, 0x01, 0x0F]),
            vec![Err(DecodeError::Empty)]
        );
    }

    #[test]
    fn a_bad_length_varint_is_named() {
        assert_eq!(
            unpack(&[BATCH, 0x81, 0x00]),
            vec![Err(DecodeError::NonCanonicalVarint { field: "frame" })]
        );
        assert_eq!(
            unpack(&[BATCH, 0x80]),
            vec![Err(DecodeError::Truncated { field: "frame" })]
        );
    }

    #[test]
    fn a_nested_batch_comes_out_whole_for_the_frame_decoder_to_refuse() {
        let out = unpack(&[BATCH, 0x03, BATCH, 0x01, 0x0F]);
        let inner = out[0].clone().expect("one entry");
        assert!(is_batch(&inner));
        assert_eq!(
            Frame::decode(inner),
            Err(DecodeError::UnknownFrameType(BATCH))
        );
    }

    #[test]
    fn requested_reads_the_hello_flag() {
        use crate::codec::Hello;
        let hello = |batch| {
            Frame::Hello(Hello {
                batch,
                resume: true,
                admin_only: true,
                ..Hello::default()
            })
            .encode()
        };
        assert!(requested(&hello(true)));
        assert!(!requested(&hello(false)));
        assert!(!requested(&[0x01, 0x02, 0x04]), "another version");
        assert!(!requested(&Frame::Ping { nonce: 4 }.encode()));
        assert!(!requested(&[0x01, 0x01]));
    }

    #[test]
    fn split_gives_a_single_frame_whole_and_a_batch_entry_by_entry() {
        let ping = Frame::Ping { nonce: 5 }.encode();
        let whole: Vec<_> = split(ping.clone()).collect();
        assert_eq!(whole, vec![Ok(ping.clone())]);
        let empty: Vec<_> = split(Bytes::new()).collect();
        assert_eq!(
            empty,
            vec![Ok(Bytes::new())],
            "the frame decoder says Empty"
        );
        let mut b = Builder::new();
        b.push(&ping);
        b.push(&ping);
        let entries: Vec<_> = split(b.finish()).collect();
        assert_eq!(entries, vec![Ok(ping.clone()), Ok(ping)]);
    }

    #[test]
    fn is_batch_looks_at_the_type_byte_only() {
        assert!(is_batch(&[BATCH]));
        assert!(!is_batch(&[]));
        assert!(!is_batch(&Frame::Ping { nonce: 0x13 }.encode()));
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn any_frames_pack_and_split_back(
            frames in proptest::collection::vec(proptest::collection::vec(0u8..=255, 1..300), 1..20)
        ) {
            let mut b = Builder::new();
            for frame in &frames {
                b.push(frame);
            }
            let out: Vec<Vec<u8>> = super::frames(b.finish()).map(|f| f.unwrap_or_default().to_vec()).collect();
            proptest::prop_assert_eq!(out, frames);
        }

        #[test]
        fn any_bytes_split_without_panicking_into_pieces_of_the_message(
            rest in proptest::collection::vec(0u8..=255, 0..200)
        ) {
            let mut message = vec![BATCH];
            message.extend_from_slice(&rest);
            let mut covered = 1;
            let mut failed = false;
            for entry in super::frames(Bytes::from(message.clone())) {
                proptest::prop_assert!(!failed, "nothing after an error");
                match entry {
                    Ok(frame) => {
                        proptest::prop_assert!(!frame.is_empty());
                        covered += entry_len(frame.len());
                        proptest::prop_assert_eq!(&message[covered - frame.len()..covered], &frame[..]);
                    }
                    Err(_) => failed = true,
                }
            }
            proptest::prop_assert!(failed || covered == message.len());
        }
    }
}
