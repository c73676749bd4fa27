//! End-to-end payload encryption: keys, keyrings and the envelope format v1.
//!
//! Publishers [`seal`] a payload with the newest key of the [`Keyring`] that the [`KeyStore`]
//! picks for the topic; subscribers [`open`] it with any key of that keyring, named by the
//! key id in the envelope. The broker only ever sees envelopes. The format, the key
//! derivation and what stays visible to the server are described in `docs/CRYPTO.md`.
//!
//! ```
//! use fastport_client_core::crypto::{open, seal, Key, KeyId, Keyring};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ring = Keyring::new(KeyId::new("2024-06")?, Key::generate()?);
//! let envelope = seal(&ring, "acme", "rooms/lobby", b"hello")?;
//! let opened = open(&ring, "acme", "rooms/lobby", &envelope)?;
//! assert_eq!(opened.plaintext, b"hello");
//! assert!(open(&ring, "acme", "rooms/other", &envelope).is_err());
//! # Ok(())
//! # }
//! ```

mod base64;
mod envelope;
mod keys;
#[cfg(test)]
mod test_vectors;

pub use envelope::{
    envelope_overhead, open, seal, seal_plaintext, seal_with_iv, OpenError, Opened,
    ENVELOPE_VERSION, FLAG_ENCRYPTED, IV_BYTES, MAX_CONTEXT_BYTES, TAG_BYTES,
};
pub use keys::{
    CryptoError, Key, KeyId, KeyStore, Keyring, KEY_BYTES, MAX_KEY_ID_BYTES,
    PBKDF2_DEFAULT_ITERATIONS, PBKDF2_MIN_ITERATIONS,
};

use sha2::{Digest, Sha256};

/// The SHA-256 digest of `data`. A plain hash, not a MAC and not a key derivation: use it for
/// content addressing or deduplication, never to protect secrets.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Fills `buf` from the system's secure random source (the browser's
/// `crypto.getRandomValues` in WebAssembly builds).
fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::getrandom(buf).map_err(|e| CryptoError::Random(e.code().get()))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn sha256_matches_the_fips_180_2_known_answers() {
        assert_eq!(
            sha256(b"abc"),
            [
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
                0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
                0xf2, 0x00, 0x15, 0xad,
            ]
        );
        assert_eq!(
            hex::encode(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_key_store_keyring_seals_for_a_topic_and_opens_it() {
        let mut store = KeyStore::new();
        let private = Keyring::new(KeyId::default(), Key::from_bytes([5; KEY_BYTES]));
        let filter = crate::topic::TopicFilter::new("dm/alice/+").expect("valid filter");
        store.set_for_filter(filter, private);
        let topic = crate::topic::Topic::new("dm/alice/bob").expect("valid topic");
        let ring = store.keyring_for(&topic).expect("the filter matches");
        let envelope = seal(ring, "acme", topic.as_str(), b"hi").expect("short context");
        let opened = open(ring, "acme", topic.as_str(), &envelope).expect("authentic");
        assert_eq!(opened.plaintext, b"hi");
        assert_eq!(opened.key_id, Some(KeyId::default()));
    }
}
