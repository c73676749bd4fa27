#!/usr/bin/env bash
# Memory of one fastport-server over a load run, on loopback, in under a minute: its resident
# set (VmRSS; RssAnon is the heap part) when started, after password checks (logins to
# sessions that do not exist: argon2id at full cost, as a wrong password), and after a
# QoS 0 and a QoS 1 fan-out load (`fastport-bench --messages N --fan-out`: 1 publisher ->
# 16 subscribers, every client gone and, for a build that trims, the memory the load freed
# given back when it is read); then the memory per idle subscribed
# connection (`fastport-bench --scenarios idle`, on a fresh server). docs/BENCHMARKS.md,
# "Memory that returns", has the numbers.
#
#   scripts/bench-memory.sh [--no-build] [--server BINARY] [--connections N]
#                           [--server-env VAR=VALUE]...
#
# --server measures another build of fastport-server (default: the release build here).
# --server-env sets a variable for the server only (repeatable), e.g. to compare allocators:
#   --server-env GLIBC_TUNABLES=glibc.malloc.arena_max=2
#   --server-env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
# Honours CARGO_TARGET_DIR (default: target/).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
native_env

build=1 server="" connections=10000 server_env=()
while [ $# -gt 0 ]; do
    case $1 in
    --no-build) build=0 ;;
    --server) server=$2 && shift ;;
    --connections) connections=$2 && shift ;;
    --server-env) server_env+=("$2") && shift ;;
    *) echo "bench-memory.sh: unknown argument $1" >&2 && exit 2 ;;
    esac
    shift
done

if [ "$build" = 1 ]; then
    cargo build --release --locked -p fastport-server -p fastport-client -p fastport-bench
fi
bin=$(cargo_target_dir)/release
server=${server:-$bin/fastport-server}
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT

# The server, with --server-env in its environment only.
{
    printf '#!/bin/sh\nexec env'
    printf ' %q' ${server_env[@]+"${server_env[@]}"} "$(realpath "$server")"
    printf ' "$@"\n'
} >"$work/server.sh"
chmod +x "$work/server.sh"

start_server "$work/server.sh" "$work" || {
    cat "$work/server.err" >&2
    exit 1
}

# status FIELD: a field of the server's /proc/PID/status, in KiB.
status() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER_PID/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
row() {
    printf '%-42s %8s MiB %8s MiB  %s\n' "$1" "$(mib "$(status VmRSS)")" \
        "$(mib "$(status RssAnon)")" "${2:-}"
}
# settled: every client has left (the connections gauge is back to 0; 10 s at most).
settled() {
    local i
    for i in $(seq 100); do
        curl -fsS "http://$SERVER_ADDR/metrics" | grep '^fastport_connections 0$' >/dev/null && return
        sleep 0.1
    done
}
# guesses N: N logins at once to sessions that do not exist, each refused after its check.
guesses() {
    local i pids=()
    for i in $(seq "$1"); do
        FASTPORT_URL="ws://$SERVER_ADDR/ws" "$bin/fastport" pub --session "nosuch-$RANDOM-$i" \
            --password guess --plaintext memory/probe x >/dev/null 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    settled
}
# trims: the server's count of memory trims (empty for a build that has none).
trims() {
    curl -fsS "http://$SERVER_ADDR/metrics" | awk '$1 == "fastport_memory_trims_total" { print $2 }'
}
# trimmed BEFORE: waits until the server has given back what it freed after a load (a trim
# more than BEFORE; 10 s at most); nothing for a build that does not trim.
trimmed() {
    local i
    [ -n "$1" ] || return 0
    for i in $(seq 100); do
        [ "$(trims)" -gt "$1" ] && return
        sleep 0.1
    done
}
# fan_out QOS PAYLOAD MESSAGES: the load; prints deliveries per second.
fan_out() {
    local before
    before=$(trims)
    "$bin/fastport-bench" --messages "$3" --server "$SERVER_ADDR" --fan-out --qos "$1" \
        --payload "$2" | sed 's/.*: \([0-9]*\) msgs\/s.*/\1 deliveries\/s/'
    settled
    trimmed "$before"
}

echo "fastport-server memory ($(realpath "$server")), $(uptime | sed 's/.*\(load.*\)/\1/')"
[ ${#server_env[@]} -eq 0 ] || echo "server environment: ${server_env[*]}"
printf '%-42s %12s %12s\n' "" "VmRSS" "RssAnon"
sleep 1
row "started"
guesses 1
checks() {
    curl -fsS "http://$SERVER_ADDR/metrics" |
        awk '/^fastport_password_checks_total\{outcome="mismatch"\}/ { print $2 " checks so far" }'
}
row "after 1 password check" "$(checks)"
guesses 8
row "after 8 more logins at once" "$(checks)"
result=$(fan_out 0 64 1000000)
row "after QoS 0 fan-out 64 B, clients gone" "$result"
result=$(fan_out 0 1024 300000)
row "after QoS 0 fan-out 1 KiB, clients gone" "$result"
result=$(fan_out 1 1024 100000)
row "after QoS 1 fan-out 1 KiB, clients gone" "$result"
printf '%-42s %8s MiB\n' "peak (VmHWM)" "$(mib "$(status VmHWM)")"
[ -z "$(trims)" ] || echo "memory trims: $(trims)"
stop_server

"$bin/fastport-bench" --scenarios idle --brokers fastport --idle-connections "$connections" \
    --fastport-server "$work/server.sh" 2>&1 | grep -E 'VmRSS|rror' |
    sed 's/^ */idle subscribed connections: /'
