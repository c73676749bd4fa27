//! What leads every bench payload: who sent it, its number, and when.

/// Bytes the header takes; `--size` must leave room for it.
pub const HEADER_LEN: usize = 20;

/// The header: little-endian publisher index (u32), sequence number (u64) and send time
/// (u64, microseconds since the bench's clock started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The publisher's index, from 0.
    pub publisher: u32,
    /// The publisher's count of messages before this one.
    pub seq: u64,
    /// When the publisher handed it to its client.
    pub sent_us: u64,
}

impl Header {
    /// A payload of `size` bytes (at least [`HEADER_LEN`]): the header, then zeros.
    pub fn payload(&self, size: usize) -> Vec<u8> {
        let mut payload = vec![0; size.max(HEADER_LEN)];
        payload[..4].copy_from_slice(&self.publisher.to_le_bytes());
        payload[4..12].copy_from_slice(&self.seq.to_le_bytes());
        payload[12..HEADER_LEN].copy_from_slice(&self.sent_us.to_le_bytes());
        payload
    }

    /// The header of a payload; `None` if it is too short to be a bench message.
    pub fn read(payload: &[u8]) -> Option<Header> {
        let head = payload.get(..HEADER_LEN)?;
        let (publisher, rest) = head.split_first_chunk::<4>()?;
        let (seq, rest) = rest.split_first_chunk::<8>()?;
        let (sent_us, _) = rest.split_first_chunk::<8>()?;
        Some(Header {
            publisher: u32::from_le_bytes(*publisher),
            seq: u64::from_le_bytes(*seq),
            sent_us: u64::from_le_bytes(*sent_us),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_from_a_padded_payload_and_not_from_a_short_one() {
        let header = Header {
            publisher: 7,
            seq: 1 << 40,
            sent_us: 123_456_789,
        };
        let payload = header.payload(64);
        assert_eq!(payload.len(), 64);
        assert!(payload[HEADER_LEN..].iter().all(|&b| b == 0));
        assert_eq!(Header::read(&payload), Some(header));
        assert_eq!(Header::read(&payload[..HEADER_LEN - 1]), None);
    }
}
