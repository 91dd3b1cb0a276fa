;; Nothing but a mutable global: Instrument appends the export section after
;; the last section it may follow.
(module
  (global $g (mut f64) (f64.const 1)))
