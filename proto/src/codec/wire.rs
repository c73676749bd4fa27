//! Primitive wire types: LEB128 varints, length-prefixed strings, the rest-of-message payload.
//!
//! The reader never panics and never reads past the message: every read checks the
//! remaining length first and fails with [`DecodeError::Truncated`] naming the field.

use bytes::{BufMut, Bytes};

use super::DecodeError;

/// Longest LEB128 encoding of a `u64`.
pub(crate) const MAX_VARINT_LEN: usize = 10;

/// Reads fields from one whole message.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError::Truncated { field })?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let bytes = self.take(2, field)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// Unsigned LEB128, canonical (shortest) form only, at most 10 bytes.
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..MAX_VARINT_LEN {
            let byte = self.u8(field)?;
            let low = u64::from(byte & 0x7f);
            if i == MAX_VARINT_LEN - 1 && byte > 0x01 {
                return Err(DecodeError::VarintOverflow { field });
            }
            value |= low << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(DecodeError::NonCanonicalVarint { field });
                }
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow { field })
    }

    /// A varint that must fit a `u32`.
    pub(crate) fn varint_u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let v = self.varint(field)?;
        u32::try_from(v).map_err(|_| DecodeError::InvalidValue { field })
    }

    /// A varint length followed by that many bytes of UTF-8.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.len_prefix(field)?;
        let bytes = self.take(len, field)?;
        match core::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::InvalidUtf8 { field }),
        }
    }

    /// A varint length followed by that many bytes: where they are in the message, not
    /// checked for UTF-8 (see [`Reader::message`]).
    pub(crate) fn string_range(
        &mut self,
        field: &'static str,
    ) -> Result<core::ops::Range<usize>, DecodeError> {
        let len = self.len_prefix(field)?;
        let start = self.pos;
        self.take(len, field)?;
        Ok(start..start + len)
    }

    /// The whole message being read.
    pub(crate) fn message(&self) -> &Bytes {
        &self.buf
    }

    /// Everything up to the end of the message, without copying.
    pub(crate) fn rest(&mut self) -> Bytes {
        let rest = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        rest
    }

    /// A varint length followed by that many bytes, without copying.
    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.len_prefix(field)?;
        let mut bytes = self.rest();
        // Back to the end of these bytes (`rest` went to the end of the message).
        self.pos -= bytes.len() - len;
        bytes.truncate(len);
        Ok(bytes)
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }

    // Always inlined: one more caller (`bytes`) must not make it a call in builds that
    // only read strings (the browser module's size).
    #[inline(always)]
    fn len_prefix(&mut self, field: &'static str) -> Result<usize, DecodeError> {
        let len = self.varint(field)?;
        match usize::try_from(len) {
            Ok(len) if len <= self.remaining() => Ok(len),
            _ => Err(DecodeError::Truncated { field }),
        }
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        if len > self.remaining() {
            return Err(DecodeError::Truncated { field });
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.buf[start..start + len])
    }
}

/// Bytes a varint of `value` takes.
pub(crate) fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes a length-prefixed string takes.
pub(crate) fn string_len(s: &str) -> usize {
    varint_len(s.len() as u64) + s.len()
}

pub(crate) fn put_varint(out: &mut impl BufMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

pub(crate) fn put_string(out: &mut impl BufMut, s: &str) {
    put_varint(out, s.len() as u64);
    out.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn roundtrip(value: u64) -> (Vec<u8>, Result<u64, DecodeError>) {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        let decoded = Reader::new(Bytes::from(out.clone())).varint("v");
        (out, decoded)
    }

    #[test]
    fn varints_round_trip_and_have_the_predicted_length() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let (bytes, decoded) = roundtrip(value);
            assert_eq!(decoded, Ok(value));
            assert_eq!(bytes.len(), varint_len(value), "length of {value}");
        }
    }

    #[test]
    fn a_varint_with_a_redundant_zero_byte_is_rejected() {
        let r = Reader::new(Bytes::from_static(&[0x81, 0x00])).varint("v");
        assert_eq!(r, Err(DecodeError::NonCanonicalVarint { field: "v" }));
    }

    #[test]
    fn a_varint_longer_than_64_bits_is_rejected() {
        let mut bytes = vec![0xff; 9];
        bytes.push(0x02);
        let r = Reader::new(Bytes::from(bytes)).varint("v");
        assert_eq!(r, Err(DecodeError::VarintOverflow { field: "v" }));
        let r = Reader::new(Bytes::from(vec![0x80; 11])).varint("v");
        assert_eq!(r, Err(DecodeError::VarintOverflow { field: "v" }));
    }

    #[test]
    fn a_string_longer_than_the_message_is_truncated_not_a_panic() {
        let r = Reader::new(Bytes::from_static(&[0x05, b'a', b'b'])).string("topic");
        assert_eq!(r, Err(DecodeError::Truncated { field: "topic" }));
    }

    #[test]
    fn a_string_that_is_not_utf8_is_rejected() {
        let r = Reader::new(Bytes::from_static(&[0x02, 0xc3, 0x28])).string("topic");
        assert_eq!(r, Err(DecodeError::InvalidUtf8 { field: "topic" }));
    }
}
