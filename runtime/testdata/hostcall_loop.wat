;; hostcall_loop asks for the request head again and again, forever: a loop
;; that spends its time in the host.
(module
  (import "wedge_v1" "request_head" (func $head (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wedge_handle")
    (loop $forever
      (drop (call $head (i32.const 0) (i32.const 4096)))
      (br $forever))))
