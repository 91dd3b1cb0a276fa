;; badimport.wat: a worker that imports from a module the host does not
;; provide (env.abort).
;; Regenerate badimport.wasm with: wat2wasm badimport.wat -o badimport.wasm
(module
  (import "env" "abort" (func $abort))
  (memory (export "memory") 1)
  (func (export "wedge_handle") (call $abort)))
