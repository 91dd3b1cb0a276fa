// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Wedge's XDP filter. The Go package netfilter loads it, fills its maps and
 * holds a pure-Go model of it (model.go) that must decide every packet the
 * same way: change both together, and run the tests, which send the same
 * packets through the kernel and the model.
 *
 * Verdict order, first match wins:
 *   1. not IPv4/IPv6                       -> pass        (V_NONIP)
 *      truncated or invalid IP header,
 *      or more than two VLAN tags          -> drop        (V_MALFORMED)
 *   2. source in the allowlist             -> pass        (V_ALLOW)
 *   3. source in the blocklist             -> drop        (V_BLOCKLIST)
 *   4. source over its token bucket        -> drop        (V_RATELIMIT)
 *      (IPv4 per address, IPv6 per /64)
 *   5. destination port over its ceiling   -> drop        (V_PORTLIMIT)
 *      (UDP: every packet; TCP: SYN without ACK; first fragments only)
 *   6.                                     -> pass        (V_PASS)
 *
 * Prefix sets (allowlist, blocklist; IPv4, IPv6) are each one hash map keyed
 * by (prefix length, masked address) holding the common lengths, probed only
 * for the lengths that the summary says are populated near the address, and
 * one LPM trie holding every other length, probed only when the summary says
 * it holds a prefix near the address or it holds a prefix shorter than the
 * summary's buckets. A rule may carry an expiry time
 * (CLOCK_MONOTONIC, as bpf_ktime_get_ns); an expired rule does not match.
 *
 * The hash maps are the record; what the program probes is an index of
 * them that Go keeps in arrays, because a kernel hash lookup costs more
 * than the whole of a trivial XDP program: the probe tables, open hashes
 * of 7-entry buckets holding the keys, and the gates, bitmaps of the
 * address blocks (IPv4 /24s, IPv6 /32s) that trie prefixes overlap, which
 * gate the tries more finely than the summary. They apply once SLOT_TABLE
 * says Go keeps them.
 *
 * Token buckets are GCRA: one timestamp per bucket, the theoretical arrival
 * time (TAT) of the next packet. A packet at time now conforms when
 * max(TAT, now) + interval - now <= burst * interval; it then advances TAT.
 */
#include "abi.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "Dual BSD/GPL";

/* Verdicts: the index of each counter. Keep in step with verdict.go. */
enum {
	V_PASS = 0,
	V_ALLOW = 1,
	V_NONIP = 2,
	V_BLOCKLIST = 3,
	V_RATELIMIT = 4,
	V_PORTLIMIT = 5,
	V_MALFORMED = 6,
	V_COUNT = 8, /* room to grow without changing the map */
};

/* Prefix lists: the index of each mask in struct settings. */
enum {
	LIST_ALLOW4 = 0,
	LIST_BLOCK4 = 1,
	LIST_ALLOW6 = 2,
	LIST_BLOCK6 = 3,
};

/*
 * Mask bits: which hash slots hold at least one prefix, and whether the LPM
 * trie does. IPv4 slots are /32, /24, /16; IPv6 slots /128, /64, /48.
 * In a summary bucket SLOT_LPM says that the trie holds a prefix of the
 * bucket's length or longer inside the bucket. In settings.mask,
 * SLOT_SHORT says that the trie holds a prefix shorter than a bucket (IPv4
 * /15 or shorter, IPv6 /47 or shorter), which the buckets do not record,
 * and SLOT_GATED that the summary's SLOT_LPM bits are kept for this list:
 * without it (maps written by an older Wedge) the trie is probed whenever
 * it is not empty. SLOT_TABLE says that the probe table and the gates are
 * kept for the list (maps of an older Wedge have neither): the hash slots
 * are then looked up in the table, and the trie only for an address that
 * a gate marks, unless SLOT_SHORTER says that the trie holds a prefix
 * shorter than the gates record (IPv4 /16 or shorter, IPv6 /31 or
 * shorter): an IPv4 trie for a /24 that the /24 gate marks, an IPv6 trie
 * for a /48 bucket that the summary marks, or, if SLOT_SHORT (a prefix of
 * /32 to /47), for a /32 that the /32 gate marks.
 */
#define SLOT_0 (1 << 0)
#define SLOT_1 (1 << 1)
#define SLOT_2 (1 << 2)
#define SLOT_HASH (SLOT_0 | SLOT_1 | SLOT_2)
#define SLOT_TABLE (1 << 3)
#define SLOT_SHORTER (1 << 4)
#define SLOT_GATED (1 << 5)
#define SLOT_SHORT (1 << 6)
#define SLOT_LPM (1 << 7)

/* config.flags */
#define FLAG_PORTS (1 << 0) /* at least one port has a ceiling */

#define BLOCK_HASH_MAX 262144
#define BLOCK_LPM_MAX 131072
#define ALLOW_HASH_MAX 16384
#define ALLOW_LPM_MAX 16384
#define SOURCES_MAX 65536
#define PORTS_MAX (2 * 65536) /* TCP ports, then UDP ports */

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define IPPROTO_HOPOPTS 0
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60

#define TCP_SYN 0x02
#define TCP_ACK 0x10

#define MAX_VLAN 2
#define MAX_EXTHDR 4

struct settings {
	__u64 src_interval; /* ns between packets of one source; 0: no limit */
	__u64 src_burst;    /* burst * src_interval */
	__u8 mask[4];       /* per LIST_*: SLOT_* bits */
	__u32 flags;        /* FLAG_* */
	__u32 src_pps;      /* the rate as set, for listing; unused here */
	__u32 src_burst_packets;
};

/* Key of both the hash maps and the LPM tries (struct bpf_lpm_trie_key). */
struct prefix4 {
	__u32 prefixlen;
	__be32 addr;
};

struct prefix6 {
	__u32 prefixlen;
	__be32 addr[4];
};

struct rule {
	__u64 expires; /* CLOCK_MONOTONIC ns; 0: never */
};

/* An IPv4 source as ::ffff:a.b.c.d; an IPv6 source as its /64. */
struct source {
	__be32 addr[4];
};

struct bucket {
	__u64 tat;
};

struct port_limit {
	__u64 interval; /* 0: no ceiling */
	__u64 burst;
	__u64 tat;
	__u32 pps; /* the rate as set, for listing; unused here */
	__u32 burst_packets;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

#define PREFIX_HASH(name, keytype, max)                                        \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_HASH);                               \
		__uint(max_entries, max);                                      \
		__uint(map_flags, BPF_F_NO_PREALLOC);                          \
		__type(key, keytype);                                          \
		__type(value, struct rule);                                    \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                           \
	} name SEC(".maps")

#define PREFIX_LPM(name, keytype, max)                                         \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                           \
		__uint(max_entries, max);                                      \
		__uint(map_flags, BPF_F_NO_PREALLOC);                          \
		__type(key, keytype);                                          \
		__type(value, struct rule);                                    \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                           \
	} name SEC(".maps")

PREFIX_HASH(allow4_hash, struct prefix4, ALLOW_HASH_MAX);
PREFIX_HASH(block4_hash, struct prefix4, BLOCK_HASH_MAX);
PREFIX_HASH(allow6_hash, struct prefix6, ALLOW_HASH_MAX);
PREFIX_HASH(block6_hash, struct prefix6, BLOCK_HASH_MAX);
PREFIX_LPM(allow4_lpm, struct prefix4, ALLOW_LPM_MAX);
PREFIX_LPM(block4_lpm, struct prefix4, BLOCK_LPM_MAX);
PREFIX_LPM(allow6_lpm, struct prefix6, ALLOW_LPM_MAX);
PREFIX_LPM(block6_lpm, struct prefix6, BLOCK_LPM_MAX);

/*
 * The summary says, per list and per bucket of addresses, which hash slots
 * hold a prefix covering some address of the bucket, and whether the trie
 * holds a prefix of the bucket's length or longer inside it (SLOT_LPM), so
 * that a lookup probes only those. An IPv4 bucket is a /16 (every IPv4 slot is /16 or
 * longer); an IPv6 bucket is a hash of the /48 (every IPv6 slot is /48 or
 * longer) into 2^18 buckets. 8 buckets per value: the IPv4 lists' values
 * first, then the IPv6 lists'.
 */
#define SUMMARY_BITS4 16
#define SUMMARY_BITS6 18
#define SUMMARY_WORDS4 ((1 << SUMMARY_BITS4) / 8)
#define SUMMARY_WORDS6 ((1 << SUMMARY_BITS6) / 8)

struct summary_word {
	__u8 mask[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * SUMMARY_WORDS4 + 2 * SUMMARY_WORDS6);
	__type(key, __u32);
	__type(value, struct summary_word);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} summary SEC(".maps");

/*
 * The probe tables: per list, 2^TABLE*_BITS_* buckets of 7 entries and an
 * overflow word, ptable for IPv4, ptable6 for IPv6. An entry for a prefix
 * of a hash slot lies in the bucket of its key, in any free place (0); a
 * lookup reads all seven, so that an entry present throughout a lookup is
 * always seen, whatever Go writes to the other places meanwhile. The
 * overflow word is not 0 when a prefix of the bucket is in the hash map
 * only: the bucket was full, or the prefix cannot have an entry. A lookup
 * that misses the entries then probes the hash map. Go writes each word
 * atomically (it maps the arrays), in an order that never hides an entry
 * from a lookup.
 *
 * IPv4 entry: the key, (prefix length << 32 | address in host order),
 * with ENTRY_EXPIRES when the rule has an expiry, which the hash map holds.
 * IPv6 entry: two words, the address's first half, then the second half
 * (/128) or TAG64, TAG48; never for a rule with an expiry, a first half of
 * 0, or a /128 whose second half is a tag (those are in the hash map only).
 * Go writes the second word before the first and clears the first before
 * the second, and a lookup reads the first, the second, then the first
 * again: on CPUs that keep the order of stores and of loads (x86, s390),
 * a lookup racing a change of the place sees the old entry, the new one or
 * neither, never half of each.
 */
#define TABLE_WAYS 7
#define TABLE_BITS_ALLOW 12
#define TABLE_BITS_BLOCK 16
#define TABLE6_BITS_ALLOW 12
#define TABLE6_BITS_BLOCK 15
#define ENTRY_EXPIRES (1ULL << 40)
#define TAG64 0xffffffffffffff40ULL
#define TAG48 0xffffffffffffff30ULL

struct table_bucket {
	__u64 entry[TABLE_WAYS];
	__u64 overflow;
};

struct entry6 {
	__u64 hi, lo;
};

struct table6_bucket {
	struct entry6 entry[TABLE_WAYS];
	__u64 spare;
	__u64 overflow;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (1 << TABLE_BITS_ALLOW) + (1 << TABLE_BITS_BLOCK));
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct table_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ptable SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, (1 << TABLE6_BITS_ALLOW) + (1 << TABLE6_BITS_BLOCK));
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct table6_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ptable6 SEC(".maps");

/*
 * The gates, bits per address block, per list. IPv4, two bits per /24:
 * the first set when the list's trie holds a prefix of /17 or longer that
 * overlaps the /24, the second when its hash map holds a /32 in it (so a
 * miss probes the /32 slot only in the 0.5% of /24s that hold one, not in
 * the 70% of /16s). IPv6, a bit per hash of the /32, set when the trie
 * holds a prefix of /32 to /47 in it (the summary's /48 buckets record
 * those of /48 or longer). The IPv4 allowlist's words first, the
 * blocklist's, then IPv6's.
 */
#define GATE_WORDS4 (1 << 19)
#define GATE_BITS6 20
#define GATE_WORDS6 (1 << (GATE_BITS6 - 6))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * GATE_WORDS4 + 2 * GATE_WORDS6);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} gates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOURCES_MAX);
	__type(key, struct source);
	__type(value, struct bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PORTS_MAX);
	__type(key, __u32);
	__type(value, struct port_limit);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, V_COUNT);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

static __always_inline int done(__u32 verdict, int action)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &verdict);

	if (n)
		*n += 1;
	return action;
}

/* now reads the clock once per packet, and only when a rule needs it. */
static __always_inline __u64 now(__u64 *t)
{
	if (!*t)
		*t = bpf_ktime_get_ns();
	return *t;
}

static __always_inline int live(struct rule *r, __u64 *t)
{
	return r->expires == 0 || r->expires > now(t);
}

/*
 * slots returns the structures to probe for an address of the bucket: the
 * hash slots and the trie (SLOT_LPM) that the bucket's summary lists, and
 * the trie whatever the bucket when it holds a prefix shorter than a bucket
 * or the list is not gated. Nothing when the list is empty.
 */
static __always_inline __u8 slots(__u32 list, __u32 bucket, __u8 mask)
{
	__u32 idx = (list < LIST_ALLOW6 ? list * SUMMARY_WORDS4
					 : 2 * SUMMARY_WORDS4 + (list - LIST_ALLOW6) * SUMMARY_WORDS6) + bucket / 8;
	struct summary_word *w;
	__u8 always;

	if (!(mask & (SLOT_HASH | SLOT_LPM)))
		return 0;
	always = (mask & SLOT_SHORT) || !(mask & SLOT_GATED) ? mask & SLOT_LPM : 0;
	w = bpf_map_lookup_elem(&summary, &idx);
	if (!w)
		return always;
	return always | (w->mask[bucket & 7] & (SLOT_HASH | SLOT_LPM));
}

/* bucket6 is the summary bucket of an IPv6 address: a hash of its /48. */
static __always_inline __u32 bucket6(const __be32 *addr)
{
	__u64 hi = ((__u64)bpf_ntohl(addr[0]) << 16) | (bpf_ntohl(addr[1]) >> 16);

	return (hi * 0x9E3779B97F4A7C15ULL) >> (64 - SUMMARY_BITS6);
}

/*
 * probe4 looks up the IPv4 prefix (len, addr in host order) in its bucket
 * of the probe table: 1 when an entry is its key, 0 when no entry can be,
 * -1 when the hash map must say (an entry with ENTRY_EXPIRES, or a bucket
 * that overflowed).
 */
#define GOLDEN 0x9E3779B97F4A7C15ULL

static __always_inline int probe4(__u32 list, __u32 len, __u32 addr)
{
	__u64 key = (__u64)len << 32 | addr;
	__u32 idx = list == LIST_ALLOW4 ? (__u32)((key * GOLDEN) >> (64 - TABLE_BITS_ALLOW))
				      : (1 << TABLE_BITS_ALLOW) + (__u32)((key * GOLDEN) >> (64 - TABLE_BITS_BLOCK));
	struct table_bucket *b = bpf_map_lookup_elem(&ptable, &idx);

	if (!b)
		return -1;
#pragma unroll
	for (int i = 0; i < TABLE_WAYS; i++) {
		__u64 e = b->entry[i];

		if (e == key)
			return 1;
		if (e == (key | ENTRY_EXPIRES))
			return -1;
	}
	return b->overflow ? -1 : 0;
}

/* gates_at returns the word of the gates holding bit, shifted to it. */
static __always_inline __u64 gates_at(__u32 bit)
{
	__u32 idx = bit / 64;
	__u64 *w = bpf_map_lookup_elem(&gates, &idx);

	return w ? *w >> (bit & 63) : ~0ULL;
}

static __always_inline int gated(__u32 bit)
{
	return gates_at(bit) & 1;
}

static __always_inline int hash4(void *hash, __u32 len, __be32 addr, __u64 *t)
{
	struct prefix4 k = {.prefixlen = len, .addr = addr};
	struct rule *r = bpf_map_lookup_elem(hash, &k);

	return r && live(r, t);
}

static __always_inline int match4(void *hash, void *lpm, __u32 list, __u8 mask, __be32 addr, __u64 *t)
{
	__u32 host = bpf_ntohl(addr);
	__u8 table = mask & SLOT_TABLE;
	__u8 always = mask & SLOT_SHORT;
	__u32 gate = (list == LIST_ALLOW4 ? 0 : GATE_WORDS4 * 64) + ((host >> 8) << 1);
	__u64 gw = ~0ULL; /* the /24's gate bits: 1 trie, 2 a /32; all without table */
	struct prefix4 k;
	struct rule *r;
	int hit;

	if (!(mask & (SLOT_HASH | SLOT_LPM)))
		return 0; /* an empty list */
	mask = slots(list, host >> 16, mask);
	if (table && (mask & (SLOT_0 | SLOT_LPM)))
		gw = gates_at(gate);

	if ((mask & SLOT_0) && (gw & 2)) {
		hit = table ? probe4(list, 32, host) : -1;
		if (hit > 0 || (hit < 0 && hash4(hash, 32, addr, t)))
			return 1;
	}
	if (mask & SLOT_1) {
		hit = table ? probe4(list, 24, host & 0xffffff00) : -1;
		if (hit > 0 || (hit < 0 && hash4(hash, 24, addr & bpf_htonl(0xffffff00), t)))
			return 1;
	}
	if (mask & SLOT_2) {
		hit = table ? probe4(list, 16, host & 0xffff0000) : -1;
		if (hit > 0 || (hit < 0 && hash4(hash, 16, addr & bpf_htonl(0xffff0000), t)))
			return 1;
	}
	if ((mask & SLOT_LPM) && (always || (gw & 1))) {
		k.prefixlen = 32;
		k.addr = addr;
		r = bpf_map_lookup_elem(lpm, &k);
		if (r && live(r, t))
			return 1;
	}
	return 0;
}

/*
 * bucket6of returns the bucket in the IPv6 probe table of the prefix
 * (len, a:b), the address's halves in host order, masked.
 */
static __always_inline __u32 bucket6of(__u32 list, __u64 a, __u64 b, __u32 len)
{
	__u64 x = (a ^ ((__u64)len << 56)) * GOLDEN;

	x = (x ^ (x >> 29) ^ b) * 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 32;
	x *= GOLDEN;
	return list == LIST_ALLOW6 ? (__u32)(x >> (64 - TABLE6_BITS_ALLOW))
				   : (1 << TABLE6_BITS_ALLOW) + (__u32)(x >> (64 - TABLE6_BITS_BLOCK));
}

/* probe6 is probe4 for the IPv6 prefix (len, hi:lo), whose entry is (hi, w). */
static __always_inline int probe6(__u32 list, __u64 hi, __u64 lo, __u32 len, __u64 w)
{
	__u32 idx = bucket6of(list, hi, lo, len);
	struct table6_bucket *b;

	if (!hi)
		return -1; /* never in the table */
	b = bpf_map_lookup_elem(&ptable6, &idx);
	if (!b)
		return -1;
#pragma unroll
	for (int i = 0; i < TABLE_WAYS; i++) {
		if (*(volatile __u64 *)&b->entry[i].hi == hi && *(volatile __u64 *)&b->entry[i].lo == w &&
		    *(volatile __u64 *)&b->entry[i].hi == hi)
			return 1;
	}
	return b->overflow ? -1 : 0;
}

static __always_inline int hash6(void *hash, __u32 len, const __be32 *addr, __u64 *t)
{
	struct prefix6 k = {.prefixlen = len};
	struct rule *r;

	k.addr[0] = addr[0];
	k.addr[1] = len == 48 ? addr[1] & bpf_htonl(0xffff0000) : addr[1];
	k.addr[2] = len == 128 ? addr[2] : 0;
	k.addr[3] = len == 128 ? addr[3] : 0;
	r = bpf_map_lookup_elem(hash, &k);
	return r && live(r, t);
}

static __always_inline int match6(void *hash, void *lpm, __u32 list, __u8 mask, const __be32 *addr, __u64 *t)
{
	__u64 hi = (__u64)bpf_ntohl(addr[0]) << 32 | bpf_ntohl(addr[1]);
	__u64 lo = (__u64)bpf_ntohl(addr[2]) << 32 | bpf_ntohl(addr[3]);
	__u64 hi48 = hi & 0xffffffffffff0000ULL;
	__u8 table = mask & SLOT_TABLE;
	/* A prefix of /32 to /47 in the trie, none shorter: the /32 gate. */
	__u8 mid = table && (mask & (SLOT_SHORT | SLOT_SHORTER)) == SLOT_SHORT;
	__u32 gate = (2 * GATE_WORDS4 + (list == LIST_ALLOW6 ? 0 : GATE_WORDS6)) * 64 +
		     (__u32)(((hi >> 32) * GOLDEN) >> (64 - GATE_BITS6));
	struct prefix6 k;
	struct rule *r;
	int hit;

	if (!(mask & (SLOT_HASH | SLOT_LPM)))
		return 0; /* an empty list */
	mask = slots(list, bucket6(addr), mid ? mask & ~SLOT_SHORT : mask);

	if (mask & SLOT_0) {
		hit = table ? probe6(list, hi, lo, 128, lo) : -1;
		if (hit > 0 || (hit < 0 && hash6(hash, 128, addr, t)))
			return 1;
	}
	if (mask & SLOT_1) {
		hit = table ? probe6(list, hi, 0, 64, TAG64) : -1;
		if (hit > 0 || (hit < 0 && hash6(hash, 64, addr, t)))
			return 1;
	}
	if (mask & SLOT_2) {
		hit = table ? probe6(list, hi48, 0, 48, TAG48) : -1;
		if (hit > 0 || (hit < 0 && hash6(hash, 48, addr, t)))
			return 1;
	}
	if ((mask & SLOT_LPM) || (mid && gated(gate))) {
		k.prefixlen = 128;
		k.addr[0] = addr[0];
		k.addr[1] = addr[1];
		k.addr[2] = addr[2];
		k.addr[3] = addr[3];
		r = bpf_map_lookup_elem(lpm, &k);
		if (r && live(r, t))
			return 1;
	}
	return 0;
}

/*
 * conform takes one packet from a GCRA bucket: 1 if the packet conforms
 * (and TAT advanced), 0 if it does not. Buckets are shared between CPUs,
 * so TAT advances by compare-and-swap; a bucket contended three times in a
 * row is under a flood and the packet is dropped.
 */
static __always_inline int conform(__u64 *tatp, __u64 interval, __u64 burst, __u64 t)
{
#pragma unroll
	for (int i = 0; i < 3; i++) {
		__u64 tat = *(volatile __u64 *)tatp;
		__u64 next = (tat > t ? tat : t) + interval;

		if (next - t > burst)
			return 0;
		if (__sync_val_compare_and_swap(tatp, tat, next) == tat)
			return 1;
	}
	return 0;
}

/*
 * port_index returns 1 + the index in the ports map of the packet's
 * destination port when the port ceiling applies to it (UDP, or TCP SYN
 * without ACK), 0 otherwise.
 */
static __always_inline __u32 port_index(__u8 nh, void *l4, void *end)
{
	if (!l4)
		return 0;
	if (nh == IPPROTO_TCP && l4 + 14 <= end &&
	    (*(__u8 *)(l4 + 13) & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		return bpf_ntohs(*(__be16 *)(l4 + 2)) + 1;
	if (nh == IPPROTO_UDP && l4 + 8 <= end)
		return 65536 + bpf_ntohs(*(__be16 *)(l4 + 2)) + 1;
	return 0;
}

SEC("xdp")
int wedge_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *p = data;
	__u32 port = 0; /* see port_index */
	struct source src;
	struct settings *cfg;
	__u32 zero = 0;
	__u64 t = 0;
	__u16 proto;

	if (p + 14 > end)
		return done(V_MALFORMED, XDP_DROP);
	proto = *(__be16 *)(p + 12);
	p += 14;
#pragma unroll
	for (int i = 0; i < MAX_VLAN; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (p + 4 > end)
			return done(V_MALFORMED, XDP_DROP);
		proto = *(__be16 *)(p + 2);
		p += 4;
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return done(V_MALFORMED, XDP_DROP);

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return XDP_PASS;

	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 vihl;
		__u32 hlen;
		__be32 saddr;
		__u8 nh;

		if (p + 20 > end)
			return done(V_MALFORMED, XDP_DROP);
		vihl = *(__u8 *)p;
		if ((vihl >> 4) != 4 || (vihl & 0xf) < 5)
			return done(V_MALFORMED, XDP_DROP);
		hlen = (vihl & 0xf) * 4;
		if (p + hlen > end)
			return done(V_MALFORMED, XDP_DROP);
		saddr = *(__be32 *)(p + 12);
		nh = *(__u8 *)(p + 9);
		/* Later fragments carry no transport header. */
		if (!(*(__be16 *)(p + 6) & bpf_htons(0x1fff)))
			port = port_index(nh, p + hlen, end);

		if (match4(&allow4_hash, &allow4_lpm, LIST_ALLOW4, cfg->mask[LIST_ALLOW4], saddr, &t))
			return done(V_ALLOW, XDP_PASS);
		if (match4(&block4_hash, &block4_lpm, LIST_BLOCK4, cfg->mask[LIST_BLOCK4], saddr, &t))
			return done(V_BLOCKLIST, XDP_DROP);
		src.addr[0] = 0;
		src.addr[1] = 0;
		src.addr[2] = bpf_htonl(0xffff);
		src.addr[3] = saddr;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__be32 saddr[4];
		void *l4;
		__u8 nh;

		if (p + 40 > end)
			return done(V_MALFORMED, XDP_DROP);
		if ((*(__u8 *)p >> 4) != 6)
			return done(V_MALFORMED, XDP_DROP);
		nh = *(__u8 *)(p + 6);
		saddr[0] = *(__be32 *)(p + 8);
		saddr[1] = *(__be32 *)(p + 12);
		saddr[2] = *(__be32 *)(p + 16);
		saddr[3] = *(__be32 *)(p + 20);
		l4 = p + 40;
#pragma unroll
		for (int i = 0; i < MAX_EXTHDR; i++) {
			if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
				if (l4 + 2 > end)
					break;
				nh = *(__u8 *)l4;
				l4 += (*(__u8 *)(l4 + 1) + 1) * 8;
			} else if (nh == IPPROTO_AH) {
				if (l4 + 2 > end)
					break;
				nh = *(__u8 *)l4;
				l4 += (*(__u8 *)(l4 + 1) + 2) * 4;
			} else if (nh == IPPROTO_FRAGMENT) {
				if (l4 + 8 > end)
					break;
				nh = *(__u8 *)l4;
				if (*(__be16 *)(l4 + 2) & bpf_htons(0xfff8)) {
					l4 = 0; /* a later fragment */
					break;
				}
				l4 += 8;
			} else {
				break;
			}
		}
		port = port_index(nh, l4, end);

		if (match6(&allow6_hash, &allow6_lpm, LIST_ALLOW6, cfg->mask[LIST_ALLOW6], saddr, &t))
			return done(V_ALLOW, XDP_PASS);
		if (match6(&block6_hash, &block6_lpm, LIST_BLOCK6, cfg->mask[LIST_BLOCK6], saddr, &t))
			return done(V_BLOCKLIST, XDP_DROP);
		src.addr[0] = saddr[0];
		src.addr[1] = saddr[1];
		src.addr[2] = 0;
		src.addr[3] = 0;
	} else {
		return done(V_NONIP, XDP_PASS);
	}

	if (cfg->src_interval) {
		struct bucket *b = bpf_map_lookup_elem(&sources, &src);

		if (!b) {
			struct bucket nb = {.tat = now(&t) + cfg->src_interval};

			bpf_map_update_elem(&sources, &src, &nb, BPF_NOEXIST);
		} else if (!conform(&b->tat, cfg->src_interval, cfg->src_burst, now(&t))) {
			return done(V_RATELIMIT, XDP_DROP);
		}
	}

	if ((cfg->flags & FLAG_PORTS) && port) {
		struct port_limit *pl;
		__u32 idx = port - 1;

		pl = bpf_map_lookup_elem(&ports, &idx);
		if (pl && pl->interval && !conform(&pl->tat, pl->interval, pl->burst, now(&t)))
			return done(V_PORTLIMIT, XDP_DROP);
	}

	return done(V_PASS, XDP_PASS);
}
