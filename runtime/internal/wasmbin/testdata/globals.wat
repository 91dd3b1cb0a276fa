;; Imported and defined globals, mutable and immutable, of every value type,
;; with every kind of constant initialiser of the core specification (see
;; extconst.wast for extended constants); a memory with a maximum.
(module
  (import "env" "f" (func $f (param i32)))
  (import "env" "g_imm" (global $gi i32))
  (import "env" "g_mut" (global $gm (mut i64)))
  (global $a (mut i32) (i32.const 7))
  (global $b i64 (i64.const -1))
  (global $c (mut f32) (f32.const 1.5))
  (global $d f64 (f64.const 2.5))
  (global $e (mut i32) (global.get $gi))
  (global $r (mut funcref) (ref.null func))
  (global $x externref (ref.null extern))
  (global $fr funcref (ref.func $get))
  (global $v (mut v128) (v128.const i32x4 1 2 3 4))
  (memory 1 4)
  (func $get (export "get") (result i32)
    (global.set $a (i32.add (global.get $a) (i32.const 1)))
    (global.set $gm (i64.const 5))
    (global.get $a))
  (export "a" (global $a))
  (export "mem" (memory 0)))
