;; table.grow changes a table: not resettable (function 2).
(module
  (import "env" "f" (func $imp))
  (table $t 2 funcref)
  (func $ok (call $imp))
  (func $bad (drop (table.grow $t (ref.null func) (i32.const 1)))))
