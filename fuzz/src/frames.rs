//! Frame decoding, as each side reads what its peer sends (docs/PROTOCOL.md §3).
//!
//! Any message either decodes or fails with a [`DecodeError`]; never a panic. A decoded
//! frame encodes to exactly [`Frame::encoded_len`] bytes, and those decode to the same frame
//! (decode → encode → decode). The direction-specific decoders agree with
//! [`Frame::decode`] on every frame of their direction.

use bytes::Bytes;
use fastport_proto::codec::{DecodeError, ErrorCode, Frame};

/// A message from a client, as the server reads it: also its hot-path decoder of
/// publishes, which must agree with the frame decoder on every message.
pub fn from_client(data: &[u8]) {
    check(data, Frame::decode_from_client);
    let message = Bytes::copy_from_slice(data);
    let publish = Frame::decode_publish(&message);
    match (Frame::decode_from_client(message.clone()), publish) {
        (_, None) => assert_ne!(data.first(), Some(&0x08), "a publish is decoded"),
        (Ok(Frame::Publish(p)), Some(Ok(r))) => assert_eq!(p.as_publish_ref(), r),
        (Err(e), Some(Err(r))) => assert_eq!(e, r, "both decoders refuse the publish alike"),
        (frame, publish) => panic!("{frame:?} decoded as {publish:?}"),
    }
}

/// A message from a server, as a client reads it.
pub fn from_server(data: &[u8]) {
    check(data, Frame::decode_from_server);
}

type Decoder = fn(Bytes) -> Result<Frame, DecodeError>;

fn check(data: &[u8], decode: Decoder) {
    let message = Bytes::copy_from_slice(data);
    let directed = decode(message.clone());
    let any = Frame::decode(message);
    match directed {
        Ok(frame) => {
            assert_eq!(
                any.as_ref(),
                Ok(&frame),
                "both decoders read the frame alike"
            );
            round_trip(&frame, decode);
        }
        Err(DecodeError::WrongDirection(kind)) => {
            assert_eq!(
                data.first(),
                Some(&kind),
                "the refused type is the first byte"
            );
        }
        Err(e) => {
            assert_eq!(
                any.as_ref(),
                Err(&e),
                "both decoders refuse the message alike"
            );
            assert!(!e.code().is_ok(), "a refusal has an error code: {e}");
            assert!(
                e.code() == ErrorCode::PROTOCOL_ERROR || e.code() == ErrorCode::UNSUPPORTED_VERSION,
                "{e} answers with {:?}",
                e.code()
            );
            assert!(!e.to_string().is_empty());
        }
    }
}

fn round_trip(frame: &Frame, decode: Decoder) {
    let bytes = frame.encode();
    assert_eq!(bytes.len(), frame.encoded_len(), "encoded_len of {frame:?}");
    assert_eq!(
        decode(bytes.clone()).as_ref(),
        Ok(frame),
        "decode -> encode -> decode gives the frame back"
    );
    if let Some(client_bytes) = frame.encode_client_frame() {
        assert_eq!(
            client_bytes, bytes,
            "encode_client_frame agrees with encode"
        );
    }
    assert!(!format!("{frame:?}").is_empty());
    assert!(!frame.name().is_empty());
}
