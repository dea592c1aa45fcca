/**
 * Streaming recognition with the online TSM-MobileNetV2: an {@link OnlineRecognizer} holds an onnxruntime session
 * of the step graph and the ten shift buffers, and turns one frame at a time into logits, as the original
 * `online_demo/main.py` loop does (`outputs = executor(frame, *buffer)`; `buffer = outputs[1:]`). Node only.
 */
import { extractStateDict, readPth } from '../checkpoint/index.js';
import { CheckpointError, ShapeError } from '../errors.js';
import { encodeOnnx } from '../graph/index.js';
import { type Device, type Session, type SessionOptions, createSession } from '../runtime/index.js';
import { type HostTensor, float32, toFloat32 } from '../tensor/index.js';
import { inferMobileNetV2WidthMult } from './mobilenet-v2.js';
import {
  ONLINE_STEP_NAMES,
  type OnlineKeyLayout,
  OnlineMobileNetV2,
  buildOnlineStepGraph,
  resolveInputSize,
  toOnlineStateDict,
} from './online-mobilenet-v2.js';

/** Options of {@link onlineMobileNetV2FromStateDict} and {@link loadOnlineMobileNetV2}. */
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

/**
 * Reads a `.pth` (the online demo's state dict, or a TSN checkpoint of TSM-MobileNetV2) into an online model.
 * Node only.
 * @example
 * const { model, layout } = await loadOnlineMobileNetV2('mobilenetv2_jester_online.pth');
 */
export async function loadOnlineMobileNetV2(path: string, opts: LoadOnlineOptions = {}): Promise<LoadedOnlineModel> {
  const source = opts.source ?? path;
  const { stateDict } = extractStateDict(await readPth(path), { source });
  return onlineMobileNetV2FromStateDict(stateDict, { ...opts, source });
}

/** Options of {@link OnlineRecognizer.create}. */
export interface OnlineRecognizerOptions {
  /** Frame side, or `[height, width]`; the step graph is built for this size. @default 224 */
  readonly inputSize?: number | readonly [number, number];
  /** @default 'cpu' */
  readonly device?: Device;
  /** Threads inside one op; 0 lets onnxruntime decide. @default 0 */
  readonly threads?: number;
  /** Passed straight through to onnxruntime. */
  readonly sessionOptions?: SessionOptions['sessionOptions'];
}

/**
 * Runs the online model one frame at a time, keeping the shift buffers between calls. Node only.
 * @example
 * const rec = await OnlineRecognizer.fromCheckpoint('online.pth', { inputSize: 224, threads: 2 });
 * for (const frame of frames) console.log(await rec.step(frame)); // frame: float32 [1, 3, 224, 224], normalized
 * rec.reset(); // a new video
 */
export class OnlineRecognizer {
  private state: HostTensor[];
  private queue: Promise<unknown> = Promise.resolve();
  private stepCount = 0;

  private constructor(
    private readonly session: Session,
    /** `[height, width]` of the frames. */
    readonly inputSize: readonly [number, number],
    /** Width of the logits. */
    readonly numClasses: number,
    /** Shapes of the ten shift buffers. */
    readonly bufferShapes: readonly (readonly number[])[],
  ) {
    this.state = this.zeroBuffers();
  }

  /** Compiles `model`'s step graph and opens a session. */
  static async create(model: OnlineMobileNetV2, opts: OnlineRecognizerOptions = {}): Promise<OnlineRecognizer> {
    const [h, w] = resolveInputSize(opts.inputSize);
    const bytes = encodeOnnx(buildOnlineStepGraph(model, { inputSize: [h, w] }));
    const session = await createSession(bytes, {
      device: opts.device ?? 'cpu',
      threads: opts.threads ?? 0,
      name: 'online_mobilenet_v2 step graph',
      sessionOptions: opts.sessionOptions,
    });
    return new OnlineRecognizer(session, [h, w], model.numClasses, model.bufferShapes(h, w));
  }

  /** {@link loadOnlineMobileNetV2} then {@link OnlineRecognizer.create}. Node only. */
  static async fromCheckpoint(path: string, opts: OnlineRecognizerOptions & LoadOnlineOptions = {}): Promise<OnlineRecognizer> {
    const { model } = await loadOnlineMobileNetV2(path, opts);
    return OnlineRecognizer.create(model, opts);
  }

  /** The current shift buffers (zeros after {@link OnlineRecognizer.reset}). */
  get buffers(): readonly HostTensor[] {
    return this.state;
  }

  /** Frames processed since the last reset. */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * Feeds one normalized frame `[1, 3, H, W]` (float32; float64 is converted); returns its logits `[1, numClasses]`
   * and keeps the new buffers. Calls made without awaiting run one after another, in call order.
   * @throws {ShapeError} when the frame shape is not `[1, 3, H, W]` for this recognizer's input size
   */
  step(frame: HostTensor): Promise<HostTensor> {
    const [h, w] = this.inputSize;
    const expected = [1, 3, h, w];
    if (frame.shape.length !== 4 || frame.shape.some((d, i) => d !== expected[i])) {
      return Promise.reject(new ShapeError(`online step: frame has shape [${frame.shape.join(',')}], expected [${expected.join(',')}]`));
    }
    const run = this.queue.then(() => this.runStep(toFloat32(frame)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs consecutive frames `[S, 1, 3, H, W]` (or `[S, 3, H, W]`) from the current state; returns logits
   * `[S, numClasses]`.
   */
  async stepAll(frames: HostTensor): Promise<HostTensor> {
    const [h, w] = this.inputSize;
    const rank5 = frames.shape.length === 5 && frames.shape[1] === 1;
    const dims = rank5 ? frames.shape.slice(2) : frames.shape.slice(1);
    if ((frames.shape.length !== 4 && !rank5) || dims[0] !== 3 || dims[1] !== h || dims[2] !== w) {
      throw new ShapeError(`online frames have shape [${frames.shape.join(',')}], expected [S,1,3,${h},${w}]`);
    }
    const s = frames.shape[0];
    const f32 = toFloat32(frames).data as Float32Array;
    const per = 3 * h * w;
    const out = float32([s, this.numClasses]);
    for (let i = 0; i < s; i++) {
      const logits = await this.step({ dtype: 'float32', shape: [1, 3, h, w], data: f32.slice(i * per, (i + 1) * per) });
      (out.data as Float32Array).set(logits.data as Float32Array, i * this.numClasses);
    }
    return out;
  }

  /** Clears the shift buffers (start of a new video). */
  reset(): void {
    this.state = this.zeroBuffers();
    this.stepCount = 0;
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.session.release();
  }

  private async runStep(frame: HostTensor): Promise<HostTensor> {
    const feeds: Record<string, HostTensor> = { [ONLINE_STEP_NAMES.frame]: frame };
    this.state.forEach((b, i) => {
      feeds[ONLINE_STEP_NAMES.buffersIn[i]] = b;
    });
    const out = await this.session.run(feeds);
    this.state = ONLINE_STEP_NAMES.buffersOut.map((n) => out[n]);
    this.stepCount += 1;
    return out[ONLINE_STEP_NAMES.logits];
  }

  private zeroBuffers(): HostTensor[] {
    return this.bufferShapes.map((s) => float32(s));
  }
}
