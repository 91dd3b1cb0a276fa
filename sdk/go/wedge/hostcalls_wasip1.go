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

// wasmHost is the host: the wedge_v1 imports.
type wasmHost struct{}

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

// wedgeHandle is called by the host once per request.
//
//go:wasmexport wedge_handle
func wedgeHandle() {
	serve(wasmHost{})
}

// wedgePrepare is called by the host once, after initialisation and before
// the worker's state is captured as its image. It collects init's garbage
// (otherwise every request, starting from the same heap, would pay for the
// same collection) and then warms the SDK up (see warmUp). Neither touches
// the worker's own state.
//
//go:wasmexport wedge_prepare
func wedgePrepare() {
	runtime.GC()
	warmUp()
}
