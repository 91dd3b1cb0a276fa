;; Two memories: a data segment for memory 1 (kind 2) and a load with a
;; memory index (memarg alignment bit 6).
(module
  (memory $m0 1)
  (memory $m1 1 1)
  (data (i32.const 0) "first memory")
  (data (memory $m1) (i32.const 8) "second memory")
  (func (export "load") (result i32) (i32.load $m1 offset=4 (i32.const 8))))
