;; table.init changes a table: not resettable (function 2).
(module
  (import "env" "f" (func $imp))
  (table $t 4 funcref)
  (elem $e func $ok)
  (func $ok (call $imp))
  (func $bad (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 1))))
