/**
 * Static int8 quantisation in the QDQ form onnxruntime turns into integer kernels: every quantised activation
 * goes through a QuantizeLinear (Q) and a DequantizeLinear (DQ), weights are stored as int8 with a DQ in front
 * of their op, and onnxruntime's graph optimiser fuses `DQ -> Conv -> Q` into QLinearConv, `DQ -> Gemm` into
 * QGemm, `DQ DQ -> Add -> Q` into QLinearAdd and `DQ -> GlobalAveragePool -> Q` into its QLinear form, on the
 * CPU and in onnxruntime-web's wasm build.
 *
 * - Weights: int8, symmetric, one scale per output channel (axis 0 of Conv weights and of Gemm's `B` when it
 *   is transposed, as `nn.Linear` stores it). Biases: int32 with scale `input scale x weight scale`.
 * - Activations: one scale per tensor, `uint8` asymmetric (zero point from the range) or `int8` symmetric.
 * - A ReLU or ReLU6 (Clip(0, 6)) right after a quantised op is dropped and its range is the producer's: with a
 *   uint8 range `[0, m]`, `m <= 6`, the Q saturates exactly where the clip would.
 * - Pure data movement (Slice, Concat, Pad, Reshape, MaxPool, ...; the temporal shift) runs on the integer
 *   tensors with the scale of its input, which is exact (zero padding pads the zero point). Carried state (the
 *   online model's shift buffers) shares the scale of the tensor it is sliced from, so it stays float at the
 *   graph boundary and is requantised without error.
 */
import { InternalError, UsageError } from '../errors.js';
import { type Attrs, type Graph, type Node, Value, attrFloat, attrInt, int } from '../graph/index.js';
import { type HostTensor, hostTensor, numel } from '../tensor/index.js';
import type { Range } from './calibration.js';
import { GraphRewriter, consumersOf } from './graph-edit.js';

/** Activation element types. */
export const ACTIVATION_TYPES = Object.freeze({ uint8: 'uint8', int8: 'int8' } as const);
/** One of {@link ACTIVATION_TYPES}. */
export type ActivationType = keyof typeof ACTIVATION_TYPES;

/** Options of {@link analyseQdq} and {@link insertQdq}. */
export interface QdqOptions {
  /** @default 'uint8' (asymmetric) */
  readonly activationType?: ActivationType;
  /** Names of nodes left in float (their weights stay float32). */
  readonly keepFloat?: readonly string[];
  /** Carried state: graph input name -> the graph output whose value it receives at the next step. */
  readonly state?: Readonly<Record<string, string>>;
}

/** Ops that only move or select values: exact on integers with the input's scale. */
const MOVE_OPS: ReadonlySet<string> = new Set(['Slice', 'Concat', 'Pad', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Transpose', 'Identity', 'MaxPool']);

/** How a node of the float graph is quantised. */
type Kind = 'compute' | 'move' | 'folded' | 'float';

/** What {@link analyseQdq} decides. */
export interface QdqAnalysis {
  /** The quantised ops (Conv, Gemm, Add, pools), by node name. */
  readonly compute: readonly string[];
  /** Tensors whose range calibration must measure (graph inputs included): each names one activation scale. */
  readonly calibrate: readonly string[];
  /** For each quantised value: the tensor whose range sets its scale. */
  readonly rangeOf: ReadonlyMap<string, string>;
  /** Internal: node kinds. */
  readonly kinds: ReadonlyMap<Node, Kind>;
  /** Graph outputs whose value is read as float (not quantised at their producer). */
  readonly floatOutputs: ReadonlySet<string>;
}

const isFloatConst = (v: Value | undefined): boolean => v?.constant?.dtype === 'float32';
const isActivation = (v: Value | undefined): v is Value => v !== undefined && v.constant === undefined && v.dtype === 'float32';

/** Whether `node` is an op we quantise with its weights (before `keepFloat`). */
function isComputeOp(node: Node): boolean {
  if (node.domain !== '') return false;
  const [x, w, b] = node.inputs;
  switch (node.op) {
    case 'Conv':
      return isActivation(x) && isFloatConst(w) && (b === undefined || isFloatConst(b));
    case 'Gemm':
      return (
        isActivation(x) && isFloatConst(w) && w?.rank === 2 && (b === undefined || (isFloatConst(b) && b.rank === 1)) &&
        attrInt(node.attrs, 'transA', 0) === 0 && attrFloat(node.attrs, 'alpha', 1) === 1 && attrFloat(node.attrs, 'beta', 1) === 1
      );
    case 'Add':
      return node.inputs.length === 2 && isActivation(x) && isActivation(w) && x.shape.length === w.shape.length && x.shape.every((d, i) => d === w.shape[i]);
    case 'GlobalAveragePool':
    case 'AveragePool':
      return isActivation(x);
    default:
      return false;
  }
}

/** A ReLU, or a Clip whose constant bounds start at 0 (ReLU6). */
function isRelu(node: Node): boolean {
  if (node.op === 'Relu') return true;
  if (node.op !== 'Clip') return false;
  const lo = node.inputs[1]?.constant;
  return lo !== undefined && Number((lo.data as ArrayLike<number>)[0]) === 0;
}

/** A MOVE node this pass can run on integers: Pad only with constant zeros. */
function isMoveOp(node: Node): boolean {
  if (!MOVE_OPS.has(node.op) || node.domain !== '') return false;
  if (node.op === 'Pad') {
    const mode = (node.attrs.mode as { s: string } | undefined)?.s ?? 'constant';
    const value = node.inputs[2]?.constant;
    return mode === 'constant' && (node.inputs[2] === undefined || (value !== undefined && Number((value.data as ArrayLike<number>)[0]) === 0));
  }
  if (node.op === 'MaxPool') return node.outputs.length === 1;
  return true;
}

/**
 * Decides which nodes are quantised and which tensors' ranges set each activation scale.
 * @throws {UsageError} for a `keepFloat` name that is not a node, or a `state` entry that names no input/output
 */
export function analyseQdq(graph: Graph, opts: QdqOptions = {}): QdqAnalysis {
  const act = opts.activationType ?? 'uint8';
  if (!(act in ACTIVATION_TYPES)) throw UsageError.expected('activation type', `one of ${Object.keys(ACTIVATION_TYPES).join(', ')}`, act);
  const keep = new Set(opts.keepFloat ?? []);
  for (const k of keep) if (!graph.nodes.some((n) => n.name === k)) throw new UsageError(`keepFloat names "${k}", which is no node of graph ${graph.name}`);
  const state = opts.state ?? {};
  const outputs = new Map(graph.outputs.map((o) => [o.name, o]));
  for (const [i, o] of Object.entries(state)) {
    if (!graph.inputs.some((v) => v.name === i) || !outputs.has(o)) throw new UsageError(`state pairs input "${i}" with output "${o}", but the graph lacks one of them`);
  }
  const consumers = consumersOf(graph);
  const kinds = new Map<Node, Kind>();
  const rangeOf = new Map<string, string>();
  const calibrate = new Set<string>();
  const compute: string[] = [];

  /** The range key of a value that is (or will be, as carried state) quantised; undefined for a float one. */
  const keyOf = (v: Value | undefined, seen = new Set<Value>()): string | undefined => {
    if (!v || seen.has(v)) return undefined;
    seen.add(v);
    const known = rangeOf.get(v.name);
    if (known !== undefined) return known;
    const paired = state[v.name];
    if (paired !== undefined) return keyOf(outputs.get(paired), seen);
    const p = v.producer;
    // a state output may be read before its producer is visited: follow the data movement back
    if (p && isMoveOp(p) && p.op !== 'Concat' && p.op !== 'MaxPool') return keyOf(p.inputs[0], seen);
    return undefined;
  };
  const quantiseInput = (v: Value): void => {
    if (keyOf(v) !== undefined) return;
    rangeOf.set(v.name, v.name);
    calibrate.add(v.name);
  };

  for (const node of graph.nodes) {
    if (kinds.has(node)) continue;
    if (isComputeOp(node) && !keep.has(node.name)) {
      kinds.set(node, 'compute');
      compute.push(node.name);
      const acts = node.op === 'Add' ? node.inputs.slice(0, 2) : node.inputs.slice(0, 1);
      for (const x of acts) quantiseInput(x as Value);
      // Gemm keeps a float output: the classifier's logits are not worth 8 bits, and QGemm can write float
      if (node.op === 'Gemm') continue;
      const y = node.outputs[0];
      const readers = consumers.get(y.name) ?? [];
      const relu = readers.length === 1 && isRelu(readers[0]) && readers[0].inputs[0] === y && !outputs.has(y.name) && act === 'uint8' ? readers[0] : undefined;
      if (relu) {
        kinds.set(relu, 'folded');
        const r = relu.outputs[0].name;
        rangeOf.set(y.name, r);
        rangeOf.set(r, r);
        calibrate.add(r);
      } else {
        rangeOf.set(y.name, y.name);
        calibrate.add(y.name);
      }
      continue;
    }
    if (isMoveOp(node)) {
      const data = node.op === 'Concat' ? node.inputs : node.inputs.slice(0, 1);
      const keys = data.map((x) => keyOf(x));
      if (keys[0] !== undefined && keys.every((k) => k === keys[0])) {
        kinds.set(node, 'move');
        for (const x of data) if (x && !rangeOf.has(x.name)) rangeOf.set(x.name, keys[0]);
        rangeOf.set(node.outputs[0].name, keys[0]);
        continue;
      }
    }
    kinds.set(node, 'float');
  }
  // graph inputs of carried state take their output's range
  for (const [i] of Object.entries(state)) {
    const k = keyOf(graph.inputs.find((v) => v.name === i));
    if (k !== undefined) rangeOf.set(i, k);
  }
  const floatOutputs = new Set(graph.outputs.filter((o) => !rangeOf.has(o.name)).map((o) => o.name));
  return { compute, calibrate: [...calibrate], rangeOf, kinds, floatOutputs };
}

/** Scale and zero point of an activation range. */
export interface QuantParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/**
 * Scale and zero point for a range: uint8 `[min(0, lo), max(0, hi)]` over 0..255 with an integer zero point;
 * int8 symmetric over -127..127 with zero point 0.
 */
export function quantParams(r: Range, type: ActivationType): QuantParams {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  if (type === 'int8') {
    const m = Math.max(-lo, hi);
    return { scale: m > 0 ? m / 127 : 1, zeroPoint: 0 };
  }
  if (hi === lo) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / 255;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/** Symmetric int8 weights with one scale per slice of `axis`: `scale = max|w| / 127`. */
export function quantizeWeights(w: HostTensor, axis: number): { q: Int8Array; scales: Float32Array } {
  const data = w.data as Float32Array;
  const channels = w.shape[axis];
  const inner = numel(w.shape.slice(axis + 1));
  const outer = numel(w.shape.slice(0, axis));
  const scales = new Float32Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) scales[c] = Math.max(scales[c], Math.abs(data[base + i]));
    }
  }
  for (let c = 0; c < channels; c++) scales[c] = scales[c] > 0 ? scales[c] / 127 : 1;
  const q = new Int8Array(data.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      // NOTE: divide by the float32 scale the model stores, so DQ(q) is the nearest grid point to w
      const s = scales[c];
      for (let i = 0; i < inner; i++) q[base + i] = Math.max(-127, Math.min(127, Math.round(data[base + i] / s)));
    }
  }
  return { q, scales };
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * Inserts Q/DQ pairs and integer weights. `ranges` gives the range of every tensor {@link analyseQdq} lists in
 * `calibrate`.
 * @throws {UsageError} when a range is missing or not finite
 * @example
 * const a = analyseQdq(folded, { state });
 * const q = insertQdq(folded, await calibrateRanges(folded, a.calibrate, data), { state });
 */
export function insertQdq(graph: Graph, ranges: ReadonlyMap<string, Range>, opts: QdqOptions = {}): Graph {
  const a = analyseQdq(graph, opts);
  const act = opts.activationType ?? 'uint8';
  const w = new GraphRewriter(graph);
  const params = new Map<string, { scale: Value; zeroPoint: Value; qp: QuantParams }>();
  const paramsFor = (key: string) => {
    let p = params.get(key);
    if (!p) {
      const r = ranges.get(key);
      if (!r || !Number.isFinite(r.min) || !Number.isFinite(r.max)) throw new UsageError(`no calibrated range for tensor "${key}"; calibration must measure every tensor analyseQdq lists`);
      const qp = quantParams(r, act);
      const zp = act === 'uint8' ? hostTensor('uint8', [], Uint8Array.of(qp.zeroPoint)) : hostTensor('int8', [], Int8Array.of(qp.zeroPoint));
      p = { scale: w.initializer(`${key}_scale`, hostTensor('float32', [], Float32Array.of(qp.scale))), zeroPoint: w.initializer(`${key}_zero_point`, zp), qp };
      params.set(key, p);
    }
    return p;
  };
  const keyOf = (v: Value): string => {
    const k = a.rangeOf.get(v.name);
    if (k === undefined) throw new InternalError(`value "${v.name}" is read as an integer but has no range`);
    return k;
  };
  /** The float values nodes produced (graph inputs and initializers included), by old name. */
  const raw = new Map<string, Value>();
  /** Integer versions, and their dequantized float values, by old name. */
  const ints = new Map<string, Value>();
  const dqs = new Map<string, Value>();
  for (const v of graph.inputs) raw.set(v.name, v);
  for (const [k, e] of graph.initializers) raw.set(k, e.value);

  const quantized = (v: Value): Value => {
    const have = ints.get(v.name);
    if (have) return have;
    const f = raw.get(v.name);
    if (!f) throw new InternalError(`value "${v.name}" has no float version to quantise`);
    const p = paramsFor(keyOf(v));
    const [q] = w.node('QuantizeLinear', `${v.name}/QuantizeLinear`, [f, p.scale, p.zeroPoint], {}, { outputNames: [w.fresh(`${v.name}_quantized`)] });
    ints.set(v.name, q);
    return q;
  };
  /** The DQ of a value's integer version (one per value, shared by its readers); `name` for a graph output. */
  const dequantized = (v: Value, name?: string): Value => {
    const have = name === undefined ? dqs.get(v.name) : undefined;
    if (have) return have;
    const p = paramsFor(keyOf(v));
    const [f] = w.node('DequantizeLinear', `${v.name}/DequantizeLinear`, [quantized(v), p.scale, p.zeroPoint], {}, { outputNames: [name ?? w.fresh(`${v.name}_dequantized`)] });
    if (name === undefined) dqs.set(v.name, f);
    return f;
  };
  /** Values whose producer quantises them: every reader reads the DQ, so the producer fuses with its Q. */
  const atProducer = new Set<string>();
  const floatIn = (v: Value | undefined): Value | undefined => {
    if (v === undefined) return undefined;
    if (atProducer.has(v.name)) return dequantized(v);
    const f = raw.get(v.name);
    if (!f) throw new InternalError(`value "${v.name}" is read before it is written`);
    return f;
  };

  const weightDq = (node: Node, v: Value, axis: number): { dq: Value; scales: Float32Array } => {
    const { q, scales } = quantizeWeights(v.constant as HostTensor, axis);
    const qv = w.initializer(`${v.name}_quantized`, hostTensor('int8', v.shape as number[], q));
    const sv = w.initializer(`${v.name}_scale`, hostTensor('float32', [scales.length], scales));
    const zv = w.initializer(`${v.name}_zero_point`, hostTensor('int8', [scales.length], new Int8Array(scales.length)));
    const [dq] = w.node('DequantizeLinear', `${node.name}/weight/DequantizeLinear`, [qv, sv, zv], { axis: int(axis) });
    return { dq, scales };
  };
  const biasDq = (node: Node, v: Value, xScale: number, wScales: Float32Array): Value => {
    const b = v.constant?.data as Float32Array;
    const scales = new Float32Array(b.length);
    const q = new Int32Array(b.length);
    for (let c = 0; c < b.length; c++) {
      scales[c] = xScale * wScales[c];
      q[c] = Math.max(-INT32_MAX, Math.min(INT32_MAX, Math.round(b[c] / scales[c])));
    }
    const qv = w.initializer(`${v.name}_quantized`, hostTensor('int32', [b.length], q));
    const sv = w.initializer(`${v.name}_scale`, hostTensor('float32', [b.length], scales));
    const zv = w.initializer(`${v.name}_zero_point`, hostTensor('int32', [b.length], new Int32Array(b.length)));
    return w.node('DequantizeLinear', `${node.name}/bias/DequantizeLinear`, [qv, sv, zv], { axis: int(0) })[0];
  };

  for (const node of graph.nodes) {
    const kind = a.kinds.get(node) ?? 'float';
    if (kind === 'folded') continue;
    if (kind === 'compute') {
      let inputs: (Value | undefined)[];
      if (node.op === 'Conv' || node.op === 'Gemm') {
        const x = node.inputs[0] as Value;
        const axis = node.op === 'Gemm' && attrInt(node.attrs, 'transB', 0) === 0 ? 1 : 0;
        const { dq: wdq, scales } = weightDq(node, node.inputs[1] as Value, axis);
        const b = node.inputs[2];
        // NOTE: the bias scale is the product of the float32 scales onnxruntime reads
        const xScale = Math.fround(paramsFor(keyOf(x)).qp.scale);
        inputs = [dequantized(x), wdq, b ? biasDq(node, b, xScale, scales) : undefined];
      } else {
        const acts = node.op === 'Add' ? node.inputs.slice(0, 2) : node.inputs.slice(0, 1);
        inputs = [...acts.map((v) => dequantized(v as Value)), ...node.inputs.slice(acts.length)];
      }
      while (inputs.length > 0 && inputs[inputs.length - 1] === undefined) inputs.pop();
      const [y] = w.copy(node, inputs);
      const old = node.outputs[0];
      raw.set(old.name, y);
      if (a.rangeOf.has(old.name)) {
        atProducer.add(old.name);
        const key = keyOf(old);
        if (key !== old.name) {
          // a folded ReLU: its output is the producer's integer value
          ints.set(key, quantized(old));
          atProducer.add(key);
        }
      }
      continue;
    }
    if (kind === 'move') {
      const data = node.op === 'Concat' ? node.inputs.length : 1;
      const inputs = node.inputs.map((v, i) => (i < data ? quantized(v as Value) : v));
      if (node.op === 'Pad') {
        // NOTE: constant padding of a quantised tensor pads its zero point, which dequantizes to exactly 0
        while (inputs.length < 3) inputs.push(undefined);
        inputs[2] = paramsFor(keyOf(node.outputs[0])).zeroPoint;
      }
      const old = node.outputs[0];
      const [y] = w.node(node.op, node.name, inputs, node.attrs, { outputNames: [w.fresh(`${old.name}_quantized`)] });
      ints.set(old.name, y);
      atProducer.add(old.name);
      continue;
    }
    const outs = w.copy(node, node.inputs.map(floatIn));
    node.outputs.forEach((o, i) => raw.set(o.name, outs[i]));
  }
  const outs = graph.outputs.map((o) => raw.get(o.name) ?? dequantized(o, o.name));
  return w.build(outs);
}
