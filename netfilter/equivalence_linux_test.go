package netfilter

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestKernelMatchesModel sends every scenario's frames through the XDP
// program (BPF_PROG_TEST_RUN) and through the Go model, with the same rules
// set through the same code, and checks that both give the verdict the
// scenario expects, frame by frame, and end with the same counters.
func TestKernelMatchesModel(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			objs, kr := kernelRules(t)
			m, mr := newModelRules(t)
			kr.lpmOnly, mr.lpmOnly = sc.lpmOnly, sc.lpmOnly
			if sc.setup != nil {
				sc.setup(t, kr)
				sc.setup(t, mr)
			}
			for _, st := range sc.steps {
				kv := kernelVerdict(t, objs, st.frame)
				mv := m.verdict(st.frame, monotonic())
				if kv != st.want || mv != st.want {
					t.Errorf("%s: kernel %s, model %s, want %s", st.name, kv, mv, st.want)
				}
			}
			kc, err := kr.counters()
			if err != nil {
				t.Fatal(err)
			}
			mc, _ := mr.counters()
			if kc != mc {
				t.Errorf("counters: kernel %v, model %v", kc, mc)
			}
		})
	}
}

// FuzzKernelModel checks that the XDP program and the model agree on any
// frame, under rules that depend on no clock (the scenarios cover the rate
// limits, whose verdicts depend on when the kernel and the model read
// their clocks).
func FuzzKernelModel(f *testing.F) {
	for _, sc := range scenarios() {
		for _, st := range sc.steps {
			f.Add(st.frame)
		}
	}
	objs, kr := kernelRules(f)
	m, mr := newModelRules(f)
	for _, r := range []*rules{kr, mr} {
		blocklistSetup(f, r)
		mustAdd(f, r, false, "192.0.2.0/28", 0)
		mustAdd(f, r, false, "2001:db8:2:3::/64", 0)
		mustAdd(f, r, true, "0.0.0.0/1", monotonic()+hour)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		// BPF_PROG_TEST_RUN wants at least an Ethernet header, and at most
		// what fits a page with XDP's headroom.
		if len(frame) < ethHeaderLen || len(frame) > 1514 {
			m.verdict(frame, monotonic())
			return
		}
		kv := kernelVerdict(t, objs, frame)
		if mv := m.verdict(frame, monotonic()); kv != mv {
			t.Fatalf("frame %x: kernel %s, model %s", frame, kv, mv)
		}
	})
}

func TestKernelTables(t *testing.T) {
	objs, _ := kernelRules(t)
	tab := newKernelTables(objs)
	t.Cleanup(func() { _ = tab.close() })
	testTables(t, tab)
}

// TestKernelFull checks that the kernel reports a full table as ErrFull,
// as the model does (TestModelFull).
func TestKernelFull(t *testing.T) {
	objs, _ := kernelRules(t)
	tab := newKernelTables(objs)
	t.Cleanup(func() { _ = tab.close() })
	for i := range allowLPMMax {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 30)
		if _, err := tab.insertPrefix(listAllow4, true, p, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := tab.insertPrefix(listAllow4, true, netip.MustParsePrefix("192.0.2.0/30"), 0)
	if !errors.Is(err, ErrFull) {
		t.Fatalf("insert past capacity: %v", err)
	}
}

// TestKernelTrieGate runs TestTrieGate's random additions, removals and
// expiries on the kernel's maps and the model's, and checks after each
// step that the XDP program decides as the lookup without gates.
func TestKernelTrieGate(t *testing.T) {
	objs, kr := kernelRules(t)
	m, mr := newModelRules(t)
	rng := rand.New(rand.NewPCG(4, 5))
	gateOps(t, 6, 600, func(step int) {
		for range 8 {
			v6 := rng.IntN(2) == 1
			a := gateAddr(rng, v6)
			var frame []byte
			if v6 {
				frame = udp6(a.String(), 53)
			} else {
				frame = udp4(a.String(), 53)
			}
			kv := kernelVerdict(t, objs, frame)
			want := VerdictPass
			if refMatch(m, listOf(true, netip.PrefixFrom(a, 0)), a, monotonic()) {
				want = VerdictBlocklist
			}
			if kv != want {
				t.Fatalf("step %d: %s: kernel %s, want %s", step, a, kv, want)
			}
		}
	}, kr, mr)
}
