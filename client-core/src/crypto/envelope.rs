//! The envelope format v1: sealing and opening payloads.
//!
//! ```text
//! encrypted:  0x01 | 0x01 | L | key id (L bytes) | IV (16) | AES-256-CBC ciphertext | tag (32)
//! plaintext:  0x01 | 0x00 | payload
//! ```
//!
//! The tag is HMAC-SHA256 under the derived MAC key over `fastport/v1`, the length-prefixed
//! session name and topic, and every envelope byte before the tag (encrypt-then-MAC).
//! See `docs/CRYPTO.md`.

use aes::cipher::block_padding::{Padding, Pkcs7, UnpadError};
use aes::cipher::consts::U16;
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit};
use aes::Aes256;
use hmac::Mac;
use thiserror::Error;

use super::keys::{CryptoError, Key, KeyId, Keyring, MAX_KEY_ID_BYTES};

/// The envelope format version this module writes and reads (byte 0).
pub const ENVELOPE_VERSION: u8 = 1;

/// Flag bit (in byte 1) of an encrypted envelope. All other flag bits must be zero.
pub const FLAG_ENCRYPTED: u8 = 0x01;

/// The longest session name or topic, in UTF-8 bytes, that can be authenticated (the MAC
/// input stores their lengths in two bytes).
pub const MAX_CONTEXT_BYTES: usize = u16::MAX as usize;

/// Length of the AES-CBC initialization vector.
pub const IV_BYTES: usize = 16;

/// Length of the HMAC-SHA256 tag.
pub const TAG_BYTES: usize = 32;

/// AES block length; the ciphertext is a non-zero multiple of it.
const BLOCK_BYTES: usize = 16;

/// Version, flags and key id length.
const HEADER_BYTES: usize = 3;

/// Domain separation prefix of the MAC input.
const MAC_PREFIX: &[u8] = b"fastport/v1";

/// Why an envelope could not be opened. Each variant names the step that failed and nothing
/// more: in particular no plaintext, key or tag bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Too short for its header, key id, IV, one ciphertext block and tag, or a ciphertext
    /// length that is not a multiple of 16.
    #[error("envelope rejected: truncated")]
    Truncated,
    /// Byte 0 is not [`ENVELOPE_VERSION`]; holds it.
    #[error("envelope rejected: unsupported version {0}")]
    UnsupportedVersion(u8),
    /// Byte 1 has bits set other than [`FLAG_ENCRYPTED`]; holds it.
    #[error("envelope rejected: invalid flags {0:#04x}")]
    InvalidFlags(u8),
    /// The key id is longer than [`MAX_KEY_ID_BYTES`] or not UTF-8.
    #[error("envelope rejected: invalid key id")]
    InvalidKeyId,
    /// The keyring holds no key with the envelope's key id (which is public); holds it.
    #[error("envelope rejected: unknown key id \"{}\"", fastport_proto::text::EscapedStr(.0))]
    UnknownKeyId(String),
    /// The session name or topic is longer than [`MAX_CONTEXT_BYTES`]: no envelope for it
    /// can be authentic.
    #[error("envelope rejected: session name or topic too long")]
    ContextTooLong,
    /// The tag does not match: the envelope was altered, or sealed with another key or for
    /// another session or topic.
    #[error("envelope rejected: bad tag")]
    BadTag,
    /// The decrypted data has no valid PKCS#7 padding (the tag was valid, so the sender
    /// holds the key but sealed malformed data).
    #[error("envelope rejected: bad padding")]
    BadPadding,
}

/// An opened envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The payload.
    pub plaintext: Vec<u8>,
    /// The id of the key that opened it; `None` for a plaintext envelope.
    pub key_id: Option<KeyId>,
    /// Whether the envelope was encrypted and authenticated. A plaintext envelope carries
    /// no tag, so anyone on the path can forge or alter it: a receiver that expects
    /// encryption on a topic must drop envelopes where this is `false`.
    pub encrypted: bool,
}

/// The exact size an encrypted envelope adds to a plaintext of `plaintext_len` bytes sealed
/// under a key id of `key_id_len` bytes: 3 header bytes, the key id, 16 IV bytes, 1 to 16
/// padding bytes and 32 tag bytes. (A plaintext envelope adds 2.)
///
/// Saturates at `usize::MAX` instead of overflowing.
pub fn envelope_overhead(key_id_len: usize, plaintext_len: usize) -> usize {
    let padding = BLOCK_BYTES - plaintext_len % BLOCK_BYTES;
    (HEADER_BYTES + IV_BYTES + TAG_BYTES + padding).saturating_add(key_id_len)
}

/// Seals `plaintext` for `topic` in `session` with the keyring's newest key and a fresh
/// random IV.
///
/// # Errors
/// [`CryptoError::Random`] if the random source fails, [`CryptoError::ContextTooLong`] if
/// the session name or topic is longer than [`MAX_CONTEXT_BYTES`].
pub fn seal(
    ring: &Keyring,
    session: &str,
    topic: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    check_context(session, topic).map_err(CryptoError::ContextTooLong)?;
    let mut iv = [0u8; IV_BYTES];
    super::random_bytes(&mut iv)?;
    let (key_id, key) = ring.sealing();
    Ok(seal_unchecked(key_id, key, session, topic, iv, plaintext))
}

/// Seals with a given IV: deterministic, for test vectors and cross-implementation checks.
/// Never reuse an IV with the same key in production; use [`seal`].
///
/// If the session name or topic is longer than [`MAX_CONTEXT_BYTES`] no envelope can be
/// made, and the result is empty (which no reader accepts as an envelope).
pub fn seal_with_iv(
    key_id: &KeyId,
    key: &Key,
    session: &str,
    topic: &str,
    iv: [u8; IV_BYTES],
    plaintext: &[u8],
) -> Vec<u8> {
    if check_context(session, topic).is_err() {
        return Vec::new();
    }
    seal_unchecked(key_id, key, session, topic, iv, plaintext)
}

/// A plaintext envelope, for applications that explicitly opted out of encryption on a
/// topic: `[0x01, 0x00, payload...]`.
pub fn seal_plaintext(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + payload.len());
    out.extend_from_slice(&[ENVELOPE_VERSION, 0]);
    out.extend_from_slice(payload);
    out
}

/// Opens an envelope received on `topic` in `session`.
///
/// For an encrypted envelope the key is picked from `ring` by the envelope's key id, and the
/// tag is checked (in constant time) before anything is decrypted. A plaintext envelope is
/// returned as is with [`Opened::encrypted`] `false`: see there.
///
/// # Errors
/// An [`OpenError`] naming the check that failed.
pub fn open(
    ring: &Keyring,
    session: &str,
    topic: &str,
    envelope: &[u8],
) -> Result<Opened, OpenError> {
    let [version, flags, rest @ ..] = envelope else {
        return Err(OpenError::Truncated);
    };
    if *version != ENVELOPE_VERSION {
        return Err(OpenError::UnsupportedVersion(*version));
    }
    if flags & !FLAG_ENCRYPTED != 0 {
        return Err(OpenError::InvalidFlags(*flags));
    }
    if flags & FLAG_ENCRYPTED == 0 {
        return Ok(Opened {
            plaintext: rest.to_vec(),
            key_id: None,
            encrypted: false,
        });
    }

    let [key_id_len, rest @ ..] = rest else {
        return Err(OpenError::Truncated);
    };
    let key_id_len = usize::from(*key_id_len);
    if key_id_len > MAX_KEY_ID_BYTES {
        return Err(OpenError::InvalidKeyId);
    }
    let (key_id, rest) = rest
        .split_at_checked(key_id_len)
        .ok_or(OpenError::Truncated)?;
    let (iv, rest) = rest
        .split_first_chunk::<IV_BYTES>()
        .ok_or(OpenError::Truncated)?;
    let (ciphertext, tag) = rest
        .split_last_chunk::<TAG_BYTES>()
        .ok_or(OpenError::Truncated)?;
    if ciphertext.is_empty() || ciphertext.len() % BLOCK_BYTES != 0 {
        return Err(OpenError::Truncated);
    }
    let (authenticated, _) = envelope
        .split_last_chunk::<TAG_BYTES>()
        .ok_or(OpenError::Truncated)?;

    let key_id = core::str::from_utf8(key_id).map_err(|_| OpenError::InvalidKeyId)?;
    let (key_id, key) = ring
        .get_entry(key_id)
        .ok_or_else(|| OpenError::UnknownKeyId(key_id.to_owned()))?;
    if check_context(session, topic).is_err() {
        return Err(OpenError::ContextTooLong);
    }

    mac_over(key, session, topic, authenticated)
        .verify_slice(tag)
        .map_err(|_| OpenError::BadTag)?;

    // Authentic: decrypt straight from the envelope into the output, then drop the padding.
    let mut plaintext = vec![0u8; ciphertext.len()];
    let plaintext_len = cbc_decrypt::<Pkcs7>(key.cipher(), iv, ciphertext, &mut plaintext)
        .map_err(|_| OpenError::BadPadding)?;
    plaintext.truncate(plaintext_len);

    Ok(Opened {
        plaintext,
        key_id: Some(key_id.clone()),
        encrypted: true,
    })
}

/// `Err(len)` with the first offending length if the session name or topic cannot be
/// length-prefixed in two bytes.
fn check_context(session: &str, topic: &str) -> Result<(), usize> {
    for len in [session.len(), topic.len()] {
        if len > MAX_CONTEXT_BYTES {
            return Err(len);
        }
    }
    Ok(())
}

/// HMAC-SHA256 under `key`'s MAC key, fed with the MAC input up to the envelope bytes.
/// The caller has checked both context lengths with [`check_context`].
fn mac_over(
    key: &Key,
    session: &str,
    topic: &str,
    authenticated: &[u8],
) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = key.mac().clone();
    mac.update(MAC_PREFIX);
    for part in [session, topic] {
        // Checked by the caller: both lengths fit in a u16; saturating keeps this total.
        let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
        mac.update(&len.to_be_bytes());
        mac.update(part.as_bytes());
    }
    mac.update(authenticated);
    mac
}

/// Seals with the given IV; the caller has checked the context lengths.
fn seal_unchecked(
    key_id: &KeyId,
    key: &Key,
    session: &str,
    topic: &str,
    iv: [u8; IV_BYTES],
    plaintext: &[u8],
) -> Vec<u8> {
    let id = key_id.as_str().as_bytes();
    let padding = BLOCK_BYTES - plaintext.len() % BLOCK_BYTES;
    let total = plaintext.len() + envelope_overhead(id.len(), plaintext.len());

    let mut out = Vec::with_capacity(total);
    // KeyId guarantees at most MAX_KEY_ID_BYTES (32) bytes, so the length fits in a byte.
    let id_len = u8::try_from(id.len()).unwrap_or(u8::MAX);
    out.extend_from_slice(&[ENVELOPE_VERSION, FLAG_ENCRYPTED, id_len]);
    out.extend_from_slice(id);
    out.extend_from_slice(&iv);
    let body_start = out.len();
    // PKCS#7: `padding` bytes (1..=16), each of value `padding`.
    out.extend_from_slice(plaintext);
    out.resize(out.len() + padding, padding as u8);

    cbc_encrypt_blocks(key.cipher(), &iv, &mut out[body_start..]);

    let tag = mac_over(key, session, topic, &out).finalize().into_bytes();
    out.extend_from_slice(&tag);
    debug_assert_eq!(out.len(), total, "the envelope buffer was sized exactly");
    out
}

/// AES-256-CBC encryption of `buf` in place. `buf` must be a whole number of blocks (it is
/// padded by the caller); a partial last block would be left as it is.
fn cbc_encrypt_blocks(cipher: &Aes256, iv: &[u8; IV_BYTES], buf: &mut [u8]) {
    let mut encryptor = cbc::Encryptor::<&Aes256>::inner_iv_init(cipher, &(*iv).into());
    let (blocks, tail) = InOutBuf::from(buf).into_chunks::<U16>();
    debug_assert!(tail.is_empty(), "the caller pads to whole blocks");
    encryptor.encrypt_blocks_inout_mut(blocks);
}

/// AES-256-CBC decryption of `ciphertext` into `out` (at least as long), then removal of
/// padding `P`; returns the unpadded length.
fn cbc_decrypt<P: Padding<U16>>(
    cipher: &Aes256,
    iv: &[u8; IV_BYTES],
    ciphertext: &[u8],
    out: &mut [u8],
) -> Result<usize, UnpadError> {
    let decryptor = cbc::Decryptor::<&Aes256>::inner_iv_init(cipher, &(*iv).into());
    Ok(decryptor
        .decrypt_padded_b2b_mut::<P>(ciphertext, out)?
        .len())
}

#[cfg(test)]
mod tests;
