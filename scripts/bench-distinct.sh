#!/usr/bin/env bash
# 100 distinct Go workers on one host (each module differs in its greeting,
# so each compiles to its own code): RSS with the compiled code unbounded,
# then after a restart under a compiled-code budget; and the latency of
# requests whose worker's code was evicted (a sweep in LRU order) against
# requests to a worker whose code is resident.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${WORKERS:-100}
REQUESTS=${REQUESTS:-1000}
BUDGET=${BUDGET:-512} # MiB of compiled code under the budget
make -s build
go build -o bin/many ./internal/tools/many
(cd examples/hello && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/worker.wasm .)
data=$(mktemp -d)
export WEDGE_ADMIN_TOKEN="wo_many_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
start() {
	bin/wedge serve --http 127.0.0.1:18080 --admin 127.0.0.1:18081 --data "$data" --log-level warn --code-budget "$1" &
	pid=$!
	for _ in $(seq 1 500); do curl -fsS http://127.0.0.1:18081/healthz >/dev/null 2>&1 && return; sleep 0.01; done
}
many() {
	bin/many -api http://127.0.0.1:18081 -edge http://127.0.0.1:18080 -token "$WEDGE_ADMIN_TOKEN" \
		-module examples/hello/build/worker.wasm -workers "$WORKERS" -requests "$REQUESTS" -pid "$pid" -distinct "$@"
}
echo "== $WORKERS distinct Go workers, compiled code unbounded"
start 1000000
curl -fsS -X POST -H "Authorization: Bearer $WEDGE_ADMIN_TOKEN" -d '{"name":"demo"}' http://127.0.0.1:18081/v1/tenants >/dev/null
many
curl -fsS http://127.0.0.1:18081/metrics | grep -E '^wedge_code_(bytes|resident_modules|modules) '
kill "$pid"; wait "$pid" 2>/dev/null || true
echo "== restarted with --code-budget $BUDGET (MiB)"
t0=$(date +%s%N)
start "$BUDGET"
until curl -fsS -o /dev/null -H "Host: w$((WORKERS - 1)).demo.wedge.localhost" http://127.0.0.1:18080/; do sleep 0.01; done
t1=$(date +%s%N)
echo "restart: w$((WORKERS - 1)) serving after $(( (t1 - t0) / 1000000 )) ms"
many -deploy=false
curl -fsS http://127.0.0.1:18081/metrics | grep -E '^wedge_code_(bytes|resident_modules|modules|evictions_total|reloads_total) '
