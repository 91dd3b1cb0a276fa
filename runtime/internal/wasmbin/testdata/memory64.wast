;; A 64-bit memory with a maximum, and a load with a large offset.
(module
  (memory i64 1 100)
  (data (i64.const 0) "memory64")
  (func (export "load") (param $p i64) (result i64)
    (i64.load offset=0xfffffff0 (local.get $p))))
