(module
  (import "wedge_v1" "request_head" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wedge_handle")))
