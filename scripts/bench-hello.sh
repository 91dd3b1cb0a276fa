#!/usr/bin/env bash
# Loopback figures for examples/hello, all in one run:
#   - binary size; time from `wedge serve` start to the first 200 (a restart
#     with hello deployed: compiled code in the disk cache, image captured)
#   - for each instance mode (pool, image, fresh): Server-Timing and client
#     latency percentiles over N sequential requests, then wrk -t2 -c64
#     with the server pinned to core 0 and wrk to core 1, and the server's
#     CPU time per request
#   - the same wrk run against a bare net/http hello server (the baseline)
#     and, when it is installed, Cloudflare's workerd running the same hello
#     in JavaScript (npm install @cloudflare/workerd-linux-64; set WORKERD
#     to its binary, or have workerd on PATH or under node_modules).
# GUESTS picks the workers: hello (Go, examples/hello) and c-hello (C,
# examples/c-hello).
# Needs wrk and taskset (Debian: wrk, util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
N=${N:-2000}
MODES=${MODES:-pool image fresh}
GUESTS=${GUESTS:-hello c-hello}
WORKERD=${WORKERD:-$(command -v workerd || ls node_modules/@cloudflare/workerd-linux-64/bin/workerd 2>/dev/null || true)}
make -s build
go build -o bin/barehello ./internal/tools/barehello
go build -o bin/timings ./internal/tools/timings
data=$(mktemp -d)
export WEDGE_ADMIN_TOKEN="wo_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

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
for g in $GUESTS; do bin/wedge deploy "examples/$g" >/dev/null; done
stop

hz=$(getconf CLK_TCK)
# wrk_cpu URL [HOST]: wrk against the server $pid, then its CPU per request.
wrk_cpu() {
	local c0 c1 out rps secs=${DURATION%s}
	c0=$(cpu_ticks "$pid")
	echo "== wrk -t2 -c64 -d$DURATION:"
	out=$(wrk_run "$@")
	echo "$out"
	c1=$(cpu_ticks "$pid")
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	echo "== server CPU: $(( (c1 - c0) * 1000 / hz )) ms for $(awk -v r="$rps" -v s="$secs" 'BEGIN{printf "%d", r*s}') requests: $(awk -v c=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v s="$secs" 'BEGIN{printf "%.1f", c/hz*1e6/(r*s)}') µs/request"
}
for g in $GUESTS; do
	HOST=$g.demo.wedge.localhost
	for mode in $MODES; do
		t0=$(date +%s%N)
		start_wedge "$mode"
		until curl -fsS -o /dev/null -H "Host: $HOST" http://127.0.0.1:18080/ 2>/dev/null; do sleep 0.005; done
		t1=$(date +%s%N)
		echo
		echo "######## examples/$g, --instances $mode"
		echo "== start to first 200: $(( (t1 - t0) / 1000000 )) ms"
		echo "== $N sequential requests:"
		taskset -c 1 bin/timings -url http://127.0.0.1:18080/ -host "$HOST" -n "$N"
		wrk_cpu http://127.0.0.1:18080/ "$HOST"
		stop
	done
done

echo
echo "######## bare net/http hello (same pinning)"
taskset -c 0 bin/barehello -addr 127.0.0.1:18090 &
pid=$!
sleep 0.3
wrk_cpu http://127.0.0.1:18090/
stop

if [ -n "$WORKERD" ]; then
	echo
	echo "######## workerd $("$WORKERD" --version | awk '{print $2}'), the same hello in JavaScript (same pinning)"
	wd=$(mktemp -d)
	cat >"$wd/hello.js" <<'JS'
export default {
  async fetch(request) {
    return new Response("Hello from " + new URL(request.url).pathname + "\n");
  },
};
JS
	cat >"$wd/config.capnp" <<'CAPNP'
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .hello) ],
  sockets = [ (name = "http", address = "127.0.0.1:18095", http = (), service = "main") ],
);
const hello :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "hello.js") ],
  compatibilityDate = "2024-09-01",
);
CAPNP
	taskset -c 0 "$WORKERD" serve "$wd/config.capnp" &
	pid=$!
	until curl -fsS -o /dev/null http://127.0.0.1:18095/ 2>/dev/null; do sleep 0.01; done
	echo "== $N sequential requests:"
	taskset -c 1 bin/timings -url http://127.0.0.1:18095/ -n "$N" || true
	wrk_cpu http://127.0.0.1:18095/
	stop
	rm -rf "$wd"
else
	echo
	echo "workerd not found: npm install @cloudflare/workerd-linux-64 and set WORKERD to compare with it"
fi
