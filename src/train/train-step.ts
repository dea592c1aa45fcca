/**
 * One training step: forward (train mode), softmax cross-entropy and backward as one onnxruntime run, then gradient
 * clipping by total norm and the SGD update in place on the host (./flat-sgd.ts), or, with `update: 'graph'`, all
 * of it in a single graph whose updated tensors are swapped into the model's Parameters.
 * Node only (onnxruntime-node).
 */
import { UsageError } from '../errors.js';
import { type Graph, encodeOnnx } from '../graph/index.js';
import type { Module, Parameter } from '../nn/index.js';
import { type Device, type Session, type SessionOptions, createSession } from '../runtime/index.js';
import type { HostTensor } from '../tensor/index.js';
import { FlatSgd } from './flat-sgd.js';
import { NCHWC_DOMAIN, nchwcBlockSize, rewriteDepthwiseNchwc } from './nchwc.js';
import type { SGD } from './sgd.js';
import { type TrainStepGraph, type TrainStepOptions, applyStepOutputs, bakedKey, buildTrainStepGraph, stepFeeds } from './step-graph.js';

export { type TrainStepGraph, type TrainStepOptions, buildTrainStepGraph, dropoutMask } from './step-graph.js';

/** Options of {@link TrainStep.create}, beyond the graph's. */
export interface TrainStepRunOptions extends TrainStepOptions {
  /**
   * Where the optimizer runs (see {@link TrainStepOptions.update}). With `'host'` the model's trained Parameters
   * and the optimizer's momentum buffers become views of flat arrays that each step updates in place.
   * @default 'host'
   */
  readonly update?: 'graph' | 'host';
  /** @default 'cpu' */
  readonly device?: Device;
  /** Threads inside one op; 0 lets onnxruntime decide. @default 0 */
  readonly threads?: number;
  /**
   * Run depthwise convolutions through onnxruntime's blocked-layout kernels (see ./nchwc.ts), where this CPU has
   * them. @default true on the CPU device
   */
  readonly nchwc?: boolean;
  /**
   * Passed straight through to onnxruntime (wins over `threads` and the defaults below), e.g.
   * `{ enableProfiling: true, profileFilePrefix: 'step' }` for a JSON trace (bench/train-step-profile.ts). Node only.
   * NOTE: the step's session runs with `enableMemPattern: false`: with the memory pattern, onnxruntime's arena serves
   * the first run tensor by tensor and every later run as one block planned from it, usually in a new region, so
   * the resident memory reaches about twice the activations' peak (measured: ResNet-50 1.79 GB vs 1.19 GB,
   * MobileNetV2 866 vs 553 MB); without it each run reuses the arena's free chunks, at no measurable cost in time.
   */
  readonly sessionOptions?: SessionOptions['sessionOptions'];
}

/** Per-run options of {@link TrainStep.run}. */
export interface StepRunOptions {
  /**
   * Seed of this step's dropout masks; the trainer passes one derived from (seed, epoch, iteration), so a resumed
   * run draws the masks the uninterrupted run would. @default the number of steps this runner has run
   */
  readonly seed?: number;
}

/** What one {@link TrainStep.run} returns. */
export interface StepResult {
  /** Mean cross-entropy of the batch (before the update). */
  readonly loss: number;
  /** Total gradient 2-norm before clipping (what `clip_grad_norm_` returns). */
  readonly gradNorm: number;
  /** Scores `[B, num_class]` of the forward pass (train mode). */
  readonly logits: HostTensor;
  /** The clipped gradients by key, with `outputGrads`. */
  readonly grads?: ReadonlyMap<string, HostTensor>;
}

/**
 * Runs training steps of one model and optimizer for one input shape. The model's parameters, BatchNorm running
 * statistics and the optimizer's momentum buffers are updated in place after each step.
 * @example
 * setTrainMode(model);
 * const sgd = new SGD(getOptimPolicies(model), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
 * const step = await TrainStep.create(model, sgd, { inputShape: [8, 24, 224, 224], clipGradNorm: 20 });
 * const { loss } = await step.run(clip, labels);
 */
export class TrainStep {
  private runs = 0;
  /** Flat weights and momentum of each optimizer, shared by its steps (one per batch shape). */
  private static readonly flats = new WeakMap<SGD, FlatSgd>();

  private constructor(
    private readonly model: Module,
    private readonly optimizer: SGD,
    private readonly opts: TrainStepRunOptions,
    private built: TrainStepGraph,
    private session: Session,
  ) {}

  /** Builds the step graph and its onnxruntime session. */
  static async create(model: Module, optimizer: SGD, opts: TrainStepRunOptions): Promise<TrainStep> {
    opts = { ...opts, update: opts.update ?? 'host' };
    const built = buildTrainStepGraph(model, optimizer, opts);
    // NOTE: the weights move into the flat array before the session is made, so the loaded arrays they replace
    // can be collected while onnxruntime builds it rather than after the first step (peak memory)
    if (built.update === 'host') TrainStep.flatFor(optimizer, built.trained).attach(optimizer);
    const session = await TrainStep.open(built, opts);
    return new TrainStep(model, optimizer, opts, built, session);
  }

  private static async open(built: TrainStepGraph, opts: TrainStepRunOptions): Promise<Session> {
    const device = opts.device ?? 'cpu';
    let graph = built.graph;
    let extraOpsets: Record<string, number> | undefined;
    if ((opts.nchwc ?? device === 'cpu') && device === 'cpu') {
      const r = rewriteDepthwiseNchwc(graph, await nchwcBlockSize());
      if (r.rewritten > 0) {
        graph = r.graph;
        extraOpsets = { [NCHWC_DOMAIN]: 1 };
      }
    }
    const sessionOptions = { enableMemPattern: false, ...opts.sessionOptions };
    return createSession(encodeOnnx(graph, { extraOpsets }), { device, threads: opts.threads ?? 0, name: 'train_step.onnx', sessionOptions });
  }

  /** The step graph (for export and inspection). */
  get graph(): Graph {
    return this.built.graph;
  }

  /**
   * Runs one step on a batch and applies it.
   * @param input float32 batch of {@link TrainStepOptions.inputShape}
   * @param labels int64 class indices `[B]`
   * @param opts.seed seed of the dropout masks (see {@link StepRunOptions})
   * @throws {UsageError} when the batch shape differs from the one the step was built for
   */
  async run(input: HostTensor, labels: HostTensor, opts: StepRunOptions = {}): Promise<StepResult> {
    const want = this.opts.inputShape;
    if (input.shape.length !== want.length || input.shape.some((d, i) => d !== want[i])) {
      throw new UsageError(`train step built for input [${want.join(',')}], got [${input.shape.join(',')}]; create a TrainStep per batch shape`);
    }
    if (labels.dtype !== 'int64' || labels.shape.length !== 1 || labels.shape[0] !== want[0]) {
      throw new UsageError(`labels must be int64 [${want[0]}], got ${labels.dtype}[${labels.shape.join(',')}]`);
    }
    if (this.built.update === 'graph' && bakedKey(this.optimizer).join(';') !== this.built.baked.join(';')) {
      // Weight decay or momentum changed: they are constants of the graph, so rebuild it.
      await this.session.release();
      this.built = buildTrainStepGraph(this.model, this.optimizer, this.opts);
      this.session = await TrainStep.open(this.built, this.opts);
    }
    const b = this.built;
    const seed = opts.seed ?? this.runs;
    this.runs++;
    if (b.update === 'host') return this.runHost(input, labels, seed);
    const out = await this.session.run(stepFeeds(b, this.optimizer, input, labels, seed));
    applyStepOutputs(b, this.optimizer, out);
    let grads: Map<string, HostTensor> | undefined;
    if (this.opts.outputGrads) grads = new Map(b.trained.map((p) => [p.key, out[`grad.${p.key}`]]));
    return { loss: Number(out.loss.data[0]), gradNorm: Number(out.grad_norm.data[0]), logits: out.logits, grads };
  }

  /** The flat arrays of this step's parameters: the optimizer's, or new ones when it trains another set. */
  private static flatFor(optimizer: SGD, trained: readonly Parameter[]): FlatSgd {
    let flat = TrainStep.flats.get(optimizer);
    if (!flat || flat.params.length !== trained.length || flat.params.some((p, i) => p !== trained[i])) {
      flat = new FlatSgd(trained);
      TrainStep.flats.set(optimizer, flat);
    }
    return flat;
  }

  /** A step with the update on the host: the graph outputs the gradients, then SGD in place over the flat arrays. */
  private async runHost(input: HostTensor, labels: HostTensor, seed: number): Promise<StepResult> {
    const b = this.built;
    const flat = TrainStep.flatFor(this.optimizer, b.trained);
    // points the Parameters at the flat weights (copying in any replaced since the last step) before the feeds
    flat.attach(this.optimizer);
    const feeds = stepFeeds(b, this.optimizer, input, labels, seed);
    const out = await this.session.run(feeds);
    applyStepOutputs(b, this.optimizer, out);
    const gradNorm = Number(out.grad_norm.data[0]);
    const gradients = b.trained.map((p) => out[b.gradOutputs.get(p) as string].data as Float32Array);
    let grads: Map<string, HostTensor> | undefined;
    if (this.opts.outputGrads) grads = new Map(b.trained.map((p, i) => [p.key, flat.clippedGrad(i, gradients[i], gradNorm, this.opts.clipGradNorm)]));
    flat.step(this.optimizer, gradients, gradNorm, this.opts.clipGradNorm);
    return { loss: Number(out.loss.data[0]), gradNorm, logits: out.logits, grads };
  }

  /** Frees the onnxruntime session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}
