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
			m := &cowMemory{img: im, limit: 1 << 30}
			m.Allocate(uint64(len(data)), 1<<30)
			if m.err != nil {
				t.Fatal(m.err)
			}
			defer m.Free()
			m.Reallocate(uint64(len(data)))
			rng := rand.New(rand.NewPCG(1, 2))
			for round := range 20 {
				for range rng.IntN(64) {
					m.region[rng.IntN(len(data))] ^= 0xFF
				}
				if round%5 == 0 { // a page written in full, another only read
					copy(m.region[3*pageSize:4*pageSize], bytes.Repeat([]byte{1}, pageSize))
					_ = m.region[20*pageSize]
				}
				if !m.reset() {
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
