;; unreachable traps in its handler.
(module
  (memory (export "memory") 1)
  (func (export "wedge_handle") unreachable))
