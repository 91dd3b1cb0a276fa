//go:build linux

package runtime

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCowReset writes to pages of a copy-on-write memory and resets it,
// both with PAGEMAP_SCAN and with the pagemap fallback: the memory must
// equal the image again, page for page.
func TestCowReset(t *testing.T) {
	data := make([]byte, 40*pageSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	clear(data[5*pageSize : 9*pageSize]) // zero pages are left out of the memfd
	im, err := newMemImage(data)
	if err != nil {
		t.Fatal(err)
	}
	defer im.close()
	for _, scan := range []bool{true, false} {
		t.Run(map[bool]string{true: "pagemap-scan", false: "pagemap-read"}[scan], func(t *testing.T) {
			old := scanOK.Load()
			scanOK.Store(scan)
			defer scanOK.Store(old)
			m := mapImage(t, im)
			rng := rand.New(rand.NewPCG(1, 2))
			for round := range 20 {
				for range rng.IntN(64) {
					m.region[rng.IntN(len(data))] ^= 0xFF
				}
				if round%5 == 0 { // a page written in full, another only read
					copy(m.region[3*pageSize:4*pageSize], bytes.Repeat([]byte{1}, pageSize))
					_ = m.region[20*pageSize]
				}
				if ok, _ := m.reset(false); !ok {
					t.Fatalf("round %d: reset failed", round)
				}
				if !bytes.Equal(m.region[:len(data)], data) {
					t.Fatalf("round %d: memory differs from the image after reset", round)
				}
			}
			if scan && !scanOK.Load() {
				t.Skip("the kernel refused PAGEMAP_SCAN (Linux 6.7+); the fallback served")
			}
		})
	}
}

// TestCowResetWatched resets after watched writes (see faultWatch): a
// round that writes a page for the first time takes a fault and gets a
// full scan; a round that writes only pages already private is clean and
// gets the copy of the known ranges. Either way the memory must equal the
// image again. Without the watch, claiming a clean run after writing a
// new page leaves that page behind: the watch is what makes the fast
// reset safe.
func TestCowResetWatched(t *testing.T) {
	data := make([]byte, 64*pageSize)
	for i := range data {
		data[i] = byte(i*13 + 1)
	}
	im, err := newMemImage(data)
	if err != nil {
		t.Fatal(err)
	}
	defer im.close()
	m := mapImage(t, im)
	if ok, _ := m.reset(false); !ok {
		t.Fatal("reset failed")
	}
	if !m.knownOK {
		t.Skip("the kernel refused PAGEMAP_SCAN (Linux 6.7+): resets always ask pagemap")
	}
	hostPages := len(data) / int(hostPage)
	written := map[int]bool{}
	rng := rand.New(rand.NewPCG(3, 4))
	clean := 0
	for round := range 200 {
		pages := []int{rng.IntN(hostPages)}
		if round%4 != 0 && len(written) > 0 { // mostly pages written before
			pages = pages[:0]
			for p := range written {
				pages = append(pages, p)
				if len(pages) == 3 {
					break
				}
			}
		}
		fresh := false
		for _, p := range pages {
			fresh = fresh || !written[p]
		}
		var w faultWatch
		meter := &Meter{watch: &w} // its segment is the watch's stretch
		meter.start()
		for _, p := range pages {
			m.region[p*int(hostPage)+rng.IntN(int(hostPage))] ^= 0x5A
		}
		meter.stop()
		if fresh && w.clean() {
			t.Fatalf("round %d: a write to a page never written before took no fault", round)
		}
		if w.clean() {
			clean++
		}
		for _, p := range pages {
			written[p] = true
		}
		if ok, scanned := m.reset(w.clean()); !ok || scanned == w.clean() {
			t.Fatalf("round %d: reset failed, or scanned when it need not or skipped the scan when it had to", round)
		}
		if !bytes.Equal(m.region[:len(data)], data) {
			t.Fatalf("round %d (clean %v): memory differs from the image after reset", round, w.clean())
		}
	}
	t.Logf("%d of 200 rounds clean", clean)
	if clean < 50 {
		t.Errorf("only %d of 200 rounds were clean: the watch sees faults where there are none", clean)
	}

	// The unsafe claim: a new page written, reset told nothing is new.
	p := -1
	for i := range hostPages {
		if !written[i] {
			p = i
			break
		}
	}
	if p < 0 {
		t.Fatal("every page was written")
	}
	m.region[p*int(hostPage)] ^= 0xFF
	m.reset(true)
	if bytes.Equal(m.region[:len(data)], data) {
		t.Fatal("a reset that skipped the scan restored a page it did not know: the test cannot tell")
	}
}

// mapImage maps im as an instance's memory would, freed with the test.
func mapImage(t *testing.T, im *memImage) *cowMemory {
	t.Helper()
	m := &cowMemory{img: im, limit: 1 << 30}
	m.Allocate(im.size, 1<<30)
	if m.err != nil {
		t.Fatal(m.err)
	}
	t.Cleanup(m.Free)
	m.Reallocate(im.size)
	return m
}
