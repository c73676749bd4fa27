#!/usr/bin/env bash
# The chat demo end to end: builds it (web-demo/build.sh) and the server, then runs
# web-demo/tests/*.test.mjs (node:test + playwright-core) against the real fastport-server on a
# free port, in Debian's headless Chromium. Two people chat both ways with delivered ticks;
# presence follows a tab closing; a private room with a wrong passphrase shows unreadable
# messages; the server's log and /metrics never hold a plaintext; a killed and restarted server
# (same port) is reconnected to and what was typed meanwhile arrives; screenshots of a desktop
# and a phone window, and no console errors anywhere.
#
# Usage: scripts/test-demo.sh [NAME...]   only web-demo/tests/NAME*.test.mjs (e.g. reconnect)
# Writes: target/demo-screenshots/*.png (printed at the end), target/demo-test/*.log (the
# server's stdout and stderr, one file per test).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
native_env

fail() { echo "test-demo: ERROR: $*" >&2; exit 1; }

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export FASTPORT_DEMO_SCREENSHOTS="${FASTPORT_DEMO_SCREENSHOTS:-$ROOT/target/demo-screenshots}"
export FASTPORT_DEMO_OUT="${FASTPORT_DEMO_OUT:-$ROOT/target/demo-test}"

[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (scripts/setup.sh installs Debian's)"
command -v npm >/dev/null || fail "npm is not installed (scripts/setup.sh installs it)"
FASTPORT_SERVER_BIN="$(cargo_target_dir)/debug/fastport-server"
export FASTPORT_SERVER_BIN

# playwright-core is a root devDependency: npm ci when it is missing, or package.json or the lock
# file changed.
npm_ci_if_stale "$ROOT" "test-demo: npm ci (root devDependencies)" playwright-core ||
    fail "npm ci failed in $ROOT"

"$ROOT/web-demo/build.sh" || fail "building the demo failed"
cargo build --locked -p fastport-server || fail "cargo build -p fastport-server failed"

files=()
if [ $# -eq 0 ]; then
    files=(web-demo/tests/*.test.mjs)
else
    for name in "$@"; do
        matched=(web-demo/tests/"$name"*.test.mjs)
        [ -e "${matched[0]}" ] || fail "no test matches web-demo/tests/$name*.test.mjs"
        files+=("${matched[@]}")
    done
fi

mkdir -p "$FASTPORT_DEMO_SCREENSHOTS" "$FASTPORT_DEMO_OUT"
rm -f "$FASTPORT_DEMO_SCREENSHOTS"/*.png "$FASTPORT_DEMO_OUT"/*.log

# Its own process group, so that an interrupted run takes every server and browser with it.
setsid node --test --test-concurrency=1 --test-timeout=180000 "${files[@]}" &
runner=$!
trap 'kill -TERM -- "-$runner" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
status=0
wait "$runner" || status=$?
trap - EXIT

if [ "$status" -ne 0 ]; then
    echo >&2
    echo "test-demo: FAILED (exit $status). The server's output of each test: $FASTPORT_DEMO_OUT/*.log" >&2
    exit "$status"
fi
shots=("$FASTPORT_DEMO_SCREENSHOTS"/*.png)
if [ -e "${shots[0]}" ]; then
    echo
    echo "test-demo: screenshots in $FASTPORT_DEMO_SCREENSHOTS:"
    printf '  %s\n' "${shots[@]##*/}"
fi
