#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (libFuzzer, through cargo-fuzz) for a bounded time, starting
# from the committed seed corpus, and fails when any target finds an input that makes it
# panic, hang or run out of memory. Prints each target's number of executed inputs.
#
#   scripts/fuzz.sh                      every target, FUZZ_SECONDS (20) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh hello admin_api
#
# Environment:
#   FUZZ_SECONDS    time per target (libFuzzer's -max_total_time), default 20
#   FUZZ_SANITIZER  cargo-fuzz's sanitizer: none (default; our crates forbid `unsafe`, so
#                   the findings are panics, hangs and memory blowups) or address
#   FUZZ_JOBS       targets fuzzed at once, default the number of cores
#   FUZZ_TOOLCHAIN  the rustup toolchain: nightly when installed, else stable with
#                   RUSTC_BOOTSTRAP=1 (cargo-fuzz passes nightly-only flags)
#
# Inputs the fuzzer finds are kept in fuzz/target/work-corpus/ (reused by the next run) and
# crashes in fuzz/artifacts/<target>/; neither is committed. docs/SECURITY.md ("Fuzzing")
# says how to turn a crash into a regression test.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
native_env

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
# Fixed, so that a memory blowup fails the same way on every machine.
RSS_LIMIT_MB=2048
# One input running this long is a hang. Generous: the machines running this are shared.
INPUT_TIMEOUT_S=60
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}

fail() {
    printf 'fuzz: %s\n' "$*" >&2
    exit 1
}

[[ $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]] ||
    fail "FUZZ_SECONDS must be a whole number of seconds, not \`$FUZZ_SECONDS\`"
[[ $FUZZ_JOBS =~ ^[1-9][0-9]*$ ]] || fail "FUZZ_JOBS must be a whole number, not \`$FUZZ_JOBS\`"
cargo fuzz --version >/dev/null 2>&1 ||
    fail "cargo-fuzz is not installed: run scripts/setup.sh (or cargo install cargo-fuzz --locked)"

# cargo-fuzz builds with flags only nightly accepts; stable takes them with RUSTC_BOOTSTRAP=1.
if [ -z "${FUZZ_TOOLCHAIN:-}" ]; then
    if rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null; then
        FUZZ_TOOLCHAIN=nightly
    else
        FUZZ_TOOLCHAIN=stable
    fi
fi
if ! rustc +"$FUZZ_TOOLCHAIN" --version 2>/dev/null | grep -e '-nightly' >/dev/null; then
    export RUSTC_BOOTSTRAP=1
fi
echo "fuzz: toolchain $(rustc +"$FUZZ_TOOLCHAIN" --version)${RUSTC_BOOTSTRAP:+ with RUSTC_BOOTSTRAP=1}, sanitizer $FUZZ_SANITIZER, ${FUZZ_SECONDS}s per target"

cd "$ROOT/fuzz"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +"$FUZZ_TOOLCHAIN" fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || fail "no fuzz targets in fuzz/Cargo.toml"

# The committed fuzz/Cargo.lock is what gets built, as --locked does for the workspace.
cargo +"$FUZZ_TOOLCHAIN" metadata --locked --format-version 1 >/dev/null ||
    fail "fuzz/Cargo.lock is out of date: run \`cargo update --workspace\` in fuzz/ and commit it"

host=$(rustc +"$FUZZ_TOOLCHAIN" -vV | sed -n 's/^host: //p')
started=$SECONDS
# One build for every target: they share all their dependencies.
# 16 codegen units (cargo-fuzz's default is 1) and fuzz/Cargo.toml's opt-level 1 keep a cold
# build short; the targets run a little slower.
cargo +"$FUZZ_TOOLCHAIN" fuzz build --release --debug-assertions \
    --sanitizer "$FUZZ_SANITIZER" --codegen-units 16 ||
    fail "the fuzz targets do not build"
echo "fuzz: built in $((SECONDS - started))s"

# run_target TARGET: runs one target; its output goes to fuzz/target/fuzz-TARGET.log and its
# exit status to fuzz/target/fuzz-TARGET.status.
run_target() {
    local target=$1 status=0
    local work=target/work-corpus/$target artifacts=artifacts/$target dict=()
    mkdir -p "$work" "$artifacts"
    # A target's dictionary (its keywords, for text formats), if it has one.
    [ ! -f "dict/$target.dict" ] || dict=(-dict="dict/$target.dict")
    # New inputs go to the first folder (the work corpus); the seeds are only read.
    "target/$host/release/$target" "$work" "corpus/$target" \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$RSS_LIMIT_MB" \
        -timeout="$INPUT_TIMEOUT_S" -artifact_prefix="$artifacts/" \
        -print_final_stats=1 ${dict[@]+"${dict[@]}"} >"target/fuzz-$target.log" 2>&1 ||
        status=$?
    echo "$status" >"target/fuzz-$target.status"
}

for target in "${targets[@]}"; do
    [ -x "target/$host/release/$target" ] ||
        fail "no fuzz target \`$target\` (see \`cargo fuzz list\` in fuzz/)"
    [ -d "corpus/$target" ] || fail "no seed corpus fuzz/corpus/$target for $target"
    rm -f "target/fuzz-$target.status"
done
# libFuzzer runs on one core: FUZZ_JOBS targets run side by side.
echo "fuzz: ${#targets[@]} targets, ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
fuzz_started=$SECONDS
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do
        wait -n || true
    done
    run_target "$target" &
done
wait

results=()
failed=()
for target in "${targets[@]}"; do
    log=target/fuzz-$target.log
    status=$(cat "target/fuzz-$target.status" 2>/dev/null || echo "?")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$status" != 0 ]; then
        tail -n 40 "$log" >&2
        crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "fuzz: $target FAILED (exit $status); input: fuzz/${crash:-?}; log: fuzz/$log" >&2
        echo "      replay it: fuzz/target/$host/release/$target fuzz/${crash:-<input>}" >&2
        failed+=("$target")
    fi
    results+=("$(printf '%-18s %12s executions  %s' "$target" "${execs:-?}" \
        "$([ "$status" = 0 ] && echo ok || echo FAILED)")")
done

echo
echo "==== fuzz results (${FUZZ_SECONDS}s per target: $((SECONDS - fuzz_started))s fuzzing, $((SECONDS - started))s with the build)"
printf '  %s\n' "${results[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    fail "${#failed[@]} target(s) failed: ${failed[*]}"
fi
