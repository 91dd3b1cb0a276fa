#!/usr/bin/env bash
# Loopback figures for examples/hello, all in one run:
#   - binary size, time from `wedge serve` start to the first 200 (restart
#     with hello deployed, compiled code in the disk cache)
#   - Server-Timing percentiles over sequential requests
#   - wrk -t2 -c64 -d10s with the server pinned to core 0 and wrk to core 1,
#     beside a bare net/http hello server measured the same way.
# Needs wrk and taskset (Debian: wrk, util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
N=${N:-2000}
make -s build
go build -o bin/barehello ./internal/tools/barehello
go build -o bin/timings ./internal/tools/timings
data=$(mktemp -d)
export WEDGE_ADMIN_TOKEN="wo_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"; }
pids=()
trap cleanup EXIT

wait_healthz() { for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:18081/healthz >/dev/null 2>&1 && return; sleep 0.02; done; echo "no healthz" >&2; exit 1; }

echo "== binary: $(stat -c %s bin/wedge) bytes ($(du -h bin/wedge | cut -f1))"
taskset -c 0 bin/wedge serve --http 127.0.0.1:18080 --admin 127.0.0.1:18081 --data "$data" --server-timing --log-level warn &
pids+=($!)
wait_healthz
export WEDGE_API=http://127.0.0.1:18081 WEDGE_TOKEN=$WEDGE_ADMIN_TOKEN WEDGE_TENANT=demo
bin/wedge tenant create demo >/dev/null
bin/wedge deploy examples/hello >/dev/null
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

# Restart: start to first 200.
start=$(date +%s%N)
taskset -c 0 bin/wedge serve --http 127.0.0.1:18080 --admin 127.0.0.1:18081 --data "$data" --server-timing --log-level warn &
pids+=($!)
until curl -fsS -o /dev/null -H 'Host: hello.demo.wedge.localhost' http://127.0.0.1:18080/ 2>/dev/null; do sleep 0.005; done
end=$(date +%s%N)
echo "== start to first 200 (restart, hello deployed): $(( (end - start) / 1000000 )) ms"

echo "== sequential requests (N=$N), Server-Timing and client latency:"
taskset -c 1 bin/timings -url http://127.0.0.1:18080/ -host hello.demo.wedge.localhost -n "$N"

echo "== wrk -t2 -c64 -d$DURATION, wedge (server on core 0, wrk on core 1):"
taskset -c 1 wrk -t2 -c64 -d"$DURATION" --latency -H 'Host: hello.demo.wedge.localhost' http://127.0.0.1:18080/ | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors' || true
cpu_wedge=$(ps -o cputime= -p "${pids[0]}")

taskset -c 0 bin/barehello -addr 127.0.0.1:18090 &
pids+=($!)
sleep 0.3
echo "== wrk -t2 -c64 -d$DURATION, bare net/http hello (same pinning):"
taskset -c 1 wrk -t2 -c64 -d"$DURATION" --latency http://127.0.0.1:18090/ | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors' || true
echo "== wedge process CPU time so far: $cpu_wedge"
