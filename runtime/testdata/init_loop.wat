;; init_loop never returns from _initialize.
(module
  (memory (export "memory") 1)
  (func (export "_initialize")
    (loop $forever (br $forever)))
  (func (export "wedge_handle")))
