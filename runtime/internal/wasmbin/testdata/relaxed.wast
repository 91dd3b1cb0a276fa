;; Relaxed SIMD: resettable.
(module
  (func (export "r") (param $a v128) (param $b v128) (result v128)
    (i8x16.relaxed_swizzle (local.get $a) (local.get $b))
    (f32x4.relaxed_madd (local.get $a) (local.get $b))
    (i16x8.relaxed_q15mulr_s (local.get $a))
    (f64x2.relaxed_max (local.get $b))
    (i32x4.relaxed_trunc_f64x2_u_zero)))
