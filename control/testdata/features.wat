;; features.wat: a valid worker that uses much of the binary format, so
;; that tests can check that checkBinary (control/wasmcheck.go) lets real
;; modules through: imports of every WASI/wedge_v1 kind it needs, several
;; types with multiple results, tables with element segments of the
;; different encodings, globals with constant expressions, active and
;; passive data segments, functions with many locals of several types, a
;; v128 constant, a data count section and a name section (built with --debug-names).
;; Regenerate features.wasm with:
;;   wat2wasm --debug-names features.wat -o features.wasm
(module
  (type $pair (func (param i32 i32) (result i32 i32)))
  (import "wedge_v1" "response_body_write" (func $write (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 2)
  (table $t 4 funcref)
  (table $ext 1 externref)
  (global $g (mut i32) (i32.const 16))
  (global $h i64 (i64.const -1))
  (global $f f64 (f64.const 3.5))
  (global $r (mut funcref) (ref.null func))
  (global $v v128 (v128.const i32x4 1 2 3 4))
  (elem (table $t) (i32.const 0) func $handle $swap)
  (elem $passive func $swap)
  (elem $exprs funcref (ref.func $swap) (ref.null func))
  (elem declare func $helper)
  (elem (table $ext) (i32.const 0) externref (ref.null extern))
  (data (i32.const 16) "features\n")
  (data $later "passive data")
  (func $swap (param $a i32) (param $b i32) (result i32 i32)
    (local.get $b) (local.get $a))
  (func $helper (param $x i32) (result i32)
    (local $i i32) (local $j i64) (local $k f32) (local $l f64) (local $m v128)
    (local $n i32) (local $o i32) (local $p i32) (local $q i32) (local $s externref)
    (local.set $i (local.get $x))
    (local.get $i))
  (func $handle (export "wedge_handle")
    (drop (call $helper (i32.const 1)))
    (drop (drop (call $swap (i32.const 1) (i32.const 2))))
    (memory.init $later (i32.const 64) (i32.const 0) (i32.const 4))
    (data.drop $later)
    (table.init $t $passive (i32.const 2) (i32.const 0) (i32.const 1))
    (drop (call $write (global.get $g) (i32.const 9)))))
