;; writes reads a count n (u32, little-endian) from the request body and
;; makes n calls of response_body_write with 64 bytes each: the hostcall
;; allocation test and benchmark compare n = 0 with a large n.
(module
  (import "wedge_v1" "request_body_read" (func $request_body_read (param i32 i32) (result i32)))
  (import "wedge_v1" "response_body_write" (func $response_body_write (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 64) "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
  (func (export "wedge_handle")
    (local $n i32)
    (drop (call $request_body_read (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 0)))
    (block $end
      (loop $write
        (br_if $end (i32.eqz (local.get $n)))
        (if (i32.ne (call $response_body_write (i32.const 64) (i32.const 64)) (i32.const 64))
          (then unreachable))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $write))))
)
