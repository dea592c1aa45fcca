/**
 * Data movement. The gradient of a movement is the inverse movement (tinygrad's Pad <-> Shrink,
 * Permute -> argsort): Slice -> Pad, Pad -> Slice, Concat -> Slices, Transpose -> inverse permutation,
 * Reshape -> Reshape back. So the temporal shift's gradient is the opposite shift.
 */
import { type Value, attrInt, attrInts } from '../../graph/index.js';
import { AutodiffError } from '../errors.js';
import { constInput, normAxis, reshapeTo, staticShape, sumToShape, zeros } from '../ops.js';
import { type GradRule, firstGrad } from './types.js';

/** Identity: dy. */
export const identityGrad: GradRule = (_g, node, grads) => [firstGrad(node, grads)];

/** Reshape, Flatten, Squeeze, Unsqueeze: dy reshaped back; the shape/axes input gets none. */
export const reshapeGrad: GradRule = (g, node, grads) => {
  const x = node.inputs[0] as Value;
  return [reshapeTo(g, firstGrad(node, grads), x.shape), ...node.inputs.slice(1).map(() => undefined)];
};

/** Transpose: dy transposed by the inverse permutation. */
export const transposeGrad: GradRule = (g, node, grads) => {
  const x = node.inputs[0] as Value;
  const perm = attrInts(node.attrs, 'perm') ?? Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i);
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return [g.transpose(firstGrad(node, grads), inv)];
};

/** Expand: dy summed back over the broadcast axes. */
export const expandGrad: GradRule = (g, node, grads) => [sumToShape(g, firstGrad(node, grads), (node.inputs[0] as Value).shape), undefined];

/** Concat: each input's slice of dy. */
export const concatGrad: GradRule = (g, node, grads, { needs }) => {
  const dy = firstGrad(node, grads);
  const axis = normAxis(attrInt(node.attrs, 'axis', 0), dy.rank);
  let offset = 0;
  return node.inputs.map((x, i) => {
    const len = staticShape(x as Value, `Concat "${node.name}"`)[axis];
    const start = offset;
    offset += len;
    return needs[i] ? g.slice(dy, [start], [start + len], [axis]) : undefined;
  });
};

/** Split: the output gradients concatenated back (zeros for outputs that got none). */
export const splitGrad: GradRule = (g, node, grads) => {
  const x = node.inputs[0] as Value;
  const axis = normAxis(attrInt(node.attrs, 'axis', 0), x.rank);
  const parts = node.outputs.map((o, i) => grads[i] ?? zeros(g, x, staticShape(o, `Split "${node.name}"`)));
  return [parts.length === 1 ? parts[0] : g.concat(parts, axis), ...node.inputs.slice(1).map(() => undefined)];
};

/**
 * Slice: dy padded with zeros back to the input's extent. A reversed slice (step -1) is reversed back first; a
 * strided one (step k > 1) gets k - 1 zeros after each element first (unsqueeze, pad, reshape), which puts every
 * value back at its input position.
 */
export const sliceGrad: GradRule = (g, node, grads) => {
  let dy = firstGrad(node, grads);
  const x = node.inputs[0] as Value;
  const where = `Slice "${node.name}"`;
  const xs = staticShape(x, where);
  const ys = staticShape(dy, where);
  const starts = constInput(node, 1, 'starts') as number[];
  const axes = (constInput(node, 3, 'axes') ?? starts.map((_, i) => i)).map((a) => normAxis(a, x.rank));
  const steps = constInput(node, 4, 'steps') ?? starts.map(() => 1);
  const begin = new Array<number>(x.rank).fill(0);
  const end = new Array<number>(x.rank).fill(0);
  const reversed: number[] = [];
  const strided: { readonly axis: number; readonly step: number; readonly keep: number }[] = [];
  axes.forEach((a, j) => {
    const n = xs[a];
    const len = ys[a];
    const step = steps[j];
    if (!Number.isInteger(step) || step === 0 || step < -1) {
      throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `${where}: step ${step} on axis ${a} has no gradient rule (only positive steps and -1)`);
    }
    let s = starts[j] < 0 ? starts[j] + n : starts[j];
    if (step > 0) {
      s = Math.min(Math.max(s, 0), n);
      // the strided values spread over len * step positions, of which those inside the input are kept
      const keep = Math.min(len * step, n - s);
      if (step > 1 && len > 0) strided.push({ axis: a, step, keep });
      begin[a] = s;
      end[a] = n - s - (step > 1 && len > 0 ? keep : len);
    } else {
      s = Math.min(Math.max(s, -1), n - 1);
      reversed.push(a);
      begin[a] = s - len + 1;
      end[a] = n - 1 - s;
    }
  });
  if (reversed.length > 0) dy = g.slice(dy, reversed.map(() => -1), reversed.map((a) => -(ys[a] + 1)), reversed, reversed.map(() => -1));
  const cur = [...ys];
  for (const { axis, step, keep } of strided) {
    const spread = [...cur.slice(0, axis + 1), 1, ...cur.slice(axis + 1)];
    const pads = new Array<number>(2 * spread.length).fill(0);
    pads[spread.length + axis + 1] = step - 1;
    dy = g.pad(g.reshape(dy, spread), pads);
    cur[axis] *= step;
    dy = g.reshape(dy, cur);
    if (keep < cur[axis]) {
      dy = g.slice(dy, [0], [keep], [axis]);
      cur[axis] = keep;
    }
  }
  const dx = begin.some((p) => p !== 0) || end.some((p) => p !== 0) ? g.pad(dy, [...begin, ...end]) : dy;
  return [dx, ...node.inputs.slice(1).map(() => undefined)];
};

/** Pad (constant mode): the slice of dy that covers the input; negative pads (crops) become zero padding. */
export const padGrad: GradRule = (g, node, grads) => {
  let dy = firstGrad(node, grads);
  const x = node.inputs[0] as Value;
  const where = `Pad "${node.name}"`;
  const mode = (node.attrs.mode as { s: string } | undefined)?.s ?? 'constant';
  if (mode !== 'constant') throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `${where}: mode "${mode}" has no gradient rule (only constant)`);
  const xs = staticShape(x, where);
  const pads = constInput(node, 1, 'pads') as number[];
  const axes = (constInput(node, 3, 'axes') ?? xs.map((_, i) => i)).map((a) => normAxis(a, x.rank));
  const k = axes.length;
  const crop = new Array<number>(2 * x.rank).fill(0);
  const starts: number[] = [];
  axes.forEach((a, j) => {
    crop[a] = Math.max(-pads[j], 0);
    crop[a + x.rank] = Math.max(-pads[j + k], 0);
    starts.push(Math.max(pads[j], 0));
  });
  if (crop.some((p) => p > 0)) dy = g.pad(dy, crop);
  const dx = g.slice(dy, starts, axes.map((a, j) => starts[j] + xs[a]), axes);
  return [dx, ...node.inputs.slice(1).map(() => undefined)];
};

/** GatherElements: dy added into zeros at the gathered positions (ScatterElements with reduction add). */
export const gatherElementsGrad: GradRule = (g, node, grads) => {
  const [data, indices] = node.inputs as Value[];
  const ds = staticShape(data, `GatherElements "${node.name}"`);
  const axis = normAxis(attrInt(node.attrs, 'axis', 0), data.rank);
  const dx = g.op('ScatterElements', [zeros(g, data, ds), indices, firstGrad(node, grads)], { axis: { i: axis }, reduction: { s: 'add' } })[0];
  return [dx, undefined];
};
