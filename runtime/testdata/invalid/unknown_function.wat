(module
  (import "wedge_v1" "kv_get" (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wedge_handle")))
