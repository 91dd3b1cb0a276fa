#!/usr/bin/env bash
# Builds Wedge, starts `wedge serve` on the embedded store (./.wedge) and
# deploys examples/hello as worker "hello" of tenant "demo". Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

make -s build
if [ -z "${WEDGE_ADMIN_TOKEN:-}" ]; then
	WEDGE_ADMIN_TOKEN="wo_$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)"
fi
export WEDGE_ADMIN_TOKEN
HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:8081}

bin/wedge serve --http "$HTTP_ADDR" --admin "$ADMIN_ADDR" --data .wedge --server-timing &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 100); do
	curl -fsS "http://$ADMIN_ADDR/healthz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || exit 1
	sleep 0.1
done

export WEDGE_API="http://$ADMIN_ADDR" WEDGE_TOKEN="$WEDGE_ADMIN_TOKEN" WEDGE_TENANT=demo
bin/wedge tenant create demo >/dev/null 2>&1 || true # exists after the first run
bin/wedge deploy examples/hello

cat <<MSG

Wedge is running. Try:

    curl -H 'Host: hello.demo.wedge.localhost' http://$HTTP_ADDR/world

The operator token for this run (the CLI reads it from WEDGE_TOKEN):

    export WEDGE_API=$WEDGE_API WEDGE_TOKEN=$WEDGE_ADMIN_TOKEN WEDGE_TENANT=demo

Ctrl-C stops the server.
MSG
wait "$pid"
