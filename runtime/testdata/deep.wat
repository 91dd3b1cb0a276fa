;; deep recurses to the runtime's call depth limit (10,000 calls active at
;; once: wedge_handle and 9,999 calls of $down) and no further: it must run,
;; and run again on an instance reset to its image.
(module
  (memory (export "memory") 1)
  (func $down (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (call $down (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func (export "wedge_handle")
    (drop (call $down (i32.const 9998)))))
