#!/usr/bin/env bash
# The whole check, as CI runs it (`npm test`, `.ci/run`): setup, format, lints, native tests,
# the fuzz targets for a bounded time, the wasm32 build and the unit tests in headless
# Chromium. Stops at the first failing step and names it; ends with the time of each step and
# the number of tests run.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# Native steps run without the wasm environment (build-std would slow them down); the wasm
# steps set it in a subshell from scripts/wasm-env.sh.
native_env
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-always}"

test_log=$(mktemp)
trap 'rm -f "$test_log"' EXIT
step_names=()
step_seconds=()
started_all=$EPOCHREALTIME

elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

summary() {
    local i
    echo
    echo "==== timings"
    for i in "${!step_names[@]}"; do
        printf '  %8ss  %s\n' "${step_seconds[$i]}" "${step_names[$i]}"
    done
    printf '  %8ss  total\n' "$(elapsed_since "$started_all")"
}

# step NAME COMMAND...: runs one step under a header; stops everything when it fails.
step() {
    local name=$1 started=$EPOCHREALTIME status=0
    shift
    printf '\n==== %s\n' "$name"
    "$@" || status=$?
    step_names+=("$name")
    step_seconds+=("$(elapsed_since "$started")")
    if [ $status -ne 0 ]; then
        summary
        echo "test: FAILED at step \"$name\" (exit $status)" >&2
        exit $status
    fi
}

# Keeps a copy of a test step's output, to count the tests at the end.
logged() { "$@" 2>&1 | tee -a "$test_log"; }

step "setup" "$ROOT/scripts/setup.sh"
step "cargo fmt --check" cargo fmt --all --check
step "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test (native)" logged cargo test --workspace --locked
step "fuzz targets, ${FUZZ_SECONDS:-20} s each from the seed corpus (scripts/fuzz.sh)" \
    "$ROOT/scripts/fuzz.sh"
step "protocol vectors, checked by an independent decoder" python3 scripts/check-protocol.py
step "wasm32 build of fastport-proto and fastport-client-core" \
    with_wasm_env cargo build -p fastport-proto -p fastport-client-core \
    --target wasm32-unknown-unknown --locked
# --lib: under wasm32, cargo compiles doc tests but the runner never executes them, so they would
# count as passed without running.
step "proto unit tests (codec, topics, names) in headless Chromium" \
    logged with_wasm_env wasm-pack test --headless --chrome proto --lib
step "client-core unit tests in headless Chromium" \
    logged with_wasm_env wasm-pack test --headless --chrome client-core --lib
step "browser SDK (fastport-wasm) in headless Chromium against a real server" \
    logged "$ROOT/scripts/test-wasm.sh"
step "npm package fastport-wasm: packed, installed in a Vite app and a plain page, in Chromium" \
    "$ROOT/scripts/test-npm-package.sh"
step "browser SDK in Chromium fails over between two server nodes on one Redis (scripts/test-wasm-e2e.sh)" \
    "$ROOT/scripts/test-wasm-e2e.sh"
step "chat demo end to end in Chromium (two people, presence, private room, restart)" \
    "$ROOT/scripts/test-demo.sh"

summary
# "test result: ok. 12 passed; 0 failed; ..." from cargo test and wasm-bindgen-test-runner.
sed 's/\x1b\[[0-9;]*m//g' "$test_log" | awk '
    /^test result: / { for (i = 1; i <= NF; i++) {
        if ($(i + 1) ~ /^passed/) passed += $i
        if ($(i + 1) ~ /^failed/) failed += $i } }
    END { printf "tests: %d passed, %d failed\n", passed, failed }'
