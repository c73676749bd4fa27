#!/usr/bin/env bash
# The Redis engine's work per QoS 1 message, on loopback: a redis-server of its own (no
# persistence, as fastport-bench's `fastport-redis`), a fastport-server with `--redis` on it,
# then a fixed number of QoS 1 messages (`fastport-bench --messages N`: fan-in 4 -> 1 and
# fan-out 1 -> 16, 64 B and 1 KiB, `--window 512`, the bench's default: a fixed count ends
# when every message reached every subscriber, and at `--window 1920` already some
# deliveries were dropped (`fastport_dropped_total`) and the count never ended). For each load, divided by the messages
# published: Redis commands (`INFO commandstats`, the scripts' inner calls included, and
# `total_commands_processed`), journal writes (`fastport_store_writes_total`: one pipeline,
# one round trip each), the mean write time, and the CPU seconds of Redis (`INFO cpu`) and of
# the server (/proc/PID/stat). docs/BENCHMARKS.md, "Redis engine", has the numbers.
#
#   scripts/bench-redis-work.sh [--no-build] [--messages N] [--window N] [--aof]
#
# --aof runs Redis with `appendonly yes` and `appendfsync everysec`.
# Honours CARGO_TARGET_DIR (default: target/).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
native_env

build=1 messages=40960 window=512 aof=()
while [ $# -gt 0 ]; do
    case $1 in
    --no-build) build=0 ;;
    --messages) messages=$2 && shift ;;
    --window) window=$2 && shift ;;
    --aof) aof=(--appendonly yes --appendfsync everysec) ;;
    *) echo "bench-redis-work.sh: unknown argument $1" >&2 && exit 2 ;;
    esac
    shift
done

if [ "$build" = 1 ]; then
    cargo build --release --locked -p fastport-server -p fastport-bench
fi
bin=$(cargo_target_dir)/release
work=$(mktemp -d)
REDIS_PID=""
trap 'stop_server; [ -z "$REDIS_PID" ] || kill "$REDIS_PID" 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    ${aof[@]+"${aof[@]}"} >"$work/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
start_server "$bin/fastport-server" "$work" --redis "redis://127.0.0.1:$port/0" || {
    cat "$work/server.err" >&2
    exit 1
}

# counters: "REDIS_COMMANDS SERVER_WRITES WRITE_SECONDS REDIS_CPU SERVER_CPU_TICKS".
counters() {
    local commands cpu writes seconds ticks
    commands=$(redis-cli -p "$port" info stats | tr -d '\r' |
        awk -F: '$1 == "total_commands_processed" { print $2 }')
    cpu=$(redis-cli -p "$port" info cpu | tr -d '\r' |
        awk -F: '$1 == "used_cpu_user" || $1 == "used_cpu_sys" { s += $2 } END { print s }')
    writes=$(curl -fsS "http://$SERVER_ADDR/metrics" | awk '$1 == "fastport_store_writes_total" { print $2 }')
    seconds=$(curl -fsS "http://$SERVER_ADDR/metrics" | awk '$1 == "fastport_store_write_seconds_total" { print $2 }')
    # utime + stime, fields 14 and 15 (the command name has no spaces here).
    ticks=$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")
    echo "$commands $writes $seconds $cpu $ticks"
}
# calls: "NAME CALLS MICROSECONDS" per command from INFO commandstats.
calls() {
    redis-cli -p "$port" info commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p' | sort
}

hz=$(getconf CLK_TCK)
echo "Redis engine work per QoS 1 message ($messages messages per load, window $window), $(redis-server --version | cut -d' ' -f3)${aof[*]:+, ${aof[*]}}, $(uptime | sed 's/.*\(load.*\)/\1/')"
for shape in fan-in fan-out; do
    for payload in 64 1024; do
        flag=()
        [ "$shape" = fan-in ] || flag=(--fan-out)
        read -r c0 w0 s0 r0 t0 <<<"$(counters)"
        calls >"$work/calls.before"
        line=$("$bin/fastport-bench" --messages "$messages" --server "$SERVER_ADDR" --qos 1 \
            --payload "$payload" --window "$window" ${flag[@]+"${flag[@]}"})
        # The journal writes the last settles and receipts after the load returns.
        sleep 1
        read -r c1 w1 s1 r1 t1 <<<"$(counters)"
        calls >"$work/calls.after"
        # --messages rounds up to whole batches of 64.
        n=$(sed 's/^\([0-9]*\) messages.*/\1/' <<<"$line")
        echo "$line"
        awk -v n="$n" -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v s0="$s0" -v s1="$s1" \
            -v r0="$r0" -v r1="$r1" -v t="$((t1 - t0))" -v hz="$hz" 'BEGIN {
            printf "  %.2f Redis commands/msg, %d writes (%.0f msgs per write, %.2f ms each), ", c / n, w, n / w, (s1 - s0) * 1000 / w
            printf "CPU per msg: Redis %.1f us, server %.1f us\n", (r1 - r0) * 1e6 / n, t / hz * 1e6 / n
        }'
        join -a2 "$work/calls.before" "$work/calls.after" | awk -v n="$n" '{
            d = (NF == 5 ? $4 - $2 : $2); u = (NF == 5 ? $5 - $3 : $3)
            if (d > 0) printf "%s %.2f (%.2f us)\n", $1, d / n, u / n
        }' | sort -k2 -rn | tr '\n' ' ' | sed 's/^/  per msg: /; s/ $/\n/'
    done
done
