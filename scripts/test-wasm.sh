#!/usr/bin/env bash
# The browser SDK's tests (`wasm-pack test --headless --chrome client-wasm`) against a real
# fastport-server started here on a free port, with a native `fastport` echo for the interop
# test: `fastport sub interop/ping | fastport pub interop/pong --lines`, both with the same
# key. A second server speaks TLS with a certificate of a CA made for this run
# (fastport-test-pki); Chromium accepts it by its public key (--ignore-certificate-errors-spki-list
# in a copy of client-wasm/webdriver.json). The URLs and the key reach the tests at compile time
# (FASTPORT_TEST_URL, FASTPORT_TEST_TLS_URL, FASTPORT_TEST_INTEROP_KEY). Uses the debug binaries
# `cargo test --workspace` built, building them if missing. Part of scripts/test.sh.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
native_env
cargo build --locked -p fastport-server -p fastport-client -p fastport-harness --bins
target_dir="$(cargo_target_dir)"
server_bin="$target_dir/debug/fastport-server"
fastport="$target_dir/debug/fastport"
test_pki="$target_dir/debug/fastport-test-pki"

work=$(mktemp -d)
pids=()
cleanup() {
    stop_server
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if ! start_server "$server_bin" "$work" --open-session-creation; then
    echo "test-wasm: the server did not start:" >&2
    cat "$work/server.err" >&2
    exit 1
fi
export FASTPORT_TEST_URL="ws://$SERVER_ADDR/ws"

mkdir "$work/tls"
spki=$("$test_pki" "$work/tls")
if ! start_server "$server_bin" "$work/tls" \
    --tls-cert "$work/tls/cert.pem" --tls-key "$work/tls/key.pem"; then
    echo "test-wasm: the TLS server did not start:" >&2
    cat "$work/tls/server.err" >&2
    exit 1
fi
[ "$SERVER_SCHEME" = https ] || {
    echo "test-wasm: the TLS server does not announce https://" >&2
    exit 1
}
export FASTPORT_TEST_TLS_URL="wss://$SERVER_ADDR/ws"
# The test browser's capabilities plus trust in this run's server key, and nothing else.
node -e '
    const fs = require("fs");
    const [from, to, spki] = process.argv.slice(1);
    const caps = JSON.parse(fs.readFileSync(from, "utf8"));
    caps["goog:chromeOptions"].args.push("--ignore-certificate-errors-spki-list=" + spki);
    fs.writeFileSync(to, JSON.stringify(caps, null, 2));
' client-wasm/webdriver.json "$work/webdriver.json" "$spki"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$work/webdriver.json"
FASTPORT_TEST_INTEROP_KEY=$("$fastport" key generate)
export FASTPORT_TEST_INTEROP_KEY
echo "test-wasm: servers at $FASTPORT_TEST_URL and $FASTPORT_TEST_TLS_URL"

# The native half of the interop test: two processes joined by a named pipe, so that both
# can be stopped at the end.
mkfifo "$work/echo"
FASTPORT_URL="$FASTPORT_TEST_URL" FASTPORT_SESSION=demo FASTPORT_PASSWORD=demo \
    FASTPORT_KEY="$FASTPORT_TEST_INTEROP_KEY" \
    "$fastport" sub interop/ping >"$work/echo" 2>"$work/echo-sub.err" &
pids+=($!)
FASTPORT_URL="$FASTPORT_TEST_URL" FASTPORT_SESSION=demo FASTPORT_PASSWORD=demo \
    FASTPORT_KEY="$FASTPORT_TEST_INTEROP_KEY" \
    "$fastport" pub interop/pong --lines <"$work/echo" >/dev/null 2>"$work/echo-pub.err" &
pids+=($!)

status=0
# The AES variant the package ships (scripts/build-wasm.sh), so the interop tests check it
# against the native client's.
with_wasm_env env RUSTFLAGS="--cfg aes_compact" \
    wasm-pack test --headless --chrome client-wasm "$@" || status=$?
if [ $status -ne 0 ]; then
    echo "---- server log" >&2; cat "$work/server.err" >&2
    echo "---- TLS server log" >&2; cat "$work/tls/server.err" >&2
    echo "---- native echo logs" >&2; cat "$work/echo-sub.err" "$work/echo-pub.err" >&2
fi
exit $status
