;; bad_pointer asks the host to write the request head far outside its
;; memory.
(module
  (import "wedge_v1" "request_head" (func $head (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wedge_handle")
    (drop (call $head (i32.const 0xFFFFFF00) (i32.const 4096)))))
