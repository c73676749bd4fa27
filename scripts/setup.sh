#!/usr/bin/env bash
# Installs what fastPort's build and tests need, and nothing when it is all there already.
#
# Idempotent and quick on a ready machine (a few seconds: only local checks run). Works as root,
# or as a user with sudo for the Debian packages. Every step that does work prints "==> ...";
# anything that cannot be installed stops the script with a message naming it.
#
# The wasm32 toolchain: `rustup target add wasm32-unknown-unknown` first; where rustup cannot
# download (it hangs), the fallback of shared/TOOLCHAIN.md: Debian's rustc-web + std source,
# linked as the rustup toolchain `debweb` and used with build-std. scripts/wasm-env.sh picks the
# environment for whichever of the two is in place.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# Native cargo and `cargo install` must not inherit a wasm environment sourced by the caller.
native_env

# WASM_TARGET and WASM_FALLBACK_TOOLCHAIN come from scripts/lib.sh.
WASM_PACK_VERSION=0.15.1 # installed when no wasm-pack is on PATH
CARGO_FUZZ_VERSION=0.13.2 # installed when `cargo fuzz` is missing (scripts/fuzz.sh)
# libfuzzer-sys compiles libFuzzer (C++) when the fuzz targets are built.
FUZZ_PACKAGES=(g++)
FALLBACK_PACKAGES=(rustc-web cargo-web rust-web-src lld-22 binaryen)
FALLBACK_SYSROOT_TARGET_DIR=/usr/lib/rustlib/$WASM_TARGET/lib
BROWSER_PACKAGES=(chromium chromium-driver fonts-liberation)
# wasm-opt for `wasm-pack build --release`; found on PATH, wasm-pack does not download it.
WASM_TOOL_PACKAGES=(binaryen)
# Servers the tests start (benchmark peers, end-to-end services), installed like the rest.
# redis-server (with redis-cli, from redis-tools): the Redis engine's tests start their own
# redis-server through fastport-harness, on a free port of 127.0.0.1 with a config of their own
# in a temp dir. Debian's package may also start a system daemon on port 6379 (where an init
# system runs): that does not matter, as no test uses that port or that daemon.
SERVICE_PACKAGES=(redis-server)
# Benchmark peers for scripts/bench-compare.sh, installed only with `setup.sh --bench`.
BENCH_PACKAGES=(mosquitto nats-server redis-server)
WITH_BENCH=0
for arg in "$@"; do
    case "$arg" in
    --bench) WITH_BENCH=1 ;;
    *)
        printf 'setup: unknown option %s (known: --bench)\n' "$arg" >&2
        exit 2
        ;;
    esac
done

setup_started=$SECONDS
say() { printf '==> %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
note() { printf '    note: %s\n' "$*"; }
die() {
    printf 'setup: ERROR: %s\n' "$*" >&2
    exit 1
}
# Runs a command, prints how long it took, and returns its status.
timed() {
    local started=$SECONDS status=0
    "$@" || status=$?
    printf '    (took %ss)\n' $((SECONDS - started))
    return $status
}
quiet() { "$@" >/dev/null; }
# cargo_install CRATE VERSION [ARGS...]: with the crate's own Cargo.lock first. That lock can
# name a dependency version that the registry no longer serves (yanked); then without it.
cargo_install() {
    local crate=$1 version=$2
    shift 2
    cargo install --quiet --locked "$crate" --version "=$version" "$@" && return 0
    note "cargo install --locked $crate $version failed: retrying with current dependencies"
    cargo install --quiet "$crate" --version "=$version" "$@"
}

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=(no-sudo)
fi
as_root() {
    [ "${SUDO[0]:-}" != no-sudo ] || die "need root for \`$*\`: run as root or install sudo"
    ${SUDO[@]+"${SUDO[@]}"} "$@"
}

# --- Debian packages --------------------------------------------------------------------------
apt_updated=0
deb_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}
missing_debs() {
    local pkg
    for pkg in "$@"; do deb_installed "$pkg" || printf '%s\n' "$pkg"; done
}
# apt_install LABEL PACKAGE...: installs the packages that are missing, quietly.
apt_install() {
    local label=$1
    shift
    local missing
    mapfile -t missing < <(missing_debs "$@")
    if [ ${#missing[@]} -eq 0 ]; then
        ok "$label ($*)"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "$label: Debian packages missing (${missing[*]}) and no apt-get here: install them"
    if [ $apt_updated -eq 0 ]; then
        say "apt-get update (missing: ${missing[*]})..."
        # An unreachable extra source makes apt-get update fail although Debian's lists
        # arrived; the install below tells whether what we need is there.
        timed as_root apt-get update -qq ||
            note "apt-get update reported errors; trying the install anyway"
        apt_updated=1
    fi
    say "installing $label (Debian packages: ${missing[*]})..."
    timed quiet as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
        die "could not install the Debian packages ${missing[*]} ($label)"
}

# --- Rust -------------------------------------------------------------------------------------
check_rust() {
    command -v rustup >/dev/null 2>&1 ||
        die "rustup not found: install Rust with rustup (https://rustup.rs)"
    cargo fmt --version >/dev/null 2>&1 ||
        die "rustfmt missing from the default toolchain: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 ||
        die "clippy missing from the default toolchain: rustup component add clippy"
    ok "rust $(rustc --version | cut -d' ' -f2) with rustfmt and clippy"
}

fallback_ready() {
    wasm_fallback_linked && [ -d "$FALLBACK_SYSROOT_TARGET_DIR" ] &&
        [ -z "$(missing_debs "${FALLBACK_PACKAGES[@]}")" ]
}

install_wasm_target() {
    if wasm_target_installed; then
        ok "$WASM_TARGET target (rustup)"
        return 0
    fi
    if fallback_ready; then
        ok "$WASM_TARGET via the fallback toolchain $WASM_FALLBACK_TOOLCHAIN ($(rustc +"$WASM_FALLBACK_TOOLCHAIN" --version))"
        return 0
    fi
    say "rustup target add $WASM_TARGET (20 s at most)..."
    if timed timeout 20 rustup target add "$WASM_TARGET" </dev/null; then
        return 0
    fi
    note "rustup could not add $WASM_TARGET: using Debian's rustc-web + build-std (shared/TOOLCHAIN.md)"
    apt_install "the fallback wasm toolchain" "${FALLBACK_PACKAGES[@]}"
    for tool in /usr/bin/rustc /usr/bin/cargo /usr/lib/rustlib/src/rust/library wasm-ld-22 wasm-opt; do
        [ -e "$tool" ] || command -v "$tool" >/dev/null 2>&1 ||
            die "the fallback packages did not provide $tool"
    done
    if ! wasm_fallback_linked; then
        say "rustup toolchain link $WASM_FALLBACK_TOOLCHAIN /usr..."
        rustup toolchain link "$WASM_FALLBACK_TOOLCHAIN" /usr
    fi
    if [ ! -d "$FALLBACK_SYSROOT_TARGET_DIR" ]; then
        # wasm-pack checks that this folder exists, though build-std never uses it.
        say "mkdir -p $FALLBACK_SYSROOT_TARGET_DIR (wasm-pack's target check)..."
        as_root mkdir -p "$FALLBACK_SYSROOT_TARGET_DIR"
    fi
    fallback_ready || die "the fallback toolchain $WASM_FALLBACK_TOOLCHAIN is still incomplete"
    ok "$WASM_TARGET via $WASM_FALLBACK_TOOLCHAIN ($(rustc +"$WASM_FALLBACK_TOOLCHAIN" --version))"
}

# The standard library's source, so scripts/build-wasm.sh can rebuild std for size. Optional:
# without it the package is built with the prebuilt std (larger). The fallback toolchain ships it.
install_rust_src() {
    if [ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ]; then
        ok "rust-src (std rebuilt for size in the npm package)"
        return 0
    fi
    if wasm_target_installed; then
        say "rustup component add rust-src (30 s at most)..."
        if timed timeout 30 rustup component add rust-src </dev/null; then
            return 0
        fi
    fi
    note "no rust-src: the npm package builds with the prebuilt std (a larger module)"
}

install_browser() {
    apt_install "chromium (Debian package)" "${BROWSER_PACKAGES[@]}"
    command -v chromium >/dev/null 2>&1 || die "chromium not on PATH after its install"
    command -v chromedriver >/dev/null 2>&1 || die "chromedriver not on PATH after its install"
}

install_wasm_pack() {
    apt_install "wasm-opt (Debian package)" "${WASM_TOOL_PACKAGES[@]}"
    if command -v wasm-pack >/dev/null 2>&1; then
        ok "$(wasm-pack --version)"
        return 0
    fi
    say "installing wasm-pack $WASM_PACK_VERSION (cargo install, about 2 min)..."
    timed cargo_install wasm-pack "$WASM_PACK_VERSION" ||
        die "cargo install wasm-pack failed"
    command -v wasm-pack >/dev/null 2>&1 ||
        die "wasm-pack installed but not on PATH: add ~/.cargo/bin to PATH"
}

# cargo-fuzz for scripts/fuzz.sh. Its builds need nightly flags: scripts/fuzz.sh uses the
# nightly toolchain when rustup has one, else stable with RUSTC_BOOTSTRAP=1, so nothing more is
# installed for them here.
install_cargo_fuzz() {
    if ! command -v c++ >/dev/null 2>&1; then
        apt_install "a C++ compiler for libFuzzer" "${FUZZ_PACKAGES[@]}"
    fi
    if cargo fuzz --version >/dev/null 2>&1; then
        ok "$(cargo fuzz --version)"
        return 0
    fi
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install, about 1 min)..."
    timed cargo_install cargo-fuzz "$CARGO_FUZZ_VERSION" ||
        die "cargo install cargo-fuzz failed"
    cargo fuzz --version >/dev/null 2>&1 ||
        die "cargo-fuzz installed but not on PATH: add ~/.cargo/bin to PATH"
}

# The one version of the wasm-bindgen crate in Cargo.lock, or nothing.
locked_wasm_bindgen_version() {
    [ -f Cargo.lock ] || return 0
    awk '/^\[\[package\]\]/ { name = "" }
         /^name = / { name = $3 }
         /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3 }' Cargo.lock |
        sort -u
}

install_wasm_bindgen_cli() {
    local wanted have=""
    wanted=$(locked_wasm_bindgen_version)
    if [ -z "$wanted" ]; then
        note "Cargo.lock has no wasm-bindgen yet: wasm-bindgen-cli skipped"
        return 0
    fi
    [ "$(printf '%s\n' "$wanted" | wc -l)" -eq 1 ] ||
        die "Cargo.lock holds several wasm-bindgen versions ($(paste -sd, - <<<"$wanted")): unify them first"
    if command -v wasm-bindgen >/dev/null 2>&1 && command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
        have=$(wasm-bindgen --version | awk '{ print $2 }')
    fi
    if [ "$have" = "$wanted" ]; then
        ok "wasm-bindgen-cli $have (= Cargo.lock)"
        return 0
    fi
    say "installing wasm-bindgen-cli $wanted (cargo install, about 5 min; found: ${have:-none})..."
    timed cargo_install wasm-bindgen-cli "$wanted" --force ||
        die "cargo install wasm-bindgen-cli $wanted failed"
    have=$(wasm-bindgen --version | awk '{ print $2 }')
    [ "$have" = "$wanted" ] ||
        die "wasm-bindgen on PATH is $have, not $wanted: is another one before ~/.cargo/bin?"
}

# npm install when the root package.json has dependencies and node_modules is older than it or
# its lock file (the demo and the package test keep their own node_modules).
install_npm_packages() {
    [ -f package.json ] || return 0
    command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 or newer"
    local needed
    needed=$(node -e '
        const p = require("./package.json");
        const deps = { ...p.dependencies, ...p.devDependencies, ...p.optionalDependencies };
        console.log(Object.keys(deps).length > 0 || (p.workspaces || []).length > 0 ? 1 : 0);')
    if [ "$needed" != 1 ]; then
        ok "npm: no dependencies yet"
        return 0
    fi
    if node_modules_fresh "$ROOT"; then
        ok "npm packages (node_modules up to date)"
        return 0
    fi
    say "npm install..."
    timed npm install --no-audit --no-fund || die "npm install failed"
    # npm leaves its stamp alone when nothing changed: mark node_modules as checked.
    touch node_modules/.package-lock.json
}

install_services() {
    if [ ${#SERVICE_PACKAGES[@]} -eq 0 ]; then
        return 0
    fi
    apt_install "servers for the tests" "${SERVICE_PACKAGES[@]}"
}

install_bench_peers() {
    [ $WITH_BENCH -eq 1 ] || return 0
    apt_install "benchmark peers (--bench)" "${BENCH_PACKAGES[@]}"
}

check_rust
install_wasm_target
install_rust_src
install_browser
install_wasm_pack
install_wasm_bindgen_cli
install_cargo_fuzz
install_npm_packages
install_services
install_bench_peers
echo "setup: ready ($((SECONDS - setup_started))s)"
