;; command.wat: a WASI command (it exports _start), which a worker must not
;; be, even though it also exports wedge_handle and memory.
;; Regenerate command.wasm with: wat2wasm command.wat -o command.wasm
(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "wedge_handle")))
