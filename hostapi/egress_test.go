package hostapi_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/wedgeworks/wedge/hostapi"
)

func TestEgressPolicy(t *testing.T) {
	prefixes := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	tests := []struct {
		addr  string
		allow []netip.Prefix
		want  string // "" means allowed; else a substring of the reason
	}{
		{addr: "8.8.8.8"},
		{addr: "1.1.1.1"},
		{addr: "2606:4700:4700::1111"},
		{addr: "::ffff:8.8.8.8"},
		{addr: "64:ff9b::808:808"}, // NAT64 of 8.8.8.8
		{addr: "127.0.0.1", want: "loopback"},
		{addr: "127.255.255.254", want: "loopback"},
		{addr: "::1", want: "loopback"},
		{addr: "::ffff:127.0.0.1", want: "loopback"},
		{addr: "10.0.0.1", want: "private"},
		{addr: "172.16.5.4", want: "private"},
		{addr: "172.31.255.255", want: "private"},
		{addr: "192.168.1.1", want: "private"},
		{addr: "fc00::1", want: "private"},
		{addr: "fd12:3456::1", want: "private"},
		{addr: "100.64.0.1", want: "carrier-grade NAT"},
		{addr: "100.127.255.255", want: "carrier-grade NAT"},
		{addr: "169.254.169.254", want: "link-local"},
		{addr: "fe80::1", want: "link-local"},
		{addr: "fe80::1%eth0", want: "link-local"},
		{addr: "0.0.0.0", want: "unspecified"},
		{addr: "0.1.2.3", want: "this network"},
		{addr: "::", want: "unspecified"},
		{addr: "224.0.0.1", want: "multicast"},
		{addr: "239.255.255.250", want: "multicast"},
		{addr: "ff02::1", want: "multicast"},
		{addr: "255.255.255.255", want: "reserved"},
		{addr: "240.0.0.1", want: "reserved"},
		{addr: "192.0.2.1", want: "documentation"},
		{addr: "198.51.100.7", want: "documentation"},
		{addr: "203.0.113.9", want: "documentation"},
		{addr: "2001:db8::1", want: "documentation"},
		{addr: "198.18.0.1", want: "benchmarking"},
		{addr: "192.0.0.8", want: "IETF"},
		{addr: "64:ff9b::7f00:1", want: "loopback address (127.0.0.1, embedded"},
		{addr: "64:ff9b::a9fe:a9fe", want: "link-local"},
		{addr: "2002:7f00:1::1", want: "loopback address (127.0.0.1, embedded"},
		{addr: "2002:808:808::1"}, // 6to4 of 8.8.8.8
		{addr: "64:ff9b:1::1", want: "not a global unicast address"},
		{addr: "100::1", want: "not a global unicast address"},
		{addr: "fec0::1", want: "not a global unicast address"},
		{addr: "::127.0.0.1", want: "not a global unicast address"},

		// The allowlist opens ranges, and only those.
		{addr: "127.0.0.1", allow: prefixes("127.0.0.0/8")},
		{addr: "::ffff:127.0.0.1", allow: prefixes("127.0.0.0/8")},
		{addr: "::1", allow: prefixes("127.0.0.0/8"), want: "loopback"},
		{addr: "::1", allow: prefixes("::1/128")},
		{addr: "10.1.2.3", allow: prefixes("10.1.0.0/16")},
		{addr: "10.2.0.1", allow: prefixes("10.1.0.0/16"), want: "private"},
		{addr: "64:ff9b::a01:203", allow: prefixes("10.1.0.0/16")}, // NAT64 of 10.1.2.3
		{addr: "169.254.169.254", allow: prefixes("127.0.0.0/8", "10.0.0.0/8"), want: "link-local"},
		{addr: "127.0.0.2", allow: prefixes("127.0.0.1/32"), want: "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			e := hostapi.NewEgress(hostapi.EgressConfig{Allow: tt.allow})
			got := e.Denied(netip.MustParseAddr(tt.addr))
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("Denied(%s) with %v = %q, want %q", tt.addr, tt.allow, got, tt.want)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: ""},
		{in: "127.0.0.0/8", want: []string{"127.0.0.0/8"}},
		{in: "127.0.0.1/8, 10.0.0.0/8 fd00::/8", want: []string{"127.0.0.0/8", "10.0.0.0/8", "fd00::/8"}},
		{in: "192.168.1.10,::1", want: []string{"192.168.1.10/32", "::1/128"}},
		{in: "::ffff:10.0.0.1", want: []string{"10.0.0.1/32"}},
		{in: "10.0.0.0/33", err: true},
		{in: "localhost", err: true},
		{in: "10.0.0.0/8,,", want: []string{"10.0.0.0/8"}},
	}
	for _, tt := range tests {
		got, err := hostapi.ParsePrefixes(tt.in)
		if tt.err != (err != nil) {
			t.Errorf("ParsePrefixes(%q): %v", tt.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !reflect.DeepEqual(s, tt.want) {
			t.Errorf("ParsePrefixes(%q) = %v, want %v", tt.in, s, tt.want)
		}
	}
}
