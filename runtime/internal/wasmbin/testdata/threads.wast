;; A shared memory and atomic instructions: resettable.
(module
  (memory (export "memory") 1 2 shared)
  (func (export "atomics") (param $p i32) (result i32)
    (drop (i32.atomic.load (local.get $p)))
    (i64.atomic.store offset=8 (local.get $p) (i64.const 1))
    (drop (i32.atomic.rmw.add (local.get $p) (i32.const 1)))
    (drop (i64.atomic.rmw32.cmpxchg_u offset=16 (local.get $p) (i64.const 0) (i64.const 1)))
    (drop (memory.atomic.wait32 (local.get $p) (i32.const 0) (i64.const -1)))
    (drop (memory.atomic.notify (local.get $p) (i32.const 1)))
    (atomic.fence)
    (i32.atomic.load8_u (local.get $p))))
