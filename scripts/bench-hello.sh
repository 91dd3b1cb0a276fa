#!/usr/bin/env bash
# Loopback figures for examples/hello, all in one run:
#   - binary size; time from `wedge serve` start to the first 200 (a restart
#     with hello deployed: compiled code in the disk cache, image captured)
#   - for each instance mode (pool, image, fresh): Server-Timing and client
#     latency percentiles over N sequential requests, then wrk -t2 -c64
#     with the server pinned to core 0 and wrk to core 1, and the server's
#     CPU time per request
#   - the same wrk run against a bare net/http hello server (the baseline).
# Needs wrk and taskset (Debian: wrk, util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
N=${N:-2000}
MODES=${MODES:-pool image fresh}
make -s build
go build -o bin/barehello ./internal/tools/barehello
go build -o bin/timings ./internal/tools/timings
data=$(mktemp -d)
export WEDGE_ADMIN_TOKEN="wo_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
HOST=hello.demo.wedge.localhost

start_wedge() { # mode
	taskset -c 0 bin/wedge serve --http 127.0.0.1:18080 --admin 127.0.0.1:18081 --data "$data" \
		--server-timing --log-level warn --instances "$1" &
	pid=$!
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wrk_run() { # url [host]
	local args=(-t2 -c64 -d"$DURATION" --latency)
	[ -n "${2:-}" ] && args+=(-H "Host: $2")
	taskset -c 1 wrk "${args[@]}" "$1" | grep -E 'Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors' || true
}

echo "== binary: $(stat -c %s bin/wedge) bytes"
start_wedge pool
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:18081/healthz >/dev/null 2>&1 && break; sleep 0.02; done
export WEDGE_API=http://127.0.0.1:18081 WEDGE_TOKEN=$WEDGE_ADMIN_TOKEN WEDGE_TENANT=demo
bin/wedge tenant create demo >/dev/null
bin/wedge deploy examples/hello >/dev/null
stop

hz=$(getconf CLK_TCK)
for mode in $MODES; do
	t0=$(date +%s%N)
	start_wedge "$mode"
	until curl -fsS -o /dev/null -H "Host: $HOST" http://127.0.0.1:18080/ 2>/dev/null; do sleep 0.005; done
	t1=$(date +%s%N)
	echo
	echo "######## --instances $mode"
	echo "== start to first 200: $(( (t1 - t0) / 1000000 )) ms"
	echo "== $N sequential requests:"
	taskset -c 1 bin/timings -url http://127.0.0.1:18080/ -host "$HOST" -n "$N"
	c0=$(cpu_ticks "$pid")
	echo "== wrk -t2 -c64 -d$DURATION:"
	out=$(wrk_run http://127.0.0.1:18080/ "$HOST")
	echo "$out"
	c1=$(cpu_ticks "$pid")
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	secs=${DURATION%s}
	echo "== server CPU: $(( (c1 - c0) * 1000 / hz )) ms for $(awk -v r="$rps" -v s="$secs" 'BEGIN{printf "%d", r*s}') requests: $(awk -v c=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v s="$secs" 'BEGIN{printf "%.1f", c/hz*1e6/(r*s)}') µs/request"
	stop
done

echo
echo "######## bare net/http hello (same pinning)"
taskset -c 0 bin/barehello -addr 127.0.0.1:18090 &
pid=$!
sleep 0.3
c0=$(cpu_ticks "$pid")
out=$(wrk_run http://127.0.0.1:18090/)
echo "$out"
c1=$(cpu_ticks "$pid")
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
secs=${DURATION%s}
echo "== server CPU: $(awk -v c=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v s="$secs" 'BEGIN{printf "%.1f", c/hz*1e6/(r*s)}') µs/request"
