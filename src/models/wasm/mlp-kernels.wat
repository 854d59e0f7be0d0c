;; The MLP kernels of Wide&Deep in WebAssembly SIMD (f64x2), over row-major f64 arrays in the
;; imported memory; every pointer is a byte offset. Weights are input-major (w[i * outs + o]).
;;
;; Each kernel adds in exactly the order of the plain loops it replaces (the reference kernels in
;; test/unit/models/mlp-kernels.test.ts): a vector lane is one output (forward, weight gradient)
;; or one example (input gradient), and every lane sums in the same sequence as the scalar code,
;; without fused multiply-adds. The results are therefore the same numbers, run to run and
;; machine to machine.
;;
;; Built into src/models/wasm/mlp-kernels.wasm.ts by `npm run build:wasm` (wabt); a unit test
;; checks that the committed bytes match this text.
(module
  (import "env" "memory" (memory 1))

  ;; p[k][o] = bias[o] + sum_i a[k][i] * w[i][o] for k < n; ReLU (x > 0 ? x : 0) when relu != 0.
  ;; Two examples at a time share every weight load; eight outputs (four vectors) per pass.
  ;; An input that is 0 for both examples skips its weight row (ReLU zeros).
  (func (export "forward")
    (param $a i32) (param $n i32) (param $ins i32) (param $w i32) (param $bias i32) (param $outs i32) (param $p i32) (param $relu i32)
    (local $k i32) (local $k1 i32) (local $a0 i32) (local $a1 i32) (local $p0 i32) (local $p1 i32)
    (local $o i32) (local $o8 i32) (local $i i32) (local $wp i32) (local $row i32) (local $ai i32)
    (local $x0 f64) (local $x1 f64) (local $v0 v128) (local $v1 v128)
    (local $s00 v128) (local $s01 v128) (local $s02 v128) (local $s03 v128)
    (local $s10 v128) (local $s11 v128) (local $s12 v128) (local $s13 v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $t0 f64) (local $t1 f64) (local $wv f64)
    (local.set $o8 (i32.sub (local.get $outs) (i32.rem_u (local.get $outs) (i32.const 8))))
    (local.set $row (i32.shl (local.get $outs) (i32.const 3)))
    (block $kdone
      (loop $kloop
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $n)))
        ;; the second example of the pair; the last one of an odd batch pairs with itself
        (local.set $k1 (i32.add (local.get $k) (i32.const 1)))
        (if (i32.ge_u (local.get $k1) (local.get $n)) (then (local.set $k1 (local.get $k))))
        (local.set $a0 (i32.add (local.get $a) (i32.shl (i32.mul (local.get $k) (local.get $ins)) (i32.const 3))))
        (local.set $a1 (i32.add (local.get $a) (i32.shl (i32.mul (local.get $k1) (local.get $ins)) (i32.const 3))))
        (local.set $p0 (i32.add (local.get $p) (i32.mul (local.get $k) (local.get $row))))
        (local.set $p1 (i32.add (local.get $p) (i32.mul (local.get $k1) (local.get $row))))
        (local.set $o (i32.const 0))
        (block $odone
          (loop $oloop
            (br_if $odone (i32.ge_u (local.get $o) (local.get $o8)))
            (local.set $wp (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 3))))
            (local.set $s00 (v128.load (local.get $wp)))
            (local.set $s01 (v128.load offset=16 (local.get $wp)))
            (local.set $s02 (v128.load offset=32 (local.get $wp)))
            (local.set $s03 (v128.load offset=48 (local.get $wp)))
            (local.set $s10 (local.get $s00))
            (local.set $s11 (local.get $s01))
            (local.set $s12 (local.get $s02))
            (local.set $s13 (local.get $s03))
            (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $o) (i32.const 3))))
            (local.set $i (i32.const 0))
            (block $idone
              (loop $iloop
                (br_if $idone (i32.ge_u (local.get $i) (local.get $ins)))
                (local.set $ai (i32.shl (local.get $i) (i32.const 3)))
                (local.set $x0 (f64.load (i32.add (local.get $a0) (local.get $ai))))
                (local.set $x1 (f64.load (i32.add (local.get $a1) (local.get $ai))))
                (if (i32.or (f64.ne (local.get $x0) (f64.const 0)) (f64.ne (local.get $x1) (f64.const 0)))
                  (then
                    (local.set $v0 (f64x2.splat (local.get $x0)))
                    (local.set $v1 (f64x2.splat (local.get $x1)))
                    (local.set $w0 (v128.load (local.get $wp)))
                    (local.set $w1 (v128.load offset=16 (local.get $wp)))
                    (local.set $w2 (v128.load offset=32 (local.get $wp)))
                    (local.set $w3 (v128.load offset=48 (local.get $wp)))
                    (local.set $s00 (f64x2.add (local.get $s00) (f64x2.mul (local.get $v0) (local.get $w0))))
                    (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $v0) (local.get $w1))))
                    (local.set $s02 (f64x2.add (local.get $s02) (f64x2.mul (local.get $v0) (local.get $w2))))
                    (local.set $s03 (f64x2.add (local.get $s03) (f64x2.mul (local.get $v0) (local.get $w3))))
                    (local.set $s10 (f64x2.add (local.get $s10) (f64x2.mul (local.get $v1) (local.get $w0))))
                    (local.set $s11 (f64x2.add (local.get $s11) (f64x2.mul (local.get $v1) (local.get $w1))))
                    (local.set $s12 (f64x2.add (local.get $s12) (f64x2.mul (local.get $v1) (local.get $w2))))
                    (local.set $s13 (f64x2.add (local.get $s13) (f64x2.mul (local.get $v1) (local.get $w3))))))
                (local.set $wp (i32.add (local.get $wp) (local.get $row)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $iloop)))
            (if (local.get $relu)
              (then
                ;; pmax(0, s) = 0 < s ? s : 0, which is the scalar s > 0 ? s : 0 (NaN -> 0)
                (local.set $s00 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s00)))
                (local.set $s01 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s01)))
                (local.set $s02 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s02)))
                (local.set $s03 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s03)))
                (local.set $s10 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s10)))
                (local.set $s11 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s11)))
                (local.set $s12 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s12)))
                (local.set $s13 (f64x2.pmax (v128.const f64x2 0 0) (local.get $s13)))))
            ;; the pair's second row first: for an odd batch's last example both rows are the same
            (local.set $wp (i32.add (local.get $p1) (i32.shl (local.get $o) (i32.const 3))))
            (v128.store (local.get $wp) (local.get $s10))
            (v128.store offset=16 (local.get $wp) (local.get $s11))
            (v128.store offset=32 (local.get $wp) (local.get $s12))
            (v128.store offset=48 (local.get $wp) (local.get $s13))
            (local.set $wp (i32.add (local.get $p0) (i32.shl (local.get $o) (i32.const 3))))
            (v128.store (local.get $wp) (local.get $s00))
            (v128.store offset=16 (local.get $wp) (local.get $s01))
            (v128.store offset=32 (local.get $wp) (local.get $s02))
            (v128.store offset=48 (local.get $wp) (local.get $s03))
            (local.set $o (i32.add (local.get $o) (i32.const 8)))
            (br $oloop)))
        ;; the outputs beyond the last block of eight, one at a time
        (block $tdone
          (loop $tloop
            (br_if $tdone (i32.ge_u (local.get $o) (local.get $outs)))
            (local.set $t0 (f64.load (i32.add (local.get $bias) (i32.shl (local.get $o) (i32.const 3)))))
            (local.set $t1 (local.get $t0))
            (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $o) (i32.const 3))))
            (local.set $i (i32.const 0))
            (block $idone2
              (loop $iloop2
                (br_if $idone2 (i32.ge_u (local.get $i) (local.get $ins)))
                (local.set $ai (i32.shl (local.get $i) (i32.const 3)))
                (local.set $x0 (f64.load (i32.add (local.get $a0) (local.get $ai))))
                (local.set $x1 (f64.load (i32.add (local.get $a1) (local.get $ai))))
                (local.set $wv (f64.load (local.get $wp)))
                (if (f64.ne (local.get $x0) (f64.const 0)) (then (local.set $t0 (f64.add (local.get $t0) (f64.mul (local.get $x0) (local.get $wv))))))
                (if (f64.ne (local.get $x1) (f64.const 0)) (then (local.set $t1 (f64.add (local.get $t1) (f64.mul (local.get $x1) (local.get $wv))))))
                (local.set $wp (i32.add (local.get $wp) (local.get $row)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $iloop2)))
            (if (local.get $relu)
              (then
                (if (i32.eqz (f64.gt (local.get $t0) (f64.const 0))) (then (local.set $t0 (f64.const 0))))
                (if (i32.eqz (f64.gt (local.get $t1) (f64.const 0))) (then (local.set $t1 (f64.const 0))))))
            (f64.store (i32.add (local.get $p1) (i32.shl (local.get $o) (i32.const 3))) (local.get $t1))
            (f64.store (i32.add (local.get $p0) (i32.shl (local.get $o) (i32.const 3))) (local.get $t0))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $tloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 2)))
        (br $kloop))))

  ;; gw[i][o] += sum_k a[k][i] dp[k][o] and gb[o] += sum_k dp[k][o]. Examples four at a time:
  ;; gw[i][o] += ((a0 dp0 + a1 dp1) + a2 dp2) + a3 dp3, skipped when the four inputs are 0; the
  ;; remaining examples one at a time (skipped when the input is 0). Vectors over o.
  (func (export "weightGradient")
    (param $a i32) (param $n i32) (param $ins i32) (param $dp i32) (param $outs i32) (param $gw i32) (param $gb i32)
    (local $k i32) (local $o i32) (local $o2 i32) (local $i i32) (local $row i32) (local $arow i32)
    (local $d0 i32) (local $d1 i32) (local $d2 i32) (local $d3 i32) (local $ap i32) (local $g i32) (local $ob i32)
    (local $x0 f64) (local $x1 f64) (local $x2 f64) (local $x3 f64)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $row (i32.shl (local.get $outs) (i32.const 3)))
    (local.set $arow (i32.shl (local.get $ins) (i32.const 3)))
    (local.set $o2 (i32.sub (local.get $outs) (i32.rem_u (local.get $outs) (i32.const 2))))
    ;; bias gradients: example by example, as the scalar loop
    (block $bdone
      (loop $bloop
        (br_if $bdone (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $d0 (i32.add (local.get $dp) (i32.mul (local.get $k) (local.get $row))))
        (local.set $o (i32.const 0))
        (block $obdone
          (loop $obloop
            (br_if $obdone (i32.ge_u (local.get $o) (local.get $outs)))
            (local.set $ob (i32.shl (local.get $o) (i32.const 3)))
            (f64.store (i32.add (local.get $gb) (local.get $ob))
              (f64.add (f64.load (i32.add (local.get $gb) (local.get $ob))) (f64.load (i32.add (local.get $d0) (local.get $ob)))))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $obloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $bloop)))
    ;; blocks of four examples
    (local.set $k (i32.const 0))
    (block $kdone
      (loop $kloop
        (br_if $kdone (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $n)))
        (local.set $d0 (i32.add (local.get $dp) (i32.mul (local.get $k) (local.get $row))))
        (local.set $d1 (i32.add (local.get $d0) (local.get $row)))
        (local.set $d2 (i32.add (local.get $d1) (local.get $row)))
        (local.set $d3 (i32.add (local.get $d2) (local.get $row)))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $k) (local.get $arow))))
        (local.set $i (i32.const 0))
        (block $idone
          (loop $iloop
            (br_if $idone (i32.ge_u (local.get $i) (local.get $ins)))
            (local.set $x0 (f64.load (local.get $ap)))
            (local.set $x1 (f64.load (i32.add (local.get $ap) (local.get $arow))))
            (local.set $x2 (f64.load (i32.add (local.get $ap) (i32.shl (local.get $arow) (i32.const 1)))))
            (local.set $x3 (f64.load (i32.add (local.get $ap) (i32.mul (local.get $arow) (i32.const 3)))))
            (if (i32.or (i32.or (f64.ne (local.get $x0) (f64.const 0)) (f64.ne (local.get $x1) (f64.const 0)))
                        (i32.or (f64.ne (local.get $x2) (f64.const 0)) (f64.ne (local.get $x3) (f64.const 0))))
              (then
                (local.set $v0 (f64x2.splat (local.get $x0)))
                (local.set $v1 (f64x2.splat (local.get $x1)))
                (local.set $v2 (f64x2.splat (local.get $x2)))
                (local.set $v3 (f64x2.splat (local.get $x3)))
                (local.set $g (i32.add (local.get $gw) (i32.mul (local.get $i) (local.get $row))))
                (local.set $o (i32.const 0))
                (block $odone
                  (loop $oloop
                    (br_if $odone (i32.ge_u (local.get $o) (local.get $o2)))
                    (local.set $ob (i32.shl (local.get $o) (i32.const 3)))
                    (v128.store (i32.add (local.get $g) (local.get $ob))
                      (f64x2.add (v128.load (i32.add (local.get $g) (local.get $ob)))
                        (f64x2.add
                          (f64x2.add
                            (f64x2.add
                              (f64x2.mul (local.get $v0) (v128.load (i32.add (local.get $d0) (local.get $ob))))
                              (f64x2.mul (local.get $v1) (v128.load (i32.add (local.get $d1) (local.get $ob)))))
                            (f64x2.mul (local.get $v2) (v128.load (i32.add (local.get $d2) (local.get $ob)))))
                          (f64x2.mul (local.get $v3) (v128.load (i32.add (local.get $d3) (local.get $ob)))))))
                    (local.set $o (i32.add (local.get $o) (i32.const 2)))
                    (br $oloop)))
                (if (i32.lt_u (local.get $o2) (local.get $outs))
                  (then
                    (local.set $ob (i32.shl (local.get $o2) (i32.const 3)))
                    (f64.store (i32.add (local.get $g) (local.get $ob))
                      (f64.add (f64.load (i32.add (local.get $g) (local.get $ob)))
                        (f64.add
                          (f64.add
                            (f64.add
                              (f64.mul (local.get $x0) (f64.load (i32.add (local.get $d0) (local.get $ob))))
                              (f64.mul (local.get $x1) (f64.load (i32.add (local.get $d1) (local.get $ob)))))
                            (f64.mul (local.get $x2) (f64.load (i32.add (local.get $d2) (local.get $ob)))))
                          (f64.mul (local.get $x3) (f64.load (i32.add (local.get $d3) (local.get $ob)))))))))))
            (local.set $ap (i32.add (local.get $ap) (i32.const 8)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $iloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $kloop)))
    ;; the remaining examples one at a time
    (block $rdone
      (loop $rloop
        (br_if $rdone (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $d0 (i32.add (local.get $dp) (i32.mul (local.get $k) (local.get $row))))
        (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $k) (local.get $arow))))
        (local.set $i (i32.const 0))
        (block $idone2
          (loop $iloop2
            (br_if $idone2 (i32.ge_u (local.get $i) (local.get $ins)))
            (local.set $x0 (f64.load (i32.add (local.get $ap) (i32.shl (local.get $i) (i32.const 3)))))
            (if (f64.ne (local.get $x0) (f64.const 0))
              (then
                (local.set $v0 (f64x2.splat (local.get $x0)))
                (local.set $g (i32.add (local.get $gw) (i32.mul (local.get $i) (local.get $row))))
                (local.set $o (i32.const 0))
                (block $odone2
                  (loop $oloop2
                    (br_if $odone2 (i32.ge_u (local.get $o) (local.get $o2)))
                    (local.set $ob (i32.shl (local.get $o) (i32.const 3)))
                    (v128.store (i32.add (local.get $g) (local.get $ob))
                      (f64x2.add (v128.load (i32.add (local.get $g) (local.get $ob)))
                        (f64x2.mul (local.get $v0) (v128.load (i32.add (local.get $d0) (local.get $ob))))))
                    (local.set $o (i32.add (local.get $o) (i32.const 2)))
                    (br $oloop2)))
                (if (i32.lt_u (local.get $o2) (local.get $outs))
                  (then
                    (local.set $ob (i32.shl (local.get $o2) (i32.const 3)))
                    (f64.store (i32.add (local.get $g) (local.get $ob))
                      (f64.add (f64.load (i32.add (local.get $g) (local.get $ob)))
                        (f64.mul (local.get $x0) (f64.load (i32.add (local.get $d0) (local.get $ob))))))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $iloop2)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $rloop))))

  ;; da[k][i] = sum_o w[i][o] dp[k][o] for k < n, i < limit, summed over o in order; with mask
  ;; != 0 (a pointer to the layer's input activations, n x ins), da[k][i] = 0 where mask[k][i] is
  ;; not > 0 (a ReLU that was off). dp is first transposed into dpT (outs x n4, n4 = n rounded up
  ;; to 4, padded with 0) so that four examples' dp[.][o] are two vectors: lanes are examples.
  ;; Two inputs at a time share every dpT load.
  (func (export "inputGradient")
    (param $w i32) (param $ins i32) (param $limit i32) (param $dp i32) (param $outs i32) (param $n i32) (param $da i32) (param $mask i32) (param $dpT i32)
    (local $n4 i32) (local $k i32) (local $o i32) (local $i i32) (local $row i32) (local $trow i32) (local $arow i32)
    (local $w0 i32) (local $w1 i32) (local $t i32) (local $lane i32) (local $at i32)
    (local $s00 v128) (local $s01 v128) (local $s10 v128) (local $s11 v128) (local $q0 v128) (local $q1 v128)
    (local $c0 v128) (local $c1 v128) (local $v f64)
    (local.set $n4 (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)))
    (local.set $row (i32.shl (local.get $outs) (i32.const 3)))
    (local.set $trow (i32.shl (local.get $n4) (i32.const 3)))
    (local.set $arow (i32.shl (local.get $ins) (i32.const 3)))
    ;; dpT[o][k] = dp[k][o], zero padding for k >= n
    (block $odone
      (loop $oloop
        (br_if $odone (i32.ge_u (local.get $o) (local.get $outs)))
        (local.set $k (i32.const 0))
        (block $kdone
          (loop $kloop
            (br_if $kdone (i32.ge_u (local.get $k) (local.get $n4)))
            (f64.store (i32.add (i32.add (local.get $dpT) (i32.mul (local.get $o) (local.get $trow))) (i32.shl (local.get $k) (i32.const 3)))
              (if (result f64) (i32.lt_u (local.get $k) (local.get $n))
                (then (f64.load (i32.add (i32.add (local.get $dp) (i32.mul (local.get $k) (local.get $row))) (i32.shl (local.get $o) (i32.const 3)))))
                (else (f64.const 0))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kloop)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $oloop)))
    ;; four examples (two vectors) x two inputs per pass
    (local.set $k (i32.const 0))
    (block $kdone2
      (loop $kloop2
        (br_if $kdone2 (i32.ge_u (local.get $k) (local.get $n4)))
        (local.set $i (i32.const 0))
        (block $idone
          (loop $iloop
            (br_if $idone (i32.ge_u (local.get $i) (local.get $limit)))
            (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $row))))
            ;; the second input: the same as the first when it is the last (computed twice, stored once)
            (local.set $w1 (select (i32.add (local.get $w0) (local.get $row)) (local.get $w0) (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $limit))))
            (local.set $s00 (v128.const f64x2 0 0))
            (local.set $s01 (v128.const f64x2 0 0))
            (local.set $s10 (v128.const f64x2 0 0))
            (local.set $s11 (v128.const f64x2 0 0))
            (local.set $t (i32.add (local.get $dpT) (i32.shl (local.get $k) (i32.const 3))))
            (local.set $o (i32.const 0))
            (block $odone2
              (loop $oloop2
                (br_if $odone2 (i32.ge_u (local.get $o) (local.get $outs)))
                (local.set $q0 (v128.load (local.get $t)))
                (local.set $q1 (v128.load offset=16 (local.get $t)))
                (local.set $c0 (v128.load64_splat (i32.add (local.get $w0) (i32.shl (local.get $o) (i32.const 3)))))
                (local.set $c1 (v128.load64_splat (i32.add (local.get $w1) (i32.shl (local.get $o) (i32.const 3)))))
                (local.set $s00 (f64x2.add (local.get $s00) (f64x2.mul (local.get $c0) (local.get $q0))))
                (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (local.get $c0) (local.get $q1))))
                (local.set $s10 (f64x2.add (local.get $s10) (f64x2.mul (local.get $c1) (local.get $q0))))
                (local.set $s11 (f64x2.add (local.get $s11) (f64x2.mul (local.get $c1) (local.get $q1))))
                (local.set $t (i32.add (local.get $t) (local.get $trow)))
                (local.set $o (i32.add (local.get $o) (i32.const 1)))
                (br $oloop2)))
            ;; store the lanes of the real examples, masked
            (local.set $lane (i32.const 0))
            (block $ldone
              (loop $lloop
                (br_if $ldone (i32.ge_u (local.get $lane) (i32.const 4)))
                (br_if $ldone (i32.ge_u (i32.add (local.get $k) (local.get $lane)) (local.get $n)))
                (local.set $at (i32.add (i32.mul (i32.add (local.get $k) (local.get $lane)) (local.get $arow)) (i32.shl (local.get $i) (i32.const 3))))
                ;; input i
                (local.set $v
                  (if (result f64) (i32.lt_u (local.get $lane) (i32.const 2))
                    (then (if (result f64) (i32.eqz (local.get $lane)) (then (f64x2.extract_lane 0 (local.get $s00))) (else (f64x2.extract_lane 1 (local.get $s00)))))
                    (else (if (result f64) (i32.eq (local.get $lane) (i32.const 2)) (then (f64x2.extract_lane 0 (local.get $s01))) (else (f64x2.extract_lane 1 (local.get $s01)))))))
                (if (local.get $mask)
                  (then (if (i32.eqz (f64.gt (f64.load (i32.add (local.get $mask) (local.get $at))) (f64.const 0))) (then (local.set $v (f64.const 0))))))
                (f64.store (i32.add (local.get $da) (local.get $at)) (local.get $v))
                ;; input i + 1
                (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $limit))
                  (then
                    (local.set $at (i32.add (local.get $at) (i32.const 8)))
                    (local.set $v
                      (if (result f64) (i32.lt_u (local.get $lane) (i32.const 2))
                        (then (if (result f64) (i32.eqz (local.get $lane)) (then (f64x2.extract_lane 0 (local.get $s10))) (else (f64x2.extract_lane 1 (local.get $s10)))))
                        (else (if (result f64) (i32.eq (local.get $lane) (i32.const 2)) (then (f64x2.extract_lane 0 (local.get $s11))) (else (f64x2.extract_lane 1 (local.get $s11)))))))
                    (if (local.get $mask)
                      (then (if (i32.eqz (f64.gt (f64.load (i32.add (local.get $mask) (local.get $at))) (f64.const 0))) (then (local.set $v (f64.const 0))))))
                    (f64.store (i32.add (local.get $da) (local.get $at)) (local.get $v))))
                (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
                (br $lloop)))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $iloop)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $kloop2))))
)
