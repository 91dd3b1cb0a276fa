#!/usr/bin/env bash
# Deploy propagation across five `wedge serve` processes sharing one NATS
# JetStream server (in-process in the benchmark, loopback): the time from a
# deploy API's answer until every node's edge serves the new version,
# p50/p99/max over DEPLOYS deploys, sent through each node in turn.
#   go-settings  Go hello, each deploy changes only a var (no recompile)
#   c-module     C hello, each deploy is a new module (fetched and compiled
#                by every node; a 6 KB module compiles in milliseconds)
#   go-module    Go hello, each deploy is a new module (a custom section
#                more): the node that takes the deploy compiles it, the
#                others import its compiled code; GO_DEPLOYS of them
# The benchmark is BenchmarkPropagation in cmd/wedge/cluster_e2e_test.go;
# it runs only when asked for (-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
DEPLOYS=${DEPLOYS:-60}
GO_DEPLOYS=${GO_DEPLOYS:-5}
go test -count=1 -run '^$' -bench 'BenchmarkPropagation/(go-settings|c-module)$' -benchtime="${DEPLOYS}x" -timeout 20m ./cmd/wedge
if [ "$GO_DEPLOYS" -gt 0 ]; then
	go test -count=1 -run '^$' -bench 'BenchmarkPropagation/go-module$' -benchtime="${GO_DEPLOYS}x" -timeout 20m ./cmd/wedge
fi
