;; table.copy changes a table: not resettable (function 2).
(module
  (import "env" "f" (func $imp))
  (table $t 4 funcref)
  (func $ok (call $imp))
  (func $bad (table.copy $t $t (i32.const 0) (i32.const 2) (i32.const 2))))
