#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/) from the project's own
examples: the frame vectors of docs/test-vectors/frames-v1.json, the config file example of
docs/SERVER.md, the admin API calls documented there, and the Origin and Host cases of
server/src/http/origin.rs. Deterministic: run it again after
changing those files and commit the result. The fuzzer's own finds stay out of git
(scripts/fuzz.sh works on a copy)."""

import json
import pathlib
import re
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

# Type bytes of the frames clients send; Ping (0x0f) and Pong (0x10) travel both ways.
CLIENT_TYPES = {0x01, 0x04, 0x06, 0x08, 0x0B, 0x0C, 0x0F, 0x10, 0x11}
SERVER_TYPES = {0x02, 0x03, 0x05, 0x07, 0x09, 0x0A, 0x0D, 0x0E, 0x0F, 0x10, 0x12}


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (folder / slug(name)).write_bytes(data)


def frames():
    doc = json.loads((ROOT / "docs/test-vectors/frames-v1.json").read_text())
    for entry in doc["vectors"] + doc["reject"]:
        data = bytes.fromhex(entry["hex"])
        kind = data[0] if data else None
        name = entry["name"]
        # Messages of no frame type (empty, unknown type) are seeds of the client side only:
        # both targets reach the same code with them.
        if kind is None or kind in CLIENT_TYPES or kind not in SERVER_TYPES:
            write("frame_from_client", name, data)
        if kind in SERVER_TYPES:
            write("frame_from_server", name, data)
        # The first message of a connection: every Hello, and a frame that must not come
        # first.
        if kind == 0x01:
            write("hello", name, data)
    write("hello", "ping-before-hello", bytes([0x0F, 0x01]))
    # Several messages, separated as fuzz/src/hello.rs splits them: all arrive before the
    # password check ends.
    by_name = {entry["name"]: bytes.fromhex(entry["hex"]) for entry in doc["vectors"]}
    hello = next(v for k, v in by_name.items() if k.startswith("hello: the PROTOCOL.md"))
    # An admin-only Hello to the session `demo` with its secret key (fuzz/src/hello.rs): type,
    # version, flags, keepalive, then session, credential, client id, resume token and
    # display name as length-prefixed strings (docs/PROTOCOL.md).
    def string(text):
        return bytes([len(text)]) + text.encode()
    admin_hello = bytes([0x01, 0x01, 0x02, 0x00]) + b"".join(
        string(t) for t in ("demo", "secret", "", "", ""))
    write("hello", "admin-only-hello-with-the-secret-key", admin_hello)
    subscribe = next(v for k, v in by_name.items() if k.startswith("subscribe"))
    admin = next(v for k, v in by_name.items()
                 if k.startswith("admin: create with no admin token"))
    separator = b"\xff\xfe\xfd\xfc"
    write("hello", "hello-then-subscribe-while-verifying", hello + separator + subscribe)
    write("hello", "hello-twice", hello + separator + hello)
    write("hello", "admin-only-hello-then-admin-then-subscribe",
          admin_hello + separator + admin + separator + subscribe)


def configs():
    server_md = (ROOT / "docs/SERVER.md").read_text()
    for i, block in enumerate(re.findall(r"```toml\n(.*?)```", server_md, re.S)):
        write("config_file", f"server-md-example-{i}", block)
    write("config_file", "empty", "")
    write("config_file", "loopback-with-plaintext-secrets", """\
listen = "127.0.0.1:0"
admin_token = "a-long-admin-token"
keepalive = "10s"
keepalive_min = "1s"
keepalive_max = "5m"
hello_timeout = "500ms"
allowed_origins = ["https://chat.example.com"]
server_names = ["chat.example.com"]
metrics_token = "0123456789abcdef0123"
metrics_per_session = true
log = "info,fastport_server=debug"

[[sessions]]
name = "room"
password = "pw"
secret = "secret"

[sessions.settings]
retry_interval = "250ms"
max_pending = 10
""")
    # Found by the fuzzer: an error quoting a value with a line break was two lines.
    write("config_file", "origin-with-a-line-break",
          'allowed_origins = ["https://a\\nb.example"]\n')
    write("config_file", "exposed-insecure", """\
listen = "[::]:8080"
insecure = true
max_sessions = 5
max_pending_jobs = 2
""")


def admin():
    calls = {
        "create": ("POST /admin/sessions", "application/json",
                   '{"name":"team","password":"team-pw","secret":"team-secret",'
                   '"config":{"max_retries":10}}'),
        "create-every-setting": ("POST /admin/sessions", "application/json; charset=utf-8",
                                 '{"name":"s","password":"p","secret":"k","config":'
                                 '{"retry_interval_ms":500,"max_retries":3,"expiry_ms":60000,'
                                 '"max_message_size":1024,"max_connections":4,'
                                 '"max_subscriptions":8,"max_pending":16,'
                                 '"slow_consumer_policy":"drop_oldest"}}'),
        "configure": ("PATCH /admin/sessions/team", "application/json",
                      '{"config":{"retry_interval_ms":500,"slow_consumer_policy":"disconnect"}}'),
        "describe": ("GET /admin/sessions/team", "", ""),
        "describe-percent-encoded": ("GET /admin/sessions/t%C3%A9am", "", ""),
        "suspend": ("POST /admin/sessions/team/suspend", "", ""),
        "resume": ("POST /admin/sessions/team/resume", "", ""),
        "drop": ("DELETE /admin/sessions/team", "", ""),
        "rotate": ("POST /admin/sessions/team/rotate", "application/json",
                   '{"password":"new-pw","secret":"new-secret"}'),
        "wrong-method": ("PUT /admin/sessions/team", "", ""),
        "form-post": ("POST /admin/sessions", "text/plain", '{"name":"x"}'),
        "unknown-key": ("PATCH /admin/sessions/team", "application/json",
                        '{"config":{"max_retries":1},"extra":true}'),
    }
    for name, (request_line, content_type, body) in calls.items():
        write("admin_api", name, f"{request_line}\n{content_type}\n{body}")


def headers():
    # Host, Origin, allowed origins, server names: one per line (see fuzz/src/headers.rs).
    requests = {
        "no-origin": "127.0.0.1:8080",
        "same-origin": "chat.example.com\nhttps://chat.example.com",
        "loopback-origin": "10.0.0.5:8080\nhttp://localhost:5173",
        "ipv6-loopback-origin": "[::1]:8080\nhttp://[::1]:3000",
        "other-site": "10.0.0.5:8080\nhttps://evil.example",
        "null-origin": "10.0.0.5:8080\nnull",
        "listed-origin": "10.0.0.5:8080\nhttps://app.example.com/\nhttps://app.example.com,http://10.0.0.5:3000",
        "any-origin": "10.0.0.5:8080\nhttps://evil.example\n*",
        "server-name": "chat.example.com:443\nhttps://chat.example.com\n\nchat.example.com",
        "rebinding": "attacker.example:8080\nhttp://attacker.example:8080\n\nchat.example.com",
        "address-with-names": "[2001:db8::1]:8080\n\n\nchat.example.com,localhost",
        # An IPv6 address in Host is bracketed: a bare one is a name, and not served.
        "bare-ipv6-host": "::\n::\n\nchat.example.com,localhost",
    }
    for name, text in requests.items():
        write("request_headers", name, text)


def main():
    for target in ("frame_from_client", "frame_from_server", "hello", "admin_api",
                   "config_file", "request_headers"):
        shutil.rmtree(CORPUS / target, ignore_errors=True)
    frames()
    configs()
    admin()
    headers()


if __name__ == "__main__":
    main()
