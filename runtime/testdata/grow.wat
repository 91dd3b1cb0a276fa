;; grow grows its memory by 32 pages (2 MiB) in the handler and traps when
;; memory.grow fails, as a language runtime out of memory would.
(module
  (memory (export "memory") 1)
  (func (export "wedge_handle")
    (if (i32.eq (memory.grow (i32.const 32)) (i32.const -1))
      (then unreachable))
    ;; Touch the last byte of the new memory.
    (i32.store8 (i32.const 2162687) (i32.const 1))))
