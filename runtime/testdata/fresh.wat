;; fresh stores 41 at address 0 in _initialize; the handler adds one and
;; traps unless the result is 42, i.e. unless it runs in a fresh instance.
(module
  (memory (export "memory") 1)
  (func (export "_initialize") (i32.store (i32.const 0) (i32.const 41)))
  (func (export "wedge_handle")
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (if (i32.ne (i32.load (i32.const 0)) (i32.const 42))
      (then unreachable))))
