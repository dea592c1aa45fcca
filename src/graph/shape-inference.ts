/**
 * Shape and dtype inference for every op the graph builder emits. Each rule takes the node's inputs and
 * attributes and returns its outputs' dtypes and shapes, or throws a {@link ShapeError} that names the node.
 * Rules follow the ONNX operator specs (opset 18).
 */
import { ShapeError } from '../errors.js';
import type { DType, HostTensor } from '../tensor/index.js';
import { type Dim, type Shape, dimEquals, isStatic, shapeProduct, shapeToString, sym } from './dims.js';
import { attrInt, attrInts, attrString } from './attrs.js';
import type { AttrValue, Attrs, Value } from './ir.js';
import { DTYPE_OF_ONNX } from './opset.js';

/** What a rule needs to know about one input. */
export interface InputInfo {
  readonly dtype: DType;
  readonly shape: Shape;
  readonly constant?: HostTensor;
}

/** What a rule returns for one output. */
export interface OutputInfo {
  readonly dtype: DType;
  readonly shape: Shape;
}

/** Context a rule works in: the node's name for messages, its inputs and attributes. */
export interface InferContext {
  readonly node: string;
  readonly op: string;
  readonly inputs: readonly (InputInfo | undefined)[];
  readonly attrs: Attrs;
  /** Number of outputs the caller asked for. */
  readonly numOutputs: number;
}

/** A shape rule. */
export type ShapeRule = (ctx: InferContext) => OutputInfo[];

const fail = (ctx: InferContext, msg: string): never => {
  throw new ShapeError(`${ctx.op} "${ctx.node}": ${msg}`);
};

function input(ctx: InferContext, i: number): InputInfo {
  const x = ctx.inputs[i];
  if (!x) return fail(ctx, `input ${i} is required`);
  return x;
}

/** The integer contents of a constant input (Reshape shape, Slice starts...). */
export function constInts(ctx: InferContext, i: number, what: string): number[] {
  const x = input(ctx, i);
  if (!x.constant) return fail(ctx, `${what} (input ${i}) must be a constant`);
  return Array.from(x.constant.data as ArrayLike<number | bigint>, Number);
}

const normAxis = (ctx: InferContext, axis: number, rank: number): number => {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(ctx, `axis ${axis} is out of range for rank ${rank}`);
  return a;
};

const same: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  return [{ dtype: x.dtype, shape: x.shape }];
};

/** numpy-style broadcasting of several shapes. */
export function broadcastShapes(ctx: InferContext, shapes: readonly Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const e = s[s.length - rank + i] ?? 1;
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (!dimEquals(d, e)) {
        fail(ctx, `cannot broadcast shapes ${shapes.map(shapeToString).join(' and ')}`);
      }
    }
    out.push(d);
  }
  return out;
}

const elementwise =
  (outDtype?: DType): ShapeRule =>
  (ctx) => {
    const xs = ctx.inputs.map((_, i) => input(ctx, i));
    const dt = xs[0].dtype;
    // Where's first input is the bool condition: its data inputs decide the dtype.
    const dataInputs = ctx.op === 'Where' ? xs.slice(1) : xs;
    for (const x of dataInputs) {
      if (x.dtype !== dataInputs[0].dtype) fail(ctx, `input dtypes differ: ${dataInputs.map((y) => y.dtype).join(', ')}`);
    }
    return [{ dtype: outDtype ?? (ctx.op === 'Where' ? xs[1].dtype : dt), shape: broadcastShapes(ctx, xs.map((x) => x.shape)) }];
  };

function spatialOut(
  ctx: InferContext,
  size: Dim,
  k: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
  ceil = false,
): Dim {
  if (!isStatic(size)) return fail(ctx, 'spatial dimensions must be static');
  const span = dilation * (k - 1) + 1;
  const num = size + padBegin + padEnd - span;
  if (num < 0) fail(ctx, `kernel ${k} (dilation ${dilation}) is larger than the padded input ${size + padBegin + padEnd}`);
  let out = (ceil ? Math.ceil(num / stride) : Math.floor(num / stride)) + 1;
  // As PyTorch and ONNX: with ceil_mode the last window must start inside the input or left padding.
  if (ceil && (out - 1) * stride >= size + padBegin) out -= 1;
  return out;
}

/** Strides, dilations and pads of a windowed op (Conv, ConvTranspose, pools), with ONNX's defaults. */
function windowAttrs(ctx: InferContext, sp: number): { strides: readonly number[]; dil: readonly number[]; pads: readonly number[] } {
  return {
    strides: attrInts(ctx.attrs, 'strides') ?? new Array<number>(sp).fill(1),
    dil: attrInts(ctx.attrs, 'dilations') ?? new Array<number>(sp).fill(1),
    pads: attrInts(ctx.attrs, 'pads') ?? new Array<number>(2 * sp).fill(0),
  };
}

const conv: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1);
  const sp = x.shape.length - 2;
  if (sp < 1) fail(ctx, `input must be [N, C, spatial...], got ${shapeToString(x.shape)}`);
  if (w.shape.length !== x.shape.length) {
    fail(ctx, `weight rank ${w.shape.length} does not match input rank ${x.shape.length} (shape ${shapeToString(x.shape)} vs ${shapeToString(w.shape)})`);
  }
  const group = attrInt(ctx.attrs, 'group', 1);
  const cin = x.shape[1];
  const [cout, cPerGroup] = w.shape as number[];
  if (isStatic(cin) && cin !== cPerGroup * group) {
    fail(ctx, `input has ${cin} channels, weight expects ${cPerGroup * group} (shape ${shapeToString(x.shape)} vs ${shapeToString(w.shape)}, group ${group})`);
  }
  if (cout % group !== 0) fail(ctx, `${cout} output channels are not divisible by group ${group}`);
  const b = ctx.inputs[2];
  if (b && (b.shape.length !== 1 || b.shape[0] !== cout)) fail(ctx, `bias shape ${shapeToString(b.shape)} should be [${cout}]`);
  const { strides, dil, pads } = windowAttrs(ctx, sp);
  const out: Dim[] = [x.shape[0], cout];
  for (let i = 0; i < sp; i++) {
    out.push(spatialOut(ctx, x.shape[2 + i], w.shape[2 + i] as number, strides[i], pads[i], pads[i + sp], dil[i]));
  }
  return [{ dtype: x.dtype, shape: out }];
};

const convTranspose: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1);
  const sp = x.shape.length - 2;
  const group = attrInt(ctx.attrs, 'group', 1);
  if (isStatic(x.shape[1]) && x.shape[1] !== w.shape[0]) {
    fail(ctx, `input has ${x.shape[1]} channels, weight expects ${String(w.shape[0])}`);
  }
  const { strides, dil, pads } = windowAttrs(ctx, sp);
  const outPad = attrInts(ctx.attrs, 'output_padding') ?? new Array(sp).fill(0);
  const out: Dim[] = [x.shape[0], (w.shape[1] as number) * group];
  for (let i = 0; i < sp; i++) {
    const n = x.shape[2 + i];
    if (!isStatic(n)) return fail(ctx, 'spatial dimensions must be static');
    const k = w.shape[2 + i] as number;
    out.push(strides[i] * (n - 1) + outPad[i] + ((k - 1) * dil[i] + 1) - pads[i] - pads[i + sp]);
  }
  return [{ dtype: x.dtype, shape: out }];
};

const pool: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const sp = x.shape.length - 2;
  const k = attrInts(ctx.attrs, 'kernel_shape');
  if (!k || k.length !== sp) return fail(ctx, `kernel_shape must have ${sp} entries for input ${shapeToString(x.shape)}`);
  const { strides, dil, pads } = windowAttrs(ctx, sp);
  const ceil = attrInt(ctx.attrs, 'ceil_mode', 0) === 1;
  const out: Dim[] = [x.shape[0], x.shape[1]];
  for (let i = 0; i < sp; i++) out.push(spatialOut(ctx, x.shape[2 + i], k[i], strides[i], pads[i], pads[i + sp], dil[i], ceil));
  const res: OutputInfo[] = [{ dtype: x.dtype, shape: out }];
  if (ctx.numOutputs > 1) res.push({ dtype: 'int64', shape: out });
  return res;
};

const globalPool: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (i < 2 ? d : 1)) }];
};

const reduce: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const keep = attrInt(ctx.attrs, 'keepdims', 1) === 1;
  const axesIn = ctx.inputs[1] ? constInts(ctx, 1, 'axes') : attrInts(ctx.attrs, 'axes');
  const axes = (axesIn ?? x.shape.map((_, i) => i)).map((a) => normAxis(ctx, a, x.shape.length));
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!axes.includes(i)) shape.push(d);
    else if (keep) shape.push(1);
  });
  return [{ dtype: x.dtype, shape }];
};

const batchNorm: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const c = x.shape[1];
  for (let i = 1; i < 5; i++) {
    const p = input(ctx, i);
    if (p.shape.length !== 1 || !dimEquals(p.shape[0], c)) {
      fail(ctx, `parameter ${i} has shape ${shapeToString(p.shape)}, expected [${String(c)}] for input ${shapeToString(x.shape)}`);
    }
  }
  const res: OutputInfo[] = [{ dtype: x.dtype, shape: x.shape }];
  for (let i = 1; i < ctx.numOutputs; i++) res.push({ dtype: x.dtype, shape: [c] });
  return res;
};

const gemm: ShapeRule = (ctx) => {
  const a = input(ctx, 0);
  const b = input(ctx, 1);
  if (a.shape.length !== 2 || b.shape.length !== 2) fail(ctx, `inputs must be 2-D, got ${shapeToString(a.shape)} and ${shapeToString(b.shape)}`);
  const ta = attrInt(ctx.attrs, 'transA', 0) === 1;
  const tb = attrInt(ctx.attrs, 'transB', 0) === 1;
  const [m, ka] = ta ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = tb ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (!dimEquals(ka, kb)) fail(ctx, `inner dimensions differ: ${shapeToString(a.shape)}${ta ? 'ᵀ' : ''} x ${shapeToString(b.shape)}${tb ? 'ᵀ' : ''}`);
  return [{ dtype: a.dtype, shape: [m, n] }];
};

const matMul: ShapeRule = (ctx) => {
  const a = input(ctx, 0);
  const b = input(ctx, 1);
  if (a.shape.length < 2 || b.shape.length < 2) fail(ctx, 'inputs of rank < 2 are not supported');
  const k1 = a.shape[a.shape.length - 1];
  const k2 = b.shape[b.shape.length - 2];
  if (!dimEquals(k1, k2)) fail(ctx, `inner dimensions differ: ${shapeToString(a.shape)} x ${shapeToString(b.shape)}`);
  const batch = broadcastShapes(ctx, [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  return [{ dtype: a.dtype, shape: [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]] }];
};

const concat: ShapeRule = (ctx) => {
  const xs = ctx.inputs.map((_, i) => input(ctx, i));
  const rank = xs[0].shape.length;
  const axis = normAxis(ctx, attrInt(ctx.attrs, 'axis', 0), rank);
  let total: Dim = 0;
  for (const x of xs) {
    if (x.shape.length !== rank) fail(ctx, `inputs have different ranks: ${xs.map((y) => shapeToString(y.shape)).join(', ')}`);
    x.shape.forEach((d, i) => {
      if (i !== axis && !dimEquals(d, xs[0].shape[i])) {
        fail(ctx, `inputs differ outside axis ${axis}: ${xs.map((y) => shapeToString(y.shape)).join(', ')}`);
      }
    });
    const d = x.shape[axis];
    if (!isStatic(d) || !isStatic(total)) return fail(ctx, 'concatenation axis must be static');
    total += d;
  }
  return [{ dtype: xs[0].dtype, shape: xs[0].shape.map((d, i) => (i === axis ? total : d)) }];
};

const slice: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const starts = constInts(ctx, 1, 'starts');
  const ends = constInts(ctx, 2, 'ends');
  const axes = ctx.inputs[3] ? constInts(ctx, 3, 'axes') : starts.map((_, i) => i);
  const steps = ctx.inputs[4] ? constInts(ctx, 4, 'steps') : starts.map(() => 1);
  const shape = [...x.shape];
  axes.forEach((a0, j) => {
    const a = normAxis(ctx, a0, x.shape.length);
    const n = x.shape[a];
    if (!isStatic(n)) return fail(ctx, `cannot slice symbolic axis ${a} of ${shapeToString(x.shape)}`);
    const step = steps[j];
    if (step === 0) fail(ctx, 'step 0');
    // ONNX clamps to [0, n] going forward and to [-1, n-1] going backward
    const [lo, hi] = step > 0 ? [0, n] : [-1, n - 1];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
    shape[a] = Math.max(0, Math.ceil((clamp(ends[j]) - clamp(starts[j])) / step));
  });
  return [{ dtype: x.dtype, shape }];
};

const pad: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const pads = constInts(ctx, 1, 'pads');
  const rank = x.shape.length;
  const axes = ctx.inputs[3] ? constInts(ctx, 3, 'axes').map((a) => normAxis(ctx, a, rank)) : x.shape.map((_, i) => i);
  if (pads.length !== 2 * axes.length) fail(ctx, `pads has ${pads.length} entries, expected ${2 * axes.length}`);
  const shape = [...x.shape];
  axes.forEach((a, j) => {
    const d = shape[a];
    if (!isStatic(d)) {
      if (pads[j] !== 0 || pads[j + axes.length] !== 0) fail(ctx, `cannot pad symbolic axis ${a}`);
      return;
    }
    shape[a] = d + pads[j] + pads[j + axes.length];
  });
  return [{ dtype: x.dtype, shape }];
};

const reshape: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const target = constInts(ctx, 1, 'shape');
  const out: Dim[] = target.map((t, i) => (t === 0 ? x.shape[i] : t));
  const inferred = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) fail(ctx, `more than one -1 in target shape [${target.join(',')}]`);
  const pin = shapeProduct(x.shape);
  const rest = shapeProduct(out.filter((_, i) => i !== inferred));
  if (Number.isNaN(pin.factor) || Number.isNaN(rest.factor)) return fail(ctx, 'more than one symbolic dimension');
  const bad = () => fail(ctx, `cannot reshape ${shapeToString(x.shape)} to [${target.join(',')}]`);
  if (inferred >= 0) {
    if (rest.symbol !== undefined && rest.symbol !== pin.symbol) bad();
    const factor = pin.factor / rest.factor;
    if (pin.symbol !== undefined && rest.symbol === undefined) out[inferred] = sym(pin.symbol, factor);
    else {
      if (!Number.isInteger(Math.round(factor * 1e9) / 1e9) || factor < 0) bad();
      out[inferred] = Math.round(factor);
    }
  } else if (pin.symbol !== rest.symbol || Math.abs(pin.factor - rest.factor) > 1e-9 * pin.factor) {
    bad();
  }
  return [{ dtype: x.dtype, shape: out.map((d) => (isStatic(d) ? d : Math.abs(d.factor - Math.round(d.factor)) < 1e-9 ? sym(d.symbol, Math.round(d.factor)) : d)) }];
};

const transpose: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const perm = attrInts(ctx.attrs, 'perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  if (perm.length !== x.shape.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    fail(ctx, `perm [${perm.join(',')}] is not a permutation of rank ${x.shape.length}`);
  }
  return [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }];
};

const flatten: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const axis = attrInt(ctx.attrs, 'axis', 1);
  const a = axis < 0 ? axis + x.shape.length : axis;
  const prod = (s: Shape): Dim => {
    const p = shapeProduct(s);
    if (Number.isNaN(p.factor)) return fail(ctx, 'more than one symbolic dimension');
    return p.symbol === undefined ? p.factor : sym(p.symbol, p.factor);
  };
  return [{ dtype: x.dtype, shape: [prod(x.shape.slice(0, a)), prod(x.shape.slice(a))] }];
};

const squeeze: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const axes = ctx.inputs[1] ? constInts(ctx, 1, 'axes').map((a) => normAxis(ctx, a, x.shape.length)) : undefined;
  return [{ dtype: x.dtype, shape: x.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)) }];
};

const unsqueeze: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const given = constInts(ctx, 1, 'axes');
  const rank = x.shape.length + given.length;
  const axes = given.map((a) => normAxis(ctx, a, rank));
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : x.shape[j++]);
  return [{ dtype: x.dtype, shape: out }];
};

const expand: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const target = constInts(ctx, 1, 'shape');
  return [{ dtype: x.dtype, shape: broadcastShapes(ctx, [x.shape, target]) }];
};

const gather: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const idx = input(ctx, 1);
  const axis = normAxis(ctx, attrInt(ctx.attrs, 'axis', 0), x.shape.length);
  return [{ dtype: x.dtype, shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)] }];
};

const constantOfShape: ShapeRule = (ctx) => {
  const shape = constInts(ctx, 0, 'shape');
  const v = ctx.attrs.value as AttrValue | undefined;
  return [{ dtype: v && 't' in v ? v.t.dtype : 'float32', shape }];
};

const constant: ShapeRule = (ctx) => {
  const v = ctx.attrs.value as AttrValue | undefined;
  if (!v || !('t' in v)) return fail(ctx, 'needs a tensor "value" attribute');
  return [{ dtype: v.t.dtype, shape: v.t.shape }];
};

const shapeOp: ShapeRule = (ctx) => [{ dtype: 'int64', shape: [input(ctx, 0).shape.length] }];

const cast: ShapeRule = (ctx) => {
  const to = DTYPE_OF_ONNX[attrInt(ctx.attrs, 'to', 1)];
  if (!to) fail(ctx, `unsupported target type ${attrInt(ctx.attrs, 'to', 1)}`);
  return [{ dtype: to, shape: input(ctx, 0).shape }];
};

const softmaxCrossEntropy: ShapeRule = (ctx) => {
  const scores = input(ctx, 0);
  const labels = input(ctx, 1);
  if (scores.shape.length !== 2 || labels.shape.length !== 1 || !dimEquals(scores.shape[0], labels.shape[0])) {
    fail(ctx, `expected scores [N, C] and labels [N], got ${shapeToString(scores.shape)} and ${shapeToString(labels.shape)}`);
  }
  const red = attrString(ctx.attrs, 'reduction', 'mean');
  const res: OutputInfo[] = [{ dtype: scores.dtype, shape: red === 'none' ? [scores.shape[0]] : [] }];
  if (ctx.numOutputs > 1) res.push({ dtype: scores.dtype, shape: scores.shape });
  return res;
};

const dropout: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const res: OutputInfo[] = [{ dtype: x.dtype, shape: x.shape }];
  if (ctx.numOutputs > 1) res.push({ dtype: 'bool', shape: x.shape });
  return res;
};

const scatterElements: ShapeRule = same;

/** QuantizeLinear: the integer type of the zero point (uint8 when it is left out), the input's shape. */
const quantizeLinear: ShapeRule = (ctx) => {
  const zp = ctx.inputs[2];
  return [{ dtype: zp ? zp.dtype : 'uint8', shape: input(ctx, 0).shape }];
};

/** DequantizeLinear: the scale's float type, the input's shape. */
const dequantizeLinear: ShapeRule = (ctx) => [{ dtype: input(ctx, 1).dtype, shape: input(ctx, 0).shape }];

/** Shape rules of the default ONNX domain, by op type. */
export const SHAPE_RULES: Readonly<Record<string, ShapeRule>> = Object.freeze({
  Conv: conv,
  ConvTranspose: convTranspose,
  BatchNormalization: batchNorm,
  Relu: same,
  Clip: same,
  Sigmoid: same,
  Tanh: same,
  Neg: same,
  Abs: same,
  Sqrt: same,
  Reciprocal: same,
  Exp: same,
  Log: same,
  Ceil: same,
  Floor: same,
  Sign: same,
  Identity: same,
  Softmax: same,
  LogSoftmax: same,
  Dropout: dropout,
  Cast: cast,
  Add: elementwise(),
  Sub: elementwise(),
  Mul: elementwise(),
  Div: elementwise(),
  Pow: elementwise(),
  Max: elementwise(),
  Min: elementwise(),
  Greater: elementwise('bool'),
  Less: elementwise('bool'),
  Equal: elementwise('bool'),
  Where: elementwise(),
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceSumSquare: reduce,
  Gemm: gemm,
  MatMul: matMul,
  Concat: concat,
  Slice: slice,
  Pad: pad,
  Reshape: reshape,
  Transpose: transpose,
  Flatten: flatten,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Expand: expand,
  Gather: gather,
  GatherElements: (ctx) => [{ dtype: input(ctx, 0).dtype, shape: input(ctx, 1).shape }],
  ScatterElements: scatterElements,
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
  ConstantOfShape: constantOfShape,
  Constant: constant,
  Shape: shapeOp,
  SoftmaxCrossEntropyLoss: softmaxCrossEntropy,
});

/** Infers a node's outputs from its inputs, or throws a {@link ShapeError} naming the node. */
export function inferOutputs(op: string, node: string, inputs: readonly (Value | undefined)[], attrs: Attrs, numOutputs: number): OutputInfo[] {
  const rule = SHAPE_RULES[op];
  if (!rule) throw new ShapeError(`${op} "${node}": no shape rule for op type ${op}; pass explicit output shapes`);
  const out = rule({ node, op, inputs, attrs, numOutputs });
  return out.slice(0, numOutputs);
}

