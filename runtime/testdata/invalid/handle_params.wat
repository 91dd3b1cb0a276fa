(module
  (memory (export "memory") 1)
  (func (export "wedge_handle") (param i32)))
