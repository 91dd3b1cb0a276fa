//go:build wasip1

package wedge

import (
	"math/rand/v2"
	"unsafe"
)

// Every request starts from the worker's image, captured once after
// initialisation: without help, the Go runtime's random generator would
// start every request from the same state and draw the same numbers. That
// generator (runtime.rand) is behind math/rand's and math/rand/v2's
// top-level functions, map iteration order, hash/maphash seeds and
// select's choice among ready cases; it is a ChaCha8 state in the runtime's
// M, which Go seeds once at start-up and offers no way to seed again.
//
// So the SDK finds that state in linear memory while the worker is
// prepared (locateRand, once, before the image is captured), and gives it
// a fresh state from the host's random source at the start of every
// request (reseed): a seed and a block of values from WASI's random_get.
// What stays shared between requests: values the worker computed from
// random numbers during its own init, and the hash seeds of maps made then
// (changing those would lose their entries).

// chacha8State mirrors internal/chacha8rand.State (Go 1.22 and later): the
// runtime's generator hands out buf[i] while i < n, then computes the next
// block of buf from seed and the counter c.
type chacha8State struct {
	buf     [32]uint64
	seed    [4]uint64
	i, n, c uint32
}

// runtimeRand is the runtime's generator, found by locateRand; nil if it
// was not found (requests then share its sequence, as without the SDK).
var runtimeRand *chacha8State

// reseed gives the runtime's generator a fresh state: a seed and a block
// of values, all from the host's random source, as if the block had just
// been computed from the seed with the counter at zero. The request's
// first 32 draws (a map's hash seed, a rand.Int) then cost no ChaCha8
// block, which a Go guest computes without SIMD (1.4% of a hello request's
// CPU); the next refill computes one from the fresh seed.
func reseed() {
	s := runtimeRand
	if s == nil {
		return
	}
	var fresh struct {
		buf  [32]uint64
		seed [4]uint64
	}
	if randomGet(unsafe.Pointer(&fresh), uint32(unsafe.Sizeof(fresh))) != 0 {
		return
	}
	s.buf, s.seed = fresh.buf, fresh.seed
	s.c = 0
	s.i, s.n = 0, uint32(len(s.buf))
}

// locateRand finds the runtime's generator: it draws two numbers, looks for
// them side by side in memory, and keeps the one place where they sit in a
// chacha8State whose position agrees, checked again with a third draw.
// The generator is a global (in the runtime's m0), below the heap.
func locateRand() {
	for attempt := 0; attempt < 4 && runtimeRand == nil; attempt++ {
		a, b := rand.Uint64(), rand.Uint64()
		runtimeRand = findRand(a, b)
	}
}

func findRand(a, b uint64) *chacha8State {
	// Linear memory is contiguous from 0: everything below a live heap
	// object is readable. The runtime's globals are there.
	limit := uintptr(unsafe.Pointer(new([64]byte)))
	var found *chacha8State
	for addr := uintptr(4096); addr+16 <= limit; addr += 8 {
		if word(addr) != a || word(addr+8) != b {
			continue
		}
		for k := uintptr(0); k < 31; k++ {
			if addr < 4096+8*k {
				break
			}
			s := (*chacha8State)(unsafe.Add(nil, addr-8*k))
			if s.i != uint32(k)+2 || s.i > s.n || (s.n != 32 && s.n != 28) {
				continue
			}
			if found != nil && found != s {
				return nil // two candidates: trust neither
			}
			found = s
		}
	}
	if found == nil {
		return nil
	}
	// The next draw must come from the same place.
	i := found.i
	x := rand.Uint64()
	switch {
	case found.i == i+1 && found.buf[i&31] == x:
	case found.i == 1 && found.buf[0] == x: // it refilled
	default:
		return nil
	}
	return found
}

// randomGet is WASI's random_get, called directly: crypto/rand would do
// its first-use work again in every request, since every request starts
// from the image (75 µs per request on the Go hello).
//
//go:wasmimport wasi_snapshot_preview1 random_get
func randomGet(buf unsafe.Pointer, n uint32) uint32

func word(addr uintptr) uint64 { return *(*uint64)(unsafe.Add(nil, addr)) }
