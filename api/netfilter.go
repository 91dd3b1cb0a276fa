package api

import "time"

// NetfilterRule is a prefix of the packet filter's blocklist or allowlist.
type NetfilterRule struct {
	Prefix string `json:"prefix"` // e.g. "203.0.113.0/24", "2001:db8::/48"
	// TTLSeconds, when adding, makes the rule expire; 0: never.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	// Expires is when the rule stops applying (answers only; absent: never).
	Expires *time.Time `json:"expires,omitempty"`
}

// NetfilterRate is a token bucket: PPS packets per second, bursts of up to
// Burst (0: one second's worth). The zero value means no limit. In the
// userspace fallback the rates count connections, not packets.
type NetfilterRate struct {
	PPS   uint32 `json:"pps"`
	Burst uint32 `json:"burst,omitempty"`
}

// NetfilterPortLimit is a ceiling on the packets to one destination port,
// whatever their source (UDP datagrams and TCP SYNs).
type NetfilterPortLimit struct {
	Proto string `json:"proto"` // "tcp" or "udp"
	Port  uint16 `json:"port"`
	NetfilterRate
}

// NetfilterStatus is the packet filter's state.
type NetfilterStatus struct {
	// Mode is "native" or "generic" (XDP), or "userspace" (the fallback at
	// the edge listener).
	Mode       string               `json:"mode"`
	Interface  string               `json:"interface,omitempty"`
	SourceRate NetfilterRate        `json:"source_rate"`
	PortLimits []NetfilterPortLimit `json:"port_limits"`
	// Counters are the verdicts since the filter's maps were created
	// (pass, allow, non-ip, drop-blocklist, drop-ratelimit,
	// drop-portlimit, drop-malformed).
	Counters map[string]uint64 `json:"counters"`
}
