;; Data segments of the two kinds wat2wasm emits for memory 0: active at a
;; constant offset (kind 0), including offsets read as unsigned, active at a
;; global.get offset, and passive (kind 1). multimemory.wast has kind 2.
(module
  (import "env" "base" (global $base i32))
  (memory 1)
  (data (i32.const 16) "active const")
  (data (i32.const 0xffff) "x")
  (data (i32.const -16) "")
  (data (global.get $base) "global offset")
  (data "passive")
  (func (export "load") (result i32) (i32.load offset=4 (i32.const 8))))
