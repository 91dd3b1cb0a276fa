package netfilter

import (
	"errors"
	"maps"
	"net/netip"
	"testing"
)

// testTables checks an implementation of tables: the XDP program's maps
// (kernel) and the model must behave alike, since rules drives both.
func testTables(t *testing.T, tab tables) {
	pfx := netip.MustParsePrefix
	for _, tc := range []struct {
		l   list
		lpm bool
		p   netip.Prefix
	}{
		{listBlock4, false, pfx("192.0.2.1/32")},
		{listAllow4, true, pfx("10.0.0.0/8")},
		{listBlock6, false, pfx("2001:db8::/64")},
		{listAllow6, true, pfx("2001:db8::/36")},
	} {
		created, err := tab.insertPrefix(tc.l, tc.lpm, tc.p, 0)
		if err != nil || !created {
			t.Fatalf("insert %s: %v, %v", tc.p, created, err)
		}
		if created, err := tab.insertPrefix(tc.l, tc.lpm, tc.p, 5); err != nil || created {
			t.Fatalf("insert %s again: %v, %v; want not created", tc.p, created, err)
		}
		if err := tab.updatePrefix(tc.l, tc.lpm, tc.p, 42); err != nil {
			t.Fatal(err)
		}
		got := map[netip.Prefix]uint64{}
		if err := tab.eachPrefix(tc.l, tc.lpm, func(p netip.Prefix, exp uint64) { got[p] = exp }); err != nil {
			t.Fatal(err)
		}
		if want := map[netip.Prefix]uint64{tc.p: 42}; !maps.Equal(got, want) {
			t.Errorf("entries %v, want %v", got, want)
		}
		if tc.lpm {
			// Deletion is exact: a longer prefix inside tc.p is not there.
			longer := netip.PrefixFrom(tc.p.Addr(), tc.p.Bits()+4)
			if ok, err := tab.deletePrefix(tc.l, tc.lpm, longer); ok || err != nil {
				t.Errorf("delete %s: %v, %v; want not found", longer, ok, err)
			}
		}
		if ok, err := tab.deletePrefix(tc.l, tc.lpm, tc.p); !ok || err != nil {
			t.Errorf("delete %s: %v, %v", tc.p, ok, err)
		}
		if ok, err := tab.deletePrefix(tc.l, tc.lpm, tc.p); ok || err != nil {
			t.Errorf("delete %s again: %v, %v; want not found", tc.p, ok, err)
		}
	}

	s := settings{srcInterval: 1e6, srcBurst: 5e6, mask: [numLists]uint8{1, 2, 4, maskLPM}, flags: flagPorts, srcRate: Rate{1000, 5}}
	if err := tab.setSettings(s); err != nil {
		t.Fatal(err)
	}
	if got, err := tab.settings(); err != nil || got != s {
		t.Errorf("settings %+v, %v; want %+v", got, err, s)
	}

	pl := portLimit{interval: 1e7, burst: 2e7, rate: Rate{100, 2}}
	for _, idx := range []uint32{0, 443, 65536 + 53, 2*65536 - 1} {
		if err := tab.setPort(idx, pl); err != nil {
			t.Fatal(err)
		}
	}
	if err := tab.setPort(443, portLimit{}); err != nil {
		t.Fatal(err)
	}
	ports := map[uint32]portLimit{}
	if err := tab.eachPort(func(idx uint32, pl portLimit) { ports[idx] = pl }); err != nil {
		t.Fatal(err)
	}
	if want := map[uint32]portLimit{0: pl, 65536 + 53: pl, 2*65536 - 1: pl}; !maps.Equal(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}
	if got, err := tab.port(65536 + 53); err != nil || got != pl {
		t.Errorf("port %+v, %v", got, err)
	}

	want := map[sumKey]uint8{}
	for _, k := range []sumKey{{listAllow4, 0}, {listBlock4, 1<<summaryBits4 - 1}, {listAllow6, 9}, {listBlock6, 1<<summaryBits6 - 1}} {
		if err := tab.setSummary(k.l, k.bucket, 5); err != nil {
			t.Fatal(err)
		}
		want[k] = 5
	}
	_ = tab.setSummary(listAllow6, 10, 3)
	_ = tab.setSummary(listAllow6, 10, 0)
	got := map[sumKey]uint8{}
	if err := tab.eachSummary(func(l list, b uint32, m uint8) { got[sumKey{l, b}] = m }); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("summary %v, want %v", got, want)
	}

	if c, err := tab.counters(); err != nil || c != ([numVerdicts]uint64{}) {
		t.Errorf("counters %v, %v; want zeros", c, err)
	}
}

func TestModelTables(t *testing.T) { testTables(t, newModel()) }

func TestModelFull(t *testing.T) {
	m := newModel()
	for i := range allowLPMMax {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 30)
		if _, err := m.insertPrefix(listAllow4, true, p, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := m.insertPrefix(listAllow4, true, netip.MustParsePrefix("192.0.2.0/30"), 0)
	if !errors.Is(err, ErrFull) {
		t.Fatalf("insert past capacity: %v", err)
	}
}
