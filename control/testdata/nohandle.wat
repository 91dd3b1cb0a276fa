;; nohandle.wat: valid WebAssembly that is not a worker: it exports its
;; memory but no wedge_handle.
;; Regenerate nohandle.wasm with: wat2wasm nohandle.wat -o nohandle.wasm
(module
  (memory (export "memory") 1)
  (func (export "handle")))
