;; Loops in a module that imports globals and defines some, has a start
;; function with a loop and active data segments: InstrumentWith's
;; Interrupt appends the stop global after the defined ones (index 5), and
;; combines with the global and start exports and with StripData.
(module
  (import "env" "log" (func $log (param i32)))
  (import "env" "limit" (global $limit i32))
  (import "env" "ticks" (global $ticks (mut i64)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (global $scale i32 (i32.const 3))
  (global $last (mut i64) (i64.const 0))
  (data (i32.const 16) "\01\02\03\04\05\06\07\08")

  ;; Sums the data bytes in a loop, at start.
  (func $init
    (local $i i32)
    (loop $l
      (global.set $count (i32.add (global.get $count) (i32.load8_u offset=16 (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 8)))))
  (start $init)

  (func (export "run") (param $n i32) (result i32)
    (local $i i32)
    (block $stop
      (loop $l
        (br_if $stop (i32.ge_u (local.get $i) (global.get $limit)))
        (br_if $stop (i32.ge_u (local.get $i) (local.get $n)))
        (global.set $ticks (i64.add (global.get $ticks) (i64.const 1)))
        (global.set $last (i64.extend_i32_u (local.get $i)))
        (call $log (i32.mul (local.get $i) (global.get $scale)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (global.get $count))

  (func (export "get") (result i32) (global.get $count))
  (export "count" (global $count)))
