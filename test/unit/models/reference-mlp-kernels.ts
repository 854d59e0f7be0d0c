/**
 * The MLP kernels as plain loops: the reference that src/models/wasm/mlp-kernels.wat must equal
 * number for number (mlp-kernels.test.ts). Weights are input-major (`w[i * outs + o]`). These were
 * the models' kernels before the WebAssembly ones; they keep the summation order the .wat
 * reproduces.
 */

/**
 * p[k][o] = bias[o] + sum_i a[k][i] w[i][o] for k < n, then ReLU when `relu`.
 */
export function layerForward(a: Float64Array, n: number, ins: number, w: Float64Array, bias: Float64Array, outs: number, p: Float64Array, relu: boolean): void {
  const o4 = outs - (outs % 4);
  for (let k = 0; k < n; k++) {
    const ao = k * ins;
    const po = k * outs;
    for (let o = 0; o < o4; o += 4) {
      let s0 = bias[o] as number;
      let s1 = bias[o + 1] as number;
      let s2 = bias[o + 2] as number;
      let s3 = bias[o + 3] as number;
      for (let i = 0; i < ins; i++) {
        const x = a[ao + i] as number;
        if (x === 0) continue;
        const wo = i * outs + o;
        s0 += x * (w[wo] as number);
        s1 += x * (w[wo + 1] as number);
        s2 += x * (w[wo + 2] as number);
        s3 += x * (w[wo + 3] as number);
      }
      if (relu) {
        p[po + o] = s0 > 0 ? s0 : 0;
        p[po + o + 1] = s1 > 0 ? s1 : 0;
        p[po + o + 2] = s2 > 0 ? s2 : 0;
        p[po + o + 3] = s3 > 0 ? s3 : 0;
      } else {
        p[po + o] = s0;
        p[po + o + 1] = s1;
        p[po + o + 2] = s2;
        p[po + o + 3] = s3;
      }
    }
    for (let o = o4; o < outs; o++) {
      let s = bias[o] as number;
      for (let i = 0; i < ins; i++) {
        const x = a[ao + i] as number;
        if (x !== 0) s += x * (w[i * outs + o] as number);
      }
      p[po + o] = relu ? (s > 0 ? s : 0) : s; // ReLU maps NaN to 0, as the blocks above
    }
  }
}

/**
 * Accumulates the weight and bias gradients of a layer: gw[i][o] += sum_k a[k][i] dp[k][o],
 * gb[o] += sum_k dp[k][o]. Examples are taken four at a time so gw is read and written once per
 * four multiply-adds.
 */
export function layerWeightGradient(a: Float64Array, n: number, ins: number, dp: Float64Array, outs: number, gw: Float64Array, gb: Float64Array): void {
  for (let k = 0; k < n; k++) {
    const po = k * outs;
    for (let o = 0; o < outs; o++) gb[o] = (gb[o] as number) + (dp[po + o] as number);
  }
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const a0o = k * ins;
    const d0 = k * outs;
    const d1 = d0 + outs;
    const d2 = d1 + outs;
    const d3 = d2 + outs;
    for (let i = 0; i < ins; i++) {
      const x0 = a[a0o + i] as number;
      const x1 = a[a0o + ins + i] as number;
      const x2 = a[a0o + 2 * ins + i] as number;
      const x3 = a[a0o + 3 * ins + i] as number;
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const wo = i * outs;
      for (let o = 0; o < outs; o++) {
        gw[wo + o] = (gw[wo + o] as number) + (x0 * (dp[d0 + o] as number) + x1 * (dp[d1 + o] as number) + x2 * (dp[d2 + o] as number) + x3 * (dp[d3 + o] as number));
      }
    }
  }
  for (; k < n; k++) {
    const ao = k * ins;
    const d0 = k * outs;
    for (let i = 0; i < ins; i++) {
      const x = a[ao + i] as number;
      if (x === 0) continue;
      const wo = i * outs;
      for (let o = 0; o < outs; o++) gw[wo + o] = (gw[wo + o] as number) + x * (dp[d0 + o] as number);
    }
  }
}

/**
 * Input gradients of a layer: da[k][i] = sum_o w[i][o] dp[k][o] for i < limit. With `maskBy`
 * (the layer's input activations after a ReLU), inputs that were off get 0. Two examples at a
 * time share each weight load.
 */
export function layerInputGradient(w: Float64Array, ins: number, limit: number, dp: Float64Array, outs: number, n: number, da: Float64Array, maskBy: Float64Array | null): void {
  let k = 0;
  for (; k + 2 <= n; k += 2) {
    const d0 = k * outs;
    const d1 = d0 + outs;
    const a0 = k * ins;
    const a1 = a0 + ins;
    for (let i = 0; i < limit; i++) {
      const on0 = maskBy === null || (maskBy[a0 + i] as number) > 0;
      const on1 = maskBy === null || (maskBy[a1 + i] as number) > 0;
      if (!on0 && !on1) {
        da[a0 + i] = 0;
        da[a1 + i] = 0;
        continue;
      }
      const wo = i * outs;
      let s0 = 0;
      let s1 = 0;
      for (let o = 0; o < outs; o++) {
        const wv = w[wo + o] as number;
        s0 += wv * (dp[d0 + o] as number);
        s1 += wv * (dp[d1 + o] as number);
      }
      da[a0 + i] = on0 ? s0 : 0;
      da[a1 + i] = on1 ? s1 : 0;
    }
  }
  for (; k < n; k++) {
    const d0 = k * outs;
    const a0 = k * ins;
    for (let i = 0; i < limit; i++) {
      if (maskBy !== null && !((maskBy[a0 + i] as number) > 0)) {
        da[a0 + i] = 0;
        continue;
      }
      const wo = i * outs;
      let s = 0;
      for (let o = 0; o < outs; o++) s += (w[wo + o] as number) * (dp[d0 + o] as number);
      da[a0 + i] = s;
    }
  }
}
