#!/usr/bin/env python3
"""Check docs/test-vectors/frames-v1.json against an independent codec of the wire protocol.

This is a second implementation of the fastPort frame format, written from
docs/PROTOCOL.md alone with the Python standard library. For every vector it decodes the
hex and compares the result with the documented fields, then encodes those fields and
compares the bytes; every "reject" entry must fail to decode with the error kind named in
the file. The Rust crate runs the same file (proto/src/codec/vectors.rs), so a
mistake in either implementation, or in the specification, shows up as a mismatch.

Usage (from the repository root):  python3 scripts/check-protocol.py [path/to/frames-v1.json]
Exits 0 and prints one summary line when everything matches; otherwise prints every
mismatch to stderr and exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_VECTORS = (
    Path(__file__).resolve().parent.parent / "docs" / "test-vectors" / "frames-v1.json"
)

PROTOCOL_VERSION = 0x01
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1


class Reject(Exception):
    """The message is not a valid frame; `kind` is the error name of PROTOCOL.md §2."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


# --- §3 frame types, §4 config tags, enumerations --------------------------------------------

FRAME_TYPES = {
    0x01: "hello",
    0x02: "welcome",
    0x03: "error",
    0x04: "subscribe",
    0x05: "sub_ack",
    0x06: "unsubscribe",
    0x07: "unsub_ack",
    0x08: "publish",
    0x09: "pub_ack",
    0x0A: "deliver",
    0x0B: "deliver_ack",
    0x0C: "deliver_nack",
    0x0D: "receipt",
    0x0E: "presence",
    0x0F: "ping",
    0x10: "pong",
    0x11: "admin",
    0x12: "admin_result",
}
TYPE_BYTES = {name: byte for byte, name in FRAME_TYPES.items()}

# Flag bits per frame, bit number -> name (§3). Every other bit must be zero.
HELLO_FLAGS = {0: "resume", 1: "admin_only", 2: "batch"}
WELCOME_FLAGS = {0: "session_present", 1: "batch"}
BATCH = 0x13
SUBSCRIBE_FLAGS = {0: "presence"}

QOS_VALUES = (0, 1)
NACK_REASONS = {1: "rejected", 2: "no_key", 3: "plaintext"}
RECEIPT_STATUSES = {
    1: "delivered",
    2: "expired",
    3: "retries_exhausted",
    4: "dropped",
    5: "no_subscribers",
}
PRESENCE_KINDS = {0: "snapshot", 1: "join", 2: "leave"}
ADMIN_OPS = {
    1: "create", 2: "drop", 3: "suspend", 4: "resume", 5: "configure", 6: "describe", 7: "rotate",
}
ADMIN_OPS_WITH_CREDENTIALS = {"create", "rotate"}
ADMIN_OPS_WITH_CONFIG = {"create", "configure"}

# tag -> (name, largest value accepted)
CONFIG_TAGS = {
    1: ("retry_interval", U64_MAX),
    2: ("max_retries", U32_MAX),
    3: ("expiry", U64_MAX),
    4: ("max_message_size", U32_MAX),
    5: ("max_connections", U32_MAX),
    6: ("max_subscriptions", U32_MAX),
    7: ("max_pending", U32_MAX),
    8: ("slow_consumer_policy", None),
    9: ("max_cache_bytes", U32_MAX),
}
CONFIG_TAG_OF = {name: tag for tag, (name, _) in CONFIG_TAGS.items()}
SLOW_CONSUMER_POLICIES = {0: "disconnect", 1: "drop_oldest"}


def _name_of(table: dict[int, str], value: int, field: str) -> str:
    if value not in table:
        raise Reject("InvalidValue", f"{field} = {value}")
    return table[value]


def _open_name_of(table: dict[int, str], value: int) -> str | int:
    """An enumeration whose other values are reserved and passed on: the name, or the number."""
    return table.get(value, value)


def _value_of(table: dict[int, str], name: str | int, field: str) -> int:
    if isinstance(name, int) and not isinstance(name, bool):
        if name in table or not 0 <= name <= 0xFF:
            raise ValueError(f"{field} {name} must be given by name or be an unnamed u8")
        return name
    for value, known in table.items():
        if known == name:
            return value
    raise ValueError(f"unknown {field} name {name!r}")


# --- §2 decoding ----------------------------------------------------------------------------


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def u8(self, field: str) -> int:
        if self.remaining() < 1:
            raise Reject("Truncated", field)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self, field: str) -> int:
        if self.remaining() < 2:
            raise Reject("Truncated", field)
        value = int.from_bytes(self.data[self.pos : self.pos + 2], "big")
        self.pos += 2
        return value

    def varint(self, field: str, maximum: int = U64_MAX) -> int:
        value = 0
        for index in range(10):
            byte = self.u8(field)
            if index == 9 and byte > 0x01:
                raise Reject("VarintOverflow", field)
            value |= (byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0:
                if byte == 0 and index > 0:
                    raise Reject("NonCanonicalVarint", field)
                break
        if value > maximum:
            raise Reject("InvalidValue", f"{field} = {value}")
        return value

    def string(self, field: str) -> str:
        length = self.varint(field)
        if length > self.remaining():
            raise Reject("Truncated", field)
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise Reject("InvalidUtf8", field) from None

    def flags(self, field: str, bits: dict[int, str]) -> dict[str, bool]:
        byte = self.u8(field)
        allowed = sum(1 << bit for bit in bits)
        if byte & ~allowed:
            raise Reject("InvalidFlags", f"{field} = 0x{byte:02x}")
        return {name: bool(byte & (1 << bit)) for bit, name in bits.items()}

    def payload(self) -> str:
        rest = self.data[self.pos :]
        self.pos = len(self.data)
        return rest.hex()

    def config(self, field: str) -> dict[str, Any]:
        count = self.varint(f"{field}.count")
        config: dict[str, Any] = {}
        for _ in range(count):
            tag = self.varint(f"{field}.tag")
            if tag not in CONFIG_TAGS:
                self.varint(f"{field}.value")  # §4: unknown tags are skipped
                continue
            name, maximum = CONFIG_TAGS[tag]
            if name == "slow_consumer_policy":
                raw = self.varint(f"{field}.{name}")
                config[name] = _name_of(SLOW_CONSUMER_POLICIES, raw, f"{field}.{name}")
            else:
                config[name] = self.varint(f"{field}.{name}", maximum)
        return config


def decode(data: bytes) -> dict[str, Any]:
    if not data:
        raise Reject("Empty", "no bytes")
    r = Reader(data)
    type_byte = r.u8("type")
    if type_byte not in FRAME_TYPES:
        raise Reject("UnknownFrameType", f"0x{type_byte:02x}")
    kind = FRAME_TYPES[type_byte]
    f: dict[str, Any] = {"type": kind}

    if kind in ("hello", "welcome"):
        version = r.u8("version")
        if version != PROTOCOL_VERSION:
            raise Reject("UnsupportedVersion", str(version))
        f["version"] = version

    if kind == "hello":
        f.update(r.flags("flags", HELLO_FLAGS))
        f["keepalive_ms"] = r.varint("keepalive_ms")
        f["session"] = r.string("session")
        f["password"] = r.string("password")
        f["client_id"] = r.string("client_id")
        f["resume_token"] = r.string("resume_token")
        f["display_name"] = r.string("display_name")
    elif kind == "welcome":
        f.update(r.flags("flags", WELCOME_FLAGS))
        f["client_id"] = r.string("client_id")
        f["resume_token"] = r.string("resume_token")
        f["keepalive_ms"] = r.varint("keepalive_ms")
        f["config"] = r.config("config")
    elif kind == "error":
        f["code"] = r.u16("code")
        f["ref_id"] = r.varint("ref_id")
        f["message"] = r.string("message")
    elif kind == "subscribe":
        f["request_id"] = r.varint("request_id")
        f.update(r.flags("flags", SUBSCRIBE_FLAGS))
        f["filter"] = r.string("filter")
    elif kind in ("sub_ack", "unsub_ack", "pub_ack"):
        f["id"] = r.varint("id")
        f["code"] = r.u16("code")
    elif kind == "unsubscribe":
        f["request_id"] = r.varint("request_id")
        f["filter"] = r.string("filter")
    elif kind == "publish":
        f["qos"] = r.u8("qos")
        if f["qos"] not in QOS_VALUES:
            raise Reject("InvalidValue", f"qos = {f['qos']}")
        f["message_id"] = r.varint("message_id")
        f["topic"] = r.string("topic")
        f["payload"] = r.payload()
    elif kind == "deliver":
        f["qos"] = r.u8("qos")
        if f["qos"] not in QOS_VALUES:
            raise Reject("InvalidValue", f"qos = {f['qos']}")
        f["delivery_id"] = r.varint("delivery_id")
        f["attempt"] = r.varint("attempt", U32_MAX)
        f["topic"] = r.string("topic")
        f["publisher"] = r.string("publisher")
        f["payload"] = r.payload()
    elif kind == "deliver_ack":
        f["delivery_id"] = r.varint("delivery_id")
    elif kind == "deliver_nack":
        f["delivery_id"] = r.varint("delivery_id")
        f["reason"] = _open_name_of(NACK_REASONS, r.u8("reason"))
    elif kind == "receipt":
        f["message_id"] = r.varint("message_id")
        f["status"] = _open_name_of(RECEIPT_STATUSES, r.u8("status"))
        f["delivered"] = r.varint("delivered", U32_MAX)
        f["failed"] = r.varint("failed", U32_MAX)
    elif kind == "presence":
        f["filter"] = r.string("filter")
        f["kind"] = _name_of(PRESENCE_KINDS, r.u8("kind"), "kind")
        count = r.varint("count")
        members = []
        for _ in range(count):
            client_id = r.string("members.client_id")
            display_name = r.string("members.display_name")
            members.append({"client_id": client_id, "display_name": display_name})
        f["members"] = members
    elif kind in ("ping", "pong"):
        f["nonce"] = r.varint("nonce")
    elif kind == "admin":
        f["request_id"] = r.varint("request_id")
        op = _name_of(ADMIN_OPS, r.u8("op"), "op")
        f["op"] = op
        f["session"] = r.string("session")
        f["credential"] = r.string("credential")
        if op in ADMIN_OPS_WITH_CREDENTIALS:
            f["password"] = r.string("password")
            f["secret"] = r.string("secret")
        if op in ADMIN_OPS_WITH_CONFIG:
            f["config"] = r.config("config")
    elif kind == "admin_result":
        f["request_id"] = r.varint("request_id")
        f["code"] = r.u16("code")
        f["message"] = r.string("message")
        f["config"] = r.config("config")

    if r.remaining():
        raise Reject("TrailingBytes", f"{r.remaining()} bytes")
    return f


# --- §2 encoding ----------------------------------------------------------------------------


def enc_varint(value: int) -> bytes:
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def enc_u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def enc_string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return enc_varint(len(raw)) + raw


def enc_flags(f: dict[str, Any], bits: dict[int, str]) -> bytes:
    return bytes([sum(1 << bit for bit, name in bits.items() if f[name])])


def enc_config(config: dict[str, Any]) -> bytes:
    unknown = set(config) - set(CONFIG_TAG_OF)
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}")
    out = bytearray(enc_varint(len(config)))
    for tag, (name, _) in sorted(CONFIG_TAGS.items()):
        if name not in config:
            continue
        value = config[name]
        if name == "slow_consumer_policy":
            value = _value_of(SLOW_CONSUMER_POLICIES, value, name)
        out += enc_varint(tag) + enc_varint(value)
    return bytes(out)


def encode(f: dict[str, Any]) -> bytes:
    kind = f["type"]
    out = bytearray([TYPE_BYTES[kind]])
    if kind == "hello":
        out.append(f["version"])
        out += enc_flags(f, HELLO_FLAGS)
        out += enc_varint(f["keepalive_ms"])
        for name in ("session", "password", "client_id", "resume_token", "display_name"):
            out += enc_string(f[name])
    elif kind == "welcome":
        out.append(f["version"])
        out += enc_flags(f, WELCOME_FLAGS)
        out += enc_string(f["client_id"])
        out += enc_string(f["resume_token"])
        out += enc_varint(f["keepalive_ms"])
        out += enc_config(f["config"])
    elif kind == "error":
        out += enc_u16(f["code"]) + enc_varint(f["ref_id"]) + enc_string(f["message"])
    elif kind == "subscribe":
        out += enc_varint(f["request_id"])
        out += enc_flags(f, SUBSCRIBE_FLAGS)
        out += enc_string(f["filter"])
    elif kind in ("sub_ack", "unsub_ack", "pub_ack"):
        out += enc_varint(f["id"]) + enc_u16(f["code"])
    elif kind == "unsubscribe":
        out += enc_varint(f["request_id"]) + enc_string(f["filter"])
    elif kind == "publish":
        out.append(f["qos"])
        out += enc_varint(f["message_id"]) + enc_string(f["topic"])
        out += bytes.fromhex(f["payload"])
    elif kind == "deliver":
        out.append(f["qos"])
        out += enc_varint(f["delivery_id"]) + enc_varint(f["attempt"])
        out += enc_string(f["topic"]) + enc_string(f["publisher"])
        out += bytes.fromhex(f["payload"])
    elif kind == "deliver_ack":
        out += enc_varint(f["delivery_id"])
    elif kind == "deliver_nack":
        out += enc_varint(f["delivery_id"])
        out.append(_value_of(NACK_REASONS, f["reason"], "reason"))
    elif kind == "receipt":
        out += enc_varint(f["message_id"])
        out.append(_value_of(RECEIPT_STATUSES, f["status"], "status"))
        out += enc_varint(f["delivered"]) + enc_varint(f["failed"])
    elif kind == "presence":
        out += enc_string(f["filter"])
        out.append(_value_of(PRESENCE_KINDS, f["kind"], "kind"))
        out += enc_varint(len(f["members"]))
        for member in f["members"]:
            out += enc_string(member["client_id"]) + enc_string(member["display_name"])
    elif kind in ("ping", "pong"):
        out += enc_varint(f["nonce"])
    elif kind == "admin":
        out += enc_varint(f["request_id"])
        out.append(_value_of(ADMIN_OPS, f["op"], "op"))
        out += enc_string(f["session"]) + enc_string(f["credential"])
        if f["op"] in ADMIN_OPS_WITH_CREDENTIALS:
            out += enc_string(f["password"]) + enc_string(f["secret"])
        if f["op"] in ADMIN_OPS_WITH_CONFIG:
            out += enc_config(f["config"])
    elif kind == "admin_result":
        out += enc_varint(f["request_id"]) + enc_u16(f["code"]) + enc_string(f["message"])
        out += enc_config(f["config"])
    else:
        raise ValueError(f"unknown frame type {kind!r}")
    return bytes(out)


# --- the check ------------------------------------------------------------------------------


def split_batch(data: bytes) -> tuple[list[bytes], Reject | None]:
    """The frames of a Batch message (PROTOCOL.md §3, 0x13), and the error that ended it."""
    r = Reader(data)
    if r.u8("type") != BATCH:
        raise ValueError("not a batch")
    frames: list[bytes] = []
    try:
        while True:
            length = r.varint("frame")
            if length > r.remaining():
                raise Reject("Truncated", "frame longer than the rest of the batch")
            if length == 0:
                raise Reject("Empty", "an empty entry")
            frames.append(data[r.pos : r.pos + length])
            r.pos += length
            if r.remaining() == 0:
                return frames, None
    except Reject as e:
        return frames, e


def check(path: Path) -> int:
    doc = json.loads(path.read_text(encoding="utf-8"))
    failures: list[str] = []
    if doc.get("version") != 1:
        failures.append(f"{path}: unexpected file version {doc.get('version')!r}")

    vectors = doc.get("vectors", [])
    rejects = doc.get("reject", [])
    names = [entry["name"] for entry in vectors + rejects + doc.get("batches", [])]
    for name in sorted({n for n in names if names.count(n) > 1}):
        failures.append(f"duplicate vector name {name!r}")

    for entry in vectors:
        name, expected = entry["name"], entry["frame"]
        data = bytes.fromhex(entry["hex"])
        try:
            decoded = decode(data)
        except Reject as e:
            failures.append(f"vector {name!r}: decode rejected the bytes ({e})")
        else:
            if decoded != expected:
                failures.append(
                    f"vector {name!r}: decoded fields differ\n"
                    f"    decoded:  {json.dumps(decoded, ensure_ascii=False)}\n"
                    f"    expected: {json.dumps(expected, ensure_ascii=False)}"
                )
        want = bytes.fromhex(entry.get("reencoded_hex", entry["hex"]))
        try:
            got = encode(expected)
        except (KeyError, ValueError, OverflowError) as e:
            failures.append(f"vector {name!r}: cannot encode the documented frame ({e!r})")
        else:
            if got != want:
                failures.append(
                    f"vector {name!r}: encoding differs\n"
                    f"    encoded:  {got.hex()}\n    expected: {want.hex()}"
                )

    for entry in rejects:
        name, error = entry["name"], entry["error"]
        if entry.get("expect") != "reject":
            failures.append(f"reject {name!r}: expect is {entry.get('expect')!r}, not 'reject'")
        try:
            decoded = decode(bytes.fromhex(entry["hex"]))
        except Reject as e:
            if e.kind != error:
                failures.append(f"reject {name!r}: rejected as {e}, expected {error}")
        else:
            failures.append(
                f"reject {name!r}: decoded without error to "
                f"{json.dumps(decoded, ensure_ascii=False)}, expected {error}"
            )

    batches = doc.get("batches", [])
    for entry in batches:
        name = entry["name"]
        frames, error = split_batch(bytes.fromhex(entry["hex"]))
        want = [bytes.fromhex(h) for h in entry["frames"]]
        if frames != want:
            got = [f.hex() for f in frames]
            failures.append(f"batch {name!r}: frames {got}, expected {entry['frames']}")
        got_error = error.kind if error else None
        if got_error != entry.get("error"):
            failures.append(f"batch {name!r}: error {got_error}, expected {entry.get('error')}")

    for failure in failures:
        print(f"MISMATCH {failure}", file=sys.stderr, flush=True)
    total = len(vectors) + len(rejects) + len(batches)
    if failures:
        print(f"check-protocol: FAILED, {len(failures)} mismatches in {total} entries of {path}")
        return 1
    print(
        f"check-protocol: OK, {len(vectors)} vectors decode and re-encode, "
        f"{len(rejects)} reject cases rejected, {len(batches)} batches split ({path.name})"
    )
    return 0


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_VECTORS
    return check(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
