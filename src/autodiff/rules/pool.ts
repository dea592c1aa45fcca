/**
 * Pooling gradients: MaxPool through its Indices output and ScatterElements(add), AveragePool as a
 * single-channel ConvTranspose with a box kernel, GlobalAveragePool as a broadcast.
 * NOTE: MaxUnpool is wrong where windows overlap (3x3 stride 2): two windows can pick the same input, and only
 * ScatterElements with reduction='add' sums both contributions, as PyTorch does.
 */
import { type Node, type Value, attrInt, attrInts, isStatic } from '../../graph/index.js';
import { AutodiffError } from '../errors.js';
import { adjointPads, constLike, expandTo, gridPositions, prod, scalarLike, staticShape, zeros } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

/** MaxPool: dy scattered (added) to the argmax of each window. */
export const maxPoolGrad: GradRule = (g, node, grads) => {
  const dy = firstGrad(node, grads);
  const [x] = node.inputs as Value[];
  const xs = staticShape(x, `MaxPool "${node.name}"`);
  // NOTE: a forward MaxPool without the Indices output is run again with it (Indices cost most of the time
  // either way: 10.3 ms vs 0.85 ms without on ResNet's stem), so models need not know about training.
  const indices = node.outputs[1] ?? g.op('MaxPool', [x], node.attrs, { numOutputs: 2 })[1];
  // ONNX MaxPool indices are flat offsets into the whole input tensor (padding not counted).
  const flat = g.op('ScatterElements', [zeros(g, x, [prod(xs)]), g.reshape(indices, [-1]), g.reshape(dy, [-1])], {
    axis: { i: 0 },
    reduction: { s: 'add' },
  })[0];
  return [g.reshape(flat, xs)];
};

/** Divisor of each pooling window along one axis, as PyTorch's avg_pool (and onnxruntime) count it. */
function axisDivisors(n: number, out: number, k: number, s: number, pb: number, pe: number, includePad: boolean): number[] {
  const res: number[] = [];
  for (let o = 0; o < out; o++) {
    const start = o * s - pb;
    const end = Math.min(start + k, n + pe);
    res.push(includePad ? end - start : Math.min(end, n) - Math.max(start, 0));
  }
  return res;
}

/** AveragePool: dy / divisor spread over each window (transposed box filter), summed where windows overlap. */
export const averagePoolGrad: GradRule = (g, node, grads) => {
  const dy = firstGrad(node, grads);
  const [x] = node.inputs as Value[];
  const where = `AveragePool "${node.name}"`;
  const xs = staticShape(x, where);
  const ys = staticShape(dy, where);
  const [n, c, ...h] = xs;
  const out = ys.slice(2);
  const sp = h.length;
  const k = attrInts(node.attrs, 'kernel_shape') as number[];
  const s = attrInts(node.attrs, 'strides') ?? k.map(() => 1);
  const pads = attrInts(node.attrs, 'pads') ?? new Array<number>(2 * sp).fill(0);
  if ((attrInts(node.attrs, 'dilations') ?? []).some((d) => d !== 1)) {
    throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `${where}: dilated AveragePool has no gradient rule`);
  }
  const includePad = attrInt(node.attrs, 'count_include_pad', 0) === 1;
  const pb = pads.slice(0, sp);
  const pe = pads.slice(sp);
  const perAxis = h.map((len, i) => axisDivisors(len, out[i], k[i], s[i], pb[i], pe[i], includePad));
  const uniform = perAxis.every((d, i) => d.every((v) => v === k[i]));
  let scaled = g.reshape(dy, [n * c, 1, ...out]);
  if (!uniform) {
    // Per-position divisors (edge windows clipped by the padding or ceil_mode): one [1, 1, Ho, Wo] table.
    const table = gridPositions(out).map((pos) => 1 / pos.reduce((d, p, i) => d * perAxis[i][p], 1));
    scaled = g.mul(scaled, constLike(g, x, [1, 1, ...out], table, 'pool_divisor'));
  }
  const kernel = constLike(g, x, [1, 1, ...k], new Array<number>(prod(k)).fill(uniform ? 1 / prod(k) : 1), 'pool_kernel');
  const { endPads, outPad } = adjointPads(s, out, k, pb, h);
  const dx = g.op('ConvTranspose', [scaled, kernel], {
    kernel_shape: { ints: k },
    strides: { ints: s },
    pads: { ints: [...pb, ...endPads] },
    output_padding: { ints: outPad },
  })[0];
  return [g.reshape(dx, xs)];
};

/** GlobalAveragePool: dy / (H*W) broadcast over the spatial axes. */
export const globalAveragePoolGrad: GradRule = (g, node: Node, grads) => {
  const dy = firstGrad(node, grads);
  const [x] = node.inputs as Value[];
  const spatial = x.shape.slice(2);
  if (!spatial.every(isStatic)) staticShape(x, `GlobalAveragePool "${node.name}"`);
  return [expandTo(g, g.mul(dy, scalarLike(g, dy, 1 / prod(spatial as number[]))), x.shape)];
};
