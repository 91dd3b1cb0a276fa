;; grow_max is grow with a declared maximum of 4 GiB (65536 pages).
(module
  (memory (export "memory") 1 65536)
  (func (export "wedge_handle")
    (if (i32.eq (memory.grow (i32.const 32)) (i32.const -1))
      (then unreachable))))
