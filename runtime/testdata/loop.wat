;; loop never returns from its handler.
(module
  (memory (export "memory") 1)
  (func (export "wedge_handle")
    (loop $forever (br $forever))))
