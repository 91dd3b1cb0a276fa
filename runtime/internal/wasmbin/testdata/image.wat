;; What image-based instantiation handles: a memory with a maximum, only
;; active segments at constant offsets, mutable globals, resettable code.
(module
  (memory (export "memory") 2 10)
  (global $heap (mut i32) (i32.const 1024))
  (global $count (mut i64) (i64.const 0))
  (global $page i32 (i32.const 65536))
  (data (i32.const 0) "hello")
  (data (i32.const 1024) "\00\01\02\03")
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (global.set $count (i64.add (global.get $count) (i64.const 1)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (global.get $page)))
      (then (drop (memory.grow (i32.const 1)))))
    (local.get $p)))
