#!/usr/bin/env bash
# The netfilter package's figures, all in one run (as root):
#   1. BenchmarkXDP: ns/packet in the kernel (BPF_PROG_TEST_RUN) for the
#      trivial XDP_DROP and XDP_PASS programs and for ours with 10, 10k and
#      100k blocked IPv4 and IPv6 prefixes, a packet that passes and one
#      dropped, all in one run: COUNT runs summarized by benchstat (median,
#      confidence interval), ns/pkt and the ratio to the trivial drop.
#   2. BenchmarkVethDrop: a flood of live XDP frames on a veth pair, dropped
#      by iptables raw, iptables-legacy raw, an nftables set, our filter in
#      generic and native mode, a trivial native XDP_DROP, and the userspace
#      fallback: drops per second and CPU per packet, with ratios to
#      iptables raw (see the benchmark's comment for the method).
# Installs iptables and nftables (Debian) when they are missing. The
# figures are only worth something on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-8}
N=${N:-2000000}
BENCHTIME=${BENCHTIME:-3s}
if [ "$(id -u)" != 0 ]; then
	echo "bench-xdp: needs root (BPF, XDP, network namespaces)" >&2
	exit 1
fi
if ! command -v iptables >/dev/null || ! command -v nft >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables nftables >/dev/null
fi
mkdir -p bin
go test -c -o bin/netfilter.test ./netfilter
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== BenchmarkXDP: ns/packet in the kernel, $COUNT runs of $N packets"
bin/netfilter.test -test.run NONE -test.bench 'BenchmarkXDP/^(trivial-(drop|pass)|v[46]-(10|10k|100k))$' \
	-test.benchtime "${N}x" -test.count "$COUNT" | tee "$out"
echo
BENCHSTAT=${BENCHSTAT:-$(command -v benchstat || echo "$(go env GOPATH)/bin/benchstat")}
if [ -x "$BENCHSTAT" ]; then
	"$BENCHSTAT" -filter '.unit:(ns/pkt OR x-trivial-drop)' "$out"
else
	echo "(benchstat not installed: go install golang.org/x/perf/cmd/benchstat@latest; medians instead)"
	awk '
function median(s,   n, v, i, j, t) {
	n = split(s, v, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
	return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
/^BenchmarkXDP\// {
	name = $1; sub(/^BenchmarkXDP\//, "", name); sub(/-[0-9]+$/, "", name)
	if (!(name in ns)) order[++k] = name
	for (i = 3; i < NF; i++) if ($(i+1) == "ns/pkt") ns[name] = ns[name] " " $i
}
END {
	floor = median(ns["trivial-drop"])
	printf "%-16s %10s %16s\n", "case", "ns/pkt", "x trivial drop"
	for (i = 1; i <= k; i++) printf "%-16s %10.1f %16.2f\n", order[i], median(ns[order[i]]), median(ns[order[i]]) / floor
}' "$out"
fi
echo

echo "== BenchmarkVethDrop: a veth pair flooded with live XDP frames, one run"
bin/netfilter.test -test.run NONE -test.bench BenchmarkVethDrop -test.benchtime "$BENCHTIME"
