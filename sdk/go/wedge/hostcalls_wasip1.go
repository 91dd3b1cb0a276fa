//go:build wasip1

package wedge

import (
	"runtime"
	"unsafe"
)

//go:wasmimport wedge_v1 request_head
func requestHead(buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport wedge_v1 request_body_read
func requestBodyRead(buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport wedge_v1 response_head
func responseHead(buf unsafe.Pointer, length uint32) int32

//go:wasmimport wedge_v1 response_body_write
func responseBodyWrite(buf unsafe.Pointer, length uint32) int32

//go:wasmimport wedge_v1 response_flush
func responseFlush() int32

//go:wasmimport wedge_v1 fetch_send
func fetchSend(head unsafe.Pointer, length uint32) int32

//go:wasmimport wedge_v1 fetch_body_write
func fetchBodyWrite(h int32, buf unsafe.Pointer, length uint32) int32

//go:wasmimport wedge_v1 fetch_body_close
func fetchBodyClose(h int32) int32

//go:wasmimport wedge_v1 fetch_response_head
func fetchResponseHead(h int32, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport wedge_v1 fetch_body_read
func fetchBodyRead(h int32, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport wedge_v1 fetch_close
func fetchClose(h int32) int32

//go:wasmimport wedge_v1 cache_match
func cacheMatch(head unsafe.Pointer, length uint32) int32

//go:wasmimport wedge_v1 cache_put
func cachePut(req unsafe.Pointer, reqLen uint32, resp unsafe.Pointer, respLen uint32, body unsafe.Pointer, bodyLen uint32) int32

//go:wasmimport wedge_v1 cache_delete
func cacheDelete(head unsafe.Pointer, length uint32) int32

//go:wasmimport wedge_v1 cache_fetch
func cacheFetch(head unsafe.Pointer, length uint32) int32

//go:wasmimport wedge_v1 error_message
func errorMessage(buf unsafe.Pointer, capacity uint32) int32

// wasmHost is the host: the wedge_v1 imports.
type wasmHost struct{}

// defaultHost serves the calls made outside wedge_handle's own request
// and response: Fetch, Cache.
var defaultHost host = wasmHost{}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

func (wasmHost) requestHead(buf []byte) int32     { return requestHead(ptr(buf), uint32(len(buf))) }
func (wasmHost) requestBodyRead(buf []byte) int32 { return requestBodyRead(ptr(buf), uint32(len(buf))) }
func (wasmHost) responseHead(head []byte) int32   { return responseHead(ptr(head), uint32(len(head))) }
func (wasmHost) responseBodyWrite(p []byte) int32 { return responseBodyWrite(ptr(p), uint32(len(p))) }
func (wasmHost) responseFlush() int32             { return responseFlush() }

func (wasmHost) fetchSend(head []byte) int32 { return fetchSend(ptr(head), uint32(len(head))) }
func (wasmHost) fetchBodyWrite(h int32, p []byte) int32 {
	return fetchBodyWrite(h, ptr(p), uint32(len(p)))
}
func (wasmHost) fetchBodyClose(h int32) int32 { return fetchBodyClose(h) }
func (wasmHost) fetchResponseHead(h int32, buf []byte) int32 {
	return fetchResponseHead(h, ptr(buf), uint32(len(buf)))
}
func (wasmHost) fetchBodyRead(h int32, buf []byte) int32 {
	return fetchBodyRead(h, ptr(buf), uint32(len(buf)))
}
func (wasmHost) fetchClose(h int32) int32     { return fetchClose(h) }
func (wasmHost) cacheMatch(head []byte) int32 { return cacheMatch(ptr(head), uint32(len(head))) }
func (wasmHost) cachePut(reqHead, respHead, body []byte) int32 {
	return cachePut(ptr(reqHead), uint32(len(reqHead)), ptr(respHead), uint32(len(respHead)), ptr(body), uint32(len(body)))
}
func (wasmHost) cacheDelete(head []byte) int32 { return cacheDelete(ptr(head), uint32(len(head))) }
func (wasmHost) cacheFetch(head []byte) int32  { return cacheFetch(ptr(head), uint32(len(head))) }
func (wasmHost) errorMessage(buf []byte) int32 { return errorMessage(ptr(buf), uint32(len(buf))) }

//go:wasmimport wedge_v1 kv_get
func kvGet(ns unsafe.Pointer, nsLen uint32, key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, capacity uint32) int32

//go:wasmimport wedge_v1 kv_put
func kvPut(ns unsafe.Pointer, nsLen uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport wedge_v1 kv_delete
func kvDelete(ns unsafe.Pointer, nsLen uint32, key unsafe.Pointer, keyLen uint32) int32

//go:wasmimport wedge_v1 kv_list
func kvList(ns unsafe.Pointer, nsLen uint32, prefix unsafe.Pointer, prefixLen uint32, buf unsafe.Pointer, capacity uint32) int32

func (wasmHost) kvGet(ns, key, buf []byte) int32 {
	return kvGet(ptr(ns), uint32(len(ns)), ptr(key), uint32(len(key)), ptr(buf), uint32(len(buf)))
}
func (wasmHost) kvPut(ns, key, value []byte) int32 {
	return kvPut(ptr(ns), uint32(len(ns)), ptr(key), uint32(len(key)), ptr(value), uint32(len(value)))
}
func (wasmHost) kvDelete(ns, key []byte) int32 {
	return kvDelete(ptr(ns), uint32(len(ns)), ptr(key), uint32(len(key)))
}
func (wasmHost) kvList(ns, prefix, buf []byte) int32 {
	return kvList(ptr(ns), uint32(len(ns)), ptr(prefix), uint32(len(prefix)), ptr(buf), uint32(len(buf)))
}

// wedgeHandle is called by the host once per request.
//
//go:wasmexport wedge_handle
func wedgeHandle() {
	reseed()
	serve(wasmHost{})
}

// wedgePrepare is called by the host once, after initialisation and before
// the worker's state is captured as its image. It collects init's garbage
// (otherwise every request, starting from the same heap, would pay for the
// same collection) leaving free heap for requests (see reserveHeadroom),
// warms the SDK up (see warmUp), makes the exchange every request takes
// (see spare), finds the runtime's random generator,
// which every request re-seeds (see reseed), and primes the allocator
// (see primeAllocator). None of this touches the worker's own state.
//
//go:wasmexport wedge_prepare
func wedgePrepare() {
	reserveHeadroom()
	runtime.GC()
	warmUp()
	spare = newExchange()
	spare.inImage = true
	locateRand()
	primeAllocator()
}
