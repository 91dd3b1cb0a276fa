;; Extended constant expressions (i32/i64 add, sub, mul) in global
;; initialisers and in a data segment's offset.
(module
  (import "env" "g" (global $gi i32))
  (memory 1)
  (global $ext (mut i64) (i64.mul (i64.add (i64.const 2) (i64.const 3)) (i64.sub (i64.const 9) (i64.const 1))))
  (global $ext32 i32 (i32.mul (i32.add (global.get $gi) (i32.const 1)) (i32.sub (i32.const 9) (i32.const 1))))
  (data (i32.add (global.get $gi) (i32.const 16)) "extended"))
