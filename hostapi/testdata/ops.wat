;; ops is a script interpreter for the hostapi tests: it asks the test's
;; "probe" host module for step after step and makes the hostcall each step
;; names, with the arguments the step gives, whatever they are.
;;
;; Step kinds: 0 request_head, 1 request_body_read, 2 response_head,
;; 3 response_body_write, 4 response_flush, 5 memory.grow (by ptr pages),
;; 6 nothing (a step that only pokes data into memory), 7 fetch_send,
;; 8 fetch_body_write, 9 fetch_body_close, 10 fetch_response_head,
;; 11 fetch_body_read, 12 fetch_close, 13 cache_match, 14 cache_put,
;; 15 cache_delete, 16 cache_fetch, 17 error_message, 18 kv_get,
;; 19 kv_put, 20 kv_delete, 21 kv_list; anything else: nothing.
;;
;; The calls of three buffers (cache_put, kv_get, kv_put, kv_list) take
;; them as (ptr, len), (ptr2, len2), (ptr3, len3); kv_delete takes the
;; first two.
(module
  (import "wedge_v1" "request_head" (func $request_head (param i32 i32) (result i32)))
  (import "wedge_v1" "request_body_read" (func $request_body_read (param i32 i32) (result i32)))
  (import "wedge_v1" "response_head" (func $response_head (param i32 i32) (result i32)))
  (import "wedge_v1" "response_body_write" (func $response_body_write (param i32 i32) (result i32)))
  (import "wedge_v1" "response_flush" (func $response_flush (result i32)))
  (import "wedge_v1" "fetch_send" (func $fetch_send (param i32 i32) (result i32)))
  (import "wedge_v1" "fetch_body_write" (func $fetch_body_write (param i32 i32 i32) (result i32)))
  (import "wedge_v1" "fetch_body_close" (func $fetch_body_close (param i32) (result i32)))
  (import "wedge_v1" "fetch_response_head" (func $fetch_response_head (param i32 i32 i32) (result i32)))
  (import "wedge_v1" "fetch_body_read" (func $fetch_body_read (param i32 i32 i32) (result i32)))
  (import "wedge_v1" "fetch_close" (func $fetch_close (param i32) (result i32)))
  (import "wedge_v1" "cache_match" (func $cache_match (param i32 i32) (result i32)))
  (import "wedge_v1" "cache_put" (func $cache_put (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wedge_v1" "cache_delete" (func $cache_delete (param i32 i32) (result i32)))
  (import "wedge_v1" "cache_fetch" (func $cache_fetch (param i32 i32) (result i32)))
  (import "wedge_v1" "error_message" (func $error_message (param i32 i32) (result i32)))
  (import "wedge_v1" "kv_get" (func $kv_get (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wedge_v1" "kv_put" (func $kv_put (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wedge_v1" "kv_delete" (func $kv_delete (param i32 i32 i32 i32) (result i32)))
  (import "wedge_v1" "kv_list" (func $kv_list (param i32 i32 i32 i32 i32 i32) (result i32)))
  ;; op(i) returns step i's kind, or -1 after the last step. The probe pokes
  ;; the step's data into memory and snapshots memory before it returns.
  (import "probe" "op" (func $op (param i32) (result i32)))
  ;; arg(i, k) returns step i's argument k: 0 ptr, 1 len, 2 handle,
  ;; 3 ptr2, 4 len2, 5 ptr3, 6 len3.
  (import "probe" "arg" (func $arg (param i32 i32) (result i32)))
  ;; done(i, result) reports step i's result; the probe checks memory.
  (import "probe" "done" (func $done (param i32 i32)))

  (memory (export "memory") 1 2)

  (func (export "wedge_handle")
    (local $i i32) (local $kind i32) (local $ptr i32) (local $len i32) (local $r i32)
    (local $h i32) (local $p2 i32) (local $l2 i32) (local $p3 i32) (local $l3 i32)
    (block $end
      (loop $step
        (local.set $kind (call $op (local.get $i)))
        (br_if $end (i32.lt_s (local.get $kind) (i32.const 0)))
        (local.set $ptr (call $arg (local.get $i) (i32.const 0)))
        (local.set $len (call $arg (local.get $i) (i32.const 1)))
        (local.set $h (call $arg (local.get $i) (i32.const 2)))
        (local.set $p2 (call $arg (local.get $i) (i32.const 3)))
        (local.set $l2 (call $arg (local.get $i) (i32.const 4)))
        (local.set $p3 (call $arg (local.get $i) (i32.const 5)))
        (local.set $l3 (call $arg (local.get $i) (i32.const 6)))
        (local.set $r (i32.const 0))
        (block $call
          (block $k21
            (block $k20
              (block $k19
                (block $k18
                  (block $k17
                    (block $k16
                      (block $k15
                        (block $k14
                          (block $k13
                            (block $k12
                              (block $k11
                                (block $k10
                                  (block $k9
                                    (block $k8
                                      (block $k7
                                        (block $k6
                                          (block $k5
                                            (block $k4
                                              (block $k3
                                                (block $k2
                                                  (block $k1
                                                    (block $k0
                                                      (br_table $k0 $k1 $k2 $k3 $k4 $k5 $k6 $k7 $k8 $k9 $k10 $k11 $k12 $k13 $k14 $k15 $k16 $k17 $k18 $k19 $k20 $k21 $call (local.get $kind)))
                                                    (local.set $r (call $request_head (local.get $ptr) (local.get $len)))
                                                    (br $call))
                                                  (local.set $r (call $request_body_read (local.get $ptr) (local.get $len)))
                                                  (br $call))
                                                (local.set $r (call $response_head (local.get $ptr) (local.get $len)))
                                                (br $call))
                                              (local.set $r (call $response_body_write (local.get $ptr) (local.get $len)))
                                              (br $call))
                                            (local.set $r (call $response_flush))
                                            (br $call))
                                          (local.set $r (memory.grow (local.get $ptr)))
                                          (br $call))
                                        ;; poke: no call
                                        (br $call))
                                      (local.set $r (call $fetch_send (local.get $ptr) (local.get $len)))
                                      (br $call))
                                    (local.set $r (call $fetch_body_write (local.get $h) (local.get $ptr) (local.get $len)))
                                    (br $call))
                                  (local.set $r (call $fetch_body_close (local.get $h)))
                                  (br $call))
                                (local.set $r (call $fetch_response_head (local.get $h) (local.get $ptr) (local.get $len)))
                                (br $call))
                              (local.set $r (call $fetch_body_read (local.get $h) (local.get $ptr) (local.get $len)))
                              (br $call))
                            (local.set $r (call $fetch_close (local.get $h)))
                            (br $call))
                          (local.set $r (call $cache_match (local.get $ptr) (local.get $len)))
                          (br $call))
                        (local.set $r (call $cache_put (local.get $ptr) (local.get $len) (local.get $p2) (local.get $l2) (local.get $p3) (local.get $l3)))
                        (br $call))
                      (local.set $r (call $cache_delete (local.get $ptr) (local.get $len)))
                      (br $call))
                    (local.set $r (call $cache_fetch (local.get $ptr) (local.get $len)))
                    (br $call))
                  (local.set $r (call $error_message (local.get $ptr) (local.get $len)))
                  (br $call))
                (local.set $r (call $kv_get (local.get $ptr) (local.get $len) (local.get $p2) (local.get $l2) (local.get $p3) (local.get $l3)))
                (br $call))
              (local.set $r (call $kv_put (local.get $ptr) (local.get $len) (local.get $p2) (local.get $l2) (local.get $p3) (local.get $l3)))
              (br $call))
            (local.set $r (call $kv_delete (local.get $ptr) (local.get $len) (local.get $p2) (local.get $l2)))
            (br $call))
          (local.set $r (call $kv_list (local.get $ptr) (local.get $len) (local.get $p2) (local.get $l2) (local.get $p3) (local.get $l3)))
          (br $call))
        (call $done (local.get $i) (local.get $r))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step))))
)
