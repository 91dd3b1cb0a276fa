//go:build !linux

package runtime

import (
	"errors"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Copy-on-write images need memfd and mmap; elsewhere every request gets a
// fully fresh instance (Image falls back to it).

type memImage struct{ size uint64 }

func newMemImage([]byte) (*memImage, error) {
	return nil, errors.New("copy-on-write images are supported on Linux only")
}

func (im *memImage) close() {}

type cowMemory struct {
	img     *memImage
	limit   uint64
	err     error
	refused atomic.Bool
}

func (m *cowMemory) Allocate(uint64, uint64) experimental.LinearMemory { return m }
func (m *cowMemory) Reallocate(uint64) []byte                          { return nil }
func (m *cowMemory) Free()                                             {}
func (m *cowMemory) reset(bool) (ok, scanned bool)                     { return false, false }
func (m *cowMemory) size() uint64                                      { return 0 }
func (m *cowMemory) privatePages() int                                 { return -1 }
