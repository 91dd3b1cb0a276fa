(module
  (memory 1)
  (func (export "wedge_handle")))
