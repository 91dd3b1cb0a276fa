;; Exception handling: a tag import, a tag section and try/catch, whose
;; opcodes the scanner does not know, so the module is not resettable.
(module
  (import "env" "e" (tag $imported (param i32)))
  (tag $e (param i32))
  (func $ok (result i32) (i32.const 1))
  (func $throws (result i32)
    (try (result i32)
      (do (throw $e (i32.const 1)))
      (catch $e))))
