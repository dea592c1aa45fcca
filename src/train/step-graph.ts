/**
 * The training-step graph: forward (train mode), softmax cross-entropy, backward, gradient clipping by total
 * norm, and the SGD update, all in one graph of standard ONNX ops. Browser-safe (no Node built-ins, no runtime):
 * the page builds it for onnxruntime-web as Node builds it for onnxruntime-node (./train-step.ts runs it there).
 */
import { buildBackward, crossEntropy } from '../autodiff/index.js';
import { UsageError } from '../errors.js';
import { type Attrs, type Graph, GraphBuilder, type GraphBuilderOptions, type Node, type OpOptions, type Value } from '../graph/index.js';
import { BatchNorm2d, type Module, type Parameter } from '../nn/index.js';
import { mixSeed, mulberry32 } from '../data/random.js';
import { type HostTensor, hostTensor, numel } from '../tensor/index.js';
import { positiveInt } from '../util/check.js';
import { type SGD, emitSgdUpdate } from './sgd.js';

/** Options of {@link buildTrainStepGraph} (and of the Node runner, `TrainStep.create`). */
export interface TrainStepOptions {
  /** Shape of one input batch, e.g. `[B, T*3, H, W]` for an RGB TSN. */
  readonly inputShape: readonly number[];
  /** Clips per batch, the length of `labels`, when the input is not `[B, ...]` (e.g. frames `[B*T, C, H, W]`). @default inputShape[0] */
  readonly batch?: number;
  /** `clip_grad_norm_(params, maxNorm)` before the update; undefined = no clipping (the norm is still output). */
  readonly clipGradNorm?: number;
  /** Also output the (clipped) gradients as `grad.<key>` (tests and debugging; costs memory). @default false */
  readonly outputGrads?: boolean;
  /**
   * Where the optimizer runs. `'graph'`: clipping and the SGD update are nodes of the step graph, which outputs the
   * new weights and momentum buffers (what a page runs on onnxruntime-web). `'host'`: the graph ends at the
   * gradients (one output per trained parameter, {@link TrainStepGraph.gradOutputs}) and their norm, and the caller
   * updates in place (`FlatSgd`, as the Node `TrainStep` does): no old and new weights side by side, no copy of
   * the weights out of onnxruntime, and weight decay or momentum changes need no new graph. @default 'graph'
   */
  readonly update?: 'graph' | 'host';
  /** Default-domain opset of the step graph. @default the graph layer's default (17) */
  readonly opset?: number;
  /**
   * Fold inference-mode BatchNorm (partial BN's frozen layers) into the Conv before it, which saves two memory
   * passes per layer; results change only by float rounding. @default true
   */
  readonly foldBatchNorm?: boolean;
  /**
   * Bake the parameters and buffers that this step does not change (not optimized, not BatchNorm statistics in
   * training mode) into the graph as initializers instead of feeding them. onnxruntime then prepacks them: a
   * depthwise Conv with a constant weight runs its fast kernel, where a fed weight runs a loop over groups (~10x
   * slower on small maps, and onnxruntime-web has no NCHWc kernels to avoid it; see docs/teach.md). Build a new
   * graph when those weights change. @default false
   */
  readonly frozenAsConstants?: boolean;
  /**
   * Emit 1x1 convolutions (stride 1, no padding, one group) as one Gemm over every pixel of the batch
   * (`[O, C] x [C, N*H*W]`, between two Transposes) instead of Conv, which onnxruntime runs as one small GEMM per
   * image: on small maps (4x4, 2x2) those are too thin to be fast, in onnxruntime-web most of all (docs/teach.md).
   * @default false
   */
  readonly pointwiseAsGemm?: boolean;
}

/** The step graph and what the runner needs to feed and read it. */
export interface TrainStepGraph {
  readonly graph: Graph;
  /** Every parameter and buffer the graph reads, by state-dict key (graph input of the same name). */
  readonly inputs: ReadonlyMap<string, Parameter>;
  /** Parameters that get an update (`new.<key>`, and `new_momentum_buffer.<key>` with momentum). */
  readonly trained: readonly Parameter[];
  /** Buffers the forward updates (BatchNorm running statistics, `new.<key>`). */
  readonly updatedBuffers: readonly Parameter[];
  /** Graph input `momentum_buffer.<key>` of each trained parameter whose group has momentum. */
  readonly momentumInputs: ReadonlyMap<Parameter, string>;
  /** Graph input of each used optimizer group's learning rate, `lr.<group index>`. */
  readonly lrInputs: ReadonlyMap<number, string>;
  /** Weight decay, momentum and nesterov per group as baked into the graph (a change needs a rebuild). */
  readonly baked: readonly string[];
  /** Where the update runs (see {@link TrainStepOptions.update}). */
  readonly update: 'graph' | 'host';
  /**
   * With the update on the host: the graph output holding each trained parameter's gradient (unclipped, in the
   * shape of the node that computes it; same element order as the parameter). Empty with the update in the graph.
   */
  readonly gradOutputs: ReadonlyMap<Parameter, string>;
  /** BatchNorm layers in batch-statistics mode, whose `num_batches_tracked` a step increments. */
  readonly trackedBns: readonly BatchNorm2d[];
  /** Scratch inputs of training-mode BatchNormalization nodes (fed fresh each step; see StepGraphBuilder). */
  readonly scratch: ReadonlyMap<string, { readonly shape: readonly number[]; readonly fill: number }>;
  /** Inputs `dropout_mask.<i>` of the training-mode Dropouts, with their shape and drop ratio (see StepGraphBuilder). */
  readonly dropoutMasks: ReadonlyMap<string, { readonly shape: readonly number[]; readonly ratio: number }>;
}

/**
 * A builder that gives every training-mode BatchNormalization its own scratch inputs for the running statistics,
 * and turns every training-mode Dropout into a multiply by a mask fed from the host.
 * NOTE: onnxruntime's BatchNormalization (opset 14+, training_mode=1) aliases outputs 1 and 2 to inputs 3 and 4 and
 * writes the batch statistics into those buffers in place, even into a fed graph input (the caller's array
 * included). The running-statistics update that reads the same input afterwards then sees the batch mean instead
 * of the old running mean. With momentum=0 those inputs do not affect the node's outputs, so each node reads fresh
 * scratch buffers (`bn_scratch.<key>`) and the real running statistics stay intact for the update.
 * NOTE: onnxruntime's Dropout draws from a generator that lives in the session and advances every run, so a
 * resumed run (a new session) would draw the first epoch's masks again. A mask input (`dropout_mask.<i>`, 0 or
 * 1 / (1 - p)) drawn on the host from (seed, epoch, iteration) makes `--resume` continue bit-exactly.
 */
class StepGraphBuilder extends GraphBuilder {
  readonly scratch = new Map<string, { readonly shape: readonly number[]; readonly fill: number }>();
  readonly dropoutMasks = new Map<string, { readonly shape: readonly number[]; readonly ratio: number }>();
  /** Fold inference-mode BatchNormalization into the Conv before it (see {@link StepGraphBuilder.foldBatchNorm}). */
  foldBn = false;
  /** Keys of parameters and buffers baked in as initializers (see {@link TrainStepOptions.frozenAsConstants}). */
  constantKeys: ReadonlySet<string> = new Set();
  /** Emit 1x1 convolutions as Gemm (see {@link TrainStepOptions.pointwiseAsGemm}). */
  pointwiseGemm = false;
  /** The inputs of each 1x1 convolution emitted as Gemm, by its output, for the BatchNorm fold. */
  private readonly gemmed = new Map<Value, { readonly x: Value; readonly w: Value; readonly b?: Value; readonly name?: string }>();

  constructor(opts: GraphBuilderOptions) {
    super(opts);
  }

  override op(op: string, inputs: readonly (Value | undefined)[], attrs: Attrs = {}, opts: OpOptions = {}): Value[] {
    if (op === 'Dropout' && inputs[2] && inputs[1]?.constant && inputs[0]) return this.dropout(inputs[0], inputs[1], inputs[2], opts);
    if (op === 'Conv' && this.pointwiseGemm && !opts.domain && inputs[0] && inputs[1] && isPointwise(inputs[0], inputs[1], attrs)) {
      return [this.pointwise(inputs[0], inputs[1], inputs[2], opts.name)];
    }
    const training = op === 'BatchNormalization' && (attrs.training_mode as { i: number } | undefined)?.i === 1;
    if (op === 'BatchNormalization' && !training && this.foldBn) {
      const folded = this.foldBatchNorm(inputs, attrs);
      if (folded) return [folded];
    }
    if (!training || !inputs[3] || !inputs[4]) return super.op(op, inputs, attrs, opts);
    const stat = (v: Value, fill: number): Value => {
      const name = `bn_scratch.${v.name}`;
      this.scratch.set(name, { shape: v.shape as number[], fill });
      return this.input(name, v.dtype, v.shape);
    };
    return super.op(op, [inputs[0], inputs[1], inputs[2], stat(inputs[3], 0), stat(inputs[4], 1)], attrs, opts);
  }

  /**
   * An inference-mode BatchNormalization (partial BN's frozen layers) right after a Conv becomes that Conv with
   * scaled weights and a bias: `conv(x, W * s) + (beta - mean * s)`, `s = gamma / sqrt(var + eps)`. The two
   * per-channel passes over the activation (the BN forward and the `dy * s` of its backward) become small ops on
   * the weights; gradients still reach W (and gamma / beta when they train) through the fold. The original Conv
   * is left without consumers and pruned by {@link StepGraphBuilder.build}.
   * @returns undefined when the pattern does not apply
   */
  private foldBatchNorm(inputs: readonly (Value | undefined)[], attrs: Attrs): Value | undefined {
    const [x, scale, bias, mean, variance] = inputs;
    const conv = x?.producer;
    const gemmed = x ? this.gemmed.get(x) : undefined;
    if (!x || !scale || !bias || !mean || !variance) return undefined;
    if (!gemmed && (conv?.op !== 'Conv' || conv.domain !== '' || conv.outputs.length !== 1)) return undefined;
    const [cx, w, cb] = gemmed ? [gemmed.x, gemmed.w, gemmed.b] : (conv as Node).inputs;
    if (!cx || !w || w.rank < 3) return undefined;
    if (!w.shape.every((d): d is number => typeof d === 'number')) return undefined;
    const o = w.shape[0];
    const eps = (attrs.epsilon as { f: number } | undefined)?.f ?? 1e-5;
    const s = this.div(scale, this.sqrt(this.add(variance, this.scalar(eps))));
    // NOTE: scaled as [O, C*k*k] x [O, 1]: broadcasting into trailing 1-dims ([O,1,1,1]) is per-element slow
    const wf = this.reshape(this.mul(this.reshape(w, [o, numel(w.shape as number[]) / o]), this.reshape(s, [o, 1])), w.shape as number[]);
    let bf = this.sub(bias, this.mul(mean, s));
    if (cb) bf = this.add(bf, this.mul(cb, s));
    if (gemmed) return this.pointwise(cx, wf, bf, gemmed.name);
    // the Conv's own name, so profiles and the backward's node names still point at the conv layer
    return this.op('Conv', [cx, wf, bf], (conv as Node).attrs, { name: (conv as Node).name })[0];
  }

  /** A 1x1 convolution as `W [O, C] x X [C, N*H*W] (+ b)`, X the input with channels first. */
  private pointwise(x: Value, w: Value, b: Value | undefined, name?: string): Value {
    const [n, c, h, wd] = x.shape as number[];
    const o = (w.shape as number[])[0];
    const y = this.scope(name ?? 'pointwise', () => {
      const x2 = this.reshape(this.transpose(x, [1, 0, 2, 3]), [c, n * h * wd]);
      const w2 = this.reshape(w, [o, c]);
      const y2 = this.gemm(w2, x2, b ? this.reshape(b, [o, 1]) : undefined);
      return this.transpose(this.reshape(y2, [o, n, h, wd]), [1, 0, 2, 3]);
    });
    this.gemmed.set(y, { x, w, b, name });
    return y;
  }

  /** A parameter: an initializer when its key is in {@link constantKeys}, else a graph input. */
  override param(key: string, tensor: HostTensor): Value {
    if (!this.constantKeys.has(key) || this.paramValues().has(key)) return super.param(key, tensor);
    const v = this.initializer(key, tensor);
    // NOTE: recorded with the parameters (paramValues() is the builder's own map), so a second use finds it
    (this.paramValues() as Map<string, Value>).set(key, v);
    return v;
  }

  /** The graph without nodes whose outputs nothing reads (Convs replaced by a BatchNorm fold). */
  override build(): Graph {
    const graph = super.build();
    const used = new Set(graph.outputs.map((v) => v.name));
    const kept: Node[] = [];
    for (let i = graph.nodes.length - 1; i >= 0; i--) {
      const n = graph.nodes[i];
      if (!n.outputs.some((v) => used.has(v.name))) continue;
      kept.push(n);
      for (const v of n.inputs) if (v) used.add(v.name);
    }
    kept.reverse();
    const initializers = new Map([...graph.initializers].filter(([k]) => used.has(k)));
    return { ...graph, nodes: kept, initializers };
  }

  /** `Dropout(x, ratio, training_mode)` as `x * mask`; outputs `[y, mask]` (the mask as float, for callers that take it). */
  private dropout(x: Value, ratio: Value, training: Value, opts: OpOptions): Value[] {
    const on = training.constant ? Number(training.constant.data[0]) !== 0 : true;
    const p = Number(ratio.constant?.data[0]);
    if (!on || p === 0) return super.op('Dropout', [x, ratio, training], {}, opts);
    if (!x.shape.every((d): d is number => typeof d === 'number')) throw new UsageError(`Dropout input ${x.name} needs a static shape in a training step`);
    const name = `dropout_mask.${this.dropoutMasks.size}`;
    this.dropoutMasks.set(name, { shape: x.shape, ratio: p });
    const mask = this.input(name, 'float32', x.shape);
    return [this.mul(x, mask), mask];
  }
}

/** A 1x1 convolution with stride 1, no padding or dilation, one group and static shapes. */
function isPointwise(x: Value, w: Value, attrs: Attrs): boolean {
  const ints = (name: string): readonly number[] => (attrs[name] as { ints?: number[] } | undefined)?.ints ?? [];
  const auto = (attrs.auto_pad as { s: string } | undefined)?.s;
  return (
    x.rank === 4 &&
    w.rank === 4 &&
    x.shape.every((d) => typeof d === 'number') &&
    w.shape.every((d) => typeof d === 'number') &&
    w.shape[2] === 1 &&
    w.shape[3] === 1 &&
    ((attrs.group as { i?: number } | undefined)?.i ?? 1) === 1 &&
    ints('strides').every((s) => s === 1) &&
    ints('pads').every((p) => p === 0) &&
    ints('dilations').every((d) => d === 1) &&
    (!auto || auto === 'NOTSET')
  );
}

/** Weight decay, momentum and nesterov per group: what a step graph bakes in. */
export const bakedKey = (o: SGD): string[] => o.paramGroups.map((g) => `${g.weightDecay}|${g.momentum}|${g.nesterov}`);

/**
 * Builds the training-step graph of `model` (its current train/eval and frozen-BN modes) for `optimizer`.
 * Inputs: `input` (float32 `inputShape`), `labels` (int64 `[B]`), every parameter/buffer by key,
 * `momentum_buffer.<key>` (flat), `lr.<i>` (scalar per group). Outputs: `loss`, `logits`, `grad_norm` (before
 * clipping), `new.<key>` (updated parameters and running statistics, flat for parameters),
 * `new_momentum_buffer.<key>`, and `grad.<key>` with `outputGrads`. With `update: 'host'`: no momentum and lr
 * inputs; the unclipped gradients ({@link TrainStepGraph.gradOutputs}) instead of the updated parameters.
 * @throws {UsageError} when no optimized parameter reaches the loss
 */
export function buildTrainStepGraph(model: Module, optimizer: SGD, opts: TrainStepOptions): TrainStepGraph {
  const shape = opts.inputShape;
  if (shape.length < 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) throw UsageError.expected('inputShape', 'positive integer dims [B, C, ...]', shape);
  const g = new StepGraphBuilder({ name: 'train_step', paramMode: 'input', opset: opts.opset });
  const x = g.input('input', 'float32', shape);
  const batch = opts.batch ?? shape[0];
  positiveInt('batch', batch);
  const labels = g.input('labels', 'int64', [batch]);
  g.foldBn = opts.foldBatchNorm ?? true;
  if (opts.frozenAsConstants) {
    const optimized = new Set(optimizer.params);
    const batchStats = new Set(
      model
        .namedModules()
        .flatMap(([, m]) => (m instanceof BatchNorm2d && m.usesBatchStats ? [m.running_mean, m.running_var, m.num_batches_tracked] : [])),
    );
    g.constantKeys = new Set(model.namedTensors().flatMap(([k, p]) => (optimized.has(p) || batchStats.has(p) ? [] : [k])));
  }
  g.pointwiseGemm = opts.pointwiseAsGemm ?? false;
  const logits = model.forward(g, x);
  g.foldBn = false;
  g.pointwiseGemm = false;
  const loss = crossEntropy(g, logits, labels);

  const byKey = new Map(model.namedTensors());
  const used = g.paramValues();
  const groupOf = new Map<Parameter, number>();
  optimizer.paramGroups.forEach((grp, i) => grp.params.forEach((p) => groupOf.set(p, i)));
  // Frozen BatchNorm scale/shift have requires_grad=False in TSN.train(): no gradient, no update.
  const frozen = new Set(
    model
      .namedModules()
      .flatMap(([, m]) => (m instanceof BatchNorm2d && m.frozen ? [m.weight, m.bias] : [])),
  );
  const candidates = optimizer.params.filter((p) => used.has(p.key) && !frozen.has(p));
  const grads = buildBackward(
    g,
    loss,
    candidates.map((p) => used.get(p.key) as Value),
  );
  // Parameters the loss does not reach get no gradient and no update, as torch's `p.grad is None`.
  const trained = candidates.filter((_, i) => grads[i] !== undefined);
  const flatGrads = trained.map((p) => g.reshape(grads[candidates.indexOf(p)] as Value, [numel(p.shape)]));
  if (trained.length === 0) throw new UsageError('no optimized parameter reaches the loss: check the optimizer groups and frozen layers');

  // clip_grad_norm_: total 2-norm over every gradient; coef = max_norm / (norm + 1e-6), clamped to 1.
  // NOTE: on a flat vector ReduceSumSquare is one vectorized pass, 5-9x faster than the [1,n]x[n,1] MatMul dot
  // product in onnxruntime 1.30 (measured 0.6 vs 5.5 ms for 2.4M values); it is slow only over inner axes of N-d
  // tensors. Its pairwise sum is also closer to float64 than the dot product's.
  const sq = g.scope('grad_norm', () => flatGrads.map((d) => g.reduce('ReduceSumSquare', d, [0], true)));
  const norm = g.sqrt(g.reduceSum(sq.length === 1 ? sq[0] : g.concat(sq, 0), [0], false));
  if (opts.clipGradNorm !== undefined && !(opts.clipGradNorm > 0)) throw UsageError.expected('clipGradNorm', 'a positive number', opts.clipGradNorm);
  const update = opts.update ?? 'graph';
  if (update !== 'graph' && update !== 'host') throw UsageError.expected('update', "'graph' or 'host'", update);
  const lrInputs = new Map<number, string>();
  const momentumInputs = new Map<Parameter, string>();
  const gradOutputs = new Map<Parameter, string>();
  const lrValues = new Map<number, Value>();
  // NOTE: each gradient is output under the name of the node that computes it: a new name would cost an Identity,
  // a copy of every gradient
  if (update === 'host') trained.forEach((p) => gradOutputs.set(p, g.output(grads[candidates.indexOf(p)] as Value).name));
  const coef = update === 'graph' && opts.clipGradNorm !== undefined ? g.op('Min', [g.div(g.scalar(opts.clipGradNorm), g.add(norm, g.scalar(1e-6))), g.scalar(1)])[0] : undefined;
  if (update === 'graph') g.scope('sgd', () => {
    trained.forEach((p, i) => {
      const gi = groupOf.get(p) as number;
      const grp = optimizer.paramGroups[gi];
      let lr = lrValues.get(gi);
      if (!lr) {
        lr = g.input(`lr.${gi}`, 'float32', []);
        lrValues.set(gi, lr);
        lrInputs.set(gi, lr.name);
      }
      const grad = coef ? g.mul(flatGrads[i], coef) : flatGrads[i];
      if (opts.outputGrads) g.output(g.reshape(grad, p.shape), `grad.${p.key}`);
      const n = numel(p.shape);
      const buffer = grp.momentum !== 0 ? g.input(`momentum_buffer.${p.key}`, 'float32', [n]) : undefined;
      if (buffer) momentumInputs.set(p, buffer.name);
      const names = { param: `new.${p.key}`, buffer: buffer ? `new_momentum_buffer.${p.key}` : undefined };
      const up = emitSgdUpdate(g, { param: used.get(p.key) as Value, grad, buffer, lr, weightDecay: grp.weightDecay, momentum: grp.momentum, nesterov: grp.nesterov, names });
      g.output(up.param, `new.${p.key}`);
      if (up.buffer) g.output(up.buffer, `new_momentum_buffer.${p.key}`);
    });
  });
  const updatedBuffers: Parameter[] = [];
  for (const [key, v] of g.stateUpdates()) {
    const p = byKey.get(key);
    if (!p) continue;
    updatedBuffers.push(p);
    g.output(v, `new.${key}`);
  }
  g.output(loss, 'loss');
  g.output(logits, 'logits');
  g.output(norm, 'grad_norm');
  const inputs = new Map<string, Parameter>();
  for (const key of used.keys()) {
    if (g.constantKeys.has(key)) continue;
    const p = byKey.get(key);
    if (!p) throw new UsageError(`the graph reads parameter "${key}", which is not in the model's state dict`);
    inputs.set(key, p);
  }
  const trackedBns = model
    .namedModules()
    .map(([, m]) => m)
    .filter((m): m is BatchNorm2d => m instanceof BatchNorm2d && m.usesBatchStats && updatedBuffers.includes(m.running_mean));
  const baked = update === 'graph' ? bakedKey(optimizer) : [];
  return { graph: g.build(), inputs, trained, updatedBuffers, momentumInputs, lrInputs, baked, update, gradOutputs, trackedBns, scratch: g.scratch, dropoutMasks: g.dropoutMasks };
}

/**
 * A dropout mask for one step: each element is 0 with probability `ratio`, else `1 / (1 - ratio)` (as
 * onnxruntime's Dropout scales), drawn from a mulberry32 stream seeded by `seed`.
 */
export function dropoutMask(shape: readonly number[], ratio: number, seed: number): HostTensor<'float32'> {
  const data = new Float32Array(numel(shape));
  const keep = Math.fround(1 / (1 - ratio));
  const uniform = mulberry32(seed);
  for (let i = 0; i < data.length; i++) data[i] = uniform() >= ratio ? keep : 0;
  return hostTensor('float32', shape, data);
}

/**
 * The feeds of one run of a step graph: the batch, every parameter and buffer, fresh BatchNorm scratch, dropout
 * masks drawn from `seed`, the groups' learning rates and the momentum buffers.
 * @param input float32 batch of the graph's input shape
 * @param labels int64 class indices `[B]`
 */
export function stepFeeds(built: TrainStepGraph, optimizer: SGD, input: HostTensor, labels: HostTensor, seed: number): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = { input: input.dtype === 'float32' ? input : hostTensor('float32', input.shape, Float32Array.from(input.data as ArrayLike<number>)), labels };
  for (const [key, p] of built.inputs) feeds[key] = p.tensor;
  for (const [name, { shape, fill }] of built.scratch) feeds[name] = hostTensor('float32', shape, new Float32Array(numel(shape)).fill(fill));
  let maskIndex = 0;
  for (const [name, { shape, ratio }] of built.dropoutMasks) feeds[name] = dropoutMask(shape, ratio, mixSeed(seed, maskIndex++));
  for (const [gi, name] of built.lrInputs) feeds[name] = hostTensor('float32', [], Float32Array.of(optimizer.paramGroups[gi].lr));
  for (const [p, name] of built.momentumInputs) feeds[name] = optimizer.flatBuffer(p);
  return feeds;
}

/**
 * Applies one run's outputs: the updated parameters, momentum buffers and running statistics replace the old ones
 * (in the model's Parameters and the optimizer's state), and tracked BatchNorm layers count the batch. With the
 * update on the host, only the running statistics and the batch count (the caller updates the parameters).
 */
export function applyStepOutputs(built: TrainStepGraph, optimizer: SGD, out: Readonly<Record<string, HostTensor>>): void {
  for (const p of built.update === 'graph' ? built.trained : []) {
    p.tensor = hostTensor('float32', p.shape, out[`new.${p.key}`].data as Float32Array);
    const buf = out[`new_momentum_buffer.${p.key}`];
    if (buf) optimizer.state.set(p, hostTensor('float32', p.shape, buf.data as Float32Array));
  }
  for (const p of built.updatedBuffers) p.tensor = hostTensor('float32', p.shape, out[`new.${p.key}`].data as Float32Array);
  for (const bn of built.trackedBns) {
    const t = bn.num_batches_tracked.tensor;
    bn.num_batches_tracked.tensor = hostTensor('int64', t.shape, BigInt64Array.of((t.data as BigInt64Array)[0] + 1n));
  }
}
