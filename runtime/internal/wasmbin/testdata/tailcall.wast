;; Tail calls: resettable.
(module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (func $f (type $t) (return_call $g (local.get 0)))
  (func $g (type $t) (return_call_indirect (type $t) (local.get 0) (i32.const 0))))
