;; exit calls WASI proc_exit(3) in its handler.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "wedge_handle") (call $proc_exit (i32.const 3))))
