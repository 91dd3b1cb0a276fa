//go:build linux

package runtime

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tetratelabs/wazero/experimental"
)

// memImage is a captured linear memory, held in a sealed memfd so that
// every instance can map it copy-on-write: an instance pays only for the
// pages it writes, and dropping those pages returns it to the image.
type memImage struct {
	fd   int
	size uint64 // bytes, a multiple of the wasm page size
	view []byte // the image mapped read-only and shared: the source of resets
}

func newMemImage(data []byte) (*memImage, error) {
	fd, err := unix.MemfdCreate("wedge-image", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	im := &memImage{fd: fd, size: uint64(len(data))}
	if err := unix.Ftruncate(fd, int64(len(data))); err != nil {
		im.close()
		return nil, fmt.Errorf("ftruncate image: %w", err)
	}
	for off := 0; off < len(data); {
		// Zero pages need no write: the file reads as zeros already, and
		// unwritten pages cost no memory.
		end := min(off+pageSize, len(data))
		if !allZero(data[off:end]) {
			if _, err := unix.Pwrite(fd, data[off:end], int64(off)); err != nil {
				im.close()
				return nil, fmt.Errorf("write image: %w", err)
			}
		}
		off = end
	}
	// Nobody may change the image any more, through any mapping.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		im.close()
		return nil, fmt.Errorf("seal image: %w", err)
	}
	if len(data) > 0 {
		view, err := unix.Mmap(fd, 0, len(data), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			im.close()
			return nil, fmt.Errorf("map image: %w", err)
		}
		im.view = view
	}
	return im, nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if *(*uint64)(unsafe.Pointer(&b[0])) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (im *memImage) close() {
	if im.view != nil {
		unix.Munmap(im.view)
		im.view = nil
	}
	if im.fd >= 0 {
		unix.Close(im.fd)
		im.fd = -1
	}
}

// cowMemory is one pooled instance's linear memory: the whole reservation
// (the instance's limit) is mapped up front, so the memory never moves;
// the image is mapped MAP_PRIVATE at its start and the rest is made
// accessible as the guest grows.
type cowMemory struct {
	mu      sync.Mutex // reset against Free: an instance may be closed while it is recycled
	img     *memImage
	limit   uint64
	region  []byte       // the reservation; len = reserved bytes
	mapped  uint64       // bytes accessible from the start of region
	entries []uint64     // pagemap scratch, one entry per host page of the image
	regions []pageRegion // PAGEMAP_SCAN scratch
	// private holds the ranges of the image that were private copies at
	// the last scan (offsets from the start of region), when knownOK.
	private []pageRegion
	knownOK bool
	length  atomic.Uint64
	refused atomic.Bool
	err     error // why Allocate failed, if it did
}

// Allocate implements experimental.MemoryAllocator.
func (m *cowMemory) Allocate(capacity, max uint64) experimental.LinearMemory {
	reserve := min(max, m.limit)
	if reserve < m.img.size {
		reserve = m.img.size
	}
	region, err := unix.Mmap(-1, 0, int(reserve), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		m.err = fmt.Errorf("reserve %d bytes: %w", reserve, err)
		return m
	}
	if m.img.size > 0 {
		_, err = mmapFixed(unsafe.Pointer(&region[0]), m.img.size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED, m.img.fd)
		if err != nil {
			unix.Munmap(region)
			m.err = fmt.Errorf("map image: %w", err)
			return m
		}
	}
	m.region, m.mapped = region, m.img.size
	return m
}

// Reallocate implements experimental.LinearMemory.
func (m *cowMemory) Reallocate(size uint64) []byte {
	if m.region == nil {
		return nil
	}
	if size > m.limit || size > uint64(len(m.region)) {
		m.refused.Store(true)
		return nil
	}
	if size > m.mapped {
		if err := unix.Mprotect(m.region[m.mapped:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			m.refused.Store(true)
			return nil
		}
		m.mapped = size
	}
	m.length.Store(size)
	return m.region[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *cowMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.region != nil {
		unix.Munmap(m.region)
		m.region = nil
	}
}

// reset returns the memory to the image. It fails when the memory grew
// past the image (the caller then discards the instance).
//
// Pages the guest wrote are private copies (copy-on-write); the others
// still map the image. Rather than dropping the private pages (the next
// request would fault every one of them again, a few microseconds each),
// reset asks the kernel which pages are private (PAGEMAP_SCAN, or
// /proc/self/pagemap before Linux 6.7) and copies the image over just
// those: a request's working set stays mapped, and costs a memcpy per
// page instead of a fault. Where pagemap cannot be read, it falls back to
// MADV_DONTNEED.
//
// Asking the kernel costs more than the copy: it looks up every mapped
// page's struct page to tell an image page from a private one (about 40 ns
// each, 10 µs for the Go hello's 250 mapped pages). noNewPages says the
// run made no page private that was not private at the last scan (see
// faultWatch): reset then copies the image over those ranges again
// without asking.
// It reports whether it asked the kernel.
func (m *cowMemory) reset(noNewPages bool) (ok, scanned bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.region == nil || m.length.Load() != m.img.size || m.mapped != m.img.size || m.refused.Load() {
		return false, false
	}
	if m.img.size == 0 {
		return true, false
	}
	if noNewPages && m.knownOK {
		for _, r := range m.private {
			copy(m.region[r.start:r.end], m.img.view[r.start:r.end])
		}
		return true, false
	}
	m.knownOK = false
	if m.restorePrivate() {
		return true, true
	}
	return unix.Madvise(m.region[:m.img.size], unix.MADV_DONTNEED) == nil, true
}

// pagemap bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61 // file page or shared anonymous: not a private copy
)

var pagemapFD = sync.OnceValues(func() (int, error) {
	return unix.Open("/proc/self/pagemap", unix.O_RDONLY|unix.O_CLOEXEC, 0)
})

var hostPage = uint64(unix.Getpagesize())

// privatePages counts the pages of the image range that are private
// copies (-1 when pagemap cannot be read).
func (m *cowMemory) privatePages() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	entries, ok := m.pagemap()
	if !ok {
		return -1
	}
	n := 0
	for _, e := range entries {
		if e&(pmPresent|pmSwapped) != 0 && e&pmFile == 0 {
			n++
		}
	}
	return n
}

// pagemap reads the pagemap entries of the image range.
func (m *cowMemory) pagemap() ([]uint64, bool) {
	fd, err := pagemapFD()
	if err != nil || m.region == nil {
		return nil, false
	}
	pages := m.img.size / hostPage
	if uint64(cap(m.entries)) < pages {
		m.entries = make([]uint64, pages)
	}
	entries := m.entries[:pages]
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&entries[0])), len(entries)*8)
	first := uint64(uintptr(unsafe.Pointer(&m.region[0]))) / hostPage
	if n, err := unix.Pread(fd, buf, int64(first*8)); err != nil || n != len(buf) {
		return nil, false
	}
	return entries, true
}

func (m *cowMemory) restorePrivate() bool {
	if scanOK.Load() {
		if ok, supported := m.restoreScanned(); supported {
			return ok
		}
		scanOK.Store(false)
	}
	entries, ok := m.pagemap()
	if !ok {
		return false
	}
	for i, e := range entries {
		if e&(pmPresent|pmSwapped) != 0 && e&pmFile == 0 {
			off := uint64(i) * hostPage
			copy(m.region[off:off+hostPage], m.img.view[off:off+hostPage])
		}
	}
	return true
}

// PAGEMAP_SCAN (Linux 6.7) asks the kernel for the ranges of pages in given
// categories, instead of one pagemap entry per page: here the private
// copies, present or swapped and not file pages. It walks the same page
// tables, but returns a few ranges rather than an entry per page.
type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages       uint64
	categoryInverted, categoryMask, categoryAnyofMask, returnMask uint64
}

type pageRegion struct{ start, end, categories uint64 }

const (
	pageIsFile    = 1 << 2
	pageIsPresent = 1 << 3
	pageIsSwapped = 1 << 4
	// _IOWR('f', 16, struct pm_scan_arg)
	ioctlPagemapScan = 3<<30 | uint(unsafe.Sizeof(pmScanArg{}))<<16 | 'f'<<8 | 16
)

// scanOK is cleared the first time the kernel refuses PAGEMAP_SCAN.
var scanOK = func() *atomic.Bool { var b atomic.Bool; b.Store(true); return &b }()

// restoreScanned copies the image over the private pages found with
// PAGEMAP_SCAN. supported is false when the kernel does not know the
// ioctl (the caller falls back to reading pagemap).
func (m *cowMemory) restoreScanned() (ok, supported bool) {
	fd, err := pagemapFD()
	if err != nil || m.region == nil {
		return false, true
	}
	if m.regions == nil {
		m.regions = make([]pageRegion, 64)
	}
	base := uint64(uintptr(unsafe.Pointer(&m.region[0])))
	arg := pmScanArg{
		size: uint64(unsafe.Sizeof(pmScanArg{})), start: base, end: base + m.img.size,
		vec: uint64(uintptr(unsafe.Pointer(&m.regions[0]))), vecLen: uint64(len(m.regions)),
		categoryInverted: pageIsFile, categoryMask: pageIsFile,
		categoryAnyofMask: pageIsPresent | pageIsSwapped, returnMask: pageIsPresent | pageIsSwapped,
	}
	m.private = m.private[:0]
	for arg.start < arg.end {
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(ioctlPagemapScan), uintptr(unsafe.Pointer(&arg)))
		if errno != 0 {
			if errno == unix.ENOTTY || errno == unix.EINVAL || errno == unix.ENOSYS {
				return false, false
			}
			return false, true
		}
		for _, r := range m.regions[:n] {
			lo, hi := r.start-base, r.end-base
			copy(m.region[lo:hi], m.img.view[lo:hi])
			m.private = append(m.private, pageRegion{start: lo, end: hi})
		}
		if arg.walkEnd <= arg.start {
			return false, true // no progress: do not spin
		}
		arg.start = arg.walkEnd
	}
	m.knownOK = true
	return true, true
}

func (m *cowMemory) size() uint64 { return m.length.Load() }

// mmapFixed maps fd over an existing range (unix.Mmap cannot take an address).
func mmapFixed(addr unsafe.Pointer, length uint64, prot, flags, fd int) (uintptr, error) {
	r, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), uintptr(length), uintptr(prot), uintptr(flags), uintptr(fd), 0)
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}
