;; Tail calls for InstrumentWith's Interrupt: return_call and
;; return_call_indirect to defined functions, after an import whose index
;; does not change. spin loops forever by tail calls, without a loop
;; instruction: the check at its entry stops it.
(module
  (type $t (func (param i32) (result i32)))
  (import "env" "add100" (func $add100 (type $t)))
  (table funcref (elem $count))
  (func $count (export "count") (type $t)
    (if (result i32) (i32.eqz (local.get 0))
      (then (return_call $add100 (i32.const 42)))
      (else (return_call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))))
  (func (export "spin") (param i32) (result i32)
    (return_call 2 (i32.add (local.get 0) (i32.const 1)))))
