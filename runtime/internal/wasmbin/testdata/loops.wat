;; Loops for InstrumentWith's Interrupt: nested loops, loops with parameters
;; and results (multi-value block types, by type index), br, br_if and
;; br_table out of and into loops, loops in many functions and in if arms, a
;; function without loops. No globals and no imports: the stop global is the
;; only one, in a global section of its own. TestInterruptBehaviour runs the
;; exports.
(module
  (type $pair (func (param i64 i64) (result i64 i64)))
  (memory (export "memory") 1)

  ;; 1 + 2 + ... + n, counted one by one in two nested loops.
  (func (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $j i32) (local $acc i64)
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $acc (i64.add (local.get $acc) (i64.const 1)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $inner (i32.lt_u (local.get $j) (local.get $i))))
        (br $outer)))
    (local.get $acc))

  ;; Fibonacci with the pair on the loop's parameters: br to the loop
  ;; carries values into it.
  (func (export "fib") (param $n i32) (result i64)
    (i64.const 0) (i64.const 1)
    (loop $next (type $pair) (param i64 i64) (result i64 i64)
      (if (param i64 i64) (result i64 i64) (local.get $n)
        (then
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (call $step)
          (br $next))))
    (drop))
  (func $step (type $pair) (param $a i64) (param $b i64) (result i64 i64)
    (local.get $b) (i64.add (local.get $a) (local.get $b)))

  ;; A loop with a result, left with its value by falling through.
  (func (export "digits") (param $n i32) (result i32)
    (local $d i32)
    (loop $more (result i32)
      (local.set $d (i32.add (local.get $d) (i32.const 1)))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $more (local.get $n))
      (local.get $d)))

  ;; br_table that continues one of two nested loops or leaves them:
  ;; counts the steps of the Collatz sequence from n to 1.
  (func (export "collatz") (param $n i32) (result i32)
    (local $steps i32)
    (block $exit
      (loop $odd
        (loop $even
          (br_if $exit (i32.le_u (local.get $n) (i32.const 1)))
          (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
          (if (i32.and (local.get $n) (i32.const 1))
            (then (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 3)) (i32.const 1))))
            (else (local.set $n (i32.shr_u (local.get $n) (i32.const 1)))))
          (br_table $even $odd $exit (i32.and (local.get $n) (i32.const 1))))))
    (local.get $steps))

  ;; Loops in if arms, in a block with parameters, and a loop that is
  ;; left at once.
  (func (export "arms") (param $n i32) (result i32)
    (local $r i32)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (loop $neg
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $r (i32.sub (local.get $r) (i32.const 1)))
        (br_if $neg (i32.lt_s (local.get $n) (i32.const 0)))))
      (else (loop $pos
        (if (i32.eqz (local.get $n)) (then (br 2)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $pos))))
    (loop)
    (local.get $r))

  ;; A memory walk: writes 0..n-1 into memory, reads them back in another
  ;; function.
  (func (export "fill") (param $n i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (local.get $i) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
  (func (export "total") (param $n i32) (result i32)
    (local $i i32) (local $t i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $t (i32.add (local.get $t) (i32.load8_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $t))

  ;; No loop: copied byte for byte.
  (func (export "noloop") (param $n i32) (result i32)
    (i32.mul (local.get $n) (i32.const 3)))

  ;; Loops forever: only the stop global ends it.
  (func (export "spin")
    (loop $forever (br $forever)))

  ;; Loops forever in the inner of two loops, after the outer has
  ;; started.
  (func (export "spin_inner") (param $n i32) (result i32)
    (loop $outer (result i32)
      (loop $inner
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $inner (i32.ne (local.get $n) (i32.const 0)))
        (br_if $inner (i32.const 1)))
      (br $outer))))
