;; Function indices everywhere, for InstrumentWith's Interrupt, which imports
;; one more function and so renumbers every function the module defines:
;; call and ref.func in bodies, ref.func in global initialisers and element
;; expressions, element segments of the eight kinds, exports, the start
;; function. Two imported functions, whose indices do not change.
;; TestInterruptRenumber runs the exports.
(module
  (type $t (func (param i32) (result i32)))
  (import "env" "add100" (func $add100 (type $t)))
  (import "env" "add1000" (func $add1000 (type $t)))
  (table $tab 8 funcref)
  (table $tab2 8 funcref)
  (global $gf funcref (ref.func $double))
  (global $started (mut i32) (i32.const 0))

  (elem (i32.const 0) $double $square)                        ;; kind 0
  (elem $passive func $inc $double)                           ;; kind 1
  (elem (i32.const 2) $dec $add100)                           ;; kind 0
  (elem (table $tab2) (i32.const 4) func $dec $add100)        ;; kind 2
  (elem declare func $dec)                                    ;; kind 3
  (elem (i32.const 4) funcref (ref.func $inc) (ref.null func));; kind 4
  (elem $passive_expr funcref (ref.func $dec) (ref.func $add1000) (ref.null func)) ;; kind 5
  (elem (i32.const 6) funcref (ref.func $square) (ref.func $add1000)) ;; kind 0
  (elem (table $tab2) (i32.const 6) funcref (ref.func $square) (ref.null func)) ;; kind 6
  (elem declare funcref (ref.func $square) (ref.null func))   ;; kind 7

  (func $double (type $t) (i32.mul (local.get 0) (i32.const 2)))
  (func $square (type $t) (i32.mul (local.get 0) (local.get 0)))
  (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
  (func $dec (type $t) (i32.sub (local.get 0) (i32.const 1)))

  ;; Direct calls, to defined and imported functions.
  (func (export "direct") (param $x i32) (result i32)
    (call $add100 (call $square (call $inc (local.get $x)))))

  ;; Indirect calls through the tables that the active segments fill.
  (func (export "indirect") (param $i i32) (param $x i32) (result i32)
    (call_indirect $tab (type $t) (local.get $x) (local.get $i)))
  (func (export "indirect2") (param $i i32) (param $x i32) (result i32)
    (call_indirect $tab2 (type $t) (local.get $x) (local.get $i)))

  ;; ref.func in code and in a global initialiser, called through $tab2.
  (func (export "ref_code") (param $x i32) (result i32)
    (table.set $tab2 (i32.const 3) (ref.func $square))
    (call_indirect $tab2 (type $t) (local.get $x) (i32.const 3)))
  (func (export "ref_global") (param $x i32) (result i32)
    (table.set $tab2 (i32.const 3) (global.get $gf))
    (call_indirect $tab2 (type $t) (local.get $x) (i32.const 3)))

  ;; The passive segments, copied into $tab2 by table.init.
  (func (export "passive") (param $i i32) (param $x i32) (result i32)
    (table.init $tab2 $passive (i32.const 0) (i32.const 0) (i32.const 2))
    (call_indirect $tab2 (type $t) (local.get $x) (local.get $i)))
  (func (export "passive_expr") (param $i i32) (param $x i32) (result i32)
    (table.init $tab2 $passive_expr (i32.const 0) (i32.const 0) (i32.const 2))
    (call_indirect $tab2 (type $t) (local.get $x) (local.get $i)))

  ;; A loop that calls, and recursion.
  (func $fact (export "fact") (param $n i32) (result i32)
    (if (result i32) (i32.le_u (local.get $n) (i32.const 1))
      (then (i32.const 1))
      (else (i32.mul (local.get $n) (call $fact (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "sum_squares") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $square (local.get $n))))
        (local.set $n (call $dec (local.get $n)))
        (br $l)))
    (local.get $acc))

  ;; Exported functions, by index too.
  (export "double" (func $double))
  (export "imported" (func $add1000))
  (export "started" (global $started))

  (func $init (global.set $started (i32.const 7)))
  (start $init))
