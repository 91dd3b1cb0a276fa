// Package netfilter is Wedge's packet filter: an XDP program that drops
// unwanted packets in the network driver, before the kernel spends anything
// on them, the Go code that loads it and keeps its rules, and a userspace
// fallback that applies the same rules to connections and requests where
// the kernel refuses BPF.
//
// # Use
//
//	f, err := netfilter.Open(netfilter.Config{Interface: "eth0", Logger: log})
//	...
//	f.Block(netip.MustParsePrefix("203.0.113.0/24"), 0)   // until Unblock
//	f.Block(netip.MustParsePrefix("198.51.100.7/32"), time.Hour)
//	f.Allow(netip.MustParsePrefix("192.0.2.0/24"), 0)     // exempt from all
//	f.SetSourceRate(netfilter.Rate{PPS: 1000, Burst: 2000})
//	f.SetPortLimit(netfilter.UDP, 443, netfilter.Rate{PPS: 200000})
//	counters, err := f.Counters()                          // per Verdict
//	srv.Serve(f.Listener(l))                               // userspace mode only
//	f.Close()                                              // keeps filtering
//
// Open loads the program and attaches it to the interface in native
// (driver) mode, or in generic (SKB) mode where the driver has no native
// XDP; Mode says which. When the kernel refuses BPF altogether (no
// CAP_BPF or CAP_NET_ADMIN, no support), ModeAuto falls back to userspace
// mode with a warning in the log: Listener and Middleware then apply the
// rules, through the same model the tests hold the XDP program to, to each
// accepted connection or request. In the XDP modes they return what they
// are given, unchanged, so callers may wrap unconditionally. An empty
// Interface means userspace mode from the start. On Linux before 5.11,
// Open raises the process's RLIMIT_MEMLOCK, which BPF maps count against
// there (on later kernels it leaves it alone).
//
// # Defaults
//
// The zero Config is valid (userspace mode, no interface). A new filter has
// no rules: every packet passes and is counted. There is no per-source
// rate and no port ceiling until set; a Rate's Burst defaults to its PPS;
// pins go under DefaultPinDir (/run/wedge/xdp); nothing is logged without a
// Logger. The Escalator is off unless its Threshold is set.
//
// # Verdicts
//
// The XDP program decides each frame in this order; the first that applies
// wins, and each verdict has a per-CPU counter (Verdict):
//
//  1. Not IPv4 or IPv6 (ARP, LLDP...): pass (non-ip). A frame whose IP
//     header cannot be read — truncated, a bad version or header length,
//     more than two VLAN tags (802.1Q, 802.1ad) — is dropped (malformed):
//     the kernel would drop it too, and a filter that cannot read a source
//     must not let it through.
//  2. Source in the allowlist: pass, no other rule applies (allow). The
//     allowlist is how an operator keeps monitoring and peers reachable
//     whatever an escalation blocks.
//  3. Source in the blocklist: drop (drop-blocklist). Before any bucket, so
//     blocked floods cost no state.
//  4. Source over its token bucket: drop (drop-ratelimit). One bucket per
//     IPv4 address and per IPv6 /64 (what one subscriber gets).
//  5. Destination port over its ceiling: drop (drop-portlimit). A global
//     bucket per port, shared by all sources, so that a flood from spoofed
//     (so ever new) sources is bounded too. It counts UDP datagrams and TCP
//     SYNs without ACK — connection attempts, so a busy port's established
//     traffic is never throttled; later fragments carry no port and are not
//     counted. It comes after the per-source bucket, so that one source's
//     excess, dropped there, does not use up the port's budget.
//  6. Otherwise: pass (pass).
//
// Buckets are GCRA, the token bucket written with one timestamp: a bucket
// of rate r and burst b admits b packets at once and then one every 1/r
// seconds. The model in Go (used by the fallback and the tests) does the
// same arithmetic; the tests send the same frames through the kernel
// (BPF_PROG_TEST_RUN) and the model and require the same verdicts.
//
// # Rules
//
// Block and Allow take a prefix and a TTL (0: until removed). A rule's
// expiry is stored in the map and checked by the program against
// bpf_ktime_get_ns, so it holds even while no Wedge runs; a goroutine
// deletes expired rules every second. Adding a rule that exists keeps the
// later expiry (an escalation never shortens an operator's block).
// Unblock and RemoveAllow remove exactly the prefix given.
//
// # Maps
//
// Pinned under PinDir/Interface, with the link as "link":
//
//	config        array[1]         per-source rate, masks of populated hash
//	                               slots and of non-empty tries, flags
//	allow4_hash   hash             (prefix length, masked address) → expiry:
//	block4_hash   hash             IPv4 /32, /24, /16
//	allow6_hash   hash             the same for IPv6 /128, /64, /48
//	block6_hash   hash
//	allow4_lpm    LPM trie         every other prefix length → expiry
//	block4_lpm    LPM trie
//	allow6_lpm    LPM trie
//	block6_lpm    LPM trie
//	summary       array            per list and address bucket (IPv4 /16,
//	                               hash of IPv6 /48): which hash slots hold
//	                               a prefix there, and whether the trie does
//	ptable        array (mmap)     the probe tables: the hash maps' prefixes
//	ptable6       array (mmap)     (the keys) in buckets of 7, what the
//	                               program looks up instead of the hash maps
//	gates         array (mmap)     per list, IPv4: two bits per /24, one
//	                               set if a trie prefix of /17 or longer
//	                               overlaps it, one if it holds a /32;
//	                               IPv6: a bit per hash of a /32 holding a
//	                               trie prefix of /32 to /47
//	sources       LRU hash[65536]  per-source bucket (IPv4 as ::ffff:a.b.c.d,
//	                               IPv6 /64)
//	ports         array[2×65536]   port ceilings and buckets: TCP, then UDP
//	counters      per-CPU array    packets per Verdict
//
// Capacities: blocklist 262144 hash prefixes and 131072 trie prefixes per
// family, allowlist 16384 of each; ErrFull past them. A lookup tries only
// the hash slots the summary lists for the address's bucket (IPv4 /32s
// only in a /24 that the gates say holds one), each in the probe tables,
// arrays that Go keeps as an index of the hash maps (a kernel hash lookup
// costs more than a trivial XDP program; an array load next to nothing): a
// hit there decides, and the hash map is probed only for a rule with an
// expiry or in a bucket that overflowed. Then the trie, only if the bucket
// holds a trie prefix (IPv4 /17 or longer, in a /24 that the gates mark;
// IPv6 /48 or longer, or /32 to /47 in a /32 that the gates mark) or the
// trie holds a shorter one. With 100k prefixes, IPv4 or IPv6, a drop or a
// pass costs about 1.5 to 2 times a trivial XDP program
// (BenchmarkXDP; RATIONALE.md). The probe tables and the gates take 17.8
// MB of kernel memory, whatever the rules. An expired prefix in a trie
// hides the shorter prefixes containing it until the sweeper deletes it
// (at most a second).
//
// # Restarts and take-over
//
// Close leaves the program attached and its link and maps pinned: it keeps
// filtering with the rules as they are, and the next Open re-uses the maps
// and swaps its program into the same link (BPF_LINK_UPDATE), with no
// moment unfiltered. A program attached by something else is taken over
// the same way where the kernel allows it: another bpf_link is updated in
// place, a program attached through netlink is replaced with
// XDP_FLAGS_REPLACE (and the filter then stays attached that way). Only a
// change between native and generic mode, or a link whose program cannot be
// swapped (another expected attach type), is replaced by detaching and
// attaching, and the log says so. Detach removes the program and the pins.
// PinDir gets a bpf file system mounted on it if it is not on one; /run is
// used rather than /sys/fs/bpf, which `ip netns exec` hides.
//
// # Concurrency
//
// A Filter's methods are safe for concurrent use, and so are an Escalator's.
// Rule changes are serialized; the XDP program reads the maps while they
// change, and each change is ordered so that it never sees a rule without
// the bits that make it probe for it. One process at a time may open a
// filter on an interface; nothing enforces it. Methods called after Close
// or Detach return ErrClosed.
package netfilter
