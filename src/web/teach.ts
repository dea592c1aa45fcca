/**
 * `actionTeacher(baseModel, { classes })`: teach an online TSM model your own actions in the page. Record a few
 * clips of each action (frames from a `<video>`, or a video file), train in a worker (onnxruntime-web, the page
 * stays responsive), then recognise them live with {@link ActionTeacher.recognizer}, and keep the result as a `.pth`
 * (the original's checkpoint format) or an exported online `.onnx`. Browser only.
 *
 * The base is an online model (the built-in default, an exported online `.onnx`, or an online `.pth`); its blocks
 * and a new classifier are fine-tuned with the online (uni-directional) shift, so the weights run unchanged in the
 * step model. What is trained, and how, is in docs/teach.md.
 */
import { DataError, UsageError } from '../errors.js';
import { normalizeFrame, type FramePreprocessing } from '../deploy/browser.js';
import { type BaseModel, type StoredClip, TEACH_DEFAULTS, TeachAbortError, type TeachEpoch, type TeachOptions, centerView, checkClips, readBaseModel, resampleRgb, storeClip, taughtOnnx, taughtPth } from '../teach/index.js';
import { OnlineMobileNetV2, onlineMobileNetV2FromStateDict } from '../models/online-mobilenet-v2.js';
import { extractStateDict } from '../checkpoint/state-dict.js';
import { parsePth } from '../checkpoint/pth-reader.js';
import { hostTensor } from '../tensor/index.js';
import { type ModelSource, type WebSessionOptions, fetchModel } from './load.js';
import type { FrameInput } from './frame.js';
import { type AttachOptions, type FramePrediction, type OnlineRecognizer, type OnlineRecognizerOptions, onlineRecognizer } from './recognizer.js';
import type { TeachReply, TeachRequest } from './teach-protocol.js';
import type { TeachWorkerRequest } from './teach-worker.js';

export type { TeachEpoch, TeachProgress } from '../teach/index.js';

/** A picture to learn from: `ImageData` (or any RGB/RGBA bytes with a size), or anything a canvas can draw. */
export type TeachFrame =
  | ImageData
  | { readonly width: number; readonly height: number; readonly data: Uint8Array | Uint8ClampedArray; readonly channels?: 3 | 4 }
  | HTMLVideoElement
  | HTMLCanvasElement
  | HTMLImageElement
  | ImageBitmap
  | OffscreenCanvas
  | VideoFrame;

/** Options of {@link actionTeacher}. */
export interface ActionTeacherOptions extends Pick<WebSessionOptions, 'device' | 'threads' | 'wasmPaths' | 'onProgress'> {
  /** The actions to teach, 2 to 10 distinct names, in class order. */
  readonly classes: readonly string[];
  /**
   * Model steps per second: video files are sampled at this rate, the recognizer steps a `<video>` at it, and
   * recorded frames should be taken at it. @default 8
   */
  readonly fps?: number;
  /** Crop side of a `.pth` base model (an `.onnx` says its own). @default 224 */
  readonly inputSize?: number;
  /** Training settings every {@link ActionTeacher.train} starts from. */
  readonly training?: Omit<TeachOptions, 'onProgress' | 'signal'>;
  /** A {@link ActionTeacher.snapshot} to continue from (its clips and weights; its classes must match). */
  readonly restore?: TeacherSnapshot;
}

/** Options of {@link ActionTeacher.train}: any training setting, plus progress and cancel. */
export interface TrainOptions extends Omit<TeachOptions, 'signal'> {
  /** Cancels training: the promise rejects with an `AbortError` and the previous model stays. */
  readonly signal?: AbortSignal;
}

/** What {@link ActionTeacher.train} resolves to. */
export interface TrainResult {
  readonly history: readonly TeachEpoch[];
  /** Mean training step time in the worker, ms. */
  readonly stepMs: number;
  /** Time to cache the frozen blocks' outputs, ms. */
  readonly prepareMs: number;
  /** Wall time of the whole run, ms. */
  readonly totalMs: number;
}

/** A recorded clip as the teacher lists it. */
export interface ClipInfo {
  readonly id: number;
  readonly label: string;
  readonly frames: number;
}

/** Everything a teacher holds, as plain data (storable in IndexedDB, sendable by `postMessage`). */
export interface TeacherSnapshot {
  readonly version: 1;
  readonly classes: readonly string[];
  readonly fps: number;
  readonly clips: readonly { readonly label: string; readonly frames: number; readonly size: number; readonly data: Uint8Array }[];
  /** The taught model as `.pth` bytes, when trained. */
  readonly weights?: Uint8Array;
  readonly history?: readonly TeachEpoch[];
}

/** A base model with clips being collected, and the model taught from them. */
export interface ActionTeacher {
  /** The actions, in class order. */
  readonly classes: readonly string[];
  /** Model steps per second. */
  readonly fps: number;
  /** The base model's own labels. */
  readonly baseLabels: readonly string[];
  /** Frames of one training view: a clip needs at least this many. */
  readonly minFrames: number;
  /** Side of the square the clips are kept at (the model's scale size). */
  readonly clipSize: number;
  /** The clips collected so far. */
  readonly clips: readonly ClipInfo[];
  /** True once a model has been taught (or restored). */
  readonly trained: boolean;
  /** Training epochs of the current model. */
  readonly history: readonly TeachEpoch[];
  /**
   * Adds a clip of `label`: consecutive frames taken at {@link fps}, or a video file, decoded in the page at
   * {@link fps}.
   * @throws {UsageError} for an unknown label, or a clip shorter than {@link minFrames}
   * @throws {DataError} for a video file the browser cannot decode
   */
  addClip(label: string, frames: readonly TeachFrame[] | Blob): Promise<ClipInfo>;
  /** Removes a clip. @returns whether it was there */
  removeClip(id: number): boolean;
  /**
   * Trains a new model from the base on the clips (in a worker). The current model stays until this resolves.
   * @throws {UsageError} when an action has no clips, or training is already running
   * @throws {TeachAbortError} (`name` `AbortError`) when `signal` aborts
   */
  train(opts?: TrainOptions): Promise<TrainResult>;
  /**
   * An online recognizer with the taught weights (the demo's smoothing by default), stepping a `<video>` at
   * {@link fps} when attached.
   * @throws {UsageError} before anything is taught
   */
  recognizer(opts?: OnlineRecognizerOptions): Promise<OnlineRecognizer>;
  /** The taught model as `.pth` bytes (`{epoch, arch, state_dict, best_prec1, categories}`). @throws {UsageError} before anything is taught */
  exportPth(): Promise<Uint8Array>;
  /** The taught model as an exported online `.onnx` with its labels. @throws {UsageError} before anything is taught */
  exportOnnx(): Promise<Uint8Array>;
  /** Clips and weights as plain data, for {@link ActionTeacherOptions.restore}. */
  snapshot(): TeacherSnapshot;
  /** Stops the worker. */
  dispose(): Promise<void>;
}

function checkClasses(classes: readonly string[]): string[] {
  if (!Array.isArray(classes)) throw UsageError.expected('classes', 'a list of 2 to 10 action names', classes);
  const names = classes.map((c) => (typeof c === 'string' ? c.trim() : ''));
  if (names.length < 2 || names.length > 10) throw UsageError.expected('classes', 'a list of 2 to 10 action names', classes);
  if (names.some((n) => n === '')) throw UsageError.expected('classes', 'non-empty action names', classes);
  if (new Set(names).size !== names.length) throw UsageError.expected('classes', 'distinct action names', classes);
  return names;
}

type Canvas2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

function canvas2d(width: number, height: number): Canvas2D {
  const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(width, height) : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as Canvas2D | null;
  if (!ctx) throw new UsageError('this browser gives no 2D canvas context; frames cannot be read');
  ctx.imageSmoothingQuality = 'high';
  return ctx;
}

const hasBytes = (f: TeachFrame): f is Extract<TeachFrame, { data: unknown }> => 'data' in f && (f.data instanceof Uint8Array || f.data instanceof Uint8ClampedArray);

/**
 * The center square of a picture at `size x size`, as RGBA `ImageData`, resized by the browser's canvas. Every
 * picture goes this way, the clips recorded and the frames recognized, so both see the same resampling.
 */
function drawSquare(ctx: Canvas2D, picture: TeachFrame | FrameInput, size: number): ImageData {
  let source = picture as Exclude<TeachFrame, { data: unknown }>;
  if (hasBytes(picture as TeachFrame)) {
    const f = picture as Extract<TeachFrame, { data: unknown }>;
    const channels = (f as { channels?: number }).channels ?? f.data.length / (f.width * f.height);
    if (!(f.width > 0 && f.height > 0) || (channels !== 3 && channels !== 4) || f.data.length !== f.width * f.height * channels) {
      throw new UsageError(`a frame of ${f.width}x${f.height} has ${f.data.length} bytes; expected RGB or RGBA (${f.width * f.height * 3} or ${f.width * f.height * 4})`);
    }
    let rgba: Uint8ClampedArray;
    if (channels === 4) rgba = f.data instanceof Uint8ClampedArray ? f.data : new Uint8ClampedArray(f.data.buffer, f.data.byteOffset, f.data.length);
    else {
      rgba = new Uint8ClampedArray(f.width * f.height * 4);
      for (let i = 0; i < f.width * f.height; i++) {
        rgba[4 * i] = f.data[3 * i];
        rgba[4 * i + 1] = f.data[3 * i + 1];
        rgba[4 * i + 2] = f.data[3 * i + 2];
        rgba[4 * i + 3] = 255;
      }
    }
    const scratch = canvas2d(f.width, f.height);
    scratch.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, f.width, f.height), 0, 0);
    source = scratch.canvas;
  }
  const [w, h] =
    typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement
      ? [source.videoWidth, source.videoHeight]
      : typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement
        ? [source.naturalWidth, source.naturalHeight]
        : typeof VideoFrame !== 'undefined' && source instanceof VideoFrame
          ? [source.displayWidth, source.displayHeight]
          : [(source as { width: number }).width, (source as { height: number }).height];
  if (!(w > 0 && h > 0)) throw new UsageError('a frame has no picture yet (a video that has not loaded a frame?)');
  const side = Math.min(w, h);
  ctx.drawImage(source as CanvasImageSource, (w - side) / 2, (h - side) / 2, side, side, 0, 0, size, size);
  return ctx.getImageData(0, 0, size, size);
}

/**
 * Decodes a video file at `fps` frames per second into center squares of `size`.
 * @throws {DataError} naming the file when the browser cannot decode it
 */
async function decodeVideoFile(file: Blob, fps: number, size: number): Promise<ImageData[]> {
  const name = (file as File).name || 'the video file';
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.preload = 'auto';
  const url = URL.createObjectURL(file);
  const fail = (why: string): DataError =>
    new DataError(`${name} cannot be decoded as a video by this browser (${why}); record the clip with the camera, or convert the file to WebM (VP8/VP9) or MP4 (H.264)`);
  const event = (type: string, ms = 15_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(fail(`no ${type} event after ${ms / 1000} s`)), ms);
      const done = (): void => {
        clearTimeout(timer);
        video.removeEventListener('error', bad);
        resolve();
      };
      const bad = (): void => {
        clearTimeout(timer);
        video.removeEventListener(type, done);
        reject(fail(video.error?.message || `media error ${video.error?.code ?? 'unknown'}`));
      };
      video.addEventListener(type, done, { once: true });
      video.addEventListener('error', bad, { once: true });
    });
  try {
    const loaded = event('loadeddata');
    video.src = url;
    await loaded;
    if (!Number.isFinite(video.duration)) {
      // recorder WebM has no duration until the end has been seen: seek far to make the browser find it
      const found = event('durationchange');
      video.currentTime = 1e9;
      await found;
    }
    const duration = video.duration;
    if (!(duration > 0) || video.videoWidth === 0) throw fail('it has no video frames');
    const ctx = canvas2d(size, size);
    const frames: ImageData[] = [];
    for (let t = 0; t < duration - 1e-3; t += 1 / fps) {
      const seeked = event('seeked');
      video.currentTime = t;
      await seeked;
      frames.push(drawSquare(ctx, video as TeachFrame, size));
    }
    return frames;
  } finally {
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  }
}

/**
 * The network input of a picture as the teacher's clips see it: the center square drawn at the scale size (as a
 * recorded clip is kept), then the center crop resampled and normalized by the same code that renders a training
 * view (src/teach/clips.ts).
 */
function teachPreprocessor(prep: Required<FramePreprocessing>): (frame: FrameInput) => Float32Array {
  const size = prep.scaleSize;
  const ctx = canvas2d(size, size);
  const [h, w] = prep.inputSize;
  const { box } = centerView({ label: 0, frames: 1, size, data: new Uint8Array(0) }, 1, prep);
  const rgb = new Uint8Array(size * size * 3);
  const crop = new Uint8Array(h * w * 3);
  return (frame) => {
    if (frame instanceof Float32Array) return frame;
    const rgba = drawSquare(ctx, frame, size).data;
    for (let i = 0; i < size * size; i++) {
      rgb[3 * i] = rgba[4 * i];
      rgb[3 * i + 1] = rgba[4 * i + 1];
      rgb[3 * i + 2] = rgba[4 * i + 2];
    }
    resampleRgb(rgb, size, size, 3, box, w, h, false, crop);
    return normalizeFrame(crop, w, h, 3, prep);
  };
}

/**
 * A recognizer that sees pictures as the teacher's clips do ({@link teachPreprocessor}) and steps an attached
 * `<video>` at most `fps` times per second of video time.
 */
function paced(inner: OnlineRecognizer, fps: number, prep: Required<FramePreprocessing>): OnlineRecognizer {
  const toInput = teachPreprocessor(prep);
  const step = (frame: FrameInput): Promise<FramePrediction> => {
    let input: Float32Array;
    try {
      input = toInput(frame);
    } catch (err) {
      return Promise.reject(err);
    }
    return inner.step(input);
  };
  const attach = (video: HTMLVideoElement, onPrediction: (p: FramePrediction) => void, opts: AttachOptions = {}): (() => void) => {
    const period = 1 / fps;
    let due = -Infinity;
    let lastTime = -Infinity;
    let busy = false;
    let active = true;
    // NOTE: a frame is stepped when the video time reaches the next due time, less a quarter period for the jitter
    // of a camera's frame times, and the due time then moves on by one period: the model steps at the rate it was
    // taught at, on average exactly, whatever the camera's frame rate
    const rvfc = typeof video.requestVideoFrameCallback === 'function';
    let handle = 0;
    void inner.reset();
    const tick = (): void => {
      if (!active) return;
      const now = video.currentTime;
      if (now < lastTime) due = -Infinity; // a looping file started over
      lastTime = now;
      if (now >= due - period / 4 && !busy && video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && video.videoWidth > 0) {
        busy = true;
        // behind by more than a period (a slow step, a stalled video): start counting again from this frame
        due = now - due > period ? now + period : due + period;
        step(video)
          .then((p) => {
            busy = false;
            if (active) onPrediction(p);
          })
          .catch((err: unknown) => {
            busy = false;
            if (!active) return;
            stop();
            if (opts.onError) opts.onError(err);
            else
              queueMicrotask(() => {
                throw err;
              });
          });
      }
      handle = rvfc ? video.requestVideoFrameCallback(tick) : requestAnimationFrame(tick);
    };
    const stop = (): void => {
      if (!active) return;
      active = false;
      if (rvfc) video.cancelVideoFrameCallback(handle);
      else cancelAnimationFrame(handle);
    };
    handle = rvfc ? video.requestVideoFrameCallback(tick) : requestAnimationFrame(tick);
    return stop;
  };
  return Object.assign(Object.create(inner) as OnlineRecognizer, {
    attach,
    step,
    reset: inner.reset.bind(inner),
    dispose: inner.dispose.bind(inner),
  });
}

class WebActionTeacher implements ActionTeacher {
  readonly baseLabels: readonly string[];
  readonly minFrames: number;
  readonly clipSize: number;
  history: readonly TeachEpoch[] = [];
  private readonly stored = new Map<number, StoredClip>();
  private nextId = 1;
  private model?: OnlineMobileNetV2;
  private worker?: Worker;
  private ready?: Promise<void>;
  private training = false;
  private disposed = false;

  constructor(
    private readonly base: BaseModel,
    private readonly baseBytes: Uint8Array,
    readonly classes: readonly string[],
    readonly fps: number,
    private readonly opts: ActionTeacherOptions,
  ) {
    this.baseLabels = base.labels;
    this.minFrames = opts.training?.numSegments ?? TEACH_DEFAULTS.numSegments;
    this.clipSize = base.prep.scaleSize;
  }

  get clips(): readonly ClipInfo[] {
    return [...this.stored].map(([id, c]) => ({ id, label: this.classes[c.label], frames: c.frames }));
  }

  get trained(): boolean {
    return this.model !== undefined;
  }

  private live(): void {
    if (this.disposed) throw new UsageError('this teacher was disposed; create a new one with actionTeacher()');
  }

  private labelIndex(label: string): number {
    const i = this.classes.indexOf(label);
    if (i < 0) throw UsageError.expected('label', `one of the actions ${this.classes.map((c) => `"${c}"`).join(', ')}`, label);
    return i;
  }

  /** Adds an already stored clip (from a snapshot). */
  addStored(clip: StoredClip): ClipInfo {
    const id = this.nextId++;
    this.stored.set(id, clip);
    return { id, label: this.classes[clip.label], frames: clip.frames };
  }

  async addClip(label: string, frames: readonly TeachFrame[] | Blob): Promise<ClipInfo> {
    this.live();
    const index = this.labelIndex(label);
    const size = this.clipSize;
    let pictures: readonly TeachFrame[];
    if (typeof Blob !== 'undefined' && frames instanceof Blob) pictures = await decodeVideoFile(frames, this.fps, size);
    else if (Array.isArray(frames)) pictures = frames;
    else throw UsageError.expected('frames', 'a list of frames or a video file (Blob)', typeof frames);
    if (pictures.length < this.minFrames) {
      const what = frames instanceof Blob ? `${(frames as File).name || 'the video'} gives ${pictures.length} frames at ${this.fps} per second` : `the clip has ${pictures.length} frames`;
      throw new UsageError(`${what}; a clip of "${label}" needs at least ${this.minFrames} (about ${(this.minFrames / this.fps).toFixed(1)} s at ${this.fps} frames per second)`);
    }
    const ctx = canvas2d(size, size);
    return this.addStored(storeClip(index, pictures.map((f) => drawSquare(ctx, f, size)), size));
  }

  removeClip(id: number): boolean {
    return this.stored.delete(id);
  }

  private startWorker(): Promise<void> {
    if (this.ready) return this.ready;
    const worker = new Worker(new URL('./teach-worker.js', import.meta.url), { type: 'module', name: 'tsm-teach' });
    this.worker = worker;
    const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
    const threads = !isolated ? 1 : this.opts.threads || Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
    const msg: TeachWorkerRequest = { type: 'init', base: this.baseBytes, source: this.base.source, inputSize: this.opts.inputSize, threads, wasmPaths: this.opts.wasmPaths as Extract<TeachRequest, { type: 'init' }>['wasmPaths'] };
    this.ready = new Promise<void>((resolve, reject) => {
      const fail = (message: string): void => {
        // a worker that did not start is not kept: the next train() starts a new one
        this.stopWorker();
        reject(new DataError(message));
      };
      worker.onmessage = (e: MessageEvent<TeachReply>) => (e.data.type === 'ready' ? resolve() : e.data.type === 'error' ? fail(`the training worker failed to start: ${e.data.message}`) : undefined);
      worker.onerror = (e) => fail(`the training worker failed to start: ${e.message}`);
    });
    worker.postMessage(msg);
    return this.ready;
  }

  private stopWorker(): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.ready = undefined;
  }

  async train(opts: TrainOptions = {}): Promise<TrainResult> {
    this.live();
    if (this.training) throw new UsageError('training is already running; wait for it or cancel it with its AbortSignal');
    const { onProgress, signal, ...settings } = opts;
    const options = { ...this.opts.training, ...settings };
    const clips = [...this.stored.values()];
    checkClips(clips, this.classes, options.numSegments ?? TEACH_DEFAULTS.numSegments);
    if (signal?.aborted) throw new TeachAbortError();
    this.training = true;
    const t0 = performance.now();
    try {
      await this.startWorker();
      const worker = this.worker as Worker;
      const reply = await new Promise<Extract<TeachReply, { type: 'done' }>>((resolve, reject) => {
        const abort = (): void => {
          // the worker may be in the middle of a step: terminating it is the one way to stop at once
          this.stopWorker();
          reject(new TeachAbortError());
        };
        signal?.addEventListener('abort', abort, { once: true });
        worker.onmessage = (e: MessageEvent<TeachReply>) => {
          const m = e.data;
          if (m.type === 'progress') onProgress?.(m.progress);
          else if (m.type === 'done') {
            signal?.removeEventListener('abort', abort);
            resolve(m);
          } else if (m.type === 'error') {
            signal?.removeEventListener('abort', abort);
            reject(m.code === 'TSM_USAGE' ? new UsageError(m.message) : new DataError(`training failed: ${m.message}`));
          }
        };
        worker.onerror = (e) => {
          signal?.removeEventListener('abort', abort);
          this.stopWorker();
          reject(new DataError(`the training worker stopped: ${e.message}`));
        };
        const request: TeachWorkerRequest = { type: 'train', clips, classes: this.classes, options };
        worker.postMessage(request);
      });
      const sd = new Map(reply.weights.map(([k, dtype, shape, data]) => [k, hostTensor(dtype, shape, data as never)] as const));
      this.model = onlineMobileNetV2FromStateDict(sd, { source: 'the taught model' }).model;
      this.history = reply.history;
      return { history: reply.history, stepMs: reply.stepMs, prepareMs: reply.prepareMs, totalMs: performance.now() - t0 };
    } finally {
      this.training = false;
    }
  }

  private taught(): OnlineMobileNetV2 {
    this.live();
    if (!this.model) throw new UsageError('nothing has been taught yet: add clips of every action and call train() first');
    return this.model;
  }

  async recognizer(opts: OnlineRecognizerOptions = {}): Promise<OnlineRecognizer> {
    const bytes = taughtOnnx(this.taught(), this.classes, this.base.prep);
    const { device, threads, wasmPaths } = this.opts;
    const r = await onlineRecognizer(bytes, { device, threads, wasmPaths, smoothing: 'generic', ...opts });
    return paced(r, this.fps, this.base.prep);
  }

  async exportPth(): Promise<Uint8Array> {
    const last = this.history[this.history.length - 1];
    return taughtPth(this.taught(), { labels: this.classes, epochs: this.history.length, top1: last ? 100 * last.accuracy : 0 });
  }

  async exportOnnx(): Promise<Uint8Array> {
    return taughtOnnx(this.taught(), this.classes, this.base.prep);
  }

  /** Restores the taught weights from `.pth` bytes. */
  restoreWeights(bytes: Uint8Array): void {
    const { stateDict } = extractStateDict(parsePth(bytes, 'the saved model'), { source: 'the saved model' });
    const { model } = onlineMobileNetV2FromStateDict(stateDict, { source: 'the saved model' });
    if (model.numClasses !== this.classes.length) throw new UsageError(`the saved model has ${model.numClasses} classes, the teacher ${this.classes.length}`);
    this.model = model;
  }

  snapshot(): TeacherSnapshot {
    const clips = [...this.stored.values()].map((c) => ({ label: this.classes[c.label], frames: c.frames, size: c.size, data: c.data }));
    const last = this.history[this.history.length - 1];
    const weights = this.model ? taughtPth(this.model, { labels: this.classes, epochs: this.history.length, top1: last ? 100 * last.accuracy : 0 }) : undefined;
    return { version: 1, classes: this.classes, fps: this.fps, clips, weights, history: this.history };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.stopWorker();
  }
}

/**
 * Starts teaching new actions to an online model. Browser only.
 * @param base the base model: a URL (relative to the page) or the bytes of an exported online `.onnx` or a `.pth`
 * @param opts.classes the action names (2 to 10)
 * @param opts.fps model steps per second. @default 8
 * @throws {UsageError} for bad classes or options, or a base that is not an online model
 * @throws {DataError} when the base model cannot be fetched
 * @example
 * import { actionTeacher } from 'temporal-shift/web';
 * const teacher = await actionTeacher('/model.onnx', { classes: ['wave', 'clap', 'nothing'] });
 * await teacher.addClip('wave', frames);                     // frames taken from a <video> at teacher.fps
 * await teacher.train({ epochs: 12, onProgress: (e) => console.log(e) });
 * const r = await teacher.recognizer();
 * r.attach(video, (p) => show(p.label, p.top));
 * const pth = await teacher.exportPth();
 */
export async function actionTeacher(base: ModelSource, opts: ActionTeacherOptions): Promise<ActionTeacher> {
  const classes = checkClasses(opts?.classes);
  const fps = opts.fps ?? 8;
  if (!(fps > 0 && fps <= 60)) throw UsageError.expected('fps', 'a number of steps per second in (0, 60]', opts.fps);
  const source = typeof base === 'string' ? base : base instanceof URL ? base.href : 'the base model';
  const bytes = typeof base === 'string' || base instanceof URL ? await fetchModel(source, opts.onProgress) : new Uint8Array(base);
  const model = readBaseModel(bytes, { source, inputSize: opts.inputSize });
  const teacher = new WebActionTeacher(model, bytes, classes, fps, opts);
  const snap = opts.restore;
  if (snap) {
    if (snap.version !== 1 || snap.classes.join('\n') !== classes.join('\n')) {
      throw new UsageError(`the snapshot to restore teaches ${JSON.stringify(snap.classes)}, not ${JSON.stringify(classes)}`);
    }
    for (const c of snap.clips) teacher.addStored({ label: classes.indexOf(c.label), frames: c.frames, size: c.size, data: c.data });
    if (snap.weights) teacher.restoreWeights(snap.weights);
    teacher.history = snap.history ?? [];
  }
  return teacher;
}
