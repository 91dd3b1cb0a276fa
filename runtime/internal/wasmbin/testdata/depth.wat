;; Calls for InstrumentWith's call depth limit (MaxCallDepth). rec recurses
;; n deep (n+1 frames). The other functions leave their bodies every way
;; there is: falling off the end, return at every block nesting depth, br,
;; br_if and br_table to the function's label, with zero, one and several
;; results, from loops; many calls each of them n times, and then rec must
;; still reach exactly the same depth: $depth is back where it was.
(module
  (type $pair (func (param i32) (result i32 i64)))
  (import "env" "add100" (func $add100 (param i32) (result i32)))
  (global $sink (mut i32) (i32.const 0))
  (func $rec (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call $rec (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
  ;; return at depths 0 to 3, and falling off the end.
  (func $ret (param $x i32) (result i32)
    (if (i32.eq (local.get $x) (i32.const 0)) (then (return (i32.const 10))))
    (block $a
      (br_if $a (i32.eq (local.get $x) (i32.const 1)))
      (block $b
        (loop $l
          (if (i32.eq (local.get $x) (i32.const 2))
            (then (return (i32.const 12))))
          (if (i32.eq (local.get $x) (i32.const 3))
            (then (block (return (i32.const 13)))))))
      (return (i32.const 14)))
    (i32.const 11))
  ;; br, br_if and br_table to the function's label.
  (func $br (param $x i32) (result i32)
    (i32.const 20)
    (br_if 0 (i32.eq (local.get $x) (i32.const 4)))
    (drop)
    (block $c (result i32)
      (block $b (result i32)
        (block $a (result i32)
          (br_table $a $b $c 3 (i32.const 2) (local.get $x)))
        (return (i32.add (i32.const 20))))
      (br 1 (i32.add (i32.const 30))))
    (i32.add (i32.const 40)))
  ;; No result: return, br 0 from a loop, and the end.
  (func $none (param $x i32)
    (loop $l
      (global.set $sink (i32.add (global.get $sink) (i32.const 1)))
      (if (i32.eq (local.get $x) (i32.const 0)) (then (return)))
      (if (i32.eq (local.get $x) (i32.const 1)) (then (br 2)))
      (br_if $l (i32.eq (local.get $x) (i32.const 2)))))
  ;; Several results: a block type of the type section.
  (func $pair (type $pair) (param $x i32) (result i32 i64)
    (if (i32.eqz (local.get $x)) (then (return (i32.const 30) (i64.const 31))))
    (block (result i32 i64)
      (br 1 (i32.const 32) (i64.const 33) (br_if 0 (i32.const 34) (i64.const 35) (i32.eq (local.get $x) (i32.const 1))))))
  ;; A call to an import, and calls inside calls.
  (func $nested (param $x i32) (result i32)
    (call $add100 (call $ret (call $br (local.get $x)))))
  ;; many calls every function above n times, with arguments from 0 to 7,
  ;; and returns a sum of their results.
  (func (export "many") (param $n i32) (result i64)
    (local $i i32) (local $sum i64) (local $r i64)
    (loop $l
      (local.set $i (i32.and (local.get $n) (i32.const 7)))
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (call $ret (local.get $i)))))
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (call $br (local.get $i)))))
      (call $none (i32.and (local.get $i) (i32.const 1)))
      (call $pair (local.get $i))
      (local.set $r)
      (i64.extend_i32_u)
      (local.set $sum (i64.add (local.get $sum) (i64.add (local.get $r))))
      (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (call $nested (local.get $i)))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $sum))
  (func (export "sink") (result i32) (global.get $sink)))
