;; data.drop changes a data segment: not resettable (function 2).
(module
  (import "env" "f" (func $imp))
  (memory 1)
  (data $d "passive")
  (func $ok (call $imp))
  (func $bad (data.drop $d)))
