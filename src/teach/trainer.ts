/**
 * Fine-tuning an online model on a few recorded clips: the training loop behind `actionTeacher().train()`. It
 * builds the graphs itself (our graph and autodiff code), runs them through any onnxruntime (web in the page's
 * worker, node in tests and the bench) behind {@link OpenSession}, and never touches the model it starts from:
 * the result is a new network, so a cancelled run leaves the previous one as it was. Browser-safe.
 *
 * What trains (measured in docs/teach.md): the blocks from `trainFrom` on and the classifier, with the online
 * (uni-directional) shift over `numSegments` consecutive frames; BatchNorm keeps its running statistics. The
 * frozen blocks before `trainFrom` run once per clip view and their outputs are cached.
 */
import { mixSeed, mulberry32, mulberry32Normal } from '../data/random.js';
import { type FramePreprocessing } from '../deploy/metadata.js';
import { TsmError, UsageError } from '../errors.js';
import { type Graph, encodeOnnx } from '../graph/index.js';
import { OnlineMobileNetV2 } from '../models/online-mobilenet-v2.js';
import type { Parameter } from '../nn/index.js';
import { type HostTensor, float32, hostTensor, numel } from '../tensor/index.js';
import { positiveInt } from '../util/check.js';
import { SGD } from '../train/sgd.js';
import { type TrainStepGraph, applyStepOutputs, buildTrainStepGraph, stepFeeds } from '../train/step-graph.js';
import { CLASSIFIER_ONLY, OnlineClipNet, buildPrefixGraph, featureShape, freezeForTeaching } from './clip-net.js';
import { type AugmentOptions, type StoredClip, type ViewSpec, centerView, randomView, renderView } from './clips.js';
import { teachStepGraph } from './step-formulation.js';

/** A session of some onnxruntime: feeds and fetches by value name, host tensors in and out. */
export interface TeachSession {
  run(feeds: Readonly<Record<string, HostTensor>>): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

/** Opens a session on ONNX bytes (onnxruntime-web in the page, onnxruntime-node in Node). */
export type OpenSession = (bytes: Uint8Array, name: string) => Promise<TeachSession>;

/** The defaults of {@link TeachOptions}, chosen by the measurements in docs/teach.md. */
export const TEACH_DEFAULTS = Object.freeze({
  epochs: 30,
  batchSize: 6,
  lr: 0.02,
  momentum: 0.9,
  weightDecay: 1e-4,
  dropout: 0.5,
  trainFrom: 8,
  layers: 'pointwise' as TeachLayers,
  loss: 'frame' as TeachLoss,
  numSegments: 8,
  views: 8,
  seed: 0,
});

/**
 * Which weights of the trained blocks change: `pointwise` the 1x1 convolutions (and the classifier), `all` also
 * the depthwise 3x3 convolutions and the BatchNorm scales and shifts.
 * NOTE: with `pointwise` every other weight is a constant of the step graph, so onnxruntime runs the depthwise
 * convolutions with its fast kernel (3x faster steps in onnxruntime-web; docs/teach.md).
 */
export type TeachLayers = 'pointwise' | 'all';

/**
 * What the loss is taken on: `clip` the per-clip average of the frames' logits (TSN's consensus), `frame` every
 * frame's own logits (what a live recognizer shows at each step).
 */
export type TeachLoss = 'clip' | 'frame';

/** Options of {@link teachModel}. Every field is optional. */
export interface TeachOptions {
  /** Passes over the clips. @default 30 */
  readonly epochs?: number;
  /** Clips per step. @default 6 */
  readonly batchSize?: number;
  /** Learning rate (cosine schedule to 0 over the run). @default 0.02 */
  readonly lr?: number;
  /** @default 0.9 */
  readonly momentum?: number;
  /** @default 1e-4 */
  readonly weightDecay?: number;
  /** Dropout before the classifier. @default 0.5 */
  readonly dropout?: number;
  /** First trained `features` block (0: everything; 19: the classifier only). @default 8 */
  readonly trainFrom?: number;
  /** Which weights of the trained blocks change. @default 'pointwise' */
  readonly layers?: TeachLayers;
  /** What the loss is taken on. @default 'frame' */
  readonly loss?: TeachLoss;
  /** Consecutive frames per training view. @default 8 */
  readonly numSegments?: number;
  /** Augmented views cached per clip when blocks are frozen (fresh views every epoch when `trainFrom` is 0). @default 8 */
  readonly views?: number;
  /** How views vary (crop scale, flip, speed). */
  readonly augment?: AugmentOptions;
  /** @default 0 */
  readonly seed?: number;
  /** Progress, as plain objects. */
  readonly onProgress?: (e: TeachProgress) => void;
  /** Aborts between steps; {@link teachModel} then rejects with an `AbortError`. */
  readonly signal?: AbortSignal;
}

/** Progress of {@link teachModel}: views being cached, then one event per epoch. */
export type TeachProgress =
  | { readonly status: 'prepare'; readonly done: number; readonly total: number }
  | {
      readonly status: 'epoch';
      /** 1-based. */
      readonly epoch: number;
      readonly epochs: number;
      /** Mean training loss over the epoch. */
      readonly loss: number;
      /** Training top-1 over the epoch, 0..1. */
      readonly accuracy: number;
      /** Time since training started, ms. */
      readonly elapsedMs: number;
      /** Estimated time left, ms. */
      readonly remainingMs: number;
    };

/** One epoch's numbers. */
export interface TeachEpoch {
  readonly epoch: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly elapsedMs: number;
}

/** What {@link teachModel} returns. */
export interface TaughtModel {
  /** The new network: the base's blocks (trained ones updated) and a classifier for the taught classes. */
  readonly model: OnlineMobileNetV2;
  readonly history: readonly TeachEpoch[];
  /** Mean time of one training step, ms (the first step, which compiles, excluded when there are more). */
  readonly stepMs: number;
  /** Time spent caching the frozen blocks' outputs, ms. */
  readonly prepareMs: number;
}

/** The error a cancelled run rejects with (`name` is `AbortError`, as fetch's). */
export class TeachAbortError extends TsmError {
  constructor() {
    super('TSM_ABORTED', 'training was cancelled; the previous model is kept');
    this.name = 'AbortError';
  }
}

/** Checks and completes the options. @throws {UsageError} naming the option */
export function resolveTeachOptions(opts: TeachOptions): Required<Omit<TeachOptions, 'onProgress' | 'signal' | 'augment'>> & { readonly augment: AugmentOptions } {
  const d = TEACH_DEFAULTS;
  const o = {
    epochs: positiveInt('epochs', opts.epochs ?? d.epochs),
    batchSize: positiveInt('batchSize', opts.batchSize ?? d.batchSize),
    lr: opts.lr ?? d.lr,
    momentum: opts.momentum ?? d.momentum,
    weightDecay: opts.weightDecay ?? d.weightDecay,
    dropout: opts.dropout ?? d.dropout,
    trainFrom: opts.trainFrom ?? d.trainFrom,
    layers: opts.layers ?? d.layers,
    loss: opts.loss ?? d.loss,
    numSegments: positiveInt('numSegments', opts.numSegments ?? d.numSegments),
    views: positiveInt('views', opts.views ?? d.views),
    seed: opts.seed ?? d.seed,
    augment: opts.augment ?? {},
  };
  if (o.loss !== 'clip' && o.loss !== 'frame') throw UsageError.expected('loss', "'clip' or 'frame'", o.loss);
  if (o.layers !== 'pointwise' && o.layers !== 'all') throw UsageError.expected('layers', "'pointwise' or 'all'", o.layers);
  if (!(o.lr > 0)) throw UsageError.expected('lr', 'a positive number', o.lr);
  if (!(o.dropout >= 0 && o.dropout < 1)) throw UsageError.expected('dropout', 'a probability in [0, 1)', o.dropout);
  if (!Number.isInteger(o.trainFrom) || o.trainFrom < 0 || o.trainFrom > CLASSIFIER_ONLY) {
    throw UsageError.expected('trainFrom', `a block index from 0 (everything) to ${CLASSIFIER_ONLY} (the classifier only)`, o.trainFrom);
  }
  return o;
}

/**
 * A copy of `base` with a new classifier of `numClasses` outputs (N(0, 0.001), zero bias, as TSN's `new_fc`),
 * every other weight copied.
 */
export function withNewClassifier(base: OnlineMobileNetV2, numClasses: number, seed = 0): OnlineMobileNetV2 {
  const model = new OnlineMobileNetV2({ numClasses, widthMult: base.widthMult }).nameParameters();
  const sd = new Map([...base.stateDict()].filter(([k]) => !k.startsWith('classifier.')));
  model.loadStateDict(sd, { strict: false });
  const normal = mulberry32Normal(seed);
  const w = model.classifier.weight;
  w.tensor = float32(w.shape, Float32Array.from({ length: numel(w.shape) }, () => 0.001 * normal()));
  return model;
}

/** A copy of `model` (same classes and weights), so training never writes into the caller's network. */
export function cloneModel(model: OnlineMobileNetV2): OnlineMobileNetV2 {
  const copy = new OnlineMobileNetV2({ numClasses: model.numClasses, widthMult: model.widthMult }).nameParameters();
  const sd = new Map([...model.stateDict()].map(([k, t]) => [k, hostTensor(t.dtype, t.shape, t.data.slice() as never)] as const));
  copy.loadStateDict(sd);
  return copy;
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new TeachAbortError();
}

/** Shuffles in place (Fisher-Yates) with `random`. */
function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** What {@link buildTeachStep} returns: the optimizer, the step graph's bookkeeping, and the graph to run. */
export interface TeachStep {
  readonly sgd: SGD;
  readonly built: TrainStepGraph;
  /** `built.graph` with the teacher's rewrites for onnxruntime-web ({@link teachStepGraph}). */
  readonly graph: Graph;
}

/**
 * The teacher's training step: SGD over the parameters `layers` picks (the 1x1 convolutions and the classifier,
 * or every trainable one), the frozen weights baked in as constants, 1x1 convolutions as Gemm, gradient clipping
 * at 20, and the rewrites for onnxruntime-web.
 * @param inputShape the step's input, `[B*T, C, H, W]` features of the frozen blocks (or frames)
 * @param rows the length of the labels: clips (`B`) or frames (`B*T`, a loss per frame)
 */
export function buildTeachStep(
  net: OnlineClipNet,
  o: Pick<TeachOptions, 'layers' | 'lr' | 'momentum' | 'weightDecay'>,
  inputShape: readonly number[],
  rows: number,
): TeachStep {
  const pointwise = (p: Parameter): boolean => p.key.startsWith('classifier.') || (p.shape.length === 4 && p.shape[1] > 1 && p.shape[2] === 1 && p.shape[3] === 1);
  const params = net.trainableParameters().filter((p) => o.layers === 'all' || pointwise(p));
  const sgd = new SGD([{ name: 'teach', params, lrMult: 1, decayMult: 1 }], { lr: o.lr ?? TEACH_DEFAULTS.lr, momentum: o.momentum ?? TEACH_DEFAULTS.momentum, weightDecay: o.weightDecay ?? TEACH_DEFAULTS.weightDecay });
  const built = buildTrainStepGraph(net, sgd, { inputShape, batch: rows, clipGradNorm: 20, frozenAsConstants: true, pointwiseAsGemm: true });
  return { sgd, built, graph: teachStepGraph(built.graph) };
}

/**
 * Checks that every class has clips long enough.
 * @throws {UsageError} naming the class without clips, or the short clip
 */
export function checkClips(clips: readonly StoredClip[], classes: readonly string[], numSegments: number): void {
  if (classes.length < 2) throw new UsageError(`teaching needs at least 2 actions, got ${classes.length}`);
  const counts = classes.map((_, i) => clips.filter((c) => c.label === i).length);
  const empty = classes.filter((_, i) => counts[i] === 0);
  if (empty.length > 0) throw new UsageError(`no clips for ${empty.map((c) => `"${c}"`).join(', ')}: record or add at least one clip of every action before training`);
  const short = clips.find((c) => c.frames < numSegments);
  if (short) throw new UsageError(`a clip of "${classes[short.label]}" has ${short.frames} frames; a clip needs at least ${numSegments} (the frames a training view spans)`);
}

/**
 * Teaches `classes` to a copy of `base` from `clips`.
 * @param base the network to start from (not modified)
 * @param prep the model's preprocessing (crop size, scale size, mean/std)
 * @param open opens an onnxruntime session on ONNX bytes
 * @throws {UsageError} for bad options, a class without clips or a clip shorter than `numSegments`
 * @throws {TeachAbortError} when `signal` aborts
 */
export async function teachModel(
  base: OnlineMobileNetV2,
  clips: readonly StoredClip[],
  classes: readonly string[],
  prep: Required<FramePreprocessing>,
  open: OpenSession,
  opts: TeachOptions = {},
): Promise<TaughtModel> {
  const o = resolveTeachOptions(opts);
  checkClips(clips, classes, o.numSegments);
  const signal = opts.signal;
  throwIfAborted(signal);
  const t0 = performance.now();
  const T = o.numSegments;
  const [h, w] = prep.inputSize;
  const random = mulberry32(mixSeed(o.seed, 1));
  const model = withNewClassifier(base, classes.length, o.seed);
  freezeForTeaching(model);
  const perFrame = o.loss === 'frame';
  const net = new OnlineClipNet(model, { numSegments: T, from: o.trainFrom, dropout: o.dropout, perFrame });
  net.train();
  const [fc, fh, fw] = featureShape(model, o.trainFrom, [h, w]);
  const frameSize = fc * fh * fw;
  const B = Math.min(o.batchSize, clips.length);

  // the frozen blocks' outputs per cached view, or nothing when everything trains
  const views: Float32Array[][] = clips.map(() => []);
  if (o.trainFrom > 0) {
    const prefix = await open(encodeOnnx(buildPrefixGraph(model, { from: o.trainFrom, numSegments: T, batch: 1, inputSize: [h, w] })), 'teach prefix');
    try {
      const frames = new Float32Array(T * 3 * h * w);
      const total = clips.length * o.views;
      let done = 0;
      for (let v = 0; v < o.views; v++) {
        for (let c = 0; c < clips.length; c++) {
          throwIfAborted(signal);
          // view 0 is the recognizer's own crop and speed, the others are augmented
          const spec = v === 0 ? { ...centerView(clips[c], T, prep), start: Math.max(0, clips[c].frames - T) * random() } : randomView(clips[c], T, prep, o.augment, random);
          renderView(clips[c], spec, T, prep, frames);
          const out = await prefix.run({ frames: hostTensor('float32', [T, 3, h, w], frames) });
          views[c].push(out.features.data as Float32Array);
          opts.onProgress?.({ status: 'prepare', done: ++done, total });
        }
      }
    } finally {
      await prefix.release();
    }
  }
  const prepareMs = performance.now() - t0;

  const { sgd, built, graph } = buildTeachStep(net, o, [B * T, fc, fh, fw], perFrame ? B * T : B);
  const step = await open(encodeOnnx(graph), 'teach step');
  const history: TeachEpoch[] = [];
  const stepTimes: number[] = [];
  try {
    const input = new Float32Array(B * T * frameSize);
    const labels = new BigInt64Array(perFrame ? B * T : B);
    const stepsPerEpoch = Math.ceil(clips.length / B);
    let stepIndex = 0;
    const trainStart = performance.now();
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      // cosine from lr to 0 over the epochs, as --lr-type cos
      sgd.paramGroups[0].lr = 0.5 * o.lr * (1 + Math.cos((Math.PI * epoch) / o.epochs));
      const order = shuffle(clips.map((_, i) => i), random);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        throwIfAborted(signal);
        // the last batch wraps around to the start of the order: the step graph has one batch size
        const batch = Array.from({ length: B }, (_, i) => order[(s * B + i) % order.length]);
        batch.forEach((c, i) => {
          labels.fill(BigInt(clips[c].label), perFrame ? i * T : i, perFrame ? (i + 1) * T : i + 1);
          if (o.trainFrom > 0) input.set(views[c][Math.floor(random() * views[c].length)], i * T * frameSize);
          else renderView(clips[c], randomView(clips[c], T, prep, o.augment, random) as ViewSpec, T, prep, input, i * T * frameSize);
        });
        const ts = performance.now();
        const out = await step.run(stepFeeds(built, sgd, hostTensor('float32', [B * T, fc, fh, fw], input), hostTensor('int64', [labels.length], labels), mixSeed(o.seed, stepIndex++)));
        stepTimes.push(performance.now() - ts);
        applyStepOutputs(built, sgd, out);
        // only the clips of this epoch count (not the wrapped-around repeats)
        const fresh = Math.min(B, clips.length - s * B);
        const logits = out.logits.data as Float32Array;
        const K = classes.length;
        const rows = perFrame ? T : 1;
        for (let i = 0; i < fresh; i++) {
          // a clip's prediction: the mean of its frames' logits
          const mean = new Float64Array(K);
          for (let r = 0; r < rows; r++) for (let k = 0; k < K; k++) mean[k] += logits[(i * rows + r) * K + k];
          let best = 0;
          for (let k = 1; k < K; k++) if (mean[k] > mean[best]) best = k;
          if (best === clips[batch[i]].label) correct++;
        }
        lossSum += Number(out.loss.data[0]) * fresh;
        seen += fresh;
      }
      const elapsedMs = performance.now() - t0;
      const perEpoch = (performance.now() - trainStart) / (epoch + 1);
      const record = { epoch: epoch + 1, loss: lossSum / seen, accuracy: correct / seen, elapsedMs };
      history.push(record);
      opts.onProgress?.({ status: 'epoch', ...record, epochs: o.epochs, remainingMs: perEpoch * (o.epochs - epoch - 1) });
    }
  } finally {
    await step.release();
  }
  const timed = stepTimes.length > 1 ? stepTimes.slice(1) : stepTimes;
  return { model, history, stepMs: timed.reduce((a, b) => a + b, 0) / Math.max(1, timed.length), prepareMs };
}
