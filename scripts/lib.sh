# shellcheck shell=bash
# The helpers the scripts share. Source it first, from scripts/ or from anywhere in the tree:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"             (scripts/*.sh)
#   . "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"  (web-demo/build.sh)
# It sets ROOT (the repository root) and defines functions; it changes no shell option, no
# directory and no trap, so it suits scripts under `set -euo pipefail` and interactive shells
# alike. Every function returns a status instead of exiting: callers say what failed, in their
# own words (`start_server ... || fail "..."`).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The wasm32 target, and the rustup toolchain of the fallback (Debian's rustc-web, see
# scripts/wasm-env.sh) where rustup cannot add that target.
WASM_TARGET=wasm32-unknown-unknown
WASM_FALLBACK_TOOLCHAIN=debweb

# --- The Rust environment ---------------------------------------------------------------------

# native_env: drops the wasm32 build environment of scripts/wasm-env.sh (build-std, the debweb
# toolchain), which a caller may have sourced: native builds and `cargo install` must not see it.
native_env() {
    unset RUSTUP_TOOLCHAIN RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER
}

# with_wasm_env COMMAND...: runs COMMAND (a program or a function) in a subshell with the wasm32
# environment of scripts/wasm-env.sh, so that the caller's native builds stay fast. Returns 1
# when no wasm32 toolchain is installed, else COMMAND's status.
with_wasm_env() {
    (
        native_env
        # shellcheck source=scripts/wasm-env.sh
        . "$ROOT/scripts/wasm-env.sh" && "$@"
    )
}

# wasm_target_installed: true when the default rustup toolchain has the wasm32 target.
# (`grep >/dev/null` rather than `grep -q`: reading to the end spares rustup a SIGPIPE, which
# pipefail would turn into a false "no".)
wasm_target_installed() {
    env -u RUSTUP_TOOLCHAIN rustup target list --installed 2>/dev/null |
        grep -x "$WASM_TARGET" >/dev/null
}

# wasm_fallback_linked: true when the fallback toolchain is linked into rustup.
wasm_fallback_linked() {
    rustup toolchain list 2>/dev/null | grep "^$WASM_FALLBACK_TOOLCHAIN\\b" >/dev/null
}

# cargo_target_dir: prints cargo's target directory (CARGO_TARGET_DIR, or target/ of the
# workspace), where the binaries the scripts run are built.
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))'
}

# --- npm --------------------------------------------------------------------------------------

# node_modules_fresh DIR [PACKAGE...]: true when DIR/node_modules was installed (npm's stamp,
# node_modules/.package-lock.json) after DIR/package.json and DIR/package-lock.json last changed,
# and holds every PACKAGE (a path under node_modules: playwright-core, .bin/wasm-opt).
node_modules_fresh() {
    local dir=$1 stamp="$1/node_modules/.package-lock.json" manifest package
    shift
    [ -f "$stamp" ] || return 1
    for manifest in "$dir/package.json" "$dir/package-lock.json"; do
        [ ! "$manifest" -nt "$stamp" ] || return 1
    done
    for package in "$@"; do
        [ -e "$dir/node_modules/$package" ] || return 1
    done
}

# npm_ci_if_stale DIR MESSAGE [PACKAGE...]: unless node_modules_fresh DIR PACKAGE..., prints
# MESSAGE and runs `npm ci` in DIR from its lock file (npm's cache first), all on stderr.
# Returns npm's status.
npm_ci_if_stale() {
    local dir=$1 message=$2
    shift 2
    node_modules_fresh "$dir" "$@" && return 0
    echo "$message" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline) >&2
}

# --- A server in the background ---------------------------------------------------------------

# start_server BINARY DIR [ARG...]: starts the fastport-server BINARY in the background on a free
# port of 127.0.0.1 with `--log warn` and the ARGs, its stdout in DIR/server.out and its log in
# DIR/server.err, and waits for its first line, `listening on HOST:PORT` (`listening on
# https://HOST:PORT` with TLS; 10 s at most). Sets SERVER_PID, SERVER_ADDR (HOST:PORT) and
# SERVER_SCHEME (http or https). Returns 1, SERVER_ADDR empty, when the server exits or stays
# silent instead; DIR/server.err then says why. Each call starts one more server (give each its
# own DIR); stop_server stops them all: call it from the script's EXIT trap.
SERVER_PIDS=()
SERVER_OUT_PIDS=()
start_server() {
    local binary=$1 dir=$2 first="" fd
    shift 2
    # A named pipe rather than polling the file: the first line is read the moment it comes,
    # and the end of the pipe says at once that the server exited.
    rm -f "$dir/server.fifo"
    mkfifo "$dir/server.fifo" || return 1
    "$binary" --listen 127.0.0.1:0 --log warn "$@" >"$dir/server.fifo" 2>"$dir/server.err" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    exec {fd}<"$dir/server.fifo"
    rm -f "$dir/server.fifo"
    IFS= read -r -t 10 -u "$fd" first || true
    printf '%s\n' "$first" >"$dir/server.out"
    SERVER_ADDR=${first#listening on }
    if [ -z "$first" ] || [ "$SERVER_ADDR" = "$first" ]; then
        SERVER_ADDR=
        exec {fd}<&-
        return 1
    fi
    SERVER_SCHEME=http
    if [ "${SERVER_ADDR#https://}" != "$SERVER_ADDR" ]; then
        SERVER_SCHEME=https
        SERVER_ADDR=${SERVER_ADDR#https://}
    fi
    # The rest of the banner, read to the end so that the server never blocks on a full pipe.
    cat <&"$fd" >>"$dir/server.out" &
    SERVER_OUT_PIDS+=($!)
    exec {fd}<&-
}

# stop_server: stops every server of start_server (SIGTERM) and waits for them and for the last
# of their stdout; nothing when none runs.
stop_server() {
    local pid
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
    SERVER_PID=
    for pid in ${SERVER_OUT_PIDS[@]+"${SERVER_OUT_PIDS[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    SERVER_OUT_PIDS=()
}
