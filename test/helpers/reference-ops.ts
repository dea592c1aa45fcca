/**
 * Naive reference implementations (PyTorch semantics, float64 accumulation) used to check what onnxruntime
 * computes for the graphs we build. Slow by design: clarity over speed.
 */
export interface Conv2dRef {
  readonly stride: [number, number];
  readonly pad: [number, number];
  readonly dil: [number, number];
  readonly groups: number;
}

/** Direct convolution of x [N,C,H,W] with w [O,C/g,kh,kw]. */
export function conv2dRef(x: Float32Array, xs: number[], w: Float32Array, ws: number[], b: Float32Array | undefined, o: Conv2dRef): { data: Float64Array; shape: number[] } {
  const [n, c, h, wd] = xs;
  const [oc, cg, kh, kw] = ws;
  const oh = Math.floor((h + 2 * o.pad[0] - o.dil[0] * (kh - 1) - 1) / o.stride[0]) + 1;
  const ow = Math.floor((wd + 2 * o.pad[1] - o.dil[1] * (kw - 1) - 1) / o.stride[1]) + 1;
  const out = new Float64Array(n * oc * oh * ow);
  const ocg = oc / o.groups;
  for (let b0 = 0; b0 < n; b0++)
    for (let m = 0; m < oc; m++) {
      const grp = Math.floor(m / ocg);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let s = b ? b[m] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const y = i * o.stride[0] - o.pad[0] + u * o.dil[0];
                const z = j * o.stride[1] - o.pad[1] + v * o.dil[1];
                if (y < 0 || y >= h || z < 0 || z >= wd) continue;
                s += x[((b0 * c + grp * cg + ci) * h + y) * wd + z] * w[((m * cg + ci) * kh + u) * kw + v];
              }
          out[((b0 * oc + m) * oh + i) * ow + j] = s;
        }
    }
  return { data: out, shape: [n, oc, oh, ow] };
}

/** 2-D max or average pooling with PyTorch's ceil_mode and count_include_pad rules. */
export function pool2dRef(
  kind: 'max' | 'avg',
  x: Float32Array,
  xs: number[],
  k: number,
  s: number,
  p: number,
  ceil: boolean,
  countIncludePad = true,
): { data: Float64Array; shape: number[] } {
  const [n, c, h, w] = xs;
  const outSize = (len: number) => {
    let o = (ceil ? Math.ceil((len + 2 * p - k) / s) : Math.floor((len + 2 * p - k) / s)) + 1;
    if (ceil && (o - 1) * s >= len + p) o -= 1;
    return o;
  };
  const oh = outSize(h);
  const ow = outSize(w);
  const out = new Float64Array(n * c * oh * ow);
  for (let nc = 0; nc < n * c; nc++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const y0 = i * s - p;
        const z0 = j * s - p;
        let acc = kind === 'max' ? -Infinity : 0;
        let cnt = 0;
        for (let u = 0; u < k; u++)
          for (let v = 0; v < k; v++) {
            const y = y0 + u;
            const z = z0 + v;
            if (y < 0 || y >= h || z < 0 || z >= w) continue;
            const val = x[(nc * h + y) * w + z];
            if (kind === 'max') acc = Math.max(acc, val);
            else acc += val;
            cnt++;
          }
        if (kind === 'avg') {
          // PyTorch: with count_include_pad the divisor counts padding but not the overhang past it (ceil_mode).
          const hEnd = Math.min(y0 + k, h + p);
          const wEnd = Math.min(z0 + k, w + p);
          const padded = (hEnd - y0) * (wEnd - z0);
          acc /= countIncludePad ? padded : cnt;
        }
        out[(nc * oh + i) * ow + j] = acc;
      }
  return { data: out, shape: [n, c, oh, ow] };
}
