package netfilter_test

import (
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/wedgeworks/wedge/netfilter"
)

func ExampleFilter() {
	// With no Interface the filter runs in userspace: wrap listeners with
	// f.Listener. With Interface: "eth0" it attaches the XDP program.
	f, err := netfilter.Open(netfilter.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	_ = f.Block(netip.MustParsePrefix("203.0.113.0/24"), 0)
	_ = f.Block(netip.MustParsePrefix("2001:db8:bad::/48"), time.Hour)
	_ = f.Allow(netip.MustParsePrefix("203.0.113.8/29"), 0) // the monitoring hosts
	_ = f.SetSourceRate(netfilter.Rate{PPS: 1000})
	_ = f.SetPortLimit(netfilter.UDP, 443, netfilter.Rate{PPS: 100000, Burst: 10000})

	blocked, _ := f.Blocklist()
	for _, r := range blocked {
		fmt.Println(r.Prefix, !r.Expires.IsZero())
	}
	fmt.Println(f.Mode(), f.SourceRate())
	// Output:
	// 203.0.113.0/24 false
	// 2001:db8:bad::/48 true
	// userspace {1000 1000}
}

func ExampleEscalator() {
	f, err := netfilter.Open(netfilter.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	// Block a source for ten minutes when L7 rate-limits it 20 times in
	// 10 seconds. The caller reports each L7 rate-limit hit.
	e := netfilter.NewEscalator(f, netfilter.EscalatorConfig{Threshold: 20})
	src := netip.MustParseAddr("198.51.100.7")
	for range 20 {
		if e.Observe(src) {
			fmt.Println("escalated", src)
		}
	}
	// Output: escalated 198.51.100.7
}
