;; SIMD kernels for the training loader's per-pixel loops (src/data/pixel-kernels.ts drives them).
;; Each computes exactly what its JS counterpart in src/data/image.ts / transforms.ts computes: Pillow's 22-bit
;; fixed-point bilinear passes, and float32 normalisation (x / scale - mean) / std in float32 steps.
;; Assembled to pixel-kernels.wasm by scripts/build-wasm.mjs (test/data/pixel-kernels.test.ts checks the two agree).
;; Callers leave 16 readable bytes after every input and 4 writable bytes after every output: loads are 16 bytes
;; wide and the horizontal pass stores 4 bytes per 3-byte pixel.
(module
  (memory (export "memory") 1)

  ;; Horizontal pass over RGB rows with 3 taps per output pixel.
  ;; $start: i32 per output pixel, byte offset of its first tap within a row.
  ;; $weights: 3 v128 per output pixel, each tap's weight splatted over 4 lanes.
  (func (export "hpass3")
    (param $src i32) (param $stride i32) (param $rows i32) (param $outW i32)
    (param $start i32) (param $weights i32) (param $dst i32)
    (local $y i32) (local $i i32) (local $row i32) (local $v v128) (local $acc v128) (local $w i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $half v128)
    (local.set $m0 (v128.const i8x16 0 255 255 255 1 255 255 255 2 255 255 255 255 255 255 255))
    (local.set $m1 (v128.const i8x16 3 255 255 255 4 255 255 255 5 255 255 255 255 255 255 255))
    (local.set $m2 (v128.const i8x16 6 255 255 255 7 255 255 255 8 255 255 255 255 255 255 255))
    (local.set $half (i32x4.splat (i32.const 2097152)))
    (local.set $row (local.get $src))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $y) (local.get $rows)))
        (local.set $i (i32.const 0))
        (local.set $w (local.get $weights))
        (block $px_done
          (loop $px_loop
            (br_if $px_done (i32.ge_u (local.get $i) (local.get $outW)))
            (local.set $v (v128.load (i32.add (local.get $row) (i32.load (i32.add (local.get $start) (i32.shl (local.get $i) (i32.const 2)))))))
            (local.set $acc
              (i32x4.add
                (i32x4.add (local.get $half) (i32x4.mul (i8x16.swizzle (local.get $v) (local.get $m0)) (v128.load (local.get $w))))
                (i32x4.add
                  (i32x4.mul (i8x16.swizzle (local.get $v) (local.get $m1)) (v128.load offset=16 (local.get $w)))
                  (i32x4.mul (i8x16.swizzle (local.get $v) (local.get $m2)) (v128.load offset=32 (local.get $w))))))
            (local.set $acc (i32x4.shr_s (local.get $acc) (i32.const 22)))
            (local.set $acc (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_u (local.get $acc) (local.get $acc)) (local.get $acc)))
            (i32.store (local.get $dst) (i32x4.extract_lane 0 (local.get $acc)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 3)))
            (local.set $w (i32.add (local.get $w) (i32.const 48)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $px_loop)))
        (local.set $row (i32.add (local.get $row) (local.get $stride)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows_loop))))

  ;; Vertical pass: output row yy is the weighted sum of input rows start[yy] .. start[yy] + taps - 1, each $rowLen
  ;; bytes, input rows $srcStride bytes apart (a crop reads inside wider rows), output rows packed.
  ;; $start: i32 first input row per output row; $weights: $taps i32 per output row. Needs $rowLen >= 16: the last
  ;; 16-byte chunk of a row is moved back to end at the row's end, recomputing a few bytes (same values).
  (func (export "vpass")
    (param $src i32) (param $srcStride i32) (param $rowLen i32) (param $outRows i32) (param $start i32)
    (param $weights i32) (param $taps i32) (param $dst i32)
    (local $yy i32) (local $i i32) (local $t i32) (local $r0 i32) (local $wrow i32) (local $p i32)
    (local $v v128) (local $w v128) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $half v128)
    (local.set $half (i32x4.splat (i32.const 2097152)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $yy) (local.get $outRows)))
        (local.set $r0 (i32.add (local.get $src) (i32.mul (i32.load (i32.add (local.get $start) (i32.shl (local.get $yy) (i32.const 2)))) (local.get $srcStride))))
        (local.set $wrow (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $yy) (local.get $taps)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $chunks_done
          (loop $chunks_loop
            (local.set $a0 (local.get $half))
            (local.set $a1 (local.get $half))
            (local.set $a2 (local.get $half))
            (local.set $a3 (local.get $half))
            (local.set $t (i32.const 0))
            (local.set $p (i32.add (local.get $r0) (local.get $i)))
            (block $taps_done
              (loop $taps_loop
                (br_if $taps_done (i32.ge_u (local.get $t) (local.get $taps)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $w (i32x4.splat (i32.load (i32.add (local.get $wrow) (i32.shl (local.get $t) (i32.const 2))))))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $w))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $w))))
                (local.set $p (i32.add (local.get $p) (local.get $srcStride)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $taps_loop)))
            (v128.store
              (i32.add (local.get $dst) (i32.add (i32.mul (local.get $yy) (local.get $rowLen)) (local.get $i)))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_u (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
                (i16x8.narrow_i32x4_u (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (br_if $chunks_done (i32.ge_u (i32.add (local.get $i) (i32.const 16)) (local.get $rowLen)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (if (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $rowLen))
              (then (local.set $i (i32.sub (local.get $rowLen) (i32.const 16)))))
            (br $chunks_loop)))
        (local.set $yy (i32.add (local.get $yy) (i32.const 1)))
        (br $rows_loop))))

  ;; Interleaved RGB bytes to three float32 planes, (x / scale - mean) / std with every step rounded to float32.
  ;; $masks: 3 v128 swizzle masks picking plane k's byte of 4 consecutive pixels into i32 lanes (the caller swaps
  ;; them for BGR). Needs $n >= 4: the last 4 pixels are recomputed in place when $n is not a multiple of 4.
  (func (export "normalize3")
    (param $src i32) (param $n i32) (param $dst0 i32) (param $dst1 i32) (param $dst2 i32) (param $masks i32)
    (param $scale f32) (param $mean0 f32) (param $std0 f32) (param $mean1 f32) (param $std1 f32) (param $mean2 f32) (param $std2 f32)
    (local $i i32) (local $v v128) (local $o i32)
    (local $k0 v128) (local $k1 v128) (local $k2 v128) (local $sc v128)
    (local $mv0 v128) (local $sv0 v128) (local $mv1 v128) (local $sv1 v128) (local $mv2 v128) (local $sv2 v128)
    (local.set $k0 (v128.load (local.get $masks)))
    (local.set $k1 (v128.load offset=16 (local.get $masks)))
    (local.set $k2 (v128.load offset=32 (local.get $masks)))
    (local.set $sc (f32x4.splat (local.get $scale)))
    (local.set $mv0 (f32x4.splat (local.get $mean0)))
    (local.set $sv0 (f32x4.splat (local.get $std0)))
    (local.set $mv1 (f32x4.splat (local.get $mean1)))
    (local.set $sv1 (f32x4.splat (local.get $std1)))
    (local.set $mv2 (f32x4.splat (local.get $mean2)))
    (local.set $sv2 (f32x4.splat (local.get $std2)))
    (block $done
      (loop $px_loop
        (local.set $v (v128.load (i32.add (local.get $src) (i32.mul (local.get $i) (i32.const 3)))))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $dst0) (local.get $o))
          (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_u (i8x16.swizzle (local.get $v) (local.get $k0))) (local.get $sc)) (local.get $mv0)) (local.get $sv0)))
        (v128.store (i32.add (local.get $dst1) (local.get $o))
          (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_u (i8x16.swizzle (local.get $v) (local.get $k1))) (local.get $sc)) (local.get $mv1)) (local.get $sv1)))
        (v128.store (i32.add (local.get $dst2) (local.get $o))
          (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_u (i8x16.swizzle (local.get $v) (local.get $k2))) (local.get $sc)) (local.get $mv2)) (local.get $sv2)))
        (br_if $done (i32.ge_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (if (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n))
          (then (local.set $i (i32.sub (local.get $n) (i32.const 4)))))
        (br $px_loop))))
)
