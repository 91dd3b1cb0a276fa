(module
  (memory (export "memory") 1)
  (func (export "_initialize") (param i32))
  (func (export "wedge_handle")))
