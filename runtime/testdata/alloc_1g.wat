;; alloc_1g grows its memory by 1 GiB and, when that fails, traps like a
;; runtime that ran out of memory.
(module
  (memory (export "memory") 1)
  (func (export "wedge_handle")
    (if (i32.eq (memory.grow (i32.const 16384)) (i32.const -1))
      (then unreachable))))
