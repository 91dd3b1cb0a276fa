(module
  (memory (export "mem") 1)
  (func (export "wedge_handle")))
