# shellcheck shell=bash
# Source me (`. scripts/wasm-env.sh`) before a wasm32 build or test; never for native builds.
#
# With rustup's wasm32-unknown-unknown target in the default toolchain it sets nothing. Else it
# sets the environment of the fallback in shared/TOOLCHAIN.md (step 5): Debian's rustc-web,
# linked as the rustup toolchain `debweb`, building std from source for wasm32. That build-std
# environment would slow native builds down, so keep it in a subshell:
#   ( . scripts/wasm-env.sh && wasm-pack test --headless --chrome client-core )
# Sets FASTPORT_WASM_TOOLCHAIN to `rustup` or `debweb`; returns 1 when neither is installed.
# Also defines the helpers of scripts/lib.sh in the shell that sources it.

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if wasm_target_installed; then
    export FASTPORT_WASM_TOOLCHAIN=rustup
    echo "wasm-env: rustup's $WASM_TARGET target (no extra environment)" >&2
elif wasm_fallback_linked; then
    export FASTPORT_WASM_TOOLCHAIN=$WASM_FALLBACK_TOOLCHAIN
    export RUSTUP_TOOLCHAIN=$WASM_FALLBACK_TOOLCHAIN RUSTC_BOOTSTRAP=1 \
        CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
    echo "wasm-env: fallback toolchain debweb: RUSTUP_TOOLCHAIN=$RUSTUP_TOOLCHAIN" \
        "RUSTC_BOOTSTRAP=$RUSTC_BOOTSTRAP CARGO_UNSTABLE_BUILD_STD=$CARGO_UNSTABLE_BUILD_STD" \
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=$CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER" >&2
else
    echo "wasm-env: ERROR: no wasm32 toolchain (neither rustup's wasm32-unknown-unknown target" \
        "nor the debweb toolchain): run scripts/setup.sh" >&2
    # shellcheck disable=SC2317 # exit when executed instead of sourced
    return 1 2>/dev/null || exit 1
fi
