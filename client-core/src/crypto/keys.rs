//! Keys, key ids, keyrings and the per-topic key store.
//!
//! A [`Key`] is the 32-byte secret shared by the members of a session or a private channel.
//! The keys that actually encrypt and authenticate envelopes are derived from it once, with
//! HKDF-SHA256, when the key is created, and cached inside it.

use core::fmt;

use aes::cipher::KeyInit;
use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::topic::{Topic, TopicFilter};

/// Length in bytes of a [`Key`].
pub const KEY_BYTES: usize = 32;

/// The longest key id, in UTF-8 bytes (the envelope stores its length in one byte).
pub const MAX_KEY_ID_BYTES: usize = 32;

/// The PBKDF2-HMAC-SHA256 iteration count recommended for passphrases (OWASP, 2023).
pub const PBKDF2_DEFAULT_ITERATIONS: u32 = 600_000;

/// The fewest PBKDF2 iterations [`Key::derive_from_passphrase`] accepts.
pub const PBKDF2_MIN_ITERATIONS: u32 = 10_000;

/// HKDF salt for the envelope subkeys.
const HKDF_SALT: &[u8] = b"fastport/v1";
/// HKDF info of the AES-256-CBC encryption key.
const HKDF_INFO_ENC: &[u8] = b"fastport/v1 enc";
/// HKDF info of the HMAC-SHA256 key.
const HKDF_INFO_MAC: &[u8] = b"fastport/v1 mac";
/// Prefix of the PBKDF2 salt; the caller's context follows it.
const PBKDF2_SALT_PREFIX: &[u8] = b"fastport/v1 pbkdf2 ";
/// Prefix hashed with the key to make its fingerprint.
const FINGERPRINT_PREFIX: &[u8] = b"fastport/v1 fingerprint";

/// Why a key, a key id or a sealed envelope could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The operating system's (or the browser's) random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// Key material was not 32 bytes long; holds the length given.
    #[error("a key must be 32 bytes, got {0}")]
    InvalidKeyLength(usize),
    /// A key given as text was not base64 (standard or URL-safe alphabet).
    #[error("key is not valid base64")]
    InvalidBase64,
    /// A key id was longer than [`MAX_KEY_ID_BYTES`]; holds its length in bytes.
    #[error("key id is {0} bytes long, at most 32 are allowed")]
    KeyIdTooLong(usize),
    /// A key id given as bytes was not UTF-8.
    #[error("key id is not valid UTF-8")]
    KeyIdNotUtf8,
    /// [`Key::derive_from_passphrase`] was given an empty passphrase.
    #[error("passphrase is empty")]
    EmptyPassphrase,
    /// [`Key::derive_from_passphrase`] was given fewer than `min` PBKDF2 iterations.
    #[error("{iterations} PBKDF2 iterations are too few, at least {min} are required")]
    TooFewIterations {
        /// The iteration count given.
        iterations: u32,
        /// The fewest accepted ([`PBKDF2_MIN_ITERATIONS`]).
        min: u32,
    },
    /// The session name or the topic was longer than
    /// [`MAX_CONTEXT_BYTES`](super::MAX_CONTEXT_BYTES) bytes and cannot be authenticated;
    /// holds its length.
    #[error("session name or topic is {0} bytes long, at most 65535 are allowed")]
    ContextTooLong(usize),
}

/// Overwrites `bytes` with zeros in a way the compiler cannot elide as dead stores. The
/// expanded AES key schedules are wiped by the `aes` crate's own `zeroize` feature.
pub(crate) fn wipe(bytes: &mut [u8]) {
    zeroize::Zeroize::zeroize(bytes);
}

/// HKDF-SHA256 (RFC 5869) after the extract step with `salt` from `ikm`, ready to expand.
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
}

/// The envelope subkeys of `key`: (AES-256 encryption key, HMAC-SHA256 key).
pub(crate) fn derive_subkeys(key: &[u8; KEY_BYTES]) -> ([u8; 32], [u8; 32]) {
    let hk = hkdf_sha256(HKDF_SALT, key);
    let mut enc = [0u8; 32];
    let mut mac = [0u8; 32];
    // Invariant: HKDF-SHA256 can expand up to 255 * 32 bytes; 32 always fits.
    hk.expand(HKDF_INFO_ENC, &mut enc)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    // Invariant: as above.
    hk.expand(HKDF_INFO_MAC, &mut mac)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    (enc, mac)
}

/// A 32-byte shared secret, with its envelope subkeys derived once and cached.
///
/// `Debug` shows only the [fingerprint](Key::fingerprint), never key bytes, and equality is
/// checked in constant time. The raw key bytes and the AES key schedule are zeroized when the
/// key is dropped (the cached HMAC state is not: the `hmac` crate offers no way to).
#[derive(Clone)]
pub struct Key {
    /// The shared secret K.
    bytes: [u8; KEY_BYTES],
    /// AES-256 with the derived encryption key, key schedule already expanded.
    cipher: Aes256,
    /// HMAC-SHA256 already keyed with the derived MAC key (inner and outer pads absorbed).
    mac: Hmac<Sha256>,
}

impl Key {
    /// A new random key from the operating system's (or the browser's) random source.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if the random source fails.
    pub fn generate() -> Result<Key, CryptoError> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::getrandom(&mut bytes).map_err(|e| CryptoError::Random(e.to_string()))?;
        let key = Key::from_bytes(bytes);
        wipe(&mut bytes);
        Ok(key)
    }

    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Key {
        let (mut enc, mut mac_key) = derive_subkeys(&bytes);
        let cipher = Aes256::new(&enc.into());
        // Invariant: HMAC accepts keys of any length, so this never fails.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key)
            .expect("HMAC-SHA256 accepts a key of any length");
        wipe(&mut enc);
        wipe(&mut mac_key);
        Key { bytes, cipher, mac }
    }

    /// The key with these bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Key, CryptoError> {
        let array: [u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidKeyLength(bytes.len()))?;
        Ok(Key::from_bytes(array))
    }

    /// The key encoded in base64, as [`Key::to_base64`] writes it.
    ///
    /// Accepts the standard and the URL-safe alphabet, with or without `=` padding, and
    /// ignores leading and trailing whitespace (a pasted key often ends in a newline).
    ///
    /// # Errors
    /// [`CryptoError::InvalidBase64`] if `s` is not base64,
    /// [`CryptoError::InvalidKeyLength`] if it does not decode to 32 bytes.
    pub fn from_base64(s: &str) -> Result<Key, CryptoError> {
        const LENIENT: GeneralPurposeConfig =
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
        const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

        let s = s.trim();
        // The two alphabets differ only in `+/` versus `-_`; pick by which ones appear.
        let engine = if s.bytes().any(|b| b == b'-' || b == b'_') {
            &URL_SAFE_LENIENT
        } else {
            &STANDARD_LENIENT
        };
        let mut decoded = engine.decode(s).map_err(|_| CryptoError::InvalidBase64)?;
        let key = Key::from_slice(&decoded);
        wipe(&mut decoded);
        key
    }

    /// The key in standard base64 with padding (44 characters). This is the secret itself:
    /// show it only where the user asked to export the key.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// Derives a key from a passphrase with PBKDF2-HMAC-SHA256.
    ///
    /// The salt is `fastport/v1 pbkdf2 ` followed by `context` (for example the session name,
    /// `/` and the room), so one passphrase yields unrelated keys in different places. The
    /// passphrase's UTF-8 bytes are used as they are, without Unicode normalization.
    /// Use [`PBKDF2_DEFAULT_ITERATIONS`] unless all members agreed on another count.
    ///
    /// # Errors
    /// [`CryptoError::EmptyPassphrase`] for an empty passphrase,
    /// [`CryptoError::TooFewIterations`] for fewer than [`PBKDF2_MIN_ITERATIONS`].
    pub fn derive_from_passphrase(
        passphrase: &str,
        context: &str,
        iterations: u32,
    ) -> Result<Key, CryptoError> {
        if passphrase.is_empty() {
            return Err(CryptoError::EmptyPassphrase);
        }
        if iterations < PBKDF2_MIN_ITERATIONS {
            return Err(CryptoError::TooFewIterations {
                iterations,
                min: PBKDF2_MIN_ITERATIONS,
            });
        }
        let mut salt = Vec::with_capacity(PBKDF2_SALT_PREFIX.len() + context.len());
        salt.extend_from_slice(PBKDF2_SALT_PREFIX);
        salt.extend_from_slice(context.as_bytes());
        let mut bytes = [0u8; KEY_BYTES];
        pbkdf2::pbkdf2_hmac::<Sha256>(passphrase.as_bytes(), &salt, iterations, &mut bytes);
        let key = Key::from_bytes(bytes);
        wipe(&mut bytes);
        Ok(key)
    }

    /// A short public name for the key: the first 8 bytes of
    /// SHA-256(`fastport/v1 fingerprint` ‖ key) as 16 lowercase hex digits.
    ///
    /// Safe to show and log; members compare fingerprints to check they hold the same key.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_PREFIX)
            .chain_update(self.bytes)
            .finalize();
        let mut out = String::with_capacity(16);
        for byte in &digest[..8] {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
        out
    }

    /// The expanded AES-256 cipher for the derived encryption key.
    pub(crate) fn cipher(&self) -> &Aes256 {
        &self.cipher
    }

    /// HMAC-SHA256 keyed with the derived MAC key, ready to be cloned and fed.
    pub(crate) fn mac(&self) -> &Hmac<Sha256> {
        &self.mac
    }
}

/// The lowercase hex digit of a nibble (0..=15).
fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

impl Drop for Key {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

impl PartialEq for Key {
    /// Constant-time comparison of the key bytes.
    fn eq(&self, other: &Key) -> bool {
        self.bytes.ct_eq(&other.bytes).into()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// The public name of a key, carried in every encrypted envelope so receivers know which key
/// of their [`Keyring`] opens it: 0 to [`MAX_KEY_ID_BYTES`] bytes of UTF-8. The default is
/// the empty id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyId(String);

impl KeyId {
    /// A key id.
    ///
    /// # Errors
    /// [`CryptoError::KeyIdTooLong`] if `id` is longer than [`MAX_KEY_ID_BYTES`] bytes.
    pub fn new(id: impl Into<String>) -> Result<KeyId, CryptoError> {
        let id = id.into();
        if id.len() > MAX_KEY_ID_BYTES {
            return Err(CryptoError::KeyIdTooLong(id.len()));
        }
        Ok(KeyId(id))
    }

    /// A key id from raw bytes, as found in an envelope.
    ///
    /// # Errors
    /// [`CryptoError::KeyIdTooLong`] if longer than [`MAX_KEY_ID_BYTES`] bytes,
    /// [`CryptoError::KeyIdNotUtf8`] if not UTF-8.
    pub fn from_utf8(bytes: &[u8]) -> Result<KeyId, CryptoError> {
        if bytes.len() > MAX_KEY_ID_BYTES {
            return Err(CryptoError::KeyIdTooLong(bytes.len()));
        }
        let id = core::str::from_utf8(bytes).map_err(|_| CryptoError::KeyIdNotUtf8)?;
        Ok(KeyId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys of one session or channel, by id, in the order they were added.
///
/// The newest key seals; every key opens envelopes that name its id. Rotation: add the new
/// key (it seals from then on), and remove the old one once no envelope sealed with it is
/// expected any more. A keyring is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    /// The newest key, which seals.
    newest: (KeyId, Key),
    /// The other keys, oldest first; their ids differ from each other and from `newest`'s.
    older: Vec<(KeyId, Key)>,
}

impl Keyring {
    /// A keyring holding one key.
    pub fn new(id: KeyId, key: Key) -> Keyring {
        Keyring {
            newest: (id, key),
            older: Vec::new(),
        }
    }

    /// Adds a key that seals from now on. A key with the same id is replaced.
    pub fn add(&mut self, id: KeyId, key: Key) {
        if self.newest.0 == id {
            self.newest.1 = key;
            return;
        }
        self.older.retain(|(existing, _)| *existing != id);
        let previous = core::mem::replace(&mut self.newest, (id, key));
        self.older.push(previous);
    }

    /// Removes the key with this id; returns whether one was removed.
    ///
    /// The last key cannot be removed (a keyring is never empty): that returns `false`.
    /// Removing the newest key makes the next newest seal.
    pub fn remove(&mut self, id: &KeyId) -> bool {
        if self.newest.0 == *id {
            return match self.older.pop() {
                Some(next) => {
                    self.newest = next;
                    true
                }
                None => false,
            };
        }
        let before = self.older.len();
        self.older.retain(|(existing, _)| existing != id);
        self.older.len() != before
    }

    /// The key that seals, the newest, with its id.
    pub fn sealing(&self) -> (&KeyId, &Key) {
        (&self.newest.0, &self.newest.1)
    }

    /// The key with this id, if the keyring holds it.
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.get_entry(id).map(|(_, key)| key)
    }

    /// The key with this id and its id, if the keyring holds it.
    pub(crate) fn get_entry(&self, id: &str) -> Option<(&KeyId, &Key)> {
        self.iter()
            .rev()
            .find(|(existing, _)| existing.as_str() == id)
    }

    /// How many keys the keyring holds (at least one).
    #[expect(clippy::len_without_is_empty, reason = "a keyring is never empty")]
    pub fn len(&self) -> usize {
        self.older.len() + 1
    }

    /// The keys with their ids, oldest first (the last one seals).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&KeyId, &Key)> + '_ {
        self.older
            .iter()
            .chain(core::iter::once(&self.newest))
            .map(|(id, key)| (id, key))
    }
}

/// The keyrings of a client: a default one plus one per topic filter for private channels.
///
/// [`KeyStore::keyring_for`] picks the keyring of the most specific filter matching a topic,
/// and the default keyring when none matches. The default store is empty.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    /// The keyring for topics that no filter claims.
    default: Option<Keyring>,
    /// Per-filter keyrings, oldest first; filters unique.
    filters: Vec<(TopicFilter, Keyring)>,
}

impl KeyStore {
    /// An empty key store.
    pub fn new() -> Self {
        KeyStore::default()
    }

    /// Sets the keyring for topics that no filter claims.
    pub fn set_default(&mut self, ring: Keyring) {
        self.default = Some(ring);
    }

    /// The keyring for topics that no filter claims, if set.
    pub fn default_keyring(&self) -> Option<&Keyring> {
        self.default.as_ref()
    }

    /// Sets the keyring for topics matching `filter`, replacing the one set for the same
    /// filter before; it then counts as the last added.
    pub fn set_for_filter(&mut self, filter: TopicFilter, ring: Keyring) {
        self.filters
            .retain(|(existing, _)| existing.as_str() != filter.as_str());
        self.filters.push((filter, ring));
    }

    /// Removes the keyring set for exactly this filter; returns whether there was one.
    pub fn remove_for_filter(&mut self, filter: &TopicFilter) -> bool {
        let before = self.filters.len();
        self.filters
            .retain(|(existing, _)| existing.as_str() != filter.as_str());
        self.filters.len() != before
    }

    /// The keyring for `topic`: that of the most specific matching filter (by
    /// [`TopicFilter::specificity`]; among equally specific ones the last added), else the
    /// default keyring, else `None`.
    pub fn keyring_for(&self, topic: &Topic) -> Option<&Keyring> {
        let mut best: Option<((usize, bool, usize), &Keyring)> = None;
        for (filter, ring) in &self.filters {
            if !filter.matches(topic) {
                continue;
            }
            let specificity = filter.specificity();
            // `>=`: a later filter wins a tie.
            if best
                .as_ref()
                .is_none_or(|(current, _)| specificity >= *current)
            {
                best = Some((specificity, ring));
            }
        }
        best.map(|(_, ring)| ring).or(self.default.as_ref())
    }

    /// Whether the store holds no keyring at all.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.filters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    use crate::crypto::test_vectors::{load, unhex};

    fn id(s: &str) -> KeyId {
        KeyId::new(s).expect("test key ids are at most 32 bytes")
    }

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; KEY_BYTES])
    }

    fn topic(s: &str) -> Topic {
        Topic::new(s).expect("test topics are valid")
    }

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s).expect("test filters are valid")
    }

    #[test]
    fn hkdf_matches_rfc5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut okm = [0u8; 42];
        hkdf_sha256(&salt, &ikm)
            .expand(&info, &mut okm)
            .expect("42 bytes is a valid length");
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn derived_subkeys_fingerprints_and_base64_match_the_python_vectors() {
        let file = load();
        assert_eq!(file.version, 1);
        assert!(!file.keys.is_empty());
        for v in &file.keys {
            let bytes: [u8; KEY_BYTES] = unhex(&v.key_hex)
                .try_into()
                .expect("vector keys are 32 bytes");
            let (enc, mac) = derive_subkeys(&bytes);
            assert_eq!(hex::encode(enc), v.enc_key_hex);
            assert_eq!(hex::encode(mac), v.mac_key_hex);
            let key = Key::from_bytes(bytes);
            assert_eq!(key.fingerprint(), v.fingerprint);
            assert_eq!(key.to_base64(), v.base64);
            assert_eq!(Key::from_base64(&v.base64), Ok(key));
        }
    }

    #[test]
    fn passphrase_derivation_matches_python_pbkdf2() {
        let file = load();
        assert!(!file.passphrases.is_empty());
        for v in &file.passphrases {
            let key = Key::derive_from_passphrase(&v.passphrase, &v.context, v.iterations)
                .expect("vector passphrases are valid");
            assert_eq!(
                key,
                Key::from_slice(&unhex(&v.key_hex)).expect("32-byte vector key")
            );
            assert_eq!(key.fingerprint(), v.fingerprint);
        }
    }

    #[test]
    fn the_same_passphrase_yields_different_keys_in_different_contexts() {
        let a = Key::derive_from_passphrase("hunter2 hunter2", "s/a", PBKDF2_MIN_ITERATIONS);
        let b = Key::derive_from_passphrase("hunter2 hunter2", "s/b", PBKDF2_MIN_ITERATIONS);
        let a2 = Key::derive_from_passphrase("hunter2 hunter2", "s/a", PBKDF2_MIN_ITERATIONS);
        assert_ne!(a, b);
        assert_eq!(a, a2);
    }

    #[test]
    fn an_empty_passphrase_is_rejected() {
        assert_eq!(
            Key::derive_from_passphrase("", "ctx", PBKDF2_DEFAULT_ITERATIONS),
            Err(CryptoError::EmptyPassphrase)
        );
    }

    #[test]
    fn fewer_than_ten_thousand_iterations_are_rejected() {
        assert_eq!(
            Key::derive_from_passphrase("pass", "ctx", 9_999),
            Err(CryptoError::TooFewIterations {
                iterations: 9_999,
                min: 10_000
            })
        );
        assert_eq!(
            Key::derive_from_passphrase("pass", "ctx", 0),
            Err(CryptoError::TooFewIterations {
                iterations: 0,
                min: 10_000
            })
        );
    }

    #[test]
    fn a_key_survives_a_base64_export_and_import() {
        let key = Key::generate().expect("the test machine has a random source");
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert!(text.ends_with('='));
        assert_eq!(Key::from_base64(&text), Ok(key));
    }

    #[test]
    fn base64_import_accepts_missing_padding_url_safe_alphabet_and_whitespace() {
        let key = Key::from_bytes([0xfb; KEY_BYTES]); // encodes with '+' and '/'
        let standard = key.to_base64();
        assert!(standard.contains('+') || standard.contains('/'));
        let unpadded = standard.trim_end_matches('=');
        let url_safe = standard.replace('+', "-").replace('/', "_");
        let url_unpadded = url_safe.trim_end_matches('=');
        for text in [
            unpadded,
            &url_safe,
            url_unpadded,
            &format!("  {standard}\n"),
        ] {
            assert_eq!(Key::from_base64(text).as_ref(), Ok(&key), "{text:?}");
        }
    }

    #[test]
    fn base64_import_rejects_garbage_and_wrong_lengths() {
        assert_eq!(
            Key::from_base64("not base64!"),
            Err(CryptoError::InvalidBase64)
        );
        assert_eq!(
            Key::from_base64("+/-_AAAA"),
            Err(CryptoError::InvalidBase64)
        );
        assert_eq!(Key::from_base64(""), Err(CryptoError::InvalidKeyLength(0)));
        assert_eq!(
            Key::from_base64("AAAAAAAAAAAAAAAAAAAAAA=="),
            Err(CryptoError::InvalidKeyLength(16))
        );
        let long = STANDARD.encode([7u8; 33]);
        assert_eq!(
            Key::from_base64(&long),
            Err(CryptoError::InvalidKeyLength(33))
        );
    }

    #[test]
    fn from_slice_requires_exactly_32_bytes() {
        assert_eq!(
            Key::from_slice(&[1; 31]),
            Err(CryptoError::InvalidKeyLength(31))
        );
        assert_eq!(
            Key::from_slice(&[1; 33]),
            Err(CryptoError::InvalidKeyLength(33))
        );
        assert_eq!(Key::from_slice(&[1; 32]), Ok(key(1)));
    }

    #[test]
    fn generated_keys_differ() {
        let a = Key::generate().expect("the test machine has a random source");
        let b = Key::generate().expect("the test machine has a random source");
        assert_ne!(a, b);
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn keys_are_equal_exactly_when_their_bytes_are() {
        assert_eq!(key(3), key(3));
        assert_ne!(key(3), key(4));
        let mut bytes = [3; KEY_BYTES];
        bytes[31] = 4;
        assert_ne!(key(3), Key::from_bytes(bytes));
    }

    #[test]
    fn debug_output_shows_the_fingerprint_and_never_the_key() {
        let key = Key::from_bytes([0xab; KEY_BYTES]);
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("Key {{ fingerprint: {:?} }}", key.fingerprint())
        );
        assert!(!debug.contains("abab"));
        assert!(!debug.contains(&key.to_base64()));
        let ring_debug = format!("{:?}", Keyring::new(id("k"), key));
        assert!(!ring_debug.contains("abab") && !ring_debug.contains("171"));
    }

    #[test]
    fn fingerprints_are_16_lowercase_hex_digits() {
        let fingerprint = key(9).fingerprint();
        assert_eq!(fingerprint.len(), 16);
        assert!(fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn key_ids_of_up_to_32_bytes_are_accepted_and_longer_ones_rejected() {
        assert_eq!(KeyId::default().as_str(), "");
        assert_eq!(id("").as_str(), "");
        assert_eq!(KeyId::new("x".repeat(32)).map(|k| k.as_str().len()), Ok(32));
        assert_eq!(
            KeyId::new("x".repeat(33)),
            Err(CryptoError::KeyIdTooLong(33))
        );
        // Bytes, not characters, count: 11 × 'é' is 22 bytes, 17 × 'é' is 34.
        assert!(KeyId::new("é".repeat(11)).is_ok());
        assert_eq!(
            KeyId::new("é".repeat(17)),
            Err(CryptoError::KeyIdTooLong(34))
        );
    }

    #[test]
    fn key_ids_from_bytes_must_be_utf8_and_short() {
        assert_eq!(KeyId::from_utf8(b"k1"), Ok(id("k1")));
        assert_eq!(
            KeyId::from_utf8(&[0xff, 0xfe]),
            Err(CryptoError::KeyIdNotUtf8)
        );
        assert_eq!(
            KeyId::from_utf8(&[b'a'; 33]),
            Err(CryptoError::KeyIdTooLong(33))
        );
        assert_eq!(id("k1").to_string(), "k1");
    }

    #[test]
    fn a_new_keyring_seals_with_its_only_key() {
        let ring = Keyring::new(id("a"), key(1));
        assert_eq!(ring.sealing(), (&id("a"), &key(1)));
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.get("a"), Some(&key(1)));
        assert_eq!(ring.get("b"), None);
    }

    #[test]
    fn the_newest_key_seals_and_older_keys_stay_available() {
        let mut ring = Keyring::new(id("a"), key(1));
        ring.add(id("b"), key(2));
        ring.add(id("c"), key(3));
        assert_eq!(ring.sealing(), (&id("c"), &key(3)));
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.get("a"), Some(&key(1)));
        assert_eq!(ring.get("b"), Some(&key(2)));
        let order: Vec<&str> = ring.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn adding_an_existing_id_replaces_its_key_and_makes_it_the_newest() {
        let mut ring = Keyring::new(id("a"), key(1));
        ring.add(id("b"), key(2));
        ring.add(id("a"), key(9));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.sealing(), (&id("a"), &key(9)));
        ring.add(id("a"), key(8));
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.sealing(), (&id("a"), &key(8)));
        assert_eq!(ring.get("b"), Some(&key(2)));
    }

    #[test]
    fn the_last_key_of_a_keyring_cannot_be_removed() {
        let mut ring = Keyring::new(id("a"), key(1));
        assert!(!ring.remove(&id("a")));
        assert_eq!(ring.sealing(), (&id("a"), &key(1)));
    }

    #[test]
    fn removing_the_newest_key_makes_the_previous_one_seal() {
        let mut ring = Keyring::new(id("a"), key(1));
        ring.add(id("b"), key(2));
        assert!(ring.remove(&id("b")));
        assert_eq!(ring.sealing(), (&id("a"), &key(1)));
        assert_eq!(ring.get("b"), None);
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn removing_an_older_key_keeps_the_sealing_key() {
        let mut ring = Keyring::new(id("a"), key(1));
        ring.add(id("b"), key(2));
        assert!(ring.remove(&id("a")));
        assert!(!ring.remove(&id("a")));
        assert!(!ring.remove(&id("zzz")));
        assert_eq!(ring.sealing(), (&id("b"), &key(2)));
        assert_eq!(ring.get("a"), None);
    }

    #[test]
    fn an_empty_key_store_has_no_keyring_for_any_topic() {
        let store = KeyStore::new();
        assert!(store.is_empty());
        assert!(store.keyring_for(&topic("a/b")).is_none());
        assert!(store.default_keyring().is_none());
    }

    #[test]
    fn the_default_keyring_serves_topics_that_no_filter_matches() {
        let mut store = KeyStore::new();
        store.set_default(Keyring::new(id("d"), key(1)));
        store.set_for_filter(filter("private/#"), Keyring::new(id("p"), key(2)));
        assert!(!store.is_empty());
        let ring = store
            .keyring_for(&topic("public/news"))
            .expect("the default applies");
        assert_eq!(ring.sealing().0, &id("d"));
        let ring = store
            .keyring_for(&topic("private/x"))
            .expect("the filter matches");
        assert_eq!(ring.sealing().0, &id("p"));
    }

    #[test]
    fn the_most_specific_matching_filter_wins_whatever_the_insertion_order() {
        let filters = ["#", "rooms/#", "rooms/+", "rooms/lobby"];
        for rotation in 0..filters.len() {
            let mut store = KeyStore::new();
            for i in 0..filters.len() {
                let f = filters[(i + rotation) % filters.len()];
                store.set_for_filter(filter(f), Keyring::new(id(f), key(0)));
            }
            let pick = |t: &str| {
                store
                    .keyring_for(&topic(t))
                    .map(|ring| ring.sealing().0.as_str().to_owned())
            };
            assert_eq!(pick("rooms/lobby").as_deref(), Some("rooms/lobby"));
            assert_eq!(pick("rooms/kitchen").as_deref(), Some("rooms/+"));
            assert_eq!(pick("rooms/kitchen/sink").as_deref(), Some("rooms/#"));
            assert_eq!(pick("other").as_deref(), Some("#"));
        }
    }

    #[test]
    fn among_equally_specific_filters_the_last_added_wins() {
        let (a, b) = (filter("rooms/+"), filter("+/lobby"));
        assert_eq!(a.specificity(), b.specificity(), "precondition: a tie");
        let mut store = KeyStore::new();
        store.set_for_filter(a.clone(), Keyring::new(id("a"), key(1)));
        store.set_for_filter(b.clone(), Keyring::new(id("b"), key(2)));
        let winner = |store: &KeyStore| {
            store
                .keyring_for(&topic("rooms/lobby"))
                .map(|r| r.sealing().0.as_str().to_owned())
        };
        assert_eq!(winner(&store).as_deref(), Some("b"));
        // Setting `a` again makes it the last added.
        store.set_for_filter(a, Keyring::new(id("a2"), key(3)));
        assert_eq!(winner(&store).as_deref(), Some("a2"));
    }

    #[test]
    fn removing_a_filter_falls_back_to_the_default() {
        let mut store = KeyStore::new();
        store.set_default(Keyring::new(id("d"), key(1)));
        store.set_for_filter(filter("secret/+"), Keyring::new(id("s"), key(2)));
        assert!(store.remove_for_filter(&filter("secret/+")));
        assert!(!store.remove_for_filter(&filter("secret/+")));
        let ring = store
            .keyring_for(&topic("secret/x"))
            .expect("the default applies");
        assert_eq!(ring.sealing().0, &id("d"));
    }

    #[test]
    fn crypto_errors_display_without_secrets() {
        assert_eq!(
            CryptoError::InvalidKeyLength(5).to_string(),
            "a key must be 32 bytes, got 5"
        );
        assert_eq!(
            CryptoError::TooFewIterations {
                iterations: 1,
                min: 10_000
            }
            .to_string(),
            "1 PBKDF2 iterations are too few, at least 10000 are required"
        );
    }
}
