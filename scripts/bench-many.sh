#!/usr/bin/env bash
# 1,000 workers from one module on one host: deploy time, RSS, latency of
# requests spread at random over them, and after a restart the time until
# every worker answers again.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${WORKERS:-1000}
REQUESTS=${REQUESTS:-5000}
MODULE=${MODULE:-}
make -s build
go build -o bin/many ./internal/tools/many
if [ -z "$MODULE" ]; then
	(cd examples/hello && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/worker.wasm .)
	MODULE=examples/hello/build/worker.wasm
fi
data=$(mktemp -d)
export WEDGE_ADMIN_TOKEN="wo_many_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
start() {
	bin/wedge serve --http 127.0.0.1:18080 --admin 127.0.0.1:18081 --data "$data" --log-level warn &
	pid=$!
	for _ in $(seq 1 500); do curl -fsS http://127.0.0.1:18081/healthz >/dev/null 2>&1 && return; sleep 0.01; done
}
start
curl -fsS -X POST -H "Authorization: Bearer $WEDGE_ADMIN_TOKEN" -d '{"name":"demo"}' http://127.0.0.1:18081/v1/tenants >/dev/null
bin/many -api http://127.0.0.1:18081 -edge http://127.0.0.1:18080 -token "$WEDGE_ADMIN_TOKEN" \
	-module "$MODULE" -workers "$WORKERS" -requests "$REQUESTS" -pid "$pid"
kill "$pid"; wait "$pid" 2>/dev/null || true
t0=$(date +%s%N)
start
# Every worker answers: ask the last one deployed and a sample of the others.
for i in $(seq 0 $((WORKERS / 10)) $((WORKERS - 1))) $((WORKERS - 1)); do
	until curl -fsS -o /dev/null -H "Host: w$i.demo.wedge.localhost" http://127.0.0.1:18080/; do sleep 0.01; done
done
t1=$(date +%s%N)
echo "restart: all workers serving after $(( (t1 - t0) / 1000000 )) ms"
bin/many -deploy=false -edge http://127.0.0.1:18080 -workers "$WORKERS" -requests "$REQUESTS" -pid "$pid"
