;; worker2.wat: a second valid worker, different bytes from worker.wat, so
;; that a second deploy has another SHA-256. It answers "bye\n" and returns
;; an i32 from wedge_handle, which the ABI allows (and ignores).
;; Regenerate worker2.wasm with: wat2wasm worker2.wat -o worker2.wasm
(module
  (import "wedge_v1" "response_body_write" (func $write (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "bye\n")
  (func (export "_initialize"))
  (func (export "wedge_handle") (result i32)
    (call $write (i32.const 16) (i32.const 4))))
