(module
  (import "wedge_v1" "no_such_function" (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wedge_handle")))
