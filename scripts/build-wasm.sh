#!/usr/bin/env bash
# Builds the npm package `fastport-wasm` into client-wasm/pkg as users get it: wasm-pack with
# `--target web` and the size profile `wasm-release`, then binaryen's wasm-opt from npm (a root
# devDependency: Debian's /usr/bin/wasm-opt, binaryen 108, rejects what rustc emits with
# "invalid code after misc prefix", so wasm-pack's own wasm-opt step is off, see the
# `[package.metadata.wasm-pack]` tables in client-wasm/Cargo.toml), then short import names
# (scripts/wasm-short-imports.mjs). Checks the generated package.json and prints the sizes.
# Idempotent; when nothing changed it takes seconds (cargo's no-op build, and the optimized
# module comes from a cache keyed by the input's hash).
#
# Usage: scripts/build-wasm.sh        (FASTPORT_WASM_OPT=0 skips wasm-opt, for a quick try)
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
PKG="$ROOT/client-wasm/pkg"
NAME=fastport_wasm

fail() { echo "build-wasm: ERROR: $*" >&2; exit 1; }

command -v wasm-pack >/dev/null || fail "wasm-pack is not installed: run scripts/setup.sh"
# The root npm devDependencies (binaryen, playwright-core), installed from package-lock.json
# when missing or older than package.json or the lock file.
command -v npm >/dev/null || fail "npm is not installed (apt-get install -y nodejs npm)"
npm_ci_if_stale "$ROOT" "build-wasm: npm ci (root devDependencies: binaryen, playwright-core)" \
    .bin/wasm-opt || fail "npm ci failed in $ROOT (is the npm registry reachable?)"
WASM_OPT="$ROOT/node_modules/.bin/wasm-opt"

# Runs in the wasm environment (with_wasm_env), whose subshell also keeps these variables.
wasm_pack_build() {
    # With the standard library's source at hand (rustup's rust-src component, or the
    # Debian fallback), std is rebuilt for size with panics that abort at once: no panic
    # messages or locations in the module (-12 KB gzipped), and std's own smaller-code
    # variants (optimize_for_size, -0.7 KB). Without it, the prebuilt std.
    # --cfg aes_compact: the aes crate's compact fixslice (-0.6 KB; docs/BENCHMARKS.md has
    # the throughput).
    sysroot=$(rustc --print sysroot)
    export RUSTFLAGS="--cfg aes_compact"
    if [ -d "$sysroot/lib/rustlib/src/rust/library/std" ]; then
        export RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
            CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size \
            RUSTFLAGS="$RUSTFLAGS -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
        echo "build-wasm: std rebuilt for size (rust-src found in $sysroot)" >&2
    else
        echo "build-wasm: note: no rust-src in $sysroot: prebuilt std (a larger module);" \
            "rustup component add rust-src" >&2
    fi
    # wasm-pack leaves snippets of earlier builds in place: they would ship in the package.
    rm -rf "$PKG/snippets"
    # --no-opt as well as the Cargo.toml metadata: wasm-pack must never run a wasm-opt of its
    # own.
    wasm-pack --log-level warn build client-wasm --target web --profile wasm-release \
        --out-dir pkg --no-opt
}
with_wasm_env wasm_pack_build || fail "wasm-pack build failed"

wasm="$PKG/${NAME}_bg.wasm"
glue="$PKG/$NAME.js"
for f in "$wasm" "$glue"; do [ -f "$f" ] || fail "wasm-pack did not produce $f"; done

# wasm-opt with exactly the features the module declares (its target_features section, as
# rustc wrote it). Not --all-features: that lets binaryen write GC-style type sections that
# browsers without WebAssembly GC (Safari < 18.2, for one) refuse to compile.
optimize() {
    local features=() key cache started before
    before=$(stat -c %s "$wasm")
    mapfile -t features < <("$WASM_OPT" "$wasm" --print-features 2>/dev/null)
    [ ${#features[@]} -gt 0 ] || fail "wasm-opt cannot read the features of $wasm"
    # --flatten --rereloop first: binaryen restructures the control flow before -Oz, which
    # it then runs twice (-0.6 KB gzipped over one -Oz), and again until the module stops
    # shrinking (--converge: -160 B, a few more seconds).
    local args=(--flatten --rereloop -Oz -Oz --converge --mvp-features "${features[@]}"
        --strip-debug --strip-producers --strip-target-features)
    key=$( { sha256sum <"$wasm"; "$WASM_OPT" --version; echo "${args[*]}"; } |
        sha256sum | cut -c1-32)
    cache="$ROOT/target/fastport-wasm-opt/$key.wasm"
    if [ -f "$cache" ]; then
        cp "$cache" "$wasm"
        echo "build-wasm: wasm-opt: unchanged input ($before bytes), optimized module from" \
            "the cache" >&2
        return 0
    fi
    started=$EPOCHREALTIME
    "$WASM_OPT" "$wasm" "${args[@]}" -o "$wasm.opt" || fail "wasm-opt failed on $wasm"
    # The output must load with the input's features alone (no feature section left to say so).
    "$WASM_OPT" "$wasm.opt" --mvp-features "${features[@]}" -o /dev/null >/dev/null 2>"$wasm.check" ||
        { tail -5 "$wasm.check" >&2; fail "wasm-opt's output needs features the input did not"; }
    rm -f "$wasm.check"
    mkdir -p "$(dirname "$cache")"
    find "$(dirname "$cache")" -name '*.wasm' -mtime +7 -delete 2>/dev/null || true
    cp "$wasm.opt" "$cache"
    mv "$wasm.opt" "$wasm"
    echo "build-wasm: wasm-opt -Oz: $before -> $(stat -c %s "$wasm") bytes in $(awk \
        -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s" \
        "($("$WASM_OPT" --version))" >&2
}

if [ "${FASTPORT_WASM_OPT:-1}" = 0 ]; then
    echo "build-wasm: FASTPORT_WASM_OPT=0: wasm-opt skipped (not what users get)" >&2
else
    optimize
fi

# The imports' names, hashed by wasm-bindgen, made one or two letters long in the module and
# its glue together (-1.5 KB gzipped of .wasm, -0.9 KB of JavaScript; the exports, which the
# package's types name in `InitOutput`, stay). Fails on glue of a shape it does not know.
node "$ROOT/scripts/wasm-short-imports.mjs" "$wasm" "$glue" ||
    fail "scripts/wasm-short-imports.mjs could not shorten the import names (above)"

# The package.json users see: name, version, description, license, repository, types, an ESM
# entry, files (with the module, its glue and its types) and keywords.
node - "$PKG/package.json" <<'EOF' || fail "client-wasm/pkg/package.json is incomplete (above)"
const fs = require("fs");
const p = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const problems = [];
const need = (ok, what) => { if (!ok) problems.push(what); };
need(p.name === "fastport-wasm", `name is ${JSON.stringify(p.name)}, expected "fastport-wasm"`);
for (const f of ["version", "description", "license", "types"]) need(p[f], `no ${f}`);
need(p.repository && p.repository.url, "no repository");
need(p.type === "module", `type is ${JSON.stringify(p.type)}, expected "module"`);
const entry = p.module || p.main;
need(entry, "no module or main entry");
need(Array.isArray(p.keywords) && p.keywords.length > 0, "no keywords");
const files = p.files || [];
for (const f of [entry, p.types, "fastport_wasm_bg.wasm"]) {
  need(files.includes(f), `files does not list ${f}`);
}
for (const f of files) need(fs.existsSync(require("path").join(process.argv[2], "..", f)), `${f} is missing`);
if (problems.length) {
  for (const problem of problems) console.error(`  package.json: ${problem}`);
  process.exit(1);
}
EOF
[ -f "$PKG/README.md" ] || echo "build-wasm: warning: no README.md in the package" >&2

size() { stat -c %s "$1"; }
gz() { gzip -9c "$1" | wc -c; }
version=$(node -p 'require(process.argv[1]).version' "$PKG/package.json")
echo "build-wasm: fastport-wasm $version in client-wasm/pkg"
printf '  %-24s %8s bytes  %8s gzip -9\n' "${NAME}_bg.wasm" "$(size "$wasm")" "$(gz "$wasm")"
printf '  %-24s %8s bytes  %8s gzip -9\n' "$NAME.js" "$(size "$glue")" "$(gz "$glue")"
# The driver's JavaScript half (js/driver.js), which wasm-bindgen copies under snippets/.
while IFS= read -r snippet; do
    printf '  %-24s %8s bytes  %8s gzip -9\n' "${snippet#"$PKG/"}" "$(size "$snippet")" \
        "$(gz "$snippet")"
done < <(find "$PKG/snippets" -name '*.js' 2>/dev/null | sort)
