;; noop is the smallest worker: a memory and a handler that does nothing.
(module
  (memory (export "memory") 1)
  (func (export "wedge_handle")))
