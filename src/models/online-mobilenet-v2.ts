/**
 * The online (streaming) TSM-MobileNetV2 of the original `online_demo/mobilenet_v2_tsm.py`: one frame per step,
 * with the temporal shift done through ten cached feature slices ("shift buffers") instead of a clip of frames.
 *
 * Keys are the original's: `features.0.{0,1}` (conv_bn), `features.N.conv.{0..7}` (inverted residuals),
 * `features.18.{0,1}` (conv_1x1_bn) and `classifier.{weight,bias}`. The shifted blocks are
 * `features.{3,5,6,8,9,10,12,13,15,16}` (the original's `shift_block_idx` `[2,4,5,7,8,9,11,12,14,15]`, which
 * counts inverted residuals from 0, so `features` index = idx + 1).
 *
 * The shift is uni-directional: a shifted block replaces the first `c // 8` channels of its input with those of
 * the previous frame and hands its own first `c // 8` channels to the next step. The offline TSM-MobileNetV2
 * (`ops/models.py` with `is_shift`) shifts `c // 8` channels from the past AND `c // 8` from the future, so
 * weights trained offline run here with a different shift; accuracy may differ, as in the original demo. A TSN
 * trained with `shiftMode: 'online'` (`tsm train --online-shift`) shifts exactly as this model does, in the same
 * blocks, so its weights give here the per-frame scores it gives offline.
 */
import { CheckpointError, ShapeError, UsageError } from '../errors.js';
import { type Graph, GraphBuilder, type Value, staticShape } from '../graph/index.js';
import { type BatchNorm2d, Conv2d, Linear, Module, Sequential } from '../nn/index.js';
import { InvertedResidual, inferMobileNetV2WidthMult, invertedResidualConv, mobileNetV2Features, mobileNetV2LastChannel } from './mobilenet-v2.js';
import { type HostTensor, float32 } from '../tensor/index.js';
import { positiveInt } from '../util/check.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../util/imagenet.js';


/**
 * Mirrors the online demo's `InvertedResidualWithShift`: `cat(shift_buffer, x[:, c//8:])` goes through the block,
 * and `x[:, :c//8]` becomes the next step's buffer. Keys as {@link InvertedResidual} (always expanded, residual).
 */
export class InvertedResidualWithShift extends Module {
  readonly conv: Sequential;

  constructor(inp: number, oup: number, stride: number, expandRatio: number) {
    super();
    // as the original asserts: expand_ratio > 1 and use_res_connect (the buffer swaps channels of a same-shape input)
    if (expandRatio <= 1 || stride !== 1 || inp !== oup) {
      throw new UsageError(
        `InvertedResidualWithShift needs expand_ratio > 1 and a residual connection (stride 1, inp == oup); got inp=${inp}, oup=${oup}, stride=${stride}, expand_ratio=${expandRatio}`,
      );
    }
    this.conv = invertedResidualConv(inp, oup, stride, expandRatio);
  }

  /** Channels cached per step: `c // 8` of the block input. */
  static bufferChannels(channels: number): number {
    return Math.floor(channels / 8);
  }

  /** One step: returns `[x + conv(cat(buffer, x[:, c//8:])), x[:, :c//8]]`. */
  forwardShift(g: GraphBuilder, x: Value, buffer: Value): [Value, Value] {
    const c = x.shape[1];
    if (typeof c !== 'number') throw new ShapeError(`InvertedResidualWithShift: channel count of ${x.name} must be static`);
    const fold = InvertedResidualWithShift.bufferChannels(c);
    const head = g.slice(x, [0], [fold], [1]);
    const tail = g.slice(x, [fold], [c], [1]);
    // NOTE: the Concat is named under conv (`features.N.conv/Concat`), as exported step models have always named it.
    const out = this.conv.scoped(g, () => this.conv.forward(g, g.concat([buffer, tail], 1)));
    return [g.add(x, out), head];
  }

  /** Without a buffer (a single frame from zero state): the cached channels are zeros. */
  forward(g: GraphBuilder, x: Value): Value {
    const [n, c, h, w] = staticShape(x, 'InvertedResidualWithShift.forward', { rank: 4 });
    return this.forwardShift(g, x, zeroBuffer(g, [n, InvertedResidualWithShift.bufferChannels(c), h, w]))[0];
  }
}

/** A zero-filled float32 constant (a shift buffer at the start of a stream). */
const zeroBuffer = (g: GraphBuilder, shape: readonly number[]): Value => g.constant(float32(shape), 'zero_buffer');

/** Options of {@link OnlineMobileNetV2}. */
export interface OnlineMobileNetV2Options {
  /** Classifier outputs (`n_class`). @default 1000 */
  readonly numClasses?: number;
  /** Channel multiplier (`width_mult`). @default 1 */
  readonly widthMult?: number;
}

/** Inverted residuals (counted from 0) that shift, as the original's `shift_block_idx`. */
export const SHIFT_BLOCK_IDX: readonly number[] = Object.freeze([2, 4, 5, 7, 8, 9, 11, 12, 14, 15]);

/** Number of shift buffers a step takes and returns. */
export const NUM_SHIFT_BUFFERS = SHIFT_BLOCK_IDX.length;

/** What one step of {@link OnlineMobileNetV2.forwardStep} produces. */
export interface OnlineStepValues {
  /** `[N, numClasses]` */
  readonly logits: Value;
  /** The next step's shift buffers, in block order. */
  readonly buffers: readonly Value[];
}

/**
 * Mirrors `online_demo/mobilenet_v2_tsm.py` `MobileNetV2`: `features` (a ModuleList there; a Sequential here,
 * which gives the same `features.N` keys) and `classifier`.
 * @example
 * const model = new OnlineMobileNetV2({ numClasses: 27 }).nameParameters();
 * model.loadStateDict(stateDict);
 * const graph = buildOnlineStepGraph(model, { inputSize: 224 });
 */
export class OnlineMobileNetV2 extends Module {
  readonly features: Sequential;
  readonly classifier: Linear;
  readonly numClasses: number;
  readonly widthMult: number;
  readonly lastChannel: number;

  constructor(opts: OnlineMobileNetV2Options = {}) {
    super();
    this.numClasses = opts.numClasses ?? 1000;
    this.widthMult = opts.widthMult ?? 1;
    positiveInt('numClasses', this.numClasses);
    if (!(this.widthMult > 0)) throw UsageError.expected('widthMult', 'a positive number', this.widthMult);
    this.lastChannel = mobileNetV2LastChannel(this.widthMult);
    this.features = mobileNetV2Features(this.widthMult, (b) => {
      const Block = SHIFT_BLOCK_IDX.includes(b.index) ? InvertedResidualWithShift : InvertedResidual;
      return new Block(b.inp, b.oup, b.stride, b.expandRatio);
    });
    this.classifier = new Linear(this.lastChannel, this.numClasses);
  }

  /**
   * Shapes of the ten shift buffers for `[batch, 3, height, width]` frames: `[batch, c // 8, h, w]` of each
   * shifted block's input (at 224: `[1,3,56,56]`, `[1,4,28,28]`×2, `[1,8,14,14]`×3, `[1,12,14,14]`×2, `[1,20,7,7]`×2).
   */
  bufferShapes(height: number, width: number, batch = 1): number[][] {
    const shapes: number[][] = [];
    // Every stride-2 layer is a 3x3 conv with padding 1: out = floor((h - 1) / 2) + 1 = ceil(h / 2).
    let h = Math.ceil(height / 2);
    let w = Math.ceil(width / 2);
    let channels = 32;
    for (const f of this.features.modules.slice(1, -1)) {
      const conv = (f as InvertedResidual | InvertedResidualWithShift).conv;
      const dw = conv.modules.find((m): m is Conv2d => m instanceof Conv2d && m.groups > 1);
      if (dw && dw.stride[0] === 2) {
        h = Math.ceil(h / 2);
        w = Math.ceil(w / 2);
      }
      if (f instanceof InvertedResidualWithShift) shapes.push([batch, InvertedResidualWithShift.bufferChannels(channels), h, w]);
      const last = conv.modules[conv.length - 1] as BatchNorm2d;
      channels = last.numFeatures;
    }
    return shapes;
  }

  /** One streaming step: frame `[N,3,H,W]` and the ten buffers in; logits and the ten next buffers out. */
  forwardStep(g: GraphBuilder, frame: Value, buffers: readonly Value[]): OnlineStepValues {
    if (buffers.length !== NUM_SHIFT_BUFFERS) {
      throw new ShapeError(`OnlineMobileNetV2 takes ${NUM_SHIFT_BUFFERS} shift buffers, got ${buffers.length}`);
    }
    let x = frame;
    const out: Value[] = [];
    this.features.scoped(g, () => {
      for (const f of this.features.modules) {
        if (f instanceof InvertedResidualWithShift) {
          const [y, next] = f.scoped(g, () => f.forwardShift(g, x, buffers[out.length]));
          out.push(next);
          x = y;
        } else {
          x = f.call(g, x);
        }
      }
    });
    // x.mean(3).mean(2): global average pooling, then [N, C].
    const pooled = g.flatten(g.globalAveragePool(x), 1);
    const logits = this.classifier.call(g, pooled);
    return { logits, buffers: out };
  }

  /** A single frame from zero buffers (the first step of a stream); returns the logits. */
  forward(g: GraphBuilder, x: Value): Value {
    const [n, , h, w] = staticShape(x, 'OnlineMobileNetV2.forward', { rank: 4 });
    return this.forwardStep(g, x, this.bufferShapes(h, w, n).map((s) => zeroBuffer(g, s))).logits;
  }
}

/** ImageNet normalization of the online demo (`GroupNormalize` after `ToTorchFormatTensor(div=True)`), RGB. */
export const ONLINE_INPUT_MEAN: readonly number[] = IMAGENET_MEAN;
/** See {@link ONLINE_INPUT_MEAN}. */
export const ONLINE_INPUT_STD: readonly number[] = IMAGENET_STD;

/** Graph value names of the step graph. */
export const ONLINE_STEP_NAMES = Object.freeze({
  frame: 'frame',
  logits: 'logits',
  buffersIn: Object.freeze(Array.from({ length: NUM_SHIFT_BUFFERS }, (_, i) => `buffer_${i}`)),
  buffersOut: Object.freeze(Array.from({ length: NUM_SHIFT_BUFFERS }, (_, i) => `buffer_out_${i}`)),
});

/** Options of {@link buildOnlineStepGraph}. */
export interface OnlineStepGraphOptions {
  /** Frame side, or `[height, width]`. @default 224 */
  readonly inputSize?: number | readonly [number, number];
  /** Frames per step (independent streams). @default 1 */
  readonly batch?: number;
  /** Default-domain opset. @default DEFAULT_OPSET */
  readonly opset?: number;
}

/** `inputSize` as `[height, width]`, checked. */
export function resolveInputSize(inputSize: number | readonly [number, number] = 224): [number, number] {
  const [h, w] = typeof inputSize === 'number' ? [inputSize, inputSize] : inputSize;
  for (const d of [h, w]) if (!Number.isInteger(d) || d < 1) throw UsageError.expected('inputSize', 'a positive integer or [height, width]', inputSize);
  return [h, w];
}

/**
 * Builds the step graph: inputs `frame` `[N,3,H,W]` and `buffer_0`..`buffer_9`; outputs `logits` `[N,numClasses]`
 * and `buffer_out_0`..`buffer_out_9` (feed them back as `buffer_i` next step). Metadata records the buffer names
 * and shapes, the input size, and the normalization (mean/std over 0-1 RGB).
 * @param model a named model (`nameParameters()` called) with its weights loaded
 * @example
 * const bytes = encodeOnnx(buildOnlineStepGraph(model, { inputSize: 224 }));
 */
export function buildOnlineStepGraph(model: OnlineMobileNetV2, opts: OnlineStepGraphOptions = {}): Graph {
  const [h, w] = resolveInputSize(opts.inputSize);
  const batch = opts.batch ?? 1;
  positiveInt('batch', batch);
  const g = new GraphBuilder({ name: 'tsm_online_mobilenet_v2', opset: opts.opset });
  const shapes = model.bufferShapes(h, w, batch);
  const frame = g.input(ONLINE_STEP_NAMES.frame, 'float32', [batch, 3, h, w]);
  const buffersIn = shapes.map((s, i) => g.input(ONLINE_STEP_NAMES.buffersIn[i], 'float32', s));
  const { logits, buffers } = model.forwardStep(g, frame, buffersIn);
  g.output(logits, ONLINE_STEP_NAMES.logits);
  buffers.forEach((b, i) => g.output(b, ONLINE_STEP_NAMES.buffersOut[i]));
  g.setMetadata('model', 'online_mobilenet_v2');
  g.setMetadata('num_classes', String(model.numClasses));
  g.setMetadata('input_size', JSON.stringify([h, w]));
  g.setMetadata('input_mean', JSON.stringify(ONLINE_INPUT_MEAN));
  g.setMetadata('input_std', JSON.stringify(ONLINE_INPUT_STD));
  g.setMetadata('buffer_inputs', JSON.stringify(ONLINE_STEP_NAMES.buffersIn));
  g.setMetadata('buffer_outputs', JSON.stringify(ONLINE_STEP_NAMES.buffersOut));
  g.setMetadata('buffer_shapes', JSON.stringify(shapes));
  return g.build();
}

/** Which key layout a MobileNetV2 state dict uses. */
export type OnlineKeyLayout = 'online' | 'tsn';

/**
 * Maps a TSN checkpoint of TSM-MobileNetV2 (`module.base_model.features.3.conv.0.net.weight`,
 * `module.new_fc.weight`) to the online layout (`features.3.conv.0.weight`, `classifier.weight`). A plain online
 * state dict is returned unchanged. The offline model's bi-directional shift is not carried over (see the file
 * doc); weights trained with the online shift (`shift_mode: 'online'`) run unchanged.
 */
export function toOnlineStateDict(sd: ReadonlyMap<string, HostTensor>): { stateDict: Map<string, HostTensor>; layout: OnlineKeyLayout } {
  const isTsn = [...sd.keys()].some((k) => /^(module\.|base_model\.|new_fc\.)|\.net\./.test(k));
  if (!isTsn) return { stateDict: new Map(sd), layout: 'online' };
  const out = new Map<string, HostTensor>();
  for (const [key, t] of sd) {
    let k = key.replace(/^module\./, '');
    if (k.startsWith('base_model.')) k = k.slice('base_model.'.length);
    else if (k.startsWith('new_fc.')) k = `classifier.${k.slice('new_fc.'.length)}`;
    // TemporalShift wraps the first conv of a shifted block: `conv.0.net.weight` -> `conv.0.weight`.
    k = k.replace(/\.net\./, '.');
    out.set(k, t);
  }
  return { stateDict: out, layout: 'tsn' };
}

/** Options of {@link onlineMobileNetV2FromStateDict} (and of the Node loader `loadOnlineMobileNetV2`). */
export interface LoadOnlineOptions {
  /** Classifier outputs; read from the checkpoint's `classifier.weight` (or `new_fc.weight`) when omitted. */
  readonly numClasses?: number;
  /** Channel multiplier of the checkpoint. @default read from the block widths, else 1 */
  readonly widthMult?: number;
  /** File name for messages. */
  readonly source?: string;
}

/** A loaded online model and where its keys came from. */
export interface LoadedOnlineModel {
  readonly model: OnlineMobileNetV2;
  /** `'online'` for the online demo's own state dict, `'tsn'` for an offline TSM-MobileNetV2 checkpoint. */
  readonly layout: OnlineKeyLayout;
}

/**
 * Builds an {@link OnlineMobileNetV2} from a state dict in the online layout or a TSN TSM-MobileNetV2 layout.
 * @throws {CheckpointError} when keys or shapes do not fit (the message lists them)
 */
export function onlineMobileNetV2FromStateDict(sd: ReadonlyMap<string, HostTensor>, opts: LoadOnlineOptions = {}): LoadedOnlineModel {
  const { stateDict, layout } = toOnlineStateDict(sd);
  const fc = stateDict.get('classifier.weight');
  const where = opts.source ? ` in ${opts.source}` : '';
  if (!fc && opts.numClasses === undefined) {
    throw new CheckpointError(
      'TSM_CHECKPOINT_KEY_MISSING',
      `no classifier weight${where} (looked for "classifier.weight", "new_fc.weight", "module.new_fc.weight"; ${stateDict.size} keys, first "${[...sd.keys()][0] ?? ''}"); is this a MobileNetV2 checkpoint?`,
    );
  }
  const numClasses = opts.numClasses ?? fc!.shape[0];
  const widthMult = opts.widthMult ?? inferMobileNetV2WidthMult((k) => stateDict.get(k)?.shape) ?? 1;
  const model = new OnlineMobileNetV2({ numClasses, widthMult }).nameParameters();
  // TSN checkpoints keep num_batches_tracked only since PyTorch 0.4.1; older ones lack it, which is harmless.
  const missing = [...model.stateDict().keys()].filter((k) => !stateDict.has(k));
  const onlyCounters = missing.length > 0 && missing.every((k) => k.endsWith('num_batches_tracked'));
  const { unexpectedKeys: unexpected } = model.loadStateDict(stateDict, { strict: !onlyCounters, source: opts.source });
  if (onlyCounters) {
    if (unexpected.length > 0) {
      throw new CheckpointError('TSM_CHECKPOINT_KEY_MISSING', `state dict does not fit the model${where}: unexpected key(s) ${unexpected.slice(0, 8).join(', ')}`);
    }
  }
  return { model, layout };
}
