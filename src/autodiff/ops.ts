/**
 * Small graph helpers the gradient rules share: constants of a value's dtype, zeros, broadcast reduction,
 * reshape/expand to a (possibly symbolic) shape, and reading a node's constant inputs and attributes.
 */
import { type Dim, type GraphBuilder, type Node, type Shape, type Value, attrInt, attrInts, dimEquals, isStatic, shapeToString, staticShape as graphStaticShape } from '../graph/index.js';
import { hostTensor } from '../tensor/index.js';
import { AutodiffError } from './errors.js';

/** The float dtype of `v`, for scalar constants (only float32 and float64 graphs are differentiated). */
export function floatType(v: Value): 'float32' | 'float64' {
  if (v.dtype === 'float32' || v.dtype === 'float64') return v.dtype;
  throw new AutodiffError('TSM_GRAD_DTYPE', `cannot differentiate through ${v.dtype} value "${v.name}": only float32 and float64 carry gradients`);
}

/** A rank-0 constant of `like`'s dtype. */
export const scalarLike = (g: GraphBuilder, like: Value, value: number): Value => g.scalar(value, floatType(like));

/** A constant tensor of `like`'s dtype (small: per-channel tables, pooling divisors, kernels). */
export function constLike(g: GraphBuilder, like: Value, shape: readonly number[], values: ArrayLike<number>, hint = 'const'): Value {
  const dt = floatType(like);
  const data = dt === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
  return g.constant(hostTensor(dt, shape, data), hint);
}

/** The static shape of `v`, or an {@link AutodiffError} (`TSM_GRAD_SHAPE`) naming `where`. */
export const staticShape = (v: Value, where: string): number[] =>
  graphStaticShape(v, `the gradient of ${where}`, { error: (m) => new AutodiffError('TSM_GRAD_SHAPE', m) });

/** Product of static dims. */
export const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Every position of a grid of `dims`, in row-major order (the last coordinate varies fastest). */
export function gridPositions(dims: readonly number[]): number[][] {
  const out: number[][] = [];
  for (let idx = 0; idx < prod(dims); idx++) {
    const pos = new Array<number>(dims.length);
    for (let i = dims.length - 1, r = idx; i >= 0; i--) {
      pos[i] = r % dims[i];
      r = Math.floor(r / dims[i]);
    }
    out.push(pos);
  }
  return out;
}

/**
 * The end pads and output_padding of the ConvTranspose that is the adjoint of a windowed op (Conv, AveragePool)
 * mapping `inLen` to `outLen` with windows `span` wide (dilated kernel size): the end pads crop what the forward
 * windows never reached, and output_padding adds back the rows the last stride skipped.
 */
export function adjointPads(strides: readonly number[], outLen: readonly number[], span: readonly number[], padBegin: readonly number[], inLen: readonly number[]): { endPads: number[]; outPad: number[] } {
  const extra = strides.map((s, i) => s * (outLen[i] - 1) + span[i] - padBegin[i] - inLen[i]);
  return { endPads: extra.map((e) => Math.max(e, 0)), outPad: extra.map((e) => Math.max(-e, 0)) };
}

/** True when two shapes are structurally equal. */
export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => dimEquals(d, b[i]));

/** Zeros of `shape` (static) and `like`'s dtype, as ConstantOfShape (no big constant in the file). */
export function zeros(g: GraphBuilder, like: Value, shape: readonly number[]): Value {
  const dt = floatType(like);
  const value = hostTensor(dt, [1], dt === 'float32' ? new Float32Array(1) : new Float64Array(1));
  return g.op('ConstantOfShape', [g.constInts(shape, 'shape')], { value: { t: value } })[0];
}

/**
 * Reshape `v` to `shape`; a symbolic dim becomes -1 (at most one, as TSM graphs have). Returns `v` itself when
 * the shapes already agree.
 */
export function reshapeTo(g: GraphBuilder, v: Value, shape: Shape): Value {
  if (sameShape(v.shape, shape)) return v;
  const target = shape.map((d) => (isStatic(d) ? d : -1));
  if (target.filter((d) => d === -1).length > 1) {
    throw new AutodiffError('TSM_GRAD_SHAPE', `cannot reshape "${v.name}" ${shapeToString(v.shape)} to ${shapeToString(shape)}: more than one symbolic dim`);
  }
  return g.reshape(v, target);
}

/** Broadcast `v` to `shape` with Expand (a symbolic dim must already be in `v`). */
export function expandTo(g: GraphBuilder, v: Value, shape: Shape): Value {
  if (sameShape(v.shape, shape)) return v;
  return g.op('Expand', [v, g.constInts(shape.map((d) => (isStatic(d) ? d : 1)), 'shape')])[0];
}

/**
 * Sums `dy` over the axes that broadcasting expanded, so the result has `shape` (the reverse of numpy
 * broadcasting: leading extra axes are summed away, axes of size 1 are summed with keepdims).
 * NOTE: this is sum in reverse, as tinygrad's Expand gradient.
 */
export function sumToShape(g: GraphBuilder, dy: Value, shape: Shape): Value {
  if (sameShape(dy.shape, shape)) return dy;
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) {
    const want: Dim = i < lead ? 0 : shape[i - lead];
    if (i < lead || (want === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? g.reduceSum(dy, axes, true) : dy;
  return reshapeTo(g, summed, shape);
}

/** The integer contents of a node's constant input `i` (Slice starts, Pad pads, Reduce axes...). */
export function constInput(node: Node, i: number, what: string): number[] | undefined {
  const v = node.inputs[i];
  if (!v) return undefined;
  if (!v.constant) {
    throw new AutodiffError('TSM_GRAD_UNSUPPORTED', `${node.op} "${node.name}": the gradient needs ${what} (input ${i}) as a constant, got computed value "${v.name}"`);
  }
  return Array.from(v.constant.data as ArrayLike<number | bigint>, Number);
}

/** The float contents of a constant scalar input, or undefined when the input is absent. */
export function constScalar(node: Node, i: number, what: string): number | undefined {
  return constInput(node, i, what)?.[0];
}

/** Axes of a Reduce* node (input 1 from opset 18 / ReduceSum 13, else the attribute), normalized; all when absent. */
export function reduceAxes(node: Node, rank: number): number[] {
  const axes = node.inputs[1] ? constInput(node, 1, 'axes') : attrInts(node.attrs, 'axes');
  if (!axes || axes.length === 0) {
    if (attrInt(node.attrs, 'noop_with_empty_axes', 0) === 1) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

/** Normalizes an axis attribute against `rank`. */
export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** `[1, C, 1, 1, ...]`: per-channel vectors broadcast against an `[N, C, ...]` tensor of `rank`. */
export const channelShape = (c: number, rank: number): number[] => Array.from({ length: rank }, (_, i) => (i === 1 ? c : 1));
