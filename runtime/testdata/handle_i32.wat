;; handle_i32 has a handler that returns a value, which the host ignores.
(module
  (memory (export "memory") 1)
  (func (export "wedge_handle") (result i32) (i32.const 7)))
