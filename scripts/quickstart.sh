#!/usr/bin/env bash
# Runs the README's quickstart, step for step, as a new user would: in a
# temporary directory, with a fresh HOME and no WEDGE_* variables, against
# a `wedge serve` of its own; prints the time each step took and the total.
#
#   scripts/quickstart.sh          # Go's build cache as it is
#   scripts/quickstart.sh --cold   # an empty Go build cache, as on a new machine
#
# The "fresh clone" is a copy of this checkout's files (uncommitted ones
# too, ignored ones not), so that it needs no network. Go modules come from
# the module cache (GOMODCACHE). The ports are the README's, 8080, 8081 and
# 8787: stop whatever uses them first.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cold=false
case "${1:-}" in
--cold) cold=true ;;
"") ;;
*) echo "usage: scripts/quickstart.sh [--cold]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	chmod -R u+w "$tmp" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# Go's caches stay where they are (the module cache makes it work
# offline); everything else is a new user's.
GOMODCACHE=$(go env GOMODCACHE)
GOCACHE=$(go env GOCACHE)
if $cold; then GOCACHE=$tmp/gocache; fi
export GOMODCACHE GOCACHE GOPROXY=off
unset GOFLAGS
export HOME=$tmp/home
unset XDG_CONFIG_HOME WEDGE_API WEDGE_TOKEN WEDGE_TENANT WEDGE_ADMIN_TOKEN
mkdir -p "$HOME"

start=$(date +%s.%N)
last=$start
sub() { awk "BEGIN { print $1 - $2 }"; }
step() {
	local now
	now=$(date +%s.%N)
	printf '%7.1fs %+6.1fs  %s\n' "$(sub "$now" "$start")" "$(sub "$now" "$last")" "$*"
	last=$now
}
wait_http() { # URL [curl args…]: until it answers 2xx, for up to 120 s
	local url=$1
	shift
	for _ in $(seq 1 1200); do
		curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "quickstart: $url never answered" >&2
	return 1
}

echo "quickstart in $tmp (Go build cache: $GOCACHE)"
echo "  elapsed   step"

# 1. A fresh clone.
mkdir "$tmp/wedge"
(cd "$repo" && git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -xf - -C "$tmp/wedge"
cd "$tmp/wedge"
step "git clone (copied the checkout)"

# 2. The README's quickstart, as written there.
make -s build >/dev/null && export PATH=$PWD/bin:$PATH
step "make build && export PATH=\$PWD/bin:\$PATH"

wedge init hello-world >/dev/null
step "wedge init hello-world"

wedge dev hello-world >"$tmp/dev.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:8787/
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
step "wedge dev hello-world  (until http://127.0.0.1:8787/ answers)"

wedge serve 2>"$tmp/serve.log" &
pids+=($!)
wait_http http://127.0.0.1:8081/healthz
token=$(sed -n 's/^ *export WEDGE_TOKEN=//p' "$tmp/serve.log")
[ -n "$token" ] || { echo "quickstart: wedge serve printed no token" >&2; cat "$tmp/serve.log" >&2; exit 1; }
step "wedge serve  (until /healthz answers)"

printf '%s\n' "$token" | wedge login --tenant acme >/dev/null
step "wedge login --tenant acme  (the operator token, pasted)"

wedge tenant create acme >/dev/null
step "wedge tenant create acme"

wedge deploy hello-world >/dev/null
step "wedge deploy hello-world"

body=$(curl -fsS -H 'Host: hello-world.acme.wedge.localhost' http://127.0.0.1:8080/)
[ "$body" = "Hello from /" ] || { echo "quickstart: the worker answered $body" >&2; exit 1; }
step "curl -H 'Host: hello-world.acme.wedge.localhost' http://127.0.0.1:8080/  → $body"

printf 'quickstart: from a fresh clone to a deployed worker in %.0f s\n' "$(sub "$(date +%s.%N)" "$start")"
