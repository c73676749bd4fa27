//! Tests of `envelope`.

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
