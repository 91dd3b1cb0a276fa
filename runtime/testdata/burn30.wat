;; burn30 busy-waits for 30 ms of the monotonic clock in its handler, then
;; returns: about 30 ms of CPU time, less on a busy machine.
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 0)))
    (i64.load (i32.const 0)))
  (func (export "wedge_handle")
    (local $end i64)
    (local.set $end (i64.add (call $now) (i64.const 30000000)))
    (loop $spin
      (br_if $spin (i64.lt_u (call $now) (local.get $end))))))
