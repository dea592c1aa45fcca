;; The SGD update of one parameter, in place, in WebAssembly SIMD (see flat-sgd.ts). Every operation is one IEEE
;; float32 operation per lane (no fused multiply-add), in the order of the in-graph update (sgd.ts emitSgdUpdate):
;;   d = grad * coef;  d = d + w * wd;  buf = buf * m + d;  step = nesterov ? d + buf * m : buf;  w = w - step * lr
;; so the result is bit-identical to the graph's and to the JS loop in flat-sgd.ts.
;; w, g, b: byte offsets of the parameter, its gradient and its momentum buffer; n: element count.
;; flags: 1 = weight decay, 2 = momentum, 4 = nesterov.
(module
  (memory (export "memory") 1)

  (func (export "sgd")
    (param $w i32) (param $g i32) (param $b i32) (param $n i32)
    (param $coef f32) (param $wd f32) (param $m f32) (param $lr f32) (param $flags i32)
    (local $i i32) (local $end i32) (local $vend i32)
    (local $cv v128) (local $wdv v128) (local $mv v128) (local $lrv v128)
    (local $d v128) (local $s v128)
    (local $ds f32) (local $ss f32)
    (local.set $cv (f32x4.splat (local.get $coef)))
    (local.set $wdv (f32x4.splat (local.get $wd)))
    (local.set $mv (f32x4.splat (local.get $m)))
    (local.set $lrv (f32x4.splat (local.get $lr)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (local.set $i (i32.const 0))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $i) (local.get $vend)))
        (local.set $d (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $i))) (local.get $cv)))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then
            (local.set $d (f32x4.add (local.get $d)
              (f32x4.mul (v128.load (i32.add (local.get $w) (local.get $i))) (local.get $wdv))))))
        (local.set $s (local.get $d))
        (if (i32.and (local.get $flags) (i32.const 2))
          (then
            (local.set $s (f32x4.add
              (f32x4.mul (v128.load (i32.add (local.get $b) (local.get $i))) (local.get $mv)) (local.get $d)))
            (v128.store (i32.add (local.get $b) (local.get $i)) (local.get $s))
            (if (i32.and (local.get $flags) (i32.const 4))
              (then (local.set $s (f32x4.add (local.get $d) (f32x4.mul (local.get $s) (local.get $mv))))))))
        (v128.store (i32.add (local.get $w) (local.get $i))
          (f32x4.sub (v128.load (i32.add (local.get $w) (local.get $i))) (f32x4.mul (local.get $s) (local.get $lrv))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $v)))
    ;; the last n % 4 elements, one lane at a time
    (block $sdone
      (loop $t
        (br_if $sdone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $ds (f32.mul (f32.load (i32.add (local.get $g) (local.get $i))) (local.get $coef)))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then
            (local.set $ds (f32.add (local.get $ds)
              (f32.mul (f32.load (i32.add (local.get $w) (local.get $i))) (local.get $wd))))))
        (local.set $ss (local.get $ds))
        (if (i32.and (local.get $flags) (i32.const 2))
          (then
            (local.set $ss (f32.add
              (f32.mul (f32.load (i32.add (local.get $b) (local.get $i))) (local.get $m)) (local.get $ds)))
            (f32.store (i32.add (local.get $b) (local.get $i)) (local.get $ss))
            (if (i32.and (local.get $flags) (i32.const 4))
              (then (local.set $ss (f32.add (local.get $ds) (f32.mul (local.get $ss) (local.get $m))))))))
        (f32.store (i32.add (local.get $w) (local.get $i))
          (f32.sub (f32.load (i32.add (local.get $w) (local.get $i))) (f32.mul (local.get $ss) (local.get $lr))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $t))))
)
