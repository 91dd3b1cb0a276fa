package runtime

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memory is one instance's linear memory with a hard size limit: growing
// past it fails inside the guest (memory.grow returns -1) and is recorded,
// so that the request ends with memory-limit rather than a bare trap.
type memory struct {
	limit   uint64
	buf     []byte
	refused atomic.Bool
	length  atomic.Uint64
}

// Allocate implements experimental.MemoryAllocator.
func (m *memory) Allocate(capacity, max uint64) experimental.LinearMemory {
	if max > m.limit {
		max = m.limit
	}
	if capacity > max {
		capacity = max
	}
	m.buf = make([]byte, 0, capacity)
	return m
}

// Reallocate implements experimental.LinearMemory.
func (m *memory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
	} else {
		// Grow geometrically, as append would, but never past the limit.
		c := uint64(cap(m.buf)) * 2
		if c < size {
			c = size
		}
		if c > m.limit {
			c = m.limit
		}
		buf := make([]byte, size, c)
		copy(buf, m.buf)
		m.buf = buf
	}
	m.length.Store(size)
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *memory) Free() { m.buf = nil }

func (m *memory) size() uint64 { return m.length.Load() }
