;; ops is a script interpreter for the hostapi tests: it asks the test's
;; "probe" host module for step after step and makes the hostcall each step
;; names, with the pointer and length the step gives, whatever they are.
;;
;; Step kinds: 0 request_head, 1 request_body_read, 2 response_head,
;; 3 response_body_write, 4 response_flush, 5 memory.grow (by ptr pages),
;; anything else: nothing (a step that only pokes data into memory).
(module
  (import "wedge_v1" "request_head" (func $request_head (param i32 i32) (result i32)))
  (import "wedge_v1" "request_body_read" (func $request_body_read (param i32 i32) (result i32)))
  (import "wedge_v1" "response_head" (func $response_head (param i32 i32) (result i32)))
  (import "wedge_v1" "response_body_write" (func $response_body_write (param i32 i32) (result i32)))
  (import "wedge_v1" "response_flush" (func $response_flush (result i32)))
  ;; op(i) returns step i's kind, or -1 after the last step. The probe pokes
  ;; the step's data into memory and snapshots memory before it returns.
  (import "probe" "op" (func $op (param i32) (result i32)))
  ;; arg(i, k) returns step i's pointer (k = 0) or length (k = 1).
  (import "probe" "arg" (func $arg (param i32 i32) (result i32)))
  ;; done(i, result) reports step i's result; the probe checks memory.
  (import "probe" "done" (func $done (param i32 i32)))

  (memory (export "memory") 1 2)

  (func (export "wedge_handle")
    (local $i i32) (local $kind i32) (local $ptr i32) (local $len i32) (local $r i32)
    (block $end
      (loop $step
        (local.set $kind (call $op (local.get $i)))
        (br_if $end (i32.lt_s (local.get $kind) (i32.const 0)))
        (local.set $ptr (call $arg (local.get $i) (i32.const 0)))
        (local.set $len (call $arg (local.get $i) (i32.const 1)))
        (local.set $r (i32.const 0))
        (block $call
          (block $grow
            (block $flush
              (block $write
                (block $head
                  (block $read
                    (block $rhead
                      (br_table $rhead $read $head $write $flush $grow $call (local.get $kind)))
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
          (local.set $r (memory.grow (local.get $ptr))))
        (call $done (local.get $i) (local.get $r))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step))))
)
