;; A start function and mutable globals but no export section: Instrument
;; must add one, before the start section it removes.
(module
  (import "env" "g" (global $imported (mut i32)))
  (global $g (mut i32) (i32.const 0))
  (global $h (mut i64) (i64.const 0))
  (func $init (global.set $g (i32.const 1)) (global.set $imported (i32.const 2)))
  (start $init))
