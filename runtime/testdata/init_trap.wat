;; init_trap traps in _initialize, before any handler runs.
(module
  (memory (export "memory") 1)
  (func (export "_initialize") unreachable)
  (func (export "wedge_handle")))
