#!/usr/bin/env bash
# The browser SDK end to end with the processes a deployment has: client-wasm/e2e/*.test.mjs
# (node:test + playwright-core) drive the npm package (client-wasm/pkg, built by
# scripts/build-wasm.sh when stale) in Debian's headless Chromium against real fastport-server
# nodes on one real redis-server, all on free ports of the loopback and started by the tests.
# Today: the SDK fails over between two nodes when one is killed (SIGKILL), the node serving
# its session or the node relaying it there, with nothing acknowledged lost and nothing
# delivered twice (about 20 s). Part of scripts/test.sh.
#
# Usage: scripts/test-wasm-e2e.sh [NAME...]   only client-wasm/e2e/NAME*.test.mjs
# Writes: target/wasm-e2e/*.log (each process's stdout and stderr, per test).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
native_env

fail() { echo "test-wasm-e2e: ERROR: $*" >&2; exit 1; }

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export FASTPORT_E2E_OUT="${FASTPORT_E2E_OUT:-$ROOT/target/wasm-e2e}"
[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (scripts/setup.sh installs Debian's)"
command -v redis-server >/dev/null || fail "no redis-server (scripts/setup.sh installs it)"
command -v npm >/dev/null || fail "npm is not installed (scripts/setup.sh installs it)"
npm_ci_if_stale "$ROOT" "test-wasm-e2e: npm ci (root devDependencies)" playwright-core ||
    fail "npm ci failed in $ROOT"

"$ROOT/scripts/build-wasm.sh" >/dev/null || fail "scripts/build-wasm.sh failed"
cargo build --locked --quiet -p fastport-server --bin fastport-server ||
    fail "cargo build -p fastport-server failed"
FASTPORT_SERVER_BIN="$(cargo_target_dir)/debug/fastport-server"
export FASTPORT_SERVER_BIN

files=()
if [ $# -eq 0 ]; then
    files=(client-wasm/e2e/*.test.mjs)
else
    for name in "$@"; do
        matched=(client-wasm/e2e/"$name"*.test.mjs)
        [ -e "${matched[0]}" ] || fail "no test matches client-wasm/e2e/$name*.test.mjs"
        files+=("${matched[@]}")
    done
fi
mkdir -p "$FASTPORT_E2E_OUT"
rm -f "$FASTPORT_E2E_OUT"/*.log

# Its own process group, so that an interrupted run takes every process it started with it.
setsid node --test --test-concurrency=1 --test-timeout=180000 "${files[@]}" &
runner=$!
trap 'kill -TERM -- "-$runner" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
status=0
wait "$runner" || status=$?
trap - EXIT
if [ "$status" -ne 0 ]; then
    echo "test-wasm-e2e: FAILED (exit $status); the processes' output: $FASTPORT_E2E_OUT/*.log" >&2
fi
exit "$status"
