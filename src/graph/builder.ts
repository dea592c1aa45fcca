/**
 * GraphBuilder: the API models use to add nodes. Each method adds one ONNX node, infers its output shape
 * (throwing a ShapeError that names the node when the inputs do not fit) and returns the output value.
 */
import { InternalError, UsageError } from '../errors.js';
import { type DType, type HostTensor, hostTensor } from '../tensor/index.js';
import type { Shape } from './dims.js';
import { type AttrValue, type Attrs, type Graph, type Node, Value } from './ir.js';
import { type OutputInfo, inferOutputs } from './shape-inference.js';
import { DEFAULT_OPSET } from './opset.js';

/** Integer attribute. */
export const int = (i: number): AttrValue => ({ i });
/** Integer list attribute. */
export const ints = (v: readonly number[]): AttrValue => ({ ints: v });
/** Float attribute. */
export const float = (f: number): AttrValue => ({ f });
/** String attribute. */
export const str = (s: string): AttrValue => ({ s });

/** How parameters enter the graph: baked in as initializers (inference), or fed as inputs (training). */
export type ParamMode = 'initializer' | 'input';

/** Options of {@link GraphBuilder}. */
export interface GraphBuilderOptions {
  /** Graph name written to ONNX. @default 'tsm' */
  readonly name?: string;
  /** @default 'initializer' */
  readonly paramMode?: ParamMode;
  /**
   * Default-domain opset the graph targets; op forms follow it (ReduceMean/ReduceMax take axes as an input
   * only from 18). @default 17 (what Debian's onnx checker knows; 18 is as fast on onnxruntime CPU)
   */
  readonly opset?: number;
}

/** Options of one generic {@link GraphBuilder.op} call. */
export interface OpOptions {
  readonly numOutputs?: number;
  readonly domain?: string;
  /** Output names; defaults derive from the node name. */
  readonly outputNames?: readonly string[];
  /** Explicit output infos, for ops without a shape rule (e.g. the com.microsoft.nchwc domain). */
  readonly outputs?: readonly OutputInfo[];
  /** Node name; defaults to `<scope>/<Op>_<n>`. */
  readonly name?: string;
}

/** Conv options in PyTorch's terms (`padding` is symmetric per spatial axis, as `nn.Conv2d`). */
export interface ConvOptions {
  readonly stride?: number | readonly number[];
  readonly padding?: number | readonly number[];
  readonly dilation?: number | readonly number[];
  readonly groups?: number;
}

/** Pool options in PyTorch's terms. */
export interface PoolOptions {
  readonly kernelSize: number | readonly number[];
  readonly stride?: number | readonly number[];
  readonly padding?: number | readonly number[];
  readonly ceilMode?: boolean;
  /** AveragePool only. @default true (PyTorch's default) */
  readonly countIncludePad?: boolean;
}

/** The key that deduplicates a small constant by its contents; undefined for big ones, which are never shared. */
function constantKey(t: HostTensor): string | undefined {
  // NOTE: only small constants are deduplicated; a big one (zero buffers, flip matrices) would build a key as
  // long as its data for nothing (keys of 2048+ elements are at least 4095 characters and were never cached)
  if (t.data.length >= 2048) return undefined;
  const key = `${t.dtype}|${t.shape.join(',')}|${Array.from(t.data as ArrayLike<number | bigint>).join(',')}`;
  return key.length < 4096 ? key : undefined;
}

const spread = (v: number | readonly number[] | undefined, n: number, dflt: number): number[] =>
  v === undefined ? new Array<number>(n).fill(dflt) : typeof v === 'number' ? new Array<number>(n).fill(v) : [...v];

/** Options of {@link GraphBuilder.from}. */
export interface ContinueOptions {
  /** @default 'initializer' */
  readonly paramMode?: ParamMode;
  /** The graph's parameters and buffers by state-dict key (inputs or initializers), which {@link GraphBuilder.param} returns. */
  readonly params?: ReadonlyMap<string, Value>;
  /** Names to keep taken besides the graph's own, e.g. of nodes about to be {@link GraphBuilder.append}ed again. */
  readonly reservedNames?: Iterable<string>;
}

/** Builds one graph. Not reusable after {@link GraphBuilder.build}. */
export class GraphBuilder {
  readonly paramMode: ParamMode;
  readonly opset: number;
  private readonly name: string;
  private readonly nodes: Node[] = [];
  private readonly inputs: Value[] = [];
  private readonly outputs: Value[] = [];
  private readonly inits = new Map<string, { value: Value; tensor: HostTensor }>();
  private readonly params = new Map<string, Value>();
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, Value>();
  private readonly scopes: string[] = [];
  private readonly counters = new Map<string, number>();
  private readonly meta = new Map<string, string>();
  private readonly updates = new Map<string, Value>();

  constructor(opts: GraphBuilderOptions = {}) {
    this.name = opts.name ?? 'tsm';
    this.paramMode = opts.paramMode ?? 'initializer';
    this.opset = opts.opset ?? DEFAULT_OPSET;
    if (this.opset < 13) throw new UsageError(`opset ${this.opset} is not supported (need 13 or newer)`);
  }

  /**
   * A builder that continues `graph`: its nodes, inputs, outputs, initializers and metadata are the builder's, its
   * names stay taken, and its small initializers (other than `params`) are reused by {@link GraphBuilder.constant}
   * as if this builder had made them. Graph passes rebuild a graph with it, and a training step adds the loss and
   * backward to a traced forward.
   * @param opts.params the graph's parameters by key, which {@link GraphBuilder.param} then returns
   * @example
   * const g = GraphBuilder.from({ ...forward, outputs: [] });
   * g.output(g.softmax(forward.outputs[0]), 'probs');
   */
  static from(graph: Graph, opts: ContinueOptions = {}): GraphBuilder {
    const b = new GraphBuilder({ name: graph.name, opset: graph.opset, paramMode: opts.paramMode });
    const params = new Set(opts.params?.values());
    for (const v of graph.inputs) b.inputs.push(v);
    for (const [name, { value, tensor }] of graph.initializers) {
      b.inits.set(name, { value, tensor });
      const key = params.has(value) ? undefined : constantKey(tensor);
      if (key !== undefined && !b.constCache.has(key)) b.constCache.set(key, value);
    }
    for (const n of graph.nodes) b.append(n);
    for (const v of graph.outputs) b.outputs.push(v);
    for (const [k, v] of opts.params ?? []) b.params.set(k, v);
    for (const [k, v] of graph.metadata) b.meta.set(k, v);
    for (const name of [...graph.inputs.map((v) => v.name), ...graph.initializers.keys(), ...graph.outputs.map((v) => v.name), ...(opts.reservedNames ?? [])]) b.names.add(name);
    return b;
  }

  /**
   * Adds a node made elsewhere (a copy of another graph's, or the node itself), with its output values: they point
   * back to it as their producer. Its names are taken from here on; they must not be in use by another value.
   */
  append(node: Node): void {
    this.names.add(node.name);
    for (const o of node.outputs) {
      this.names.add(o.name);
      o.producer = node;
    }
    this.nodes.push(node);
  }

  // ---- naming -------------------------------------------------------------------------------------------

  /** Runs `fn` with `name` pushed on the scope stack, so its nodes are named `name/...`. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private fresh(base: string): string {
    let name = base;
    let n = this.counters.get(base) ?? 0;
    while (this.names.has(name)) name = `${base}_${++n}`;
    this.counters.set(base, n);
    this.names.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new UsageError(`graph value name "${name}" is used twice`);
    this.names.add(name);
    return name;
  }

  private nodeName(op: string): string {
    const prefix = this.scopes.filter((s) => s.length > 0).join('.');
    return this.fresh(prefix ? `${prefix}/${op}` : op);
  }

  // ---- graph inputs, outputs, weights --------------------------------------------------------------------

  /** Declares a graph input. */
  input(name: string, dtype: DType, shape: Shape): Value {
    const v = new Value(this.claim(name), dtype, shape);
    this.inputs.push(v);
    return v;
  }

  /** Marks `v` as a graph output named `name` (an Identity is added when the names differ). */
  output(v: Value, name?: string): Value {
    let out = v;
    const isInputOrInit = !v.producer;
    if ((name !== undefined && name !== v.name) || isInputOrInit || this.outputs.includes(v)) {
      out = this.op('Identity', [v], {}, { outputNames: [name ?? `${v.name}_out`] })[0];
    }
    this.outputs.push(out);
    return out;
  }

  /** Adds a named initializer (a weight baked into the model). */
  initializer(name: string, tensor: HostTensor): Value {
    return this.addInitializer(this.claim(name), tensor);
  }

  private addInitializer(claimedName: string, tensor: HostTensor): Value {
    const v = new Value(claimedName, tensor.dtype, tensor.shape, tensor);
    this.inits.set(claimedName, { value: v, tensor });
    return v;
  }

  /**
   * A model parameter or buffer by its state-dict key: an initializer or a graph input depending on
   * {@link ParamMode}. The same key always returns the same value.
   */
  param(key: string, tensor: HostTensor): Value {
    const known = this.params.get(key);
    if (known) return known;
    const v = this.paramMode === 'initializer' ? this.initializer(key, tensor) : this.input(key, tensor.dtype, tensor.shape);
    this.params.set(key, v);
    return v;
  }

  /** Parameters declared so far with their graph values, in first-use order. */
  paramValues(): ReadonlyMap<string, Value> {
    return this.params;
  }

  /** A small constant (deduplicated by contents), stored as an initializer. */
  constant(t: HostTensor, hint = 'const'): Value {
    const key = constantKey(t);
    const hit = key === undefined ? undefined : this.constCache.get(key);
    if (hit) return hit;
    const v = this.addInitializer(this.fresh(hint), t);
    if (key !== undefined) this.constCache.set(key, v);
    return v;
  }

  /** An int64 1-D constant, e.g. a Reshape target. */
  constInts(values: readonly number[], hint = 'ints'): Value {
    return this.constant(hostTensor('int64', [values.length], BigInt64Array.from(values.map(BigInt))), hint);
  }

  /** A float scalar constant of `dtype` (rank 0). */
  scalar(value: number, dtype: 'float32' | 'float64' = 'float32'): Value {
    const data = dtype === 'float32' ? Float32Array.of(value) : Float64Array.of(value);
    return this.constant(hostTensor(dtype, [], data), 'scalar');
  }

  /**
   * Records the new value of a buffer after this step (BatchNorm running statistics in training mode).
   * Training graphs output these; inference graphs ignore them.
   */
  updateState(key: string, value: Value): void {
    this.updates.set(key, value);
  }

  /** Buffer updates recorded by {@link GraphBuilder.updateState}, by state-dict key. */
  stateUpdates(): ReadonlyMap<string, Value> {
    return this.updates;
  }

  /** Sets a metadata entry of the ONNX model. */
  setMetadata(key: string, value: string): void {
    this.meta.set(key, value);
  }

  // ---- generic op ---------------------------------------------------------------------------------------

  /** Adds any ONNX node; returns its outputs. */
  op(op: string, inputs: readonly (Value | undefined)[], attrs: Attrs = {}, opts: OpOptions = {}): Value[] {
    const name = opts.name ? this.fresh(opts.name) : this.nodeName(op);
    const numOutputs = opts.outputs?.length ?? opts.numOutputs ?? 1;
    const infos = opts.outputs ?? inferOutputs(op, name, inputs, attrs, numOutputs);
    if (infos.length !== numOutputs) throw new InternalError(`${op} "${name}": shape rule gave ${infos.length} outputs, expected ${numOutputs}`);
    const outputs = infos.map((info, i) => {
      const outName = opts.outputNames?.[i] !== undefined ? this.claim(opts.outputNames[i]) : this.fresh(numOutputs === 1 ? name : `${name}:${i}`);
      return new Value(outName, info.dtype, info.shape);
    });
    const node: Node = { op, name, inputs: [...inputs], outputs, attrs, domain: opts.domain ?? '' };
    for (const o of outputs) o.producer = node;
    this.nodes.push(node);
    return outputs;
  }

  private op1(op: string, inputs: readonly (Value | undefined)[], attrs: Attrs = {}): Value {
    return this.op(op, inputs, attrs)[0];
  }

  // ---- convolution, normalization, pooling -------------------------------------------------------------

  /** `nn.Conv2d` (and N-d): Conv with symmetric padding. */
  conv(x: Value, w: Value, b: Value | undefined, o: ConvOptions = {}): Value {
    const sp = w.rank - 2;
    const pads = spread(o.padding, sp, 0);
    return this.op1('Conv', b ? [x, w, b] : [x, w], {
      kernel_shape: ints(w.shape.slice(2) as number[]),
      strides: ints(spread(o.stride, sp, 1)),
      pads: ints([...pads, ...pads]),
      dilations: ints(spread(o.dilation, sp, 1)),
      group: int(o.groups ?? 1),
    });
  }

  /** Eval-mode BatchNormalization with running statistics. */
  batchNorm(x: Value, scale: Value, bias: Value, mean: Value, variance: Value, eps = 1e-5): Value {
    return this.op1('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: float(eps), momentum: float(0.9) });
  }

  relu(x: Value): Value {
    return this.op1('Relu', [x]);
  }

  /** Clip to [min, max] (ReLU6 is clip(x, 0, 6)). */
  clip(x: Value, min: number, max: number): Value {
    const dt = x.dtype === 'float64' ? 'float64' : 'float32';
    return this.op1('Clip', [x, this.scalar(min, dt), this.scalar(max, dt)]);
  }

  /** MaxPool over the trailing spatial axes (2-D or N-D, e.g. temporal pooling as MaxPool3d). */
  maxPool(x: Value, o: PoolOptions): Value {
    return this.op1('MaxPool', [x], this.poolAttrs(x, o));
  }

  /** AveragePool; `countIncludePad` defaults to PyTorch's true. */
  averagePool(x: Value, o: PoolOptions): Value {
    return this.op1('AveragePool', [x], { ...this.poolAttrs(x, o), count_include_pad: int(o.countIncludePad === false ? 0 : 1) });
  }

  private poolAttrs(x: Value, o: PoolOptions): Record<string, AttrValue> {
    const sp = x.rank - 2;
    const k = spread(o.kernelSize, sp, 1);
    const pads = spread(o.padding, sp, 0);
    return {
      kernel_shape: ints(k),
      strides: ints(o.stride === undefined ? k : spread(o.stride, sp, 1)),
      pads: ints([...pads, ...pads]),
      ceil_mode: int(o.ceilMode ? 1 : 0),
    };
  }

  globalAveragePool(x: Value): Value {
    return this.op1('GlobalAveragePool', [x]);
  }

  /** Mean over `axes` (opset 18: axes as an input). */
  reduceMean(x: Value, axes: readonly number[], keepDims = true): Value {
    return this.reduce('ReduceMean', x, axes, keepDims);
  }

  /** A Reduce* op in the form the target opset wants (axes input from 18, attribute before; ReduceSum from 13). */
  reduce(op: 'ReduceMean' | 'ReduceSum' | 'ReduceMax' | 'ReduceSumSquare', x: Value, axes: readonly number[], keepDims = true): Value {
    const keepdims = int(keepDims ? 1 : 0);
    if (op === 'ReduceSum' || this.opset >= 18) return this.op1(op, [x, this.constInts(axes, 'axes')], { keepdims });
    return this.op1(op, [x], { axes: ints(axes), keepdims });
  }

  reduceSum(x: Value, axes: readonly number[], keepDims = true): Value {
    return this.reduce('ReduceSum', x, axes, keepDims);
  }

  reduceMax(x: Value, axes: readonly number[], keepDims = true): Value {
    return this.reduce('ReduceMax', x, axes, keepDims);
  }

  // ---- linear algebra and elementwise ------------------------------------------------------------------

  /** `nn.Linear`: y = x Wᵀ + b, with W as stored by PyTorch ([out, in]). */
  linear(x: Value, w: Value, b?: Value): Value {
    return this.op1('Gemm', b ? [x, w, b] : [x, w], { transB: int(1) });
  }

  gemm(a: Value, b: Value, c?: Value, o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Value {
    return this.op1('Gemm', c ? [a, b, c] : [a, b], {
      transA: int(o.transA ? 1 : 0),
      transB: int(o.transB ? 1 : 0),
      alpha: float(o.alpha ?? 1),
      beta: float(o.beta ?? 1),
    });
  }

  matMul(a: Value, b: Value): Value {
    return this.op1('MatMul', [a, b]);
  }

  add(a: Value, b: Value): Value {
    return this.op1('Add', [a, b]);
  }
  sub(a: Value, b: Value): Value {
    return this.op1('Sub', [a, b]);
  }
  mul(a: Value, b: Value): Value {
    return this.op1('Mul', [a, b]);
  }
  div(a: Value, b: Value): Value {
    return this.op1('Div', [a, b]);
  }
  neg(x: Value): Value {
    return this.op1('Neg', [x]);
  }
  sqrt(x: Value): Value {
    return this.op1('Sqrt', [x]);
  }
  sigmoid(x: Value): Value {
    return this.op1('Sigmoid', [x]);
  }
  identity(x: Value): Value {
    return this.op1('Identity', [x]);
  }

  softmax(x: Value, axis = -1): Value {
    return this.op1('Softmax', [x], { axis: int(axis) });
  }
  logSoftmax(x: Value, axis = -1): Value {
    return this.op1('LogSoftmax', [x], { axis: int(axis) });
  }

  // ---- data movement ------------------------------------------------------------------------------------

  concat(xs: readonly Value[], axis: number): Value {
    return this.op1('Concat', xs, { axis: int(axis) });
  }

  /** Slice `[start, end)` along `axes` (negative indices count from the end; steps default 1). */
  slice(x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Value {
    const ins = [x, this.constInts(starts, 'starts'), this.constInts(ends, 'ends'), this.constInts(axes, 'axes')];
    if (steps) ins.push(this.constInts(steps, 'steps'));
    return this.op1('Slice', ins);
  }

  /** Constant zero padding; `pads` is ONNX order `[b0, b1, ..., e0, e1, ...]` over all axes. */
  pad(x: Value, pads: readonly number[], value = 0): Value {
    const dt = x.dtype === 'float64' ? 'float64' : 'float32';
    return this.op1('Pad', [x, this.constInts(pads, 'pads'), this.scalar(value, dt)], { mode: str('constant') });
  }

  /** Reshape to `shape` (0 copies the input dim, -1 is inferred), as `Tensor.view`. */
  reshape(x: Value, shape: readonly number[]): Value {
    return this.op1('Reshape', [x, this.constInts(shape, 'shape')]);
  }

  transpose(x: Value, perm: readonly number[]): Value {
    return this.op1('Transpose', [x], { perm: ints(perm) });
  }

  flatten(x: Value, axis = 1): Value {
    return this.op1('Flatten', [x], { axis: int(axis) });
  }

  squeeze(x: Value, axes: readonly number[]): Value {
    return this.op1('Squeeze', [x, this.constInts(axes, 'axes')]);
  }

  unsqueeze(x: Value, axes: readonly number[]): Value {
    return this.op1('Unsqueeze', [x, this.constInts(axes, 'axes')]);
  }

  // ---- finish ---------------------------------------------------------------------------------------------

  /** Finishes the graph. Unused initializers are dropped. */
  build(): Graph {
    if (this.outputs.length === 0) throw new UsageError(`graph "${this.name}" has no outputs; call output() first`);
    const used = new Set<string>();
    for (const n of this.nodes) for (const i of n.inputs) if (i) used.add(i.name);
    for (const o of this.outputs) used.add(o.name);
    const initializers = new Map([...this.inits].filter(([k]) => used.has(k)));
    return { name: this.name, opset: this.opset, inputs: [...this.inputs], outputs: [...this.outputs], nodes: [...this.nodes], initializers, metadata: new Map(this.meta) };
  }
}
