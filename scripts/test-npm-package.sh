#!/usr/bin/env bash
# Proves the npm package `fastport-wasm` as a user gets it:
#   1. scripts/build-wasm.sh, then `npm pack` of client-wasm/pkg into a temporary folder;
#   2. a fresh Vite app (client-wasm/npm-test/app, vite from the npm registry through npm's
#      cache) that `npm install`s the tarball, imports "fastport-wasm" and is built with
#      `vite build`;
#   3. a page without a bundler importing the unpacked tarball with <script type="module">,
#      and a module Web Worker doing the same (no window, no document);
#   4. both pages in headless Chromium (Debian's, through playwright-core) against a real
#      fastport-server on a free port: two clients with one key exchange encrypted messages;
#      each page must show "ok: ..." and log no console error (client-wasm/npm-test/run.mjs);
#   5. the package's crypto throughput in the same browser (measureCrypto, 1 KiB and 64 KiB),
#      written to target/fastport-wasm-crypto.md.
# Ends with the gzipped sizes and fails if the .wasm is over its budget of 60 KB gzipped
# (FASTPORT_WASM_BUDGET bytes, 61,440 unless set). Everything it starts is stopped on exit.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
native_env
TEST="$ROOT/client-wasm/npm-test"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
BUDGET="${FASTPORT_WASM_BUDGET:-61440}"

say() { printf '\n== test-npm-package: %s\n' "$*"; }
fail() { echo "test-npm-package: FAILED: $*" >&2; exit 1; }

[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (apt-get install -y chromium, or set CHROMIUM)"

work=$(mktemp -d "${TMPDIR:-/tmp}/fastport-npm-test.XXXXXX")
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "build the package (scripts/build-wasm.sh)"
"$ROOT/scripts/build-wasm.sh" || fail "scripts/build-wasm.sh"

say "npm pack"
tarball=$(cd "$work" && npm pack --silent "$ROOT/client-wasm/pkg" | tail -1)
[ -f "$work/$tarball" ] || fail "npm pack did not write a tarball (got \"$tarball\")"
listing=$(tar tzf "$work/$tarball" | sed 's|^package/||' | sort | tr '\n' ' ')
for f in package.json README.md fastport_wasm.js fastport_wasm.d.ts fastport_wasm_bg.wasm; do
    [[ " $listing" == *" $f "* ]] || fail "$tarball has no $f; it holds: $listing"
done
echo "$tarball: $listing"

say "a fresh Vite app installs $tarball"
cp -r "$TEST/app" "$work/app"
cp "$TEST/check.js" "$work/app/"
(
    cd "$work/app"
    # vite comes from app/package-lock.json through npm's cache (~/.npm): offline when cached.
    npm install --no-audit --no-fund --prefer-offline --loglevel=error "../$tarball"
    [ -f node_modules/fastport-wasm/fastport_wasm_bg.wasm ] ||
        { echo "fastport-wasm is not in node_modules" >&2; exit 1; }
    npm run --silent build
) || fail "npm install or vite build in the fresh app ($work/app)"
say "the package's TypeScript types, checked by tsc --strict"
cp "$TEST/types-check.ts" "$work/app/"
(
    cd "$work/app"
    npx --no-install tsc --noEmit --strict --target es2022 --lib es2022,dom,esnext.disposable \
        --module es2022 --moduleResolution bundler --skipLibCheck false types-check.ts
) || fail "the package's types (client-wasm/npm-test/types-check.ts)"
ls "$work/app/dist/assets/"*.wasm >/dev/null 2>&1 || fail "vite build emitted no .wasm asset"
echo "vite build: $(cd "$work/app/dist" && find . -type f | sort | tr '\n' ' ')"

say "a page without a bundler, on the unpacked tarball"
mkdir -p "$work/plain"
tar xzf "$work/$tarball" -C "$work/plain"
cp "$TEST/plain.html" "$work/plain/index.html"
cp "$TEST/check.js" "$TEST/worker.html" "$TEST/worker.js" "$work/plain/"

say "a real fastport-server"
cargo build --locked --quiet -p fastport-server --bin fastport-server ||
    fail "cargo build -p fastport-server"
start_server "$(cargo_target_dir)/debug/fastport-server" "$work" ||
    { cat "$work/server.err" >&2; fail "the server did not start (log above)"; }
url="ws://$SERVER_ADDR/ws"
echo "server at $url"

say "both pages in headless Chromium"
status=0
node "$TEST/run.mjs" --url "$url" --vite "$work/app/dist" --plain "$work/plain" \
    --chromium "$CHROMIUM" --crypto-md "$ROOT/target/fastport-wasm-crypto.md" || status=$?
if [ $status -ne 0 ]; then
    echo "---- server log" >&2
    cat "$work/server.err" >&2
    fail "the package does not work in the browser (above)"
fi

wasm="$ROOT/client-wasm/pkg/fastport_wasm_bg.wasm"
wasm_gz=$(gzip -9c "$wasm" | wc -c)
js_gz=0
while IFS= read -r f; do
    js_gz=$((js_gz + $(gzip -9c "$f" | wc -c)))
done < <(find "$ROOT/client-wasm/pkg" -name '*.js')
echo
echo "test-npm-package: fastport_wasm_bg.wasm is $wasm_gz bytes gzipped ($(stat -c %s "$wasm")" \
    "raw), its JavaScript $js_gz bytes gzipped; budget for the .wasm: $BUDGET bytes"
# The size budget (docs/BENCHMARKS.md, "Browser SDK size"): 60 KB gzipped.
[ "$wasm_gz" -le "$BUDGET" ] ||
    fail "fastport_wasm_bg.wasm is $wasm_gz bytes gzipped, over the budget of $BUDGET" \
        "(see docs/BENCHMARKS.md for where the bytes go and how to measure them)"
echo "test-npm-package: ok: $tarball works through Vite, as a plain ES module and in a worker," \
    "within the size budget"
