package netfilter

import "strconv"

// Verdict is what the filter decided for one packet (or, in userspace mode,
// one connection or request). Each verdict has a counter; see
// Filter.Counters.
type Verdict uint8

// The verdicts, in the order the filter tries them (see the package
// documentation). The numbers are the indexes of the XDP program's
// counters and must not change.
const (
	// VerdictPass: an IP packet that no rule dropped.
	VerdictPass Verdict = 0
	// VerdictAllow: a source in the allowlist; no other rule applied.
	VerdictAllow Verdict = 1
	// VerdictNonIP: neither IPv4 nor IPv6 (ARP, LLDP...), passed.
	VerdictNonIP Verdict = 2
	// VerdictBlocklist: a source in the blocklist, dropped.
	VerdictBlocklist Verdict = 3
	// VerdictRateLimit: a source over its per-source rate, dropped.
	VerdictRateLimit Verdict = 4
	// VerdictPortLimit: a destination port over its ceiling, dropped.
	VerdictPortLimit Verdict = 5
	// VerdictMalformed: a frame whose IP header could not be read
	// (truncated, bad version or length, more than two VLAN tags), dropped.
	VerdictMalformed Verdict = 6
)

// numVerdicts is the number of verdicts above; the XDP program's counter
// map has room for 8.
const numVerdicts = 7

var verdictNames = [numVerdicts]string{
	VerdictPass:      "pass",
	VerdictAllow:     "allow",
	VerdictNonIP:     "non-ip",
	VerdictBlocklist: "drop-blocklist",
	VerdictRateLimit: "drop-ratelimit",
	VerdictPortLimit: "drop-portlimit",
	VerdictMalformed: "drop-malformed",
}

// String returns the verdict's name as used in logs and metric labels:
// "pass", "allow", "non-ip", "drop-blocklist", "drop-ratelimit",
// "drop-portlimit", "drop-malformed".
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Drop reports whether the verdict drops the packet.
func (v Verdict) Drop() bool {
	return v >= VerdictBlocklist && v < numVerdicts
}

// Verdicts returns every verdict, in counter order.
func Verdicts() []Verdict {
	vs := make([]Verdict, numVerdicts)
	for i := range vs {
		vs[i] = Verdict(i)
	}
	return vs
}
