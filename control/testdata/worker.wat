;; worker.wat: the smallest valid Wedge worker. It writes "hello\n" as the
;; response body through wedge_v1.response_body_write.
;; Regenerate worker.wasm with: wat2wasm worker.wat -o worker.wasm
(module
  (import "wedge_v1" "response_body_write" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "wedge_handle")
    (drop (call $write (i32.const 16) (i32.const 6)))))
