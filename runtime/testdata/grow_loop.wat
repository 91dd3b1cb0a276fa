;; grow_loop grows its memory by one page and then never returns.
(module
  (memory (export "memory") 1)
  (func (export "wedge_handle")
    (drop (memory.grow (i32.const 1)))
    (loop $forever (br $forever))))
