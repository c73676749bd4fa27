//! The value of a message key (`fastport:{S}:msg:{DELIVERY}`): a stored message, or the
//! tombstone that replaces it once it is settled, each one binary string, so that storing
//! either is one `SET ... PX` (the value and its expiry in one command) and needs no read.
//!
//! Format 1; the first byte says which of the two a value is, integers are big-endian, a
//! string is its length (u32) and its UTF-8 bytes:
//!
//! | Kind | Layout |
//! |---|---|
//! | message | `0x01`, message id (u64), payload bytes (u32), subscribers it was routed to (u32), topic, publisher, then the first `Deliver` frame to the end |
//! | tombstone | `0x02`, publisher, then its `Receipt` frame (which holds the message id) to the end |
//!
//! A value of another first byte is from another format and is skipped when read back.

use std::io::Write;

use bytes::Bytes;
use fastport_broker::journal::MessageRecord;
use redis::{RedisWrite, ToRedisArgs, ToSingleRedisArg};

/// The first byte of a stored message.
const MESSAGE: u8 = 1;
/// The first byte of a tombstone.
const TOMBSTONE: u8 = 2;

/// A message as the value of its key, written straight into the command (the frame is not
/// copied into a value of its own first).
pub(super) struct MessageValue<'a>(pub(super) &'a MessageRecord);

impl ToRedisArgs for MessageValue<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let m = self.0;
        let mut head = Vec::with_capacity(25 + m.topic.len() + m.publisher.len());
        head.push(MESSAGE);
        head.extend_from_slice(&m.message_id.to_be_bytes());
        head.extend_from_slice(&len32(m.payload_len).to_be_bytes());
        head.extend_from_slice(&len32(m.targets.len()).to_be_bytes());
        string(&mut head, &m.topic);
        string(&mut head, &m.publisher);
        let mut arg = out.writer_for_next_arg();
        // Writing to the command's own buffer cannot fail.
        let _ = arg.write_all(&head);
        let _ = arg.write_all(&m.frame);
    }
}

impl ToSingleRedisArg for MessageValue<'_> {}

/// A tombstone as the value of its key.
pub(super) fn tombstone(publisher: &str, receipt: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(5 + publisher.len() + receipt.len());
    value.push(TOMBSTONE);
    string(&mut value, publisher);
    value.extend_from_slice(receipt);
    value
}

/// A value read back.
#[derive(Debug, PartialEq)]
pub(super) enum Stored {
    /// A message still waiting for subscribers.
    Message {
        message_id: u64,
        payload_len: usize,
        /// How many subscribers it was routed to.
        targets: u32,
        topic: String,
        publisher: String,
        frame: Bytes,
    },
    /// A settled message.
    Tombstone { publisher: String, receipt: Bytes },
}

/// Reads a value back; `None` if it is not one this format wrote.
pub(super) fn decode(value: Bytes) -> Option<Stored> {
    let mut r = Reader(value);
    match r.u8()? {
        MESSAGE => Some(Stored::Message {
            message_id: r.u64()?,
            payload_len: r.u32()? as usize,
            targets: r.u32()?,
            topic: r.string()?,
            publisher: r.string()?,
            frame: r.0,
        }),
        TOMBSTONE => Some(Stored::Tombstone {
            publisher: r.string()?,
            receipt: r.0,
        }),
        _ => None,
    }
}

/// A length as stored: frames and client ids are far below 4 GiB (the server's frame
/// limit), so this saturates only for values the server never takes.
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&len32(s.len()).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The rest of a value, read from its front.
struct Reader(Bytes);

impl Reader {
    fn take(&mut self, n: usize) -> Option<Bytes> {
        (self.0.len() >= n).then(|| self.0.split_to(n))
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes(b.as_ref().try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_be_bytes(b.as_ref().try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn record() -> MessageRecord {
        MessageRecord {
            session: "s".into(),
            delivery: 7,
            publisher: Arc::from("pub:1"),
            message_id: 42,
            topic: "a/b".into(),
            frame: Bytes::from_static(b"the frame"),
            payload_len: 3,
            targets: vec![Arc::from("a"), Arc::from("b")],
            expiry: Duration::from_secs(60),
            next_delivery: 8,
        }
    }

    #[test]
    fn a_message_reads_back_as_written() {
        let m = record();
        let value = MessageValue(&m).to_redis_args().concat();
        assert_eq!(
            decode(Bytes::from(value)),
            Some(Stored::Message {
                message_id: 42,
                payload_len: 3,
                targets: 2,
                topic: "a/b".into(),
                publisher: "pub:1".into(),
                frame: Bytes::from_static(b"the frame"),
            })
        );
    }

    #[test]
    fn a_tombstone_reads_back_as_written() {
        let value = tombstone("pub:1", b"receipt");
        assert_eq!(
            decode(Bytes::from(value)),
            Some(Stored::Tombstone {
                publisher: "pub:1".into(),
                receipt: Bytes::from_static(b"receipt"),
            })
        );
    }

    #[test]
    fn a_truncated_or_foreign_value_is_refused_without_a_panic() {
        let m = record();
        let value = MessageValue(&m).to_redis_args().concat();
        // Cut inside the header: every prefix up to the frame is refused.
        for end in 0..30 {
            assert_eq!(decode(Bytes::copy_from_slice(&value[..end])), None, "{end}");
        }
        assert_eq!(decode(Bytes::from_static(b"\x09rest")), None);
        // A length past the end.
        assert_eq!(decode(Bytes::from_static(b"\x02\xff\xff\xff\xffab")), None);
    }
}
