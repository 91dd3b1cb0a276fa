;; table.fill changes a table: not resettable (function 2).
(module
  (import "env" "f" (func $imp))
  (table $t 2 externref)
  (func $ok (call $imp))
  (func $bad (param $r externref) (table.fill $t (i32.const 0) (local.get $r) (i32.const 2))))
