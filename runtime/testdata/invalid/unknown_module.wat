(module
  (import "env" "abort" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "wedge_handle")))
