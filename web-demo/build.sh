#!/usr/bin/env bash
# Builds the chat demo into web-demo/dist, which fastport-server serves at / (from the
# repository root it finds web-demo/dist by itself; elsewhere --static-dir). Idempotent and
# quick when nothing changed:
#   1. the npm package fastport-wasm (client-wasm/pkg), by scripts/build-wasm.sh, when it is
#      missing or older than its Rust sources;
#   2. web-demo/node_modules (vite, and fastport-wasm linked from ../client-wasm/pkg), by
#      `npm ci`, when missing or older than package.json / package-lock.json;
#   3. `vite build` (about a second).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
DEMO="$ROOT/web-demo"
PKG="$ROOT/client-wasm/pkg"
cd "$ROOT"

fail() { echo "build-demo: ERROR: $*" >&2; exit 1; }
command -v npm >/dev/null || fail "npm is not installed (scripts/setup.sh installs it)"

wasm_state() {
    if [ ! -f "$PKG/package.json" ] || [ ! -f "$PKG/fastport_wasm_bg.wasm" ]; then
        echo missing
        return
    fi
    local newer
    newer=$(find client-wasm/src client-wasm/Cargo.toml client-core/src client-core/Cargo.toml \
        Cargo.lock -newer "$PKG/fastport_wasm_bg.wasm" -print -quit 2>/dev/null)
    [ -z "$newer" ] || echo "older than $newer"
}
state=$(wasm_state)
if [ -n "$state" ]; then
    echo "build-demo: fastport-wasm (client-wasm/pkg) is $state: scripts/build-wasm.sh" >&2
    "$ROOT/scripts/build-wasm.sh" || fail "scripts/build-wasm.sh failed"
fi

npm_ci_if_stale "$DEMO" "build-demo: npm ci in web-demo/" fastport-wasm ||
    fail "npm ci failed in web-demo/ (is the npm registry reachable? is package-lock.json in sync?)"

(cd "$DEMO" && npx --no-install vite build --logLevel warn) || fail "vite build failed"
[ -f "$DEMO/dist/index.html" ] || fail "vite wrote no web-demo/dist/index.html"
ls "$DEMO"/dist/assets/*.wasm >/dev/null 2>&1 || fail "web-demo/dist has no .wasm module"
echo "build-demo: web-demo/dist ($(du -sh "$DEMO/dist" | cut -f1))" >&2
