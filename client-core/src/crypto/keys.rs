//! Keys, key ids, keyrings and the per-topic key store.
//!
//! A [`Key`] is the 32-byte secret shared by the members of a session or a private channel.
//! The keys that actually encrypt and authenticate envelopes are derived from it once, with
//! HKDF-SHA256, when the key is created, and cached inside it.

use core::fmt;

use aes::cipher::KeyInit;
use aes::Aes256;
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
    /// Holds getrandom's code: an OS `errno` below 2^31, getrandom's own codes above.
    #[error("random number generator failed (getrandom code {0})")]
    Random(u32),
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
        super::random_bytes(&mut bytes)?;
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
        let mut decoded = super::base64::decode(s.trim()).ok_or(CryptoError::InvalidBase64)?;
        let key = Key::from_slice(&decoded);
        wipe(&mut decoded);
        key
    }

    /// The key in standard base64 with padding (44 characters). This is the secret itself:
    /// show it only where the user asked to export the key.
    pub fn to_base64(&self) -> String {
        super::base64::encode(&self.bytes)
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
        Key::check_passphrase(passphrase, iterations)?;
        let salt = Key::passphrase_salt(context);
        let mut bytes = [0u8; KEY_BYTES];
        pbkdf2::pbkdf2_hmac::<Sha256>(passphrase.as_bytes(), &salt, iterations, &mut bytes);
        let key = Key::from_bytes(bytes);
        wipe(&mut bytes);
        Ok(key)
    }

    /// The checks [`Key::derive_from_passphrase`] makes, for drivers that run PBKDF2
    /// elsewhere (the browser's WebCrypto): an empty passphrase or too few iterations.
    pub fn check_passphrase(passphrase: &str, iterations: u32) -> Result<(), CryptoError> {
        if passphrase.is_empty() {
            return Err(CryptoError::EmptyPassphrase);
        }
        if iterations < PBKDF2_MIN_ITERATIONS {
            return Err(CryptoError::TooFewIterations {
                iterations,
                min: PBKDF2_MIN_ITERATIONS,
            });
        }
        Ok(())
    }

    /// The PBKDF2 salt [`Key::derive_from_passphrase`] uses for `context`:
    /// `fastport/v1 pbkdf2 ` followed by the context.
    pub fn passphrase_salt(context: &str) -> Vec<u8> {
        let mut salt = Vec::with_capacity(PBKDF2_SALT_PREFIX.len() + context.len());
        salt.extend_from_slice(PBKDF2_SALT_PREFIX);
        salt.extend_from_slice(context.as_bytes());
        salt
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
mod tests;
