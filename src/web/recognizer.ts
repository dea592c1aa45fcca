/**
 * `onlineRecognizer(modelUrl)`: live action recognition in a web page with an exported online TSM model on
 * onnxruntime-web, one frame at a time, carrying the shift buffers between frames (as the original
 * `online_demo/main.py`), with the original demo's output smoothing. Browser only.
 */
import * as ort from 'onnxruntime-web';
import { UsageError } from '../errors.js';
import {
  type DeployInfo,
  GENERIC_SMOOTHING,
  JESTER_SMOOTHING,
  OnlineStepper,
  OutputSmoother,
  type SmoothingRules,
  smoothingFor,
} from '../deploy/browser.js';
import { type FrameInput, FramePreprocessor } from './frame.js';
import { type ModelSource, type WebSessionOptions, openWebSession } from './load.js';

/** Named smoothing presets; a {@link SmoothingRules} object is accepted too. */
export const SMOOTHING_MODES = Object.freeze({
  /** `jester` for a model with the Jester labels, else `generic`. */
  auto: 'auto',
  /** The original demo's rules for its 27 gestures (masked classes, "Doing other things" shown as "No gesture"). */
  jester: 'jester',
  /** A 12-frame logit window and a label that changes only after two agreeing outputs. */
  generic: 'generic',
  /** Each frame's own argmax. */
  none: 'none',
} as const);
/** One of {@link SMOOTHING_MODES}. */
export type SmoothingMode = keyof typeof SMOOTHING_MODES;

/**
 * The rules a smoothing mode stands for, for a model with `labels`.
 * @throws {UsageError} for an unknown mode
 */
export function smoothingRules(smoothing: SmoothingMode | SmoothingRules, labels: readonly string[]): Readonly<Required<SmoothingRules>> {
  if (typeof smoothing === 'object') return { ...GENERIC_SMOOTHING, ...smoothing };
  switch (smoothing) {
    case 'auto':
      return smoothingFor(labels);
    case 'jester':
      return JESTER_SMOOTHING;
    case 'generic':
      return GENERIC_SMOOTHING;
    case 'none':
      return { ...GENERIC_SMOOTHING, logitWindow: 1, refine: false };
    default:
      throw UsageError.expected('smoothing', `one of ${Object.keys(SMOOTHING_MODES).join(', ')}, or a rules object`, smoothing);
  }
}

/** A class with its name and softmax score. */
export interface LabelScore {
  readonly index: number;
  readonly label: string;
  readonly score: number;
}

/** What a recognizer says about one frame. */
export interface FramePrediction {
  /** Frames stepped since the last reset, before this one (0 for the first). */
  readonly frame: number;
  /** The smoothed class to show, and its name. */
  readonly index: number;
  readonly label: string;
  /** The smoothed class's softmax score over the smoothing window. */
  readonly score: number;
  /** The best classes over the smoothing window, best first (`topK` long). */
  readonly top: readonly LabelScore[];
  /** This frame's own argmax, and its name. */
  readonly rawIndex: number;
  readonly rawLabel: string;
  /** Preprocessing + model + smoothing, milliseconds. */
  readonly latencyMs: number;
  /** The model step alone, milliseconds. */
  readonly modelMs: number;
}

/** Options of {@link onlineRecognizer}. */
export interface OnlineRecognizerOptions extends WebSessionOptions {
  /** Output smoothing. @default 'auto' */
  readonly smoothing?: SmoothingMode | SmoothingRules;
  /** Entries of {@link FramePrediction.top}. @default the rules' `topK`, else 5 */
  readonly topK?: number;
}

/** Options of {@link OnlineRecognizer.attach}. */
export interface AttachOptions {
  /**
   * Receives the error that stopped the loop (the recognizer is detached). Without it the error is thrown
   * asynchronously, where the page's `error` event sees it.
   */
  readonly onError?: (error: unknown) => void;
}

/** A loaded online model following one stream. */
export interface OnlineRecognizer {
  /** What the model says about itself: labels, input size, mean/std, buffer shapes. */
  readonly info: DeployInfo;
  /** Class names, in class order. */
  readonly labels: readonly string[];
  /** The backend that runs the model. */
  readonly backend: 'webgpu' | 'wasm';
  /** wasm threads in use; 0 on WebGPU. */
  readonly threads: number;
  /** The smoothing rules in use. */
  readonly smoothing: Readonly<Required<SmoothingRules>>;
  /**
   * Runs the model on every new frame of `video` (a webcam stream or a file), one frame at a time: a frame that
   * arrives while the model runs is skipped. Starts a new stream (the buffers are reset). Uses
   * `requestVideoFrameCallback` where the browser has it, else `requestAnimationFrame`.
   * @returns a function that stops it
   * @throws {UsageError} when the recognizer is already attached, or disposed
   */
  attach(video: HTMLVideoElement, onPrediction: (p: FramePrediction) => void, opts?: AttachOptions): () => void;
  /**
   * Runs one frame and returns its prediction. Calls queue up: each runs after the previous one finished.
   * @throws {ShapeError} for an empty picture or a `Float32Array` of the wrong size
   * @throws {UsageError} after {@link dispose}
   */
  step(frame: FrameInput): Promise<FramePrediction>;
  /** Starts a new stream: zero shift buffers, empty smoothing history. Takes effect before the next step. */
  reset(): Promise<void>;
  /** Stops any attached loop and frees the session. */
  dispose(): Promise<void>;
}

class WebOnlineRecognizer implements OnlineRecognizer {
  readonly labels: readonly string[];
  readonly smoothing: Readonly<Required<SmoothingRules>>;
  private readonly stepper: OnlineStepper<ort.Tensor>;
  private readonly smoother: OutputSmoother;
  private readonly preprocessor: FramePreprocessor;
  private readonly input: Float32Array;
  private queue: Promise<unknown> = Promise.resolve();
  private detachCurrent?: () => void;
  private disposed = false;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly info: DeployInfo,
    readonly backend: 'webgpu' | 'wasm',
    readonly threads: number,
    smoothing: SmoothingMode | SmoothingRules,
    private readonly topK: number,
  ) {
    this.labels = info.labels;
    this.smoothing = smoothingRules(smoothing, info.labels);
    // every class's score is kept so the shown label's score is known even when it is not in the top k
    this.smoother = new OutputSmoother({ ...this.smoothing, topK: info.numClasses });
    this.stepper = new OnlineStepper(session, (data, dims) => new ort.Tensor('float32', data, dims as number[]), info);
    this.preprocessor = new FramePreprocessor(info);
    this.input = new Float32Array(this.stepper.frameSize);
  }

  step(frame: FrameInput): Promise<FramePrediction> {
    if (this.disposed) return Promise.reject(new UsageError('this recognizer was disposed; create a new one with onlineRecognizer()'));
    const run = this.queue.then(() => this.run(frame));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(frame: FrameInput): Promise<FramePrediction> {
    if (this.disposed) throw new UsageError('this recognizer was disposed; create a new one with onlineRecognizer()');
    const t0 = performance.now();
    this.preprocessor.run(frame, this.input);
    const t1 = performance.now();
    const logits = await this.stepper.step(this.input);
    const t2 = performance.now();
    const p = this.smoother.push(logits);
    const name = (i: number): string => this.labels[i] ?? `class ${i}`;
    const top = p.top.map((t) => ({ index: t.index, label: name(t.index), score: t.score }));
    return {
      frame: this.stepper.steps - 1,
      index: p.index,
      label: name(p.index),
      score: top.find((t) => t.index === p.index)?.score ?? 0,
      top: top.slice(0, this.topK),
      rawIndex: p.rawIndex,
      rawLabel: name(p.rawIndex),
      latencyMs: performance.now() - t0,
      modelMs: t2 - t1,
    };
  }

  reset(): Promise<void> {
    const run = this.queue.then(() => {
      if (this.disposed) return;
      this.stepper.reset();
      this.smoother.reset();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  attach(video: HTMLVideoElement, onPrediction: (p: FramePrediction) => void, opts: AttachOptions = {}): () => void {
    if (this.disposed) throw new UsageError('this recognizer was disposed; create a new one with onlineRecognizer()');
    if (this.detachCurrent) {
      throw new UsageError('this recognizer is already attached to a video: call the function attach() returned first (one recognizer follows one stream)');
    }
    void this.reset();
    const rvfc = typeof video.requestVideoFrameCallback === 'function';
    let active = true;
    let handle = 0;
    let lastTime = -1;
    const detach = (): void => {
      if (!active) return;
      active = false;
      if (rvfc) video.cancelVideoFrameCallback(handle);
      else cancelAnimationFrame(handle);
      if (this.detachCurrent === detach) this.detachCurrent = undefined;
    };
    const fail = (err: unknown): void => {
      detach();
      if (opts.onError) opts.onError(err);
      else
        queueMicrotask(() => {
          throw err;
        });
    };
    const arm = (): void => {
      if (!active) return;
      handle = rvfc ? video.requestVideoFrameCallback(() => void tick()) : requestAnimationFrame(() => void tick());
    };
    const tick = async (): Promise<void> => {
      if (!active) return;
      // rAF fires on every display frame: without rVFC, a frame counts as new when the video time moved
      const fresh = rvfc || video.currentTime !== lastTime;
      if (!fresh || video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || video.videoWidth === 0) {
        arm();
        return;
      }
      lastTime = video.currentTime;
      let p: FramePrediction;
      try {
        p = await this.step(video);
      } catch (err) {
        if (active) fail(err); // an error after detach or dispose belongs to nobody
        return;
      }
      if (!active) return;
      try {
        onPrediction(p);
      } catch (err) {
        fail(err);
        return;
      }
      arm();
    };
    this.detachCurrent = detach;
    arm();
    return detach;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.detachCurrent?.();
    this.disposed = true;
    await this.queue;
    await this.session.release();
  }
}

/**
 * Loads an exported online model (`tsm export --online`) for live recognition in the page. Labels, crop size,
 * mean/std and buffer shapes come from the model's metadata. Browser only.
 * @param model the model's URL (relative to the page), or its bytes
 * @param opts.device `auto` (WebGPU when the browser has an adapter, else wasm), `webgpu` or `wasm`. @default 'auto'
 * @param opts.threads wasm threads; 0: min(4, cores) when cross-origin isolated, else 1. @default 0
 * @param opts.smoothing a {@link SMOOTHING_MODES} name or rules. @default 'auto'
 * @param opts.topK entries of `top`. @default 5
 * @param opts.onProgress download progress events (`initiate`, `download`, `progress`, `done`)
 * @returns a recognizer; `attach` it to a `<video>`, or `step` it frame by frame
 * @throws {UsageError} for a bad option, or a file that is not an online model exported by `tsm export --online`
 * @throws {DataError} when the model cannot be fetched
 * @throws {RuntimeSessionError} when onnxruntime-web cannot open it
 * @example
 * import { onlineRecognizer } from 'temporal-shift/web';
 * const r = await onlineRecognizer('/online.onnx');
 * video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
 * await video.play();
 * const detach = r.attach(video, (p) => { label.textContent = `${p.label} ${(p.score * 100).toFixed(0)}%`; });
 */
export async function onlineRecognizer(model: ModelSource, opts: OnlineRecognizerOptions = {}): Promise<OnlineRecognizer> {
  const smoothing = opts.smoothing ?? 'auto';
  const topK = opts.topK ?? (typeof smoothing === 'object' ? smoothing.topK : undefined) ?? 5;
  if (!Number.isInteger(topK) || topK < 1) throw UsageError.expected('topK', 'a positive integer', opts.topK);
  new OutputSmoother(smoothingRules(smoothing, [])); // checks the mode or rules before anything is fetched
  const { session, info, backend, threads } = await openWebSession(model, opts);
  try {
    return new WebOnlineRecognizer(session, info, backend, threads, smoothing, topK);
  } catch (err) {
    await session.release();
    throw err;
  }
}
