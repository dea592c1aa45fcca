/**
 * The training-step graph: forward (train mode), softmax cross-entropy, backward, gradient clipping by total
 * norm, and the SGD update, all in one graph of standard ONNX ops. The forward is traced as the model writes it,
 * then rewritten by the passes of ./passes before the loss and backward are added. Browser-safe (no Node
 * built-ins, no runtime): the page builds it for onnxruntime-web as Node builds it for onnxruntime-node
 * (./train-step.ts runs it there).
 */
import { buildBackward, crossEntropy } from '../autodiff/index.js';
import { UsageError } from '../errors.js';
import { type Graph, GraphBuilder, type Value } from '../graph/index.js';
import { BatchNorm2d, type Module, type Parameter } from '../nn/index.js';
import { mixSeed, mulberry32 } from '../data/random.js';
import { type HostTensor, hostTensor, numel } from '../tensor/index.js';
import { positiveInt } from '../util/check.js';
import {
  type DropoutMaskInput,
  type ScratchInput,
  bakeFrozenParameters,
  batchNormScratchStatistics,
  dropoutAsMaskInputs,
  foldInferenceBatchNorm,
  pointwiseConvAsGemm,
  pruneUnused,
} from './passes/index.js';
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
   * passes per layer; results change only by float rounding (`foldInferenceBatchNorm`). @default true
   */
  readonly foldBatchNorm?: boolean;
  /**
   * Bake the parameters and buffers that this step does not change (not optimized, not BatchNorm statistics in
   * training mode) into the graph as initializers instead of feeding them. onnxruntime then prepacks them: a
   * depthwise Conv with a constant weight runs its fast kernel, where a fed weight runs a loop over groups (~10x
   * slower on small maps, and onnxruntime-web has no NCHWc kernels to avoid it; see docs/teach.md). Build a new
   * graph when those weights change (`bakeFrozenParameters`). @default false
   */
  readonly frozenAsConstants?: boolean;
  /**
   * Emit 1x1 convolutions (stride 1, no padding, one group) as one Gemm over every pixel of the batch
   * (`[O, C] x [C, N*H*W]`, between two Transposes) instead of Conv, which onnxruntime runs as one small GEMM per
   * image: on small maps (4x4, 2x2) those are too thin to be fast, in onnxruntime-web most of all (docs/teach.md;
   * `pointwiseConvAsGemm`). @default false
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
  /** Buffers the forward updates (BatchNorm running statistics and batch counts, `new.<key>`). */
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
  /** Scratch inputs of training-mode BatchNormalization nodes, fed fresh each step (see `batchNormScratchStatistics`). */
  readonly scratch: ReadonlyMap<string, ScratchInput>;
  /** Inputs `dropout_mask.<i>` of the training-mode Dropouts, with their shape and drop ratio (see `dropoutAsMaskInputs`). */
  readonly dropoutMasks: ReadonlyMap<string, DropoutMaskInput>;
}

/**
 * The parameters and buffers a step does not change (not optimized, not the statistics of a BatchNorm in
 * batch-statistics mode), by key: what `frozenAsConstants` bakes into the graph.
 */
function frozenTensors(model: Module, optimizer: SGD): Map<string, HostTensor> {
  const optimized = new Set(optimizer.params);
  const batchStats = new Set(
    model
      .namedModules()
      .flatMap(([, m]) => (m instanceof BatchNorm2d && m.usesBatchStats ? [m.running_mean, m.running_var, m.num_batches_tracked] : [])),
  );
  return new Map(model.namedTensors().flatMap(([k, p]) => (optimized.has(p) || batchStats.has(p) ? [] : [[k, p.tensor] as const])));
}

/** Weight decay, momentum and nesterov per group: what a step graph bakes in. */
export const bakedKey = (o: SGD): string[] => o.paramGroups.map((g) => `${g.weightDecay}|${g.momentum}|${g.nesterov}`);

/**
 * Builds the training-step graph of `model` (its current train/eval and frozen-BN modes) for `optimizer`.
 * Inputs: `input` (float32 `inputShape`), `labels` (int64 `[B]`), every parameter/buffer by key,
 * `momentum_buffer.<key>` (flat), `lr.<i>` (scalar per group). Outputs: `loss`, `logits`, `grad_norm` (before
 * clipping), `new.<key>` (updated parameters, running statistics and batch counts; flat for parameters),
 * `new_momentum_buffer.<key>`, and `grad.<key>` with `outputGrads`. With `update: 'host'`: no momentum and lr
 * inputs; the unclipped gradients ({@link TrainStepGraph.gradOutputs}) instead of the updated parameters.
 * @throws {UsageError} when no optimized parameter reaches the loss
 */
export function buildTrainStepGraph(model: Module, optimizer: SGD, opts: TrainStepOptions): TrainStepGraph {
  const shape = opts.inputShape;
  if (shape.length < 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) throw UsageError.expected('inputShape', 'positive integer dims [B, C, ...]', shape);
  const batch = opts.batch ?? shape[0];
  positiveInt('batch', batch);

  // The forward as the model writes it; the buffer updates it records are outputs after the logits.
  const tracer = new GraphBuilder({ name: 'train_step', paramMode: 'input', opset: opts.opset });
  const x = tracer.input('input', 'float32', shape);
  tracer.input('labels', 'int64', [batch]);
  const stateKeys: string[] = [];
  tracer.output(model.forward(tracer, x));
  for (const [key, v] of tracer.stateUpdates()) {
    stateKeys.push(key);
    tracer.output(v);
  }
  let forward = tracer.build();

  // What a training step changes in it, one pass at a time (./passes).
  if (opts.foldBatchNorm ?? true) forward = foldInferenceBatchNorm(forward);
  if (opts.pointwiseAsGemm) forward = pointwiseConvAsGemm(forward);
  const { graph: withScratch, scratch } = batchNormScratchStatistics(forward);
  const { graph: withMasks, masks: dropoutMasks } = dropoutAsMaskInputs(withScratch);
  const constants = opts.frozenAsConstants ? frozenTensors(model, optimizer) : new Map<string, HostTensor>();
  forward = bakeFrozenParameters(withMasks, constants);

  // The loss, backward and update continue the rewritten forward.
  const valueNamed = (name: string): Value => (forward.inputs.find((v) => v.name === name) ?? forward.initializers.get(name)?.value) as Value;
  const used = new Map([...tracer.paramValues().keys()].map((k) => [k, valueNamed(k)]));
  const g = GraphBuilder.from({ ...forward, outputs: [] }, { paramMode: 'input', params: used });
  const [logits, ...stateValues] = forward.outputs;
  const loss = crossEntropy(g, logits, valueNamed('labels'));

  const byKey = new Map(model.namedTensors());
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
  for (const [i, key] of stateKeys.entries()) {
    const v = stateValues[i];
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
    if (constants.has(key)) continue;
    const p = byKey.get(key);
    if (!p) throw new UsageError(`the graph reads parameter "${key}", which is not in the model's state dict`);
    inputs.set(key, p);
  }
  const baked = update === 'graph' ? bakedKey(optimizer) : [];
  return { graph: pruneUnused(g.build()), inputs, trained, updatedBuffers, momentumInputs, lrInputs, baked, update, gradOutputs, scratch, dropoutMasks };
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
 * Applies one run's outputs: the updated parameters, momentum buffers and buffers (BatchNorm running statistics
 * and batch counts, each in its own dtype) replace the old ones, in the model's Parameters and the optimizer's
 * state. With the update on the host, only the buffers (the caller updates the parameters).
 */
export function applyStepOutputs(built: TrainStepGraph, optimizer: SGD, out: Readonly<Record<string, HostTensor>>): void {
  for (const p of built.update === 'graph' ? built.trained : []) {
    p.tensor = hostTensor('float32', p.shape, out[`new.${p.key}`].data as Float32Array);
    const buf = out[`new_momentum_buffer.${p.key}`];
    if (buf) optimizer.state.set(p, hostTensor('float32', p.shape, buf.data as Float32Array));
  }
  for (const p of built.updatedBuffers) {
    const t = out[`new.${p.key}`];
    p.tensor = hostTensor(t.dtype, p.shape, t.data);
  }
}
