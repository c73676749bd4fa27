//! Tests of `keys`.

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
    let long = crate::crypto::base64::encode(&[7u8; 33]);
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
