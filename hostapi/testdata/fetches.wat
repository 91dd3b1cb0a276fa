;; fetches makes n outbound requests (or cache lookups) with one request
;; head, for the hostcall benchmarks. The request body is: mode (u32),
;; n (u32), then the head. Mode 0: fetch_send, fetch_response_head,
;; fetch_body_read to the end, fetch_close. Mode 1: the same with
;; cache_match instead of fetch_send. Any error traps.
(module
  (import "wedge_v1" "request_body_read" (func $request_body_read (param i32 i32) (result i32)))
  (import "wedge_v1" "fetch_send" (func $fetch_send (param i32 i32) (result i32)))
  (import "wedge_v1" "fetch_response_head" (func $fetch_response_head (param i32 i32 i32) (result i32)))
  (import "wedge_v1" "fetch_body_read" (func $fetch_body_read (param i32 i32 i32) (result i32)))
  (import "wedge_v1" "fetch_close" (func $fetch_close (param i32) (result i32)))
  (import "wedge_v1" "cache_match" (func $cache_match (param i32 i32) (result i32)))

  ;; [0, 8): mode and n; [8, 4096): the head; [4096, 8192): the response
  ;; head; [8192, 65536): the response body.
  (memory (export "memory") 1)

  (func (export "wedge_handle")
    (local $got i32) (local $r i32) (local $len i32) (local $n i32) (local $h i32)
    ;; Read the whole request body.
    (block $eof
      (loop $read
        (local.set $r (call $request_body_read (local.get $got) (i32.sub (i32.const 4096) (local.get $got))))
        (br_if $eof (i32.le_s (local.get $r) (i32.const 0)))
        (local.set $got (i32.add (local.get $got) (local.get $r)))
        (br $read)))
    (local.set $len (i32.sub (local.get $got) (i32.const 8)))
    (local.set $n (i32.load (i32.const 4)))
    (block $done
      (loop $each
        (br_if $done (i32.eqz (local.get $n)))
        (if (i32.eqz (i32.load (i32.const 0)))
          (then (local.set $h (call $fetch_send (i32.const 8) (local.get $len))))
          (else (local.set $h (call $cache_match (i32.const 8) (local.get $len)))))
        (if (i32.le_s (local.get $h) (i32.const 0)) (then unreachable))
        (if (i32.lt_s (call $fetch_response_head (local.get $h) (i32.const 4096) (i32.const 4096)) (i32.const 0))
          (then unreachable))
        (block $end
          (loop $body
            (local.set $r (call $fetch_body_read (local.get $h) (i32.const 8192) (i32.const 57344)))
            (if (i32.lt_s (local.get $r) (i32.const 0)) (then unreachable))
            (br_if $body (i32.gt_s (local.get $r) (i32.const 0)))))
        (if (i32.ne (call $fetch_close (local.get $h)) (i32.const 0)) (then unreachable))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $each))))
)
