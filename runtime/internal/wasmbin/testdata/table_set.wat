;; table.set changes a table: not resettable (function 2).
(module
  (import "env" "f" (func $imp))
  (table $t 2 funcref)
  (func $ok (call $imp))
  (func $bad (table.set $t (i32.const 0) (ref.null func))))
