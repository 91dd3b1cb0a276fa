#!/usr/bin/env bash
# HTTP/2 conformance (h2spec, RFC 7540/7541 and generic cases) of Wedge's
# TLS listener (--https, HTTP/2 by ALPN), beside a stock net/http TLS
# server (internal/tools/h2base) as the baseline, in one run. Prints both
# summaries and Wedge's failed cases.
#
# h2spec's requests carry :authority 127.0.0.1:PORT, which no worker
# claims: Wedge answers them itself (404 no-route), so what is measured is
# the HTTP/2 stack in front of the workers, which is Go's, as configured
# by edge (stream limit, header limits, timeouts).
#
# Needs h2spec: go install github.com/summerwind/h2spec/cmd/h2spec@latest
# (or set H2SPEC to its path).
set -euo pipefail
cd "$(dirname "$0")/.."
H2SPEC=${H2SPEC:-$(command -v h2spec || echo "$(go env GOPATH)/bin/h2spec")}
if [ ! -x "$H2SPEC" ]; then
	echo "h2spec not found: go install github.com/summerwind/h2spec/cmd/h2spec@latest" >&2
	exit 1
fi
make -s build
go build -o bin/h2base ./internal/tools/h2base
data=$(mktemp -d)
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$data" "$out"; }
trap cleanup EXIT
export WEDGE_ADMIN_TOKEN="wo_h2spec_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

bin/wedge serve --http 127.0.0.1:18180 --admin 127.0.0.1:18181 --https 127.0.0.1:18443 \
	--tls-self-signed --data "$data" --log-level warn 2>"$out/wedge.log" &
pids+=($!)
bin/h2base -addr 127.0.0.1:18444 2>"$out/h2base.log" &
pids+=($!)
for _ in $(seq 1 300); do
	curl -fsS http://127.0.0.1:18181/healthz >/dev/null 2>&1 && curl -ksS -o /dev/null https://127.0.0.1:18444/ 2>/dev/null && break
	sleep 0.02
done

"$H2SPEC" --version
echo "== stock net/http (Go $(go env GOVERSION)), TLS:"
"$H2SPEC" -t -k -h 127.0.0.1 -p 18444 -j "$out/stock.xml" >"$out/stock.txt" 2>&1 || true
tail -n 1 "$out/stock.txt"; echo
echo "== Wedge --https:"
"$H2SPEC" -t -k -h 127.0.0.1 -p 18443 -j "$out/wedge.xml" >"$out/wedge.txt" 2>&1 || true
tail -n 1 "$out/wedge.txt"; echo
for t in stock wedge; do
	echo "== $t: failed cases"
	sed -n '/^Failures:/,$p' "$out/$t.txt" | grep -E '^ *(×|[0-9]+\.)' || echo "   none"
done
