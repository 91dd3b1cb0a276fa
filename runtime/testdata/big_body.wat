;; big_body streams a 1 GiB response: 16,384 writes of 64 KiB.
(module
  (import "wedge_v1" "response_body_write" (func $write (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "wedge_handle")
    (local $i i32)
    (loop $more
      (drop (call $write (i32.const 0) (i32.const 65536)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 16384))))))
