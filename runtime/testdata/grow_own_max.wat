;; grow_own_max declares a maximum of 16 pages and grows past it anyway: the
;; guest's own limit, not the host's.
(module
  (memory (export "memory") 1 16)
  (func (export "wedge_handle")
    (if (i32.eq (memory.grow (i32.const 32)) (i32.const -1))
      (then unreachable))))
