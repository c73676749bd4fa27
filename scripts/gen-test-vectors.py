#!/usr/bin/env python3
"""Generate docs/test-vectors/envelope-v1.json for the fastPort envelope format v1.

This is a second, independent implementation of the format (see docs/CRYPTO.md), written
from the specification with the Python standard library (hashlib, hmac) and the
`cryptography` package for AES-256-CBC only. The Rust crate's tests check that they
reproduce every envelope byte for byte and reject every "reject" entry, so a mistake in
either implementation shows up as a mismatch.

Usage:  pip install cryptography && python3 scripts/gen-test-vectors.py
The output is deterministic: running it again rewrites the same file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

VERSION = 0x01
FLAG_ENCRYPTED = 0x01
MAX_KEY_ID_BYTES = 32
IV_BYTES = 16
TAG_BYTES = 32
BLOCK = 16
PBKDF2_SALT_PREFIX = b"fastport/v1 pbkdf2 "
FINGERPRINT_PREFIX = b"fastport/v1 fingerprint"

OUT = Path(__file__).resolve().parent.parent / "docs" / "test-vectors" / "envelope-v1.json"


# --- primitives, from the RFCs -------------------------------------------------------------


def hkdf_sha256(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def subkeys(key: bytes) -> tuple[bytes, bytes]:
    """(encryption key, MAC key) derived from the shared 32-byte key."""
    assert len(key) == 32
    enc = hkdf_sha256(b"fastport/v1", key, b"fastport/v1 enc", 32)
    mac = hkdf_sha256(b"fastport/v1", key, b"fastport/v1 mac", 32)
    return enc, mac


def pkcs7_pad(data: bytes) -> bytes:
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes) -> bytes | None:
    if not data or len(data) % BLOCK:
        return None
    n = data[-1]
    if n < 1 or n > BLOCK or data[-n:] != bytes([n]) * n:
        return None
    return data[:-n]


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def mac_input(session: str, topic: str, authenticated: bytes) -> bytes:
    s, t = session.encode(), topic.encode()
    return (
        b"fastport/v1"
        + struct.pack(">H", len(s))
        + s
        + struct.pack(">H", len(t))
        + t
        + authenticated
    )


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(FINGERPRINT_PREFIX + key).digest()[:8].hex()


# --- the envelope --------------------------------------------------------------------------


def seal_body(key: bytes, key_id: str, session: str, topic: str, iv: bytes, body: bytes) -> bytes:
    """Encrypt `body` (already padded) and authenticate the envelope."""
    enc, mac = subkeys(key)
    kid = key_id.encode()
    assert len(kid) <= MAX_KEY_ID_BYTES and len(iv) == IV_BYTES
    head = bytes([VERSION, FLAG_ENCRYPTED, len(kid)]) + kid + iv + aes_cbc_encrypt(enc, iv, body)
    return head + hmac.new(mac, mac_input(session, topic, head), hashlib.sha256).digest()


def seal(key: bytes, key_id: str, session: str, topic: str, iv: bytes, plaintext: bytes) -> bytes:
    return seal_body(key, key_id, session, topic, iv, pkcs7_pad(plaintext))


def seal_plaintext(payload: bytes) -> bytes:
    return bytes([VERSION, 0x00]) + payload


def open_envelope(ring: dict[str, bytes], session: str, topic: str, env: bytes):
    """Returns (plaintext, key_id or None) or raises ValueError(step)."""
    if len(env) < 2:
        raise ValueError("truncated")
    if env[0] != VERSION:
        raise ValueError("unsupported_version")
    flags = env[1]
    if flags & ~FLAG_ENCRYPTED & 0xFF:
        raise ValueError("invalid_flags")
    if not flags & FLAG_ENCRYPTED:
        return env[2:], None
    if len(env) < 3:
        raise ValueError("truncated")
    kid_len = env[2]
    if kid_len > MAX_KEY_ID_BYTES:
        raise ValueError("invalid_key_id")
    ct_len = len(env) - 3 - kid_len - IV_BYTES - TAG_BYTES
    if ct_len < BLOCK or ct_len % BLOCK:
        raise ValueError("truncated")
    try:
        kid = env[3 : 3 + kid_len].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("invalid_key_id") from None
    if kid not in ring:
        raise ValueError("unknown_key_id")
    enc, mac = subkeys(ring[kid])
    iv = env[3 + kid_len : 3 + kid_len + IV_BYTES]
    ct = env[3 + kid_len + IV_BYTES : -TAG_BYTES]
    expected = hmac.new(mac, mac_input(session, topic, env[:-TAG_BYTES]), hashlib.sha256)
    if not hmac.compare_digest(expected.digest(), env[-TAG_BYTES:]):
        raise ValueError("bad_tag")
    plaintext = pkcs7_unpad(aes_cbc_decrypt(enc, iv, ct))
    if plaintext is None:
        raise ValueError("bad_padding")
    return plaintext, kid


# --- the vectors ---------------------------------------------------------------------------

KEY_A = bytes(range(32))
KEY_B = hashlib.sha256(b"fastport test key B").digest()
KEY_C = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
IV_1 = bytes(range(16))
IV_2 = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
IV_3 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")[::-1]

SESSION = "acme"
TOPIC = "rooms/lobby"


def accept(name, key, key_id, session, topic, iv, plaintext):
    env = seal(key, key_id, session, topic, iv, plaintext)
    return {
        "name": name,
        "expect": "open",
        "encrypted": True,
        "key_hex": key.hex(),
        "key_id": key_id,
        "session": session,
        "topic": topic,
        "iv_hex": iv.hex(),
        "plaintext_hex": plaintext.hex(),
        "envelope_hex": env.hex(),
    }


def accept_plaintext(name, key, key_id, session, topic, payload):
    return {
        "name": name,
        "expect": "open",
        "encrypted": False,
        "key_hex": key.hex(),
        "key_id": key_id,
        "session": session,
        "topic": topic,
        "iv_hex": None,
        "plaintext_hex": payload.hex(),
        "envelope_hex": seal_plaintext(payload).hex(),
    }


def reject(name, reason, error, key, key_id, session, topic, env):
    return {
        "name": name,
        "expect": "reject",
        "reason": reason,
        "error": error,
        "key_hex": key.hex(),
        "key_id": key_id,
        "session": session,
        "topic": topic,
        "envelope_hex": env.hex(),
    }


def flip(env: bytes, index: int, mask: int = 0x01) -> bytes:
    b = bytearray(env)
    b[index] ^= mask
    return bytes(b)


def build():
    vectors = [
        accept("empty plaintext", KEY_A, "k1", SESSION, TOPIC, IV_1, b""),
        accept("short plaintext", KEY_A, "k1", SESSION, TOPIC, IV_1, b"hello"),
        accept("15 bytes", KEY_A, "k1", SESSION, TOPIC, IV_2, b"fifteen bytes!!"),
        accept("exactly one block", KEY_A, "k1", SESSION, TOPIC, IV_2, b"0123456789abcdef"),
        accept("17 bytes", KEY_A, "k1", SESSION, TOPIC, IV_3, b"0123456789abcdefg"),
        accept(
            "multi-block",
            KEY_B,
            "2024-06",
            SESSION,
            "sensors/kitchen/temperature",
            IV_3,
            bytes((i * 7 + 3) % 256 for i in range(100)),
        ),
        accept(
            "non-ASCII UTF-8 plaintext",
            KEY_A,
            "k1",
            SESSION,
            TOPIC,
            IV_1,
            "Grüße aus Köln — 東京 🚀".encode(),
        ),
        accept("empty key id", KEY_C, "", SESSION, TOPIC, IV_2, b"no key id"),
        accept(
            "32-byte key id",
            KEY_B,
            "abcdefghijklmnopqrstuvwxyz012345",
            SESSION,
            TOPIC,
            IV_1,
            b"longest key id",
        ),
        accept(
            "non-ASCII key id, session and topic",
            KEY_C,
            "ключ-2024",
            "café",
            "räume/küche/💡",
            IV_3,
            b"lengths are counted in UTF-8 bytes",
        ),
        accept("empty session and topic", KEY_A, "k1", "", "", IV_1, b"context may be empty"),
        accept_plaintext(
            "plaintext-flag envelope", KEY_A, "k1", SESSION, TOPIC, b"public announcement"
        ),
        accept_plaintext("empty plaintext-flag envelope", KEY_A, "k1", SESSION, TOPIC, b""),
    ]

    base = seal(KEY_A, "k1", SESSION, TOPIC, IV_1, b"attack at dawn")
    # Layout of `base`: 3 header bytes, 2 key id bytes, IV at 5..21, ciphertext 21..37, tag.
    iv_at, ct_at, tag_at = 5, 5 + IV_BYTES, len(base) - TAG_BYTES
    ring = (KEY_A, "k1", SESSION, TOPIC)
    bad_padding = seal_body(KEY_A, "k1", SESSION, TOPIC, IV_1, b"sixteen bytes!!\x00")
    v2 = bytes([0x02]) + base[1:]
    long_id = bytes([VERSION, FLAG_ENCRYPTED, 33]) + b"x" * 33 + base[5:]
    bad_utf8_id = bytes([VERSION, FLAG_ENCRYPTED, 2]) + b"\xff\xfe" + base[5:]
    vectors += [
        reject("tampered IV", "first IV byte flipped", "bad_tag", *ring, flip(base, iv_at)),
        reject("tampered IV end", "last IV byte flipped", "bad_tag", *ring, flip(base, ct_at - 1)),
        reject("tampered ciphertext", "first ciphertext byte flipped", "bad_tag", *ring,
               flip(base, ct_at)),
        reject("tampered tag", "first tag byte flipped", "bad_tag", *ring, flip(base, tag_at)),
        reject("tampered tag end", "last tag byte flipped", "bad_tag", *ring, flip(base, -1)),
        reject(
            "tampered key id",
            "key id changed to another id the receiver holds with the same key",
            "bad_tag",
            KEY_A,
            "k0",
            SESSION,
            TOPIC,
            flip(base, 4),
        ),
        reject("truncated by one byte", "last tag byte missing", "truncated", *ring, base[:-1]),
        reject("truncated tag", "tag cut off entirely", "truncated", *ring, base[:tag_at]),
        reject("truncated to header", "only version and flags", "truncated", *ring, base[:2]),
        reject("empty", "no bytes at all", "truncated", *ring, b""),
        reject(
            "ciphertext not whole blocks",
            "one ciphertext byte removed",
            "truncated",
            *ring,
            base[:ct_at] + base[ct_at + 1 :],
        ),
        reject("wrong topic", "opened on another topic", "bad_tag", KEY_A, "k1", SESSION,
               "rooms/other", base),
        reject("wrong session", "opened in another session", "bad_tag", KEY_A, "k1", "evil",
               TOPIC, base),
        reject(
            "shifted context boundary",
            "sealed for session 'ab', topic 'c'; opened as session 'a', topic 'bc'",
            "bad_tag",
            KEY_A,
            "k1",
            "a",
            "bc",
            seal(KEY_A, "k1", "ab", "c", IV_1, b"length prefixes matter"),
        ),
        reject("wrong key", "receiver holds another key under the same id", "bad_tag", KEY_B,
               "k1", SESSION, TOPIC, base),
        reject("unknown key id", "receiver holds no key with id 'k1'", "unknown_key_id", KEY_A,
               "k2", SESSION, TOPIC, base),
        reject("unsupported version", "version byte 0x02", "unsupported_version", *ring, v2),
        reject("invalid flags", "flag bit 1 set", "invalid_flags", *ring, flip(base, 1, 0x02)),
        reject("key id too long", "key id length 33", "invalid_key_id", *ring, long_id),
        reject("key id not UTF-8", "key id bytes ff fe", "invalid_key_id", KEY_A, "\ufffd\ufffd",
               SESSION, TOPIC, bad_utf8_id),
        reject(
            "bad padding under a valid tag",
            "sealed without PKCS#7 padding (last plaintext byte 0x00) but correctly tagged",
            "bad_padding",
            *ring,
            bad_padding,
        ),
    ]
    return vectors


def check_primitives():
    """The hand-written HKDF against RFC 5869 test case 1, PKCS#7 against its definition."""
    okm = hkdf_sha256(bytes(range(13)), b"\x0b" * 22, bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    assert pkcs7_pad(b"") == b"\x10" * 16 and pkcs7_pad(b"a" * 15) == b"a" * 15 + b"\x01"
    assert pkcs7_unpad(pkcs7_pad(b"abc")) == b"abc" and pkcs7_unpad(b"\x00" * 16) is None


def self_check(vectors):
    """Open every vector with this implementation: accepts must open, rejects must fail."""
    for v in vectors:
        ring = {v["key_id"]: bytes.fromhex(v["key_hex"])}
        env = bytes.fromhex(v["envelope_hex"])
        if v["expect"] == "open":
            plaintext, kid = open_envelope(ring, v["session"], v["topic"], env)
            assert plaintext.hex() == v["plaintext_hex"], v["name"]
            assert kid == (v["key_id"] if v["encrypted"] else None), v["name"]
        else:
            try:
                open_envelope(ring, v["session"], v["topic"], env)
            except ValueError as e:
                assert str(e) == v["error"], (v["name"], str(e))
            else:
                raise AssertionError(f"{v['name']}: opened but must be rejected")


def main():
    check_primitives()
    vectors = build()
    self_check(vectors)
    keys = []
    for key in (KEY_A, KEY_B, KEY_C):
        enc, mac = subkeys(key)
        keys.append(
            {
                "key_hex": key.hex(),
                "base64": base64.b64encode(key).decode(),
                "enc_key_hex": enc.hex(),
                "mac_key_hex": mac.hex(),
                "fingerprint": fingerprint(key),
            }
        )
    passphrases = []
    for passphrase, context, iterations in [
        ("correct horse battery staple", "acme/lobby", 10_000),
        ("correct horse battery staple", "acme/kitchen", 10_000),
        ("pässwörd 🔑", "", 10_000),
        ("correct horse battery staple", "acme/lobby", 12_345),
    ]:
        salt = PBKDF2_SALT_PREFIX + context.encode()
        key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, iterations, 32)
        passphrases.append(
            {
                "passphrase": passphrase,
                "context": context,
                "iterations": iterations,
                "key_hex": key.hex(),
                "fingerprint": fingerprint(key),
            }
        )
    doc = {
        "version": 1,
        "description": (
            "fastPort envelope format v1 test vectors, generated by scripts/gen-test-vectors.py "
            "(an independent Python implementation) and checked by the Rust crate "
            "fastport-client-core. See docs/CRYPTO.md for the format. 'keys': HKDF-SHA256 "
            "subkeys and fingerprints of the keys used below. 'passphrases': PBKDF2-HMAC-SHA256 "
            "keys with salt 'fastport/v1 pbkdf2 ' + context. 'vectors': each names the key "
            "(key_hex) that the receiver holds under key_id, and the session and topic it "
            "opens with; entries with expect 'open' must be reproduced byte for byte by sealing "
            "plaintext_hex with iv_hex (encrypted true) or as a plaintext-flag envelope "
            "(encrypted false), and must open to plaintext_hex; entries with expect 'reject' "
            "must fail to open, at the step named by 'error'."
        ),
        "keys": keys,
        "passphrases": passphrases,
        "vectors": vectors,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
