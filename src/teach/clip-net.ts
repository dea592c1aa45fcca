/**
 * The online TSM-MobileNetV2 run on whole clips for training: every frame of a clip goes through the network at
 * once, and each shifted block takes its first `c // 8` channels from the previous frame (zeros for the first),
 * which is exactly what the step model computes frame by frame with its shift buffers. So the weights trained
 * here are the online model's own (same keys, `features.N...`, `classifier.*`), and run unchanged in the step
 * model: no conversion, no `.net.` keys. Browser-safe.
 *
 * The network can be split at a block: the frozen blocks before it ({@link buildPrefixGraph}) run once per clip
 * view and their outputs are cached; only the blocks from the split on and the classifier are in the training step.
 */
import { ShapeError, UsageError } from '../errors.js';
import { type Graph, GraphBuilder, type Value } from '../graph/index.js';
import { InvertedResidualWithShift, type OnlineMobileNetV2 } from '../models/online-mobilenet-v2.js';
import { TemporalShift } from '../models/temporal-shift.js';
import { Dropout, Module, type Parameter } from '../nn/index.js';

/** Index of the first `features` block after the last one: splitting there trains the classifier only. */
export const CLASSIFIER_ONLY = 19;

/** Runs `features[from, to)` of `model` on `x` `[N*T, C, H, W]` with the online shift over `numSegments` frames. */
export function runFeatures(g: GraphBuilder, model: OnlineMobileNetV2, x: Value, from: number, to: number, numSegments: number): Value {
  let y = x;
  g.scope('features', () => {
    for (let i = from; i < to; i++) {
      const block = model.features.modules[i];
      y = g.scope(String(i), () => {
        if (!(block instanceof InvertedResidualWithShift)) return block.forward(g, y);
        // as the step model: x + conv(cat(previous frame's x[:, :c//8], x[:, c//8:]))
        const shifted = g.scope('shift', () => TemporalShift.shift(g, y, numSegments, 8, 'online'));
        return g.add(y, g.scope('conv', () => block.conv.forward(g, shifted)));
      });
    }
  });
  return y;
}

/** Options of {@link OnlineClipNet}. */
export interface OnlineClipNetOptions {
  /** Frames per clip, T. */
  readonly numSegments: number;
  /** First trained block: the input is the output of `features[from - 1]` (0: frames). @default 0 */
  readonly from?: number;
  /** Dropout before the classifier while training. @default 0 */
  readonly dropout?: number;
  /** Output every frame's logits `[B*T, numClasses]` instead of their per-clip average. @default false */
  readonly perFrame?: boolean;
}

/**
 * `features[from..]`, global average pooling, dropout and the classifier of an {@link OnlineMobileNetV2} over
 * clips: input `[B*T, C, H, W]` (frames when `from` is 0, else cached features), output the per-clip average of
 * the per-frame logits `[B, numClasses]` (TSN's `avg` consensus).
 * NOTE: its parameters are the wrapped model's, under the model's own keys (`namedTensors()` and
 * `namedModules()` delegate), so a training step built on it updates the online model in place.
 */
export class OnlineClipNet extends Module {
  readonly numSegments: number;
  readonly from: number;
  readonly perFrame: boolean;
  readonly #model: OnlineMobileNetV2;
  readonly #dropout: Dropout;

  constructor(model: OnlineMobileNetV2, opts: OnlineClipNetOptions) {
    super();
    this.#model = model;
    this.numSegments = opts.numSegments;
    this.from = opts.from ?? 0;
    this.perFrame = opts.perFrame ?? false;
    if (!Number.isInteger(this.numSegments) || this.numSegments < 1) throw UsageError.expected('numSegments', 'a positive integer', opts.numSegments);
    if (!Number.isInteger(this.from) || this.from < 0 || this.from > CLASSIFIER_ONLY) {
      throw UsageError.expected('trainFrom', `a block index from 0 (everything) to ${CLASSIFIER_ONLY} (the classifier only)`, opts.from);
    }
    this.#dropout = new Dropout(opts.dropout ?? 0);
  }

  /** The online model whose weights this trains. */
  get model(): OnlineMobileNetV2 {
    return this.#model;
  }

  override namedTensors(prefix = ''): [string, Parameter][] {
    return this.#model.namedTensors(prefix);
  }

  override namedModules(prefix = ''): [string, Module][] {
    return this.#model.namedModules(prefix);
  }

  /** Train mode for the dropout only: every BatchNorm keeps its running statistics (see {@link freezeForTeaching}). */
  override train(mode = true): this {
    this.training = mode;
    this.#dropout.training = mode;
    return this;
  }

  /** The parameters a step trains: the blocks from {@link from} on and the classifier, BatchNorm included. */
  trainableParameters(): Parameter[] {
    const own = new Set(this.#model.features.modules.slice(this.from).flatMap((m) => m.namedTensors().map(([, p]) => p)));
    for (const [, p] of this.#model.classifier.namedTensors()) own.add(p);
    return [...own].filter((p) => !p.isBuffer);
  }

  forward(g: GraphBuilder, x: Value): Value {
    const t = this.numSegments;
    if (x.rank !== 4 || typeof x.shape[0] !== 'number' || x.shape[0] % t !== 0) {
      throw new ShapeError(`OnlineClipNet: expected [B*${t}, C, H, W], got [${x.shape.join(',')}]`);
    }
    const y = runFeatures(g, this.#model, x, this.from, CLASSIFIER_ONLY, t);
    let pooled = g.flatten(g.globalAveragePool(y), 1);
    pooled = this.#dropout.forward(g, pooled);
    const logits = g.scope('classifier', () => this.#model.classifier.forward(g, pooled));
    return this.perFrame ? logits : g.reduceMean(g.reshape(logits, [-1, t, this.#model.numClasses]), [1], false);
  }
}

/**
 * Every module of `model` in eval mode with gradients allowed: BatchNorm layers normalize with their running
 * statistics and leave them alone (a few clips make poor batch statistics), and their scale and shift still train
 * when the optimizer has them.
 */
export function freezeForTeaching(model: OnlineMobileNetV2): void {
  model.eval();
}

/**
 * The frozen part of a split network as an inference graph: input `frames` `[N*T, 3, H, W]`, output `features`
 * `[N*T, C, h, w]`, the output of `features[from - 1]` with the online shift over `numSegments` frames. The
 * weights are initializers (they do not change while teaching).
 * @throws {UsageError} when `from` is 0 (nothing is frozen)
 */
export function buildPrefixGraph(model: OnlineMobileNetV2, opts: { readonly from: number; readonly numSegments: number; readonly batch: number; readonly inputSize: readonly [number, number] }): Graph {
  if (!(opts.from >= 1 && opts.from <= CLASSIFIER_ONLY)) throw UsageError.expected('trainFrom', `a block index from 1 to ${CLASSIFIER_ONLY} for a frozen prefix`, opts.from);
  const [h, w] = opts.inputSize;
  const g = new GraphBuilder({ name: 'teach_prefix' });
  const x = g.input('frames', 'float32', [opts.batch * opts.numSegments, 3, h, w]);
  let y = runFeatures(g, model, x, 0, opts.from, opts.numSegments);
  // the classifier-only split caches the pooled features, [N*T, C, 1, 1]
  if (opts.from === CLASSIFIER_ONLY) y = g.globalAveragePool(y);
  g.output(y, 'features');
  return g.build();
}

/** The shape `[C, h, w]` of one frame's cached features for a split at `from` (`[3, H, W]` for 0). */
export function featureShape(model: OnlineMobileNetV2, from: number, inputSize: readonly [number, number]): [number, number, number] {
  if (from === 0) return [3, inputSize[0], inputSize[1]];
  const g = new GraphBuilder({ name: 'shape_probe' });
  const x = g.input('frames', 'float32', [1, 3, inputSize[0], inputSize[1]]);
  let y = runFeatures(g, model, x, 0, from, 1);
  if (from === CLASSIFIER_ONLY) y = g.globalAveragePool(y);
  const [, c, h, w] = y.shape;
  if (typeof c !== 'number' || typeof h !== 'number' || typeof w !== 'number') throw new ShapeError(`features of block ${from} have no static shape`);
  return [c, h, w];
}

/**
 * Per-frame scores of whole clips, as the online model gives them frame by frame from zero buffers: input
 * `frames` `[F, 3, H, W]` (one clip's consecutive frames), output `logits` `[F, numClasses]`.
 */
export function buildClipScoresGraph(model: OnlineMobileNetV2, frames: number, inputSize: readonly [number, number]): Graph {
  const g = new GraphBuilder({ name: 'teach_scores' });
  const x = g.input('frames', 'float32', [frames, 3, inputSize[0], inputSize[1]]);
  const y = runFeatures(g, model, x, 0, CLASSIFIER_ONLY, frames);
  const logits = g.scope('classifier', () => model.classifier.forward(g, g.flatten(g.globalAveragePool(y), 1)));
  g.output(logits, 'logits');
  return g.build();
}
