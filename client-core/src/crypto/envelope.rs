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
    #[error("envelope rejected: unknown key id {0:?}")]
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
    getrandom::getrandom(&mut iv).map_err(|e| CryptoError::Random(e.to_string()))?;
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
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    use crate::crypto::test_vectors::{load, unhex};
    use aes::cipher::block_padding::NoPadding;
    use aes::cipher::KeyInit;
    use hmac::Hmac;
    use sha2::Sha256;

    const SESSION: &str = "acme";
    const TOPIC: &str = "rooms/lobby";

    fn id(s: &str) -> KeyId {
        KeyId::new(s).expect("test key ids are at most 32 bytes")
    }

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; 32])
    }

    fn ring(name: &str, byte: u8) -> Keyring {
        Keyring::new(id(name), key(byte))
    }

    fn sealed(ring: &Keyring, plaintext: &[u8]) -> Vec<u8> {
        seal(ring, SESSION, TOPIC, plaintext).expect("sealing with a short context succeeds")
    }

    /// NIST SP 800-38A, F.2.5 / F.2.6: CBC-AES256.
    const NIST_KEY: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    const NIST_IV: [u8; 16] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    ];
    const NIST_PLAINTEXT: &str = "6bc1bee22e409f96e93d7e117393172a\
                                  ae2d8a571e03ac9c9eb76fac45af8e51\
                                  30c81c46a35ce411e5fbc1191a0a52ef\
                                  f69f2445df4f9b17ad2b417be66c3710";
    const NIST_CIPHERTEXT: &str = "f58c4c04d6e5f1ba779eabfb5f7bfbd6\
                                   9cfc4e967edb808d679f777bc6702c7d\
                                   39f23369a9d9bacfa530e26304231461\
                                   b2eb05e2c39be9fcda6c19078c6a9d1b";

    fn nist_cipher() -> Aes256 {
        Aes256::new_from_slice(&unhex(NIST_KEY)).expect("the NIST key is 32 bytes")
    }

    #[test]
    fn aes256_cbc_encryption_matches_nist_sp800_38a_f_2_5() {
        let mut buf = unhex(NIST_PLAINTEXT);
        cbc_encrypt_blocks(&nist_cipher(), &NIST_IV, &mut buf);
        assert_eq!(hex::encode(buf), NIST_CIPHERTEXT);
    }

    #[test]
    fn aes256_cbc_decryption_matches_nist_sp800_38a_f_2_6() {
        let ciphertext = unhex(NIST_CIPHERTEXT);
        let mut out = vec![0u8; ciphertext.len()];
        let len = cbc_decrypt::<NoPadding>(&nist_cipher(), &NIST_IV, &ciphertext, &mut out)
            .expect("whole blocks need no padding");
        assert_eq!(len, 64);
        assert_eq!(hex::encode(out), NIST_PLAINTEXT);
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_test_cases_1_to_4_6_and_7() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                (1..=25).collect(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the HMAC \
                  algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(&data);
            // The same constant-time check `open` uses.
            assert!(
                mac.clone().verify_slice(&unhex(expected)).is_ok(),
                "{expected}"
            );
            assert_eq!(hex::encode(mac.finalize().into_bytes()), expected);
        }
    }

    #[test]
    fn seal_then_open_round_trips_at_block_boundaries() {
        let ring = ring("k1", 1);
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let envelope = sealed(&ring, &plaintext);
            assert_eq!(
                envelope.len(),
                len + envelope_overhead(2, len),
                "length {len}"
            );
            assert_eq!((envelope.len() - 3 - 2 - 16 - 32) % 16, 0);
            let opened = open(&ring, SESSION, TOPIC, &envelope).expect("authentic envelope");
            assert_eq!(opened.plaintext, plaintext, "length {len}");
            assert_eq!(opened.key_id, Some(id("k1")));
            assert!(opened.encrypted);
        }
    }

    #[test]
    fn envelope_overhead_counts_header_key_id_iv_padding_and_tag() {
        assert_eq!(envelope_overhead(0, 0), 3 + 16 + 16 + 32);
        assert_eq!(envelope_overhead(0, 15), 3 + 16 + 1 + 32);
        assert_eq!(envelope_overhead(32, 16), 3 + 32 + 16 + 16 + 32);
        assert_eq!(envelope_overhead(usize::MAX, 0), usize::MAX);
    }

    #[test]
    fn sealed_envelopes_start_with_version_flags_and_key_id() {
        let envelope = sealed(&ring("key-7", 1), b"x");
        assert_eq!(&envelope[..8], b"\x01\x01\x05key-7");
    }

    #[test]
    fn two_seals_of_the_same_message_use_different_ivs() {
        let ring = ring("k1", 1);
        let (a, b) = (sealed(&ring, b"same"), sealed(&ring, b"same"));
        assert_ne!(a[5..21], b[5..21]);
        assert_ne!(a, b);
    }

    #[test]
    fn seal_with_iv_is_deterministic_and_opens() {
        let (k, kid) = (key(4), id("k"));
        let a = seal_with_iv(&kid, &k, SESSION, TOPIC, [9; 16], b"payload");
        let b = seal_with_iv(&kid, &k, SESSION, TOPIC, [9; 16], b"payload");
        assert_eq!(a, b);
        assert_eq!(a[4..20], [9; 16]);
        let opened = open(&Keyring::new(kid, k), SESSION, TOPIC, &a).expect("authentic");
        assert_eq!(opened.plaintext, b"payload");
    }

    #[test]
    fn every_single_bit_flip_is_rejected_or_only_downgrades_to_a_plaintext_envelope() {
        let ring = ring("k1", 1);
        let envelope = sealed(&ring, b"hi");
        assert_eq!(envelope.len(), 3 + 2 + 16 + 16 + 32);
        for position in 0..envelope.len() {
            for bit in 0..8 {
                let mut tampered = envelope.clone();
                tampered[position] ^= 1 << bit;
                match open(&ring, SESSION, TOPIC, &tampered) {
                    Err(_) => {}
                    // Clearing the encrypted flag turns the rest into an unauthenticated
                    // plaintext payload: it never passes as encrypted, and receivers that
                    // expect encryption drop it.
                    Ok(opened) => {
                        assert_eq!((position, bit), (1, 0), "tampered envelope opened");
                        assert!(!opened.encrypted);
                        assert_eq!(opened.key_id, None);
                    }
                }
            }
        }
    }

    #[test]
    fn every_byte_replaced_by_any_value_is_rejected_except_the_flag_downgrade() {
        let ring = ring("", 1);
        let envelope = sealed(&ring, b"");
        for position in 0..envelope.len() {
            for value in 0..=255u8 {
                if value == envelope[position] || (position == 1 && value == 0) {
                    continue;
                }
                let mut tampered = envelope.clone();
                tampered[position] = value;
                assert!(
                    open(&ring, SESSION, TOPIC, &tampered).is_err(),
                    "{position}={value}"
                );
            }
        }
    }

    #[test]
    fn truncation_at_every_length_is_rejected() {
        let ring = ring("k1", 1);
        let envelope = sealed(&ring, &[7; 40]);
        for len in 0..envelope.len() {
            let result = open(&ring, SESSION, TOPIC, &envelope[..len]);
            assert!(result.is_err(), "truncated to {len} bytes");
        }
        assert_eq!(open(&ring, SESSION, TOPIC, &[]), Err(OpenError::Truncated));
        assert_eq!(open(&ring, SESSION, TOPIC, &[1]), Err(OpenError::Truncated));
        assert_eq!(
            open(&ring, SESSION, TOPIC, &[1, 1]),
            Err(OpenError::Truncated)
        );
        assert_eq!(
            open(&ring, SESSION, TOPIC, &envelope[..envelope.len() - 1]),
            Err(OpenError::Truncated)
        );
    }

    #[test]
    fn an_envelope_opened_on_another_topic_fails_the_tag_check() {
        let ring = ring("k1", 1);
        let envelope = sealed(&ring, b"secret");
        assert_eq!(
            open(&ring, SESSION, "rooms/other", &envelope),
            Err(OpenError::BadTag)
        );
        assert_eq!(
            open(&ring, SESSION, "rooms/lobby/", &envelope),
            Err(OpenError::BadTag)
        );
    }

    #[test]
    fn an_envelope_opened_in_another_session_fails_the_tag_check() {
        let ring = ring("k1", 1);
        let envelope = sealed(&ring, b"secret");
        assert_eq!(
            open(&ring, "other", TOPIC, &envelope),
            Err(OpenError::BadTag)
        );
    }

    #[test]
    fn moving_bytes_between_session_and_topic_fails_the_tag_check() {
        let ring = ring("k1", 1);
        let envelope = seal(&ring, "ab", "c", b"x").expect("short context");
        assert_eq!(open(&ring, "a", "bc", &envelope), Err(OpenError::BadTag));
    }

    #[test]
    fn an_envelope_opened_with_another_key_under_the_same_id_fails_the_tag_check() {
        let envelope = sealed(&ring("k1", 1), b"secret");
        assert_eq!(
            open(&ring("k1", 2), SESSION, TOPIC, &envelope),
            Err(OpenError::BadTag)
        );
    }

    #[test]
    fn an_envelope_for_a_key_id_the_keyring_lacks_is_rejected_by_name() {
        let envelope = sealed(&ring("k1", 1), b"secret");
        assert_eq!(
            open(&ring("k2", 1), SESSION, TOPIC, &envelope),
            Err(OpenError::UnknownKeyId("k1".to_owned()))
        );
    }

    #[test]
    fn after_rotation_the_new_key_seals_and_the_old_key_still_opens() {
        let mut ring = ring("2024-01", 1);
        let old = sealed(&ring, b"before");
        ring.add(id("2024-02"), key(2));
        let new = sealed(&ring, b"after");
        assert_eq!(&new[3..10], b"2024-02");
        let opened_old = open(&ring, SESSION, TOPIC, &old).expect("the old key is kept");
        assert_eq!(
            (opened_old.plaintext, opened_old.key_id),
            (b"before".to_vec(), Some(id("2024-01")))
        );
        let opened_new = open(&ring, SESSION, TOPIC, &new).expect("the new key seals");
        assert_eq!(opened_new.key_id, Some(id("2024-02")));
        // A member that has not rotated yet cannot read the new envelope.
        assert_eq!(
            open(&self::ring("2024-01", 1), SESSION, TOPIC, &new),
            Err(OpenError::UnknownKeyId("2024-02".to_owned()))
        );
        // Once the old key is removed, its envelopes no longer open.
        assert!(ring.remove(&id("2024-01")));
        assert_eq!(
            open(&ring, SESSION, TOPIC, &old),
            Err(OpenError::UnknownKeyId("2024-01".to_owned()))
        );
    }

    #[test]
    fn plaintext_envelopes_are_version_zero_flags_and_the_payload() {
        assert_eq!(seal_plaintext(b"hi"), [1, 0, b'h', b'i']);
        assert_eq!(seal_plaintext(b""), [1, 0]);
        let opened = open(&ring("k1", 1), SESSION, TOPIC, &seal_plaintext(b"hi")).expect("valid");
        assert_eq!(
            opened,
            Opened {
                plaintext: b"hi".to_vec(),
                key_id: None,
                encrypted: false
            }
        );
    }

    #[test]
    fn unknown_versions_and_flag_bits_are_rejected() {
        let ring = ring("k1", 1);
        let mut envelope = sealed(&ring, b"x");
        envelope[0] = 2;
        assert_eq!(
            open(&ring, SESSION, TOPIC, &envelope),
            Err(OpenError::UnsupportedVersion(2))
        );
        assert_eq!(
            open(&ring, SESSION, TOPIC, &[0, 0]),
            Err(OpenError::UnsupportedVersion(0))
        );
        for flags in [0x02, 0x03, 0x80, 0xff] {
            assert_eq!(
                open(&ring, SESSION, TOPIC, &[1, flags]),
                Err(OpenError::InvalidFlags(flags))
            );
        }
    }

    #[test]
    fn key_ids_longer_than_32_bytes_or_not_utf8_are_invalid() {
        let ring = ring("k1", 1);
        let mut long = vec![1, 1, 33];
        long.extend_from_slice(&[b'a'; 33 + 16 + 16 + 32]);
        assert_eq!(
            open(&ring, SESSION, TOPIC, &long),
            Err(OpenError::InvalidKeyId)
        );
        let mut bad = vec![1, 1, 2, 0xff, 0xfe];
        bad.extend_from_slice(&[0; 16 + 16 + 32]);
        assert_eq!(
            open(&ring, SESSION, TOPIC, &bad),
            Err(OpenError::InvalidKeyId)
        );
    }

    #[test]
    fn a_ciphertext_that_is_not_whole_blocks_is_rejected_as_truncated() {
        let ring = ring("k1", 1);
        let envelope = sealed(&ring, b"x");
        let mut shortened = envelope.clone();
        shortened.remove(21);
        assert_eq!(
            open(&ring, SESSION, TOPIC, &shortened),
            Err(OpenError::Truncated)
        );
        let mut lengthened = envelope;
        lengthened.insert(21, 0);
        assert_eq!(
            open(&ring, SESSION, TOPIC, &lengthened),
            Err(OpenError::Truncated)
        );
    }

    #[test]
    fn session_names_and_topics_longer_than_65535_bytes_are_refused() {
        let ring = ring("k1", 1);
        let long = "t".repeat(MAX_CONTEXT_BYTES + 1);
        let longest = "t".repeat(MAX_CONTEXT_BYTES);
        assert_eq!(
            seal(&ring, SESSION, &long, b"x"),
            Err(CryptoError::ContextTooLong(65_536))
        );
        assert_eq!(
            seal(&ring, &long, TOPIC, b"x"),
            Err(CryptoError::ContextTooLong(65_536))
        );
        let (kid, k) = ring.sealing();
        assert!(seal_with_iv(kid, k, &long, TOPIC, [0; 16], b"x").is_empty());
        let envelope = seal(&ring, SESSION, &longest, b"x").expect("65535 bytes fit");
        assert!(open(&ring, SESSION, &longest, &envelope).is_ok());
        assert_eq!(
            open(&ring, SESSION, &long, &envelope),
            Err(OpenError::ContextTooLong)
        );
    }

    #[test]
    fn a_valid_tag_over_bad_padding_is_reported_as_bad_padding() {
        // Built by hand: a correctly tagged envelope whose plaintext lacks PKCS#7 padding.
        let (kid, k) = (id("k1"), key(1));
        let iv = [3u8; 16];
        let mut envelope = vec![1, 1, 2, b'k', b'1'];
        envelope.extend_from_slice(&iv);
        let mut body = [0u8; 16];
        cbc_encrypt_blocks(k.cipher(), &iv, &mut body);
        envelope.extend_from_slice(&body);
        let tag = mac_over(&k, SESSION, TOPIC, &envelope)
            .finalize()
            .into_bytes();
        envelope.extend_from_slice(&tag);
        assert_eq!(
            open(&Keyring::new(kid, k), SESSION, TOPIC, &envelope),
            Err(OpenError::BadPadding)
        );
    }

    #[test]
    fn open_errors_name_only_the_failed_step() {
        assert_eq!(OpenError::BadTag.to_string(), "envelope rejected: bad tag");
        assert_eq!(
            OpenError::Truncated.to_string(),
            "envelope rejected: truncated"
        );
        assert_eq!(
            OpenError::BadPadding.to_string(),
            "envelope rejected: bad padding"
        );
        assert_eq!(
            OpenError::InvalidFlags(2).to_string(),
            "envelope rejected: invalid flags 0x02"
        );
        assert_eq!(
            OpenError::UnknownKeyId("k9".into()).to_string(),
            "envelope rejected: unknown key id \"k9\""
        );
    }

    /// The snake-case name the vectors file uses for an error.
    fn error_name(error: &OpenError) -> &'static str {
        match error {
            OpenError::Truncated => "truncated",
            OpenError::UnsupportedVersion(_) => "unsupported_version",
            OpenError::InvalidFlags(_) => "invalid_flags",
            OpenError::InvalidKeyId => "invalid_key_id",
            OpenError::UnknownKeyId(_) => "unknown_key_id",
            OpenError::ContextTooLong => "context_too_long",
            OpenError::BadTag => "bad_tag",
            OpenError::BadPadding => "bad_padding",
        }
    }

    #[test]
    fn the_python_vectors_are_reproduced_byte_for_byte_and_open() {
        let file = load();
        let mut checked = 0;
        for v in file.vectors.iter().filter(|v| v.expect == "open") {
            let (kid, k) = (
                id(&v.key_id),
                Key::from_slice(&unhex(&v.key_hex)).expect("32 bytes"),
            );
            let plaintext = unhex(
                v.plaintext_hex
                    .as_deref()
                    .expect("open vectors have plaintext"),
            );
            let expected = unhex(&v.envelope_hex);
            let envelope = match v.iv_hex.as_deref() {
                Some(iv) if v.encrypted => {
                    let iv: [u8; 16] = unhex(iv).try_into().expect("16-byte IV");
                    seal_with_iv(&kid, &k, &v.session, &v.topic, iv, &plaintext)
                }
                _ => seal_plaintext(&plaintext),
            };
            assert_eq!(hex::encode(&envelope), v.envelope_hex, "{}", v.name);
            let opened = open(
                &Keyring::new(kid.clone(), k),
                &v.session,
                &v.topic,
                &expected,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(opened.plaintext, plaintext, "{}", v.name);
            assert_eq!(opened.encrypted, v.encrypted, "{}", v.name);
            assert_eq!(opened.key_id, v.encrypted.then_some(kid), "{}", v.name);
            checked += 1;
        }
        assert!(checked >= 7, "only {checked} open vectors");
    }

    #[test]
    fn every_python_reject_vector_fails_at_the_named_step() {
        let file = load();
        let mut checked = 0;
        for v in file.vectors.iter().filter(|v| v.expect == "reject") {
            let ring = Keyring::new(
                id(&v.key_id),
                Key::from_slice(&unhex(&v.key_hex)).expect("32-byte vector key"),
            );
            let result = open(&ring, &v.session, &v.topic, &unhex(&v.envelope_hex));
            let error = result.err().unwrap_or_else(|| panic!("{} opened", v.name));
            assert_eq!(Some(error_name(&error)), v.error.as_deref(), "{}", v.name);
            checked += 1;
        }
        assert!(checked >= 7, "only {checked} reject vectors");
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::collection::vec as bytes;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn open_never_panics_on_random_bytes(input in bytes(any::<u8>(), 0..300)) {
                let _ = open(&ring("k1", 1), SESSION, TOPIC, &input);
            }

            #[test]
            fn open_never_panics_on_random_bytes_behind_a_valid_header(
                id_len in 0u8..=40,
                tail in bytes(any::<u8>(), 0..200),
            ) {
                let mut input = vec![1, 1, id_len];
                input.extend_from_slice(&tail);
                let ring = ring("k1", 1);
                prop_assert!(open(&ring, SESSION, TOPIC, &input).is_err());
            }

            #[test]
            fn seal_then_open_round_trips_for_random_plaintexts_and_contexts(
                plaintext in bytes(any::<u8>(), 0..600),
                session in ".{0,20}",
                topic in ".{0,60}",
                key_bytes in any::<[u8; 32]>(),
                key_id in "[a-z0-9-]{0,32}",
            ) {
                let ring = Keyring::new(id(&key_id), Key::from_bytes(key_bytes));
                let envelope = seal(&ring, &session, &topic, &plaintext).expect("short context");
                let overhead = envelope_overhead(key_id.len(), plaintext.len());
                prop_assert_eq!(envelope.len(), plaintext.len() + overhead);
                let opened = open(&ring, &session, &topic, &envelope).expect("authentic");
                prop_assert_eq!(opened.plaintext, plaintext);
                prop_assert_eq!(opened.key_id, Some(id(&key_id)));
                let other_topic = format!("{topic}/x");
                let moved = open(&ring, &session, &other_topic, &envelope);
                prop_assert_eq!(moved, Err(OpenError::BadTag));
            }
        }
    }
}
