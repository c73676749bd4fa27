#!/usr/bin/env bash
# fastPort vs Mosquitto (MQTT over TCP and WebSocket), NATS (TCP and WebSocket) and Redis:
# throughput, latency at a fixed rate, memory of 10,000 idle connections; rewrites the
# generated section at the end of docs/BENCHMARKS.md. Takes about 13 minutes on 2 cores.
# Extra arguments go to fastport-bench, e.g. --scenarios throughput,latency,idle,
# --brokers fastport,mosquitto,mosquitto-ws,nats,nats-ws,redis, --duration 10 (see --help).
# Honours CARGO_TARGET_DIR (default: target/).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
native_env

scripts/setup.sh --bench
# fastport-bench starts the fastport-server next to its own binary: build both in release.
cargo build --release -p fastport-server -p fastport-bench
exec "$(cargo_target_dir)/release/fastport-bench" --write-docs docs/BENCHMARKS.md "$@"
