/**
 * Conv gradients (any spatial rank, groups incl. depthwise, stride, padding, dilation), in the formulations
 * measured fastest on onnxruntime CPU (docs/training.md, "Fast ONNX formulations for training on onnxruntime
 * CPU: measured facts"):
 * - dX, stride 1: Conv of dY with the weight transposed (O/I swapped per group) and spatially flipped;
 *   other strides: ConvTranspose with output_padding (the exact adjoint of Conv).
 * - dW, 1x1 without groups: MatMul / Gemm of dY with X; depthwise: the grouped-conv trick (X as
 *   `[1, N*C, H, W]`, dY as the `[N*C, 1, Ho, Wo]` kernel, dilation = stride); otherwise channels-last im2col
 *   (k*k strided Slices concatenated on the channel axis) and one Gemm per group.
 */
import { type Attrs, type GraphBuilder, type Value, attrInt, attrInts } from '../../graph/index.js';
import { AutodiffError } from '../errors.js';
import { adjointPads, constLike, gridPositions, prod, staticShape } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

/** Geometry of a Conv node, with defaults filled in. */
interface ConvGeometry {
  readonly sp: number;
  readonly kernel: number[];
  readonly strides: number[];
  readonly dilations: number[];
  readonly padBegin: number[];
  readonly padEnd: number[];
  readonly group: number;
}

function geometry(attrs: Attrs, w: readonly number[], where: string): ConvGeometry {
  const sp = w.length - 2;
  const autoPad = (attrs.auto_pad as { s: string } | undefined)?.s;
  if (autoPad && autoPad !== 'NOTSET') {
    throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `${where}: auto_pad=${autoPad} has no gradient rule; give explicit pads`);
  }
  const pads = attrInts(attrs, 'pads') ?? new Array<number>(2 * sp).fill(0);
  return {
    sp,
    kernel: w.slice(2),
    strides: [...(attrInts(attrs, 'strides') ?? new Array<number>(sp).fill(1))],
    dilations: [...(attrInts(attrs, 'dilations') ?? new Array<number>(sp).fill(1))],
    padBegin: pads.slice(0, sp),
    padEnd: pads.slice(sp),
    group: attrInt(attrs, 'group', 1),
  };
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

/** w `[O, C/G, k...]` → `[C, O/G, k...]`: input and output channels swapped inside each group. */
function transposeWeight(g: GraphBuilder, w: Value, ws: readonly number[], group: number): Value {
  const [o, cg, ...k] = ws;
  const og = o / group;
  const sp = k.length;
  if (group === 1) return g.transpose(w, [1, 0, ...range(2, 2 + sp)]);
  if (og === 1 && cg === 1) return w; // depthwise: [C, 1, k...] either way
  const w5 = g.reshape(w, [group, og, cg, ...k]);
  return g.reshape(g.transpose(w5, [0, 2, 1, ...range(3, 3 + sp)]), [group * cg, og, ...k]);
}

/** X padded as the forward conv pads it (no node without padding). */
function padded(g: GraphBuilder, x: Value, { padBegin, padEnd }: ConvGeometry): Value {
  return padBegin.some((p) => p > 0) || padEnd.some((p) => p > 0) ? g.pad(x, [0, 0, ...padBegin, 0, 0, ...padEnd]) : x;
}

/** What kernel tap `off` sees of padded X: `out` positions along `axes`, from `off * dilation` in steps of stride. */
function tapWindow(g: GraphBuilder, xp: Value, off: readonly number[], { strides, dilations }: ConvGeometry, out: readonly number[], axes: readonly number[]): Value {
  const start = off.map((u, i) => u * dilations[i]);
  return g.slice(xp, start, start.map((st, i) => st + strides[i] * (out[i] - 1) + 1), axes, strides);
}

/**
 * The kernel reversed along every spatial axis (which reverses its flattened taps), as a MatMul with the
 * anti-diagonal `[K, K]` permutation.
 * NOTE: onnxruntime's negative-step Slice copies element by element (about 5 ms for a 512x512x3x3 weight); the
 * MatMul is a small GEMM and exact (each output is one input times 1 plus zeros; only a non-finite weight would
 * spread, and training has failed by then).
 */
function flipKernel(g: GraphBuilder, w: Value, ws: readonly number[]): Value {
  const kk = prod(ws.slice(2));
  const perm = new Array<number>(kk * kk).fill(0);
  for (let i = 0; i < kk; i++) perm[(kk - 1 - i) * kk + i] = 1;
  return g.reshape(g.matMul(g.reshape(w, [ws[0] * ws[1], kk]), constLike(g, w, [kk, kk], perm, 'flip')), ws);
}

/** Input gradient of Conv. */
function convInputGrad(g: GraphBuilder, dy: Value, x: Value, w: Value, geo: ConvGeometry, where: string): Value {
  const xs = staticShape(x, where);
  const ws = staticShape(w, where);
  const ys = staticShape(dy, where);
  const { kernel, strides, dilations, padBegin, padEnd, group } = geo;
  const span = kernel.map((k, i) => dilations[i] * (k - 1));
  const flippedPads = [...span.map((s, i) => s - padBegin[i]), ...span.map((s, i) => s - padEnd[i])];
  if (strides.every((s) => s === 1) && flippedPads.every((p) => p >= 0)) {
    let wt = transposeWeight(g, w, ws, group);
    if (kernel.some((k) => k > 1)) wt = flipKernel(g, wt, staticShape(wt, where));
    return g.op('Conv', [dy, wt], {
      kernel_shape: { ints: kernel },
      strides: { ints: strides },
      dilations: { ints: dilations },
      pads: { ints: flippedPads },
      group: { i: group },
    })[0];
  }
  // ConvTranspose is Conv's adjoint
  const { endPads, outPad } = adjointPads(strides, ys.slice(2), span.map((v) => v + 1), padBegin, xs.slice(2));
  return g.op('ConvTranspose', [dy, w], {
    kernel_shape: { ints: kernel },
    strides: { ints: strides },
    dilations: { ints: dilations },
    pads: { ints: [...padBegin, ...endPads] },
    output_padding: { ints: outPad },
    group: { i: group },
  })[0];
}

/** Weight gradient of a 1x1 conv without groups: dY `[N, O, L]` times X `[N, C, L]`ᵀ. */
function pointwiseWeightGrad(g: GraphBuilder, dy: Value, x: Value, xs: number[], ws: number[], ys: number[], geo: ConvGeometry): Value {
  const [n, c] = xs;
  const o = ws[0];
  const { sp, strides } = geo;
  let xin = padded(g, x, geo);
  const out = ys.slice(2);
  if (strides.some((s) => s > 1)) xin = tapWindow(g, xin, out.map(() => 0), geo, out, range(2, 2 + sp));
  const l = prod(out);
  const x3 = g.reshape(xin, [n, c, l]);
  const dy3 = g.reshape(dy, [n, o, l]);
  let dw: Value;
  if (n > 1 && l >= 196) {
    // Large maps: one batched MatMul, then sum over the batch.
    dw = g.reduceSum(g.matMul(dy3, g.transpose(x3, [0, 2, 1])), [0], false);
  } else {
    // Small maps: channels first, one Gemm over N*L.
    const xt = n === 1 ? g.reshape(x3, [c, l]) : g.reshape(g.transpose(x3, [1, 0, 2]), [c, n * l]);
    const dyt = n === 1 ? g.reshape(dy3, [o, l]) : g.reshape(g.transpose(dy3, [1, 0, 2]), [o, n * l]);
    dw = g.gemm(dyt, xt, undefined, { transB: true });
  }
  return g.reshape(dw, ws);
}

/** Weight gradient of a depthwise conv (one input and one output channel per group), as one grouped Conv. */
function depthwiseWeightGrad(g: GraphBuilder, dy: Value, x: Value, xs: number[], ws: number[], ys: number[], geo: ConvGeometry): Value {
  const [n, c, ...h] = xs;
  const { sp, kernel, strides, dilations, padBegin, padEnd } = geo;
  const out = ys.slice(2);
  const x1 = g.reshape(x, [1, n * c, ...h]);
  const k1 = g.reshape(dy, [n * c, 1, ...out]);
  // dW[c, u] = sum_i xpad[c, u*d + i*s] * dy[c, i]: a correlation with dY as kernel, dilation s and stride d.
  let dw = g.op('Conv', [x1, k1], {
    kernel_shape: { ints: out },
    strides: { ints: dilations },
    dilations: { ints: strides },
    pads: { ints: [...padBegin, ...padEnd] },
    group: { i: n * c },
  })[0];
  const got = staticShape(dw, 'depthwise dW').slice(2);
  if (got.some((v, i) => v !== kernel[i])) {
    const axes = range(2, 2 + sp);
    dw = g.slice(dw, axes.map(() => 0), kernel, axes);
  }
  const dwn = g.reshape(dw, [n, c, ...kernel]);
  return g.reshape(n === 1 ? dwn : g.reduceSum(dwn, [0], false), ws);
}

/** Weight gradient by channels-last im2col and one Gemm per group. */
function im2colWeightGrad(g: GraphBuilder, dy: Value, x: Value, xs: number[], ws: number[], ys: number[], geo: ConvGeometry): Value {
  const [n] = xs;
  const [o, cg, ...kernel] = ws;
  const { sp, group } = geo;
  const og = o / group;
  const out = ys.slice(2);
  const l = n * prod(out);
  const kk = prod(kernel);
  const spatial = range(1, 1 + sp);
  const xt = g.transpose(padded(g, x, geo), [0, ...range(2, 2 + sp), 1]); // [N, Hp, Wp, C]
  const dyt = g.reshape(g.transpose(dy, [0, ...range(2, 2 + sp), 1]), [l, o]); // [N*Ho*Wo, O]
  // kernel taps in row-major order, matching the [k..., C] layout of the result
  const offsets = gridPositions(kernel);
  const perGroup: Value[] = [];
  for (let gi = 0; gi < group; gi++) {
    const xg = group === 1 ? xt : g.slice(xt, [gi * cg], [(gi + 1) * cg], [sp + 1]);
    const cols = offsets.map((off) => tapWindow(g, xg, off, geo, out, spatial));
    const col = cols.length === 1 ? cols[0] : g.concat(cols, sp + 1); // [N, Ho, Wo, K*Cg]
    const dyg = group === 1 ? dyt : g.slice(dyt, [gi * og], [(gi + 1) * og], [1]);
    perGroup.push(g.gemm(dyg, g.reshape(col, [l, kk * cg]), undefined, { transA: true })); // [Og, K*Cg]
  }
  const dwCols = perGroup.length === 1 ? perGroup[0] : g.concat(perGroup, 0);
  return g.transpose(g.reshape(dwCols, [o, ...kernel, cg]), [0, sp + 1, ...range(1, 1 + sp)]);
}

/**
 * Weight gradient by channels-first im2col: k*k strided Slices of X stacked behind the channel axis
 * (`[N, C*K, L]`, in the weight's own (c, kh, kw) order), one batched MatMul with dY (onnxruntime fuses the
 * transpose into it) and a sum over the batch. No activation or weight is transposed, which wins on large maps
 * (measured: conv1 of ResNet at 112 px 17 vs 33 ms, 3x3 at 28x28 10.4 vs 12.5 ms) and loses on small ones, where
 * the per-image MatMuls are too small (7x7 maps: 14 vs 8 ms).
 */
function channelsFirstWeightGrad(g: GraphBuilder, dy: Value, x: Value, xs: number[], ws: number[], ys: number[], geo: ConvGeometry): Value {
  const [n, c] = xs;
  const [o, , ...kernel] = ws;
  const { sp } = geo;
  const out = ys.slice(2);
  const l = prod(out);
  const xp = padded(g, x, geo);
  // kernel taps in row-major order, matching the weight's (kh, kw) layout
  const cols = gridPositions(kernel).map((off) => g.reshape(tapWindow(g, xp, off, geo, out, range(2, 2 + sp)), [n, c, 1, l]));
  const col = g.reshape(g.concat(cols, 2), [n, c * prod(kernel), l]);
  const dw = g.matMul(g.reshape(dy, [n, o, l]), g.transpose(col, [0, 2, 1])); // [N, O, C*K]
  return g.reshape(n === 1 ? dw : g.reduceSum(dw, [0], false), ws);
}

/** Weight gradient of Conv, picking the formulation by kernel and groups. */
function convWeightGrad(g: GraphBuilder, dy: Value, x: Value, w: Value, geo: ConvGeometry, where: string): Value {
  const xs = staticShape(x, where);
  const ws = staticShape(w, where);
  const ys = staticShape(dy, where);
  const [o, cg] = ws;
  if (geo.group === 1 && geo.kernel.every((k) => k === 1) && geo.dilations.every((d) => d === 1)) {
    return pointwiseWeightGrad(g, dy, x, xs, ws, ys, geo);
  }
  if (cg === 1 && o === geo.group) return depthwiseWeightGrad(g, dy, x, xs, ws, ys, geo);
  if (geo.group === 1 && prod(ys.slice(2)) >= 784) return channelsFirstWeightGrad(g, dy, x, xs, ws, ys, geo);
  return im2colWeightGrad(g, dy, x, xs, ws, ys, geo);
}

/** Conv: gradients of input, weight and bias. */
export const convGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const [x, w] = node.inputs as Value[];
  const where = `Conv "${node.name}"`;
  const geo = geometry(node.attrs, staticShape(w, where), where);
  const dx = needs[0] ? convInputGrad(g, dy, x, w, geo, where) : undefined;
  const dw = needs[1] ? convWeightGrad(g, dy, x, w, geo, where) : undefined;
  const db = needs[2] ? g.reduceSum(dy, [0, ...range(2, 2 + geo.sp)], false) : undefined;
  return node.inputs.length > 2 ? [dx, dw, db] : [dx, dw];
};
