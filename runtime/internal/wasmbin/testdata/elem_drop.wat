;; elem.drop changes an element segment: not resettable (function 2).
(module
  (import "env" "f" (func $imp))
  (elem $e func $ok)
  (func $ok (call $imp))
  (func $bad (elem.drop $e)))
