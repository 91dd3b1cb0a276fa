;; A start function that initialises memory and a global.
(module
  (import "env" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (global $ready (mut i32) (i32.const 0))
  (func $init
    (i32.store (i32.const 8) (i32.const 42))
    (global.set $ready (i32.const 1)))
  (func (export "ready") (result i32) (global.get $ready))
  (start $init))
