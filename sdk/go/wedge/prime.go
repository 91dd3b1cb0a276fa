package wedge

import "unsafe"

// Every request starts from the worker's image, and so from the state the
// image left Go's allocator in: the span each size class allocates from
// next (in the M's cache) is whatever the last allocation before the
// capture left there. After init's garbage collection those are
// fragmented spans with a few free slots; a request used them up and took
// a new span from the heap (sweeping, initialising its metadata) for the
// same size classes every time, about 5 µs of every Go hello request.
//
// primeAllocator runs right before the capture: for every small size
// class, pointer-free and not, it allocates until the allocation lands at
// the start of a page, which in a span being filled in order means a fresh
// span with every slot after it free. The objects are garbage, but nothing
// collects before the capture; they cost the image a span or two per
// class, mostly zeros. It returns how many span classes it tried
// and how many it left at the start of a page.
func primeAllocator() (classes, primed int) {
	keep := func(p unsafe.Pointer, header uintptr) bool {
		primeLast = p // escapes: a heap allocation, not the stack
		return (uintptr(p)-header)%primePage == 0
	}
	for _, size := range primeSizes {
		tries := 4*primePage/size + 2 // at most four spans' worth
		// Objects with pointers over 512 bytes carry an 8-byte header
		// in front, within their size class.
		pointers, header := size/8, uintptr(0)
		if size > 512 {
			pointers, header = size/8-1, 8
		}
		classes++
		for range tries {
			if keep(unsafe.Pointer(unsafe.SliceData(make([]*byte, pointers))), header) {
				primed++
				break
			}
		}
		if size < 16 {
			continue // pointer-free objects under 16 bytes share the tiny allocator's 16-byte blocks
		}
		classes++
		for range tries {
			if keep(unsafe.Pointer(unsafe.SliceData(make([]byte, size))), 0) {
				primed++
				break
			}
		}
	}
	return classes, primed
}

// primePage is the Go allocator's page size, which spans are aligned to.
const primePage = 8192

// primeSizes are Go's size classes up to 1 KiB (runtime/sizeclasses.go):
// the objects a request makes are small.
var primeSizes = []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024}

// primeLast makes primeAllocator's objects escape to the heap.
var primeLast unsafe.Pointer

// headroomBytes is the free heap the image keeps for requests: an
// instance whose memory grows cannot be reset (it is dropped and the next
// request instantiates anew), so a request must find the pages it needs
// among the heap's free pages. reserveHeadroom allocates that much
// garbage before the collection in wedge_prepare frees it; the pages stay
// with the heap, free, for the warm-up, the priming and every request.
const headroomBytes = 2 << 20

var headroomSink []byte

func reserveHeadroom() {
	headroomSink = make([]byte, headroomBytes)
	headroomSink = nil
}
