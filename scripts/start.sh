#!/usr/bin/env bash
# `npm start`: builds the chat demo and the broker, and starts the broker on 127.0.0.1:8080 with
# the demo session, serving the chat demo (web-demo/dist) at http://127.0.0.1:8080/ (the server
# prints the addresses). Extra arguments go to the server (`npm start -- --listen 0.0.0.0:9000 --insecure`: the demo session is refused beyond loopback otherwise);
# `fastport-server --help` lists them.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

native_env
echo "==> building fastport-server (release)"
cargo build --release --locked -p fastport-server
echo "==> building the chat demo (web-demo/build.sh: fastport-wasm, then vite)"
"$ROOT/web-demo/build.sh"
exec "$(cargo_target_dir)/release/fastport-server" "$@"
