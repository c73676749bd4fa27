#!/usr/bin/env bash
# fastPort vs Mosquitto (MQTT/TCP) and NATS (TCP), same scenarios, one run; rewrites the
# generated section at the end of docs/BENCHMARKS.md. Extra arguments go to fastport-bench
# (e.g. --duration 10, --brokers fastport,nats).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup.sh --bench
# fastport-bench starts target/release/fastport-server: build both in release.
cargo build --release -p fastport-server -p fastport-bench
exec target/release/fastport-bench --write-docs docs/BENCHMARKS.md "$@"
