#!/usr/bin/env bash
# Loopback figures for examples/hello over each edge protocol, with the same
# client budget: internal/tools/load keeps IN_FLIGHT requests in flight
# for DURATION (after a 1 s warm-up) over HTTP/1.1 (plain, then TLS: one
# request per connection, so IN_FLIGHT connections), HTTP/2 over TLS and
# HTTP/3 (CONNS connections, IN_FLIGHT/CONNS streams each), with the
# server pinned to core 0 and the load generator to core 1, as
# scripts/bench-hello.sh does. For each: requests/s, latency p50/p99 and
# the server's CPU time per request.
# Needs taskset (Debian: util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
IN_FLIGHT=${IN_FLIGHT:-64}
CONNS=${CONNS:-8}
GUEST=${GUEST:-hello}
make -s build
go build -o bin/load ./internal/tools/load
data=$(mktemp -d)
export WEDGE_ADMIN_TOKEN="wo_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

taskset -c 0 bin/wedge serve --http 127.0.0.1:18080 --admin 127.0.0.1:18081 --https 127.0.0.1:18443 \
	--tls-self-signed --data "$data" --log-level warn &
pid=$!
for _ in $(seq 1 300); do curl -fsS http://127.0.0.1:18081/healthz >/dev/null 2>&1 && break; sleep 0.02; done
export WEDGE_API=http://127.0.0.1:18081 WEDGE_TOKEN=$WEDGE_ADMIN_TOKEN WEDGE_TENANT=demo
bin/wedge tenant create demo >/dev/null
bin/wedge deploy "examples/$GUEST" >/dev/null
HOST=$GUEST.demo.wedge.localhost
until curl -fsS -o /dev/null -H "Host: $HOST" http://127.0.0.1:18080/ 2>/dev/null; do sleep 0.01; done

hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
secs=${DURATION%s}
run() { # label proto url conns
	local c0 c1 out n
	c0=$(cpu_ticks "$pid")
	out=$(taskset -c 1 bin/load -proto "$2" -url "$3" -host "$HOST" -c "$IN_FLIGHT" -conns "$4" -d "$DURATION")
	c1=$(cpu_ticks "$pid")
	n=$(echo "$out" | sed -n 's/.* requests=\([0-9]*\) .*/\1/p')
	# The CPU ticks include the 1 s warm-up: count its requests at the measured rate.
	printf '%-22s %s server_cpu_per_request=%sus\n' "$1" "$out" \
		"$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", c/hz*1e6/(n*(s+1)/s)}')"
}
echo "== examples/$GUEST, $IN_FLIGHT requests in flight, $DURATION each, server on core 0, load on core 1"
run "HTTP/1.1 (plain)" h1 http://127.0.0.1:18080/ "$IN_FLIGHT"
run "HTTP/1.1 over TLS" h1 https://127.0.0.1:18443/ "$IN_FLIGHT"
run "HTTP/2 over TLS" h2 https://127.0.0.1:18443/ "$CONNS"
run "HTTP/3" h3 https://127.0.0.1:18443/ "$CONNS"
