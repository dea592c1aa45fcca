/**
 * `actionRecognizer(model)`: one callable that recognises actions in videos, frame folders and clips, and streams
 * per-frame labels with the online model, keeping its onnxruntime sessions open between calls. Node only.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type SmoothingRules, smoothingFor, topK as topClasses } from '../deploy/browser.js';
import { type LiveModel, openFrameSource, recognizeFrames } from '../deploy/live.js';
import { type Image, decodeImage } from '../data/image.js';
import { formatTemplate } from '../data/template.js';
import { detectFrameTemplate } from '../evaluate/predict.js';
import { UsageError } from '../errors.js';
import { type Device, parseDevice } from '../runtime/index.js';
import { positiveInt } from '../util/check.js';
import type { ProgressCallback } from '../zoo/index.js';
import type { TsnOverrides } from '../models/load.js';
import type { RecognizerInput } from './clip-model.js';
import { type OnlineSource, openModels } from './models.js';

/** Options of {@link actionRecognizer}. Every field is optional. */
export interface ActionRecognizerOptions {
  /** Where to run: `cpu`, `cuda` (needs onnxruntime-node's CUDA binaries) or `auto`. @default 'cpu' */
  readonly device?: Device;
  /** onnxruntime intra-op threads; 0 lets it decide. @default 0 */
  readonly threads?: number;
  /** Class names that replace the model's own, one per class in class order. @default the model's labels */
  readonly labels?: readonly string[];
  /**
   * The online model for {@link ActionRecognizer.stream}: an `.onnx` from `tsm export --online`, or a `.pth`
   * (zoo name, URL or path), exported in memory. @default the model's own online variant, when it has one
   */
  readonly online?: string;
  /** Crop side of a `.pth` whose name and contents do not give it (an `.onnx` records its own). @default 224 */
  readonly inputSize?: number;
  /** TSN configuration of a `.pth` that its name does not spell out (`numSegments`, `arch`, `shiftDiv`, ...). */
  readonly overrides?: TsnOverrides;
  /** Where zoo checkpoints and URLs are downloaded. @default `$TSM_CACHE`, else `~/.cache/temporal-shift` */
  readonly cacheDir?: string;
  /** Download progress of a zoo name or URL: `initiate`, `download`, `progress`, `done` events. */
  readonly onProgress?: ProgressCallback;
  /** Receives notes about configuration defaults that were used. */
  readonly onNote?: (message: string) => void;
}

/** Options of one {@link ActionRecognizer} call. */
export interface RecognizeOptions {
  /** Classes returned, best first. @default 5 */
  readonly topK?: number;
}

/** One class with its name and probability. */
export interface ActionScore {
  /** Class index. */
  readonly index: number;
  readonly label: string;
  /** Softmax probability. */
  readonly score: number;
}

/** Options of {@link ActionRecognizer.stream}. Every field is optional. */
export interface StreamOptions {
  /** Run every n-th frame (the original online demo runs every 2nd). @default 1 */
  readonly frameStride?: number;
  /** Classes in each prediction's `top`. @default 5 */
  readonly topK?: number;
  /** Stop after this many processed frames. */
  readonly maxFrames?: number;
  /** Output smoothing rules. @default the original demo's: a 12-frame logit window, labels change after 2 agreeing frames (the Jester rules for Jester labels) */
  readonly smoothing?: SmoothingRules;
  /** Stops decoding the video (ffmpeg is killed) and ends the stream. */
  readonly signal?: AbortSignal;
}

/** One processed frame of a stream. */
export interface FramePrediction {
  /** Index of the frame in the video (0-based). */
  readonly frame: number;
  /** The smoothed label. */
  readonly label: string;
  /** Its class index. */
  readonly index: number;
  /** Its probability: softmax of the mean logits over the smoothing window. */
  readonly score: number;
  /** The best classes of the smoothed scores, best first. */
  readonly top: readonly ActionScore[];
  /** Preprocessing + model + smoothing of this frame, milliseconds. */
  readonly latencyMs: number;
}

/** What the recognizer loaded. */
export interface RecognizerModel {
  /** A file name, a zoo name, or the built-in default model. */
  readonly name: string;
  /** Class names, in class order. */
  readonly labels: readonly string[];
  /** Whether `recognize()` works: the model is a clip model. */
  readonly clip: boolean;
  /** Whether `recognize.stream()` works: the model is an online model or has one. */
  readonly online: boolean;
  /** Frames per clip and the crop side the clip model takes; undefined for an online-only model. */
  readonly numSegments?: number;
  readonly inputSize?: number;
}

/**
 * Recognises actions. Call it with a video file, a frame folder or a clip tensor; see {@link actionRecognizer}.
 */
export interface ActionRecognizer {
  /**
   * The best classes of one input, by probability (softmax over the consensus output), best first.
   * @param input a video file (decoded with ffmpeg), a folder of frames (`img_00001.jpg`...), or a normalized clip
   *   HostTensor `[T, 3, H, W]` / `[1, T·3, H, W]` at the model's crop size
   * @throws {UsageError} for a missing input, a tensor of the wrong shape, a bad `topK`, or an online-only model
   * @throws {DataError} for a video or folder that cannot be decoded
   */
  (input: RecognizerInput, options?: RecognizeOptions): Promise<ActionScore[]>;
  /**
   * Per-frame predictions of a video file, a frame folder, a camera (`/dev/video0`) or frames, from the online
   * model with its shift buffers carried between frames and the original demo's smoothing.
   * @throws {UsageError} (at once) when there is no online model, or for bad options
   */
  stream(video: string | AsyncIterable<Image>, options?: StreamOptions): AsyncGenerator<FramePrediction, void, undefined>;
  /** Frees the sessions; later calls throw. */
  dispose(): Promise<void>;
  /** What was loaded. */
  readonly model: RecognizerModel;
}

const isLive = (o: LiveModel | OnlineSource): o is LiveModel => 'stepper' in o;

/** The frames of a frame folder (`img_00001.jpg`, ...), in order, decoded one at a time. */
async function* folderFrames(dir: string, signal?: AbortSignal): AsyncGenerator<Image, void, undefined> {
  const { tmpl, numFrames } = detectFrameTemplate(await readdir(dir), 'RGB', dir);
  for (let i = 1; i <= numFrames && !signal?.aborted; i++) yield await decodeImage(join(dir, formatTemplate(tmpl, i)));
}

/**
 * Loads a model for recognition and keeps it open: the built-in default model (no download), a zoo name
 * (downloaded once into the cache), a URL, or a `.pth` / `.onnx` path. Labels come with the model: zoo models carry
 * their dataset's class names, a `.pth` from `tsm train` its categories, an exported `.onnx` its metadata. Node only.
 * @param model @default the built-in default model (a TSM-MobileNetV2 for the synthetic motion classes)
 * @param options `device`, `threads`, `labels`, `online`, ...; see {@link ActionRecognizerOptions}
 * @returns a callable recognizer with `stream()` and `dispose()`
 * @throws {UsageError} for a model that is not a zoo name, URL or file, or bad options
 * @throws {CheckpointError} for a checkpoint that does not fit; {@link DownloadError} when a download fails
 * @example
 * import { actionRecognizer } from 'temporal-shift';
 * const recognize = await actionRecognizer();
 * const top = await recognize('clip.mp4', { topK: 3 }); // [{ index, label: 'left', score: 0.97 }, ...]
 * for await (const p of recognize.stream('clip.mp4')) console.log(p.frame, p.label, p.score);
 * await recognize.dispose();
 */
export async function actionRecognizer(model?: string, options: ActionRecognizerOptions = {}): Promise<ActionRecognizer> {
  if (model !== undefined && (typeof model !== 'string' || model === '')) {
    throw UsageError.expected('model', 'a zoo name, a URL, or a .pth/.onnx path (or nothing, for the built-in default model)', model);
  }
  const device = parseDevice(options.device ?? 'cpu');
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) throw UsageError.expected('threads', 'an integer >= 0', threads);
  if (options.inputSize !== undefined) positiveInt('inputSize', options.inputSize);
  const opened = await openModels(model, options.online, { ...options, device, threads });
  const { clip, name } = opened;
  let online: Promise<LiveModel> | undefined = opened.online && isLive(opened.online) ? Promise.resolve(opened.online) : undefined;
  const labels = clip?.info.labels ?? (opened.online && isLive(opened.online) ? opened.online.info.labels : []);
  let disposed = false;
  const alive = (): void => {
    if (disposed) throw new UsageError(`this recognizer of ${name} was disposed; create another with actionRecognizer()`);
  };

  const recognize = async (input: RecognizerInput, opts: RecognizeOptions = {}): Promise<ActionScore[]> => {
    alive();
    const k = positiveInt('topK', opts.topK ?? 5);
    if (!clip) {
      throw new UsageError(`${name} is an online (streaming) model: use recognize.stream(video) for per-frame labels, or load a clip model for whole clips`);
    }
    const probs = await clip.classify(input);
    return topClasses(probs, Math.min(k, probs.length)).map(({ index, score }) => ({ index, label: clip.info.labels[index], score }));
  };

  const stream = (video: string | AsyncIterable<Image>, opts: StreamOptions = {}): AsyncGenerator<FramePrediction, void, undefined> => {
    alive();
    const stride = positiveInt('frameStride', opts.frameStride ?? 1);
    const k = positiveInt('topK', opts.topK ?? 5);
    const maxFrames = opts.maxFrames === undefined ? undefined : positiveInt('maxFrames', opts.maxFrames);
    if (!opened.online) {
      throw new UsageError(
        `recognize.stream() needs an online model and ${name} is a clip model without one. Export one with ` +
          '`tsm export --online --weights WEIGHTS.pth --out online.onnx` (a TSM-MobileNetV2; weights trained with `tsm train --online-shift` run unchanged) ' +
          "and pass it as actionRecognizer(model, { online: 'online.onnx' }), or load it itself with actionRecognizer('online.onnx')",
      );
    }
    if (typeof video === 'string' && !existsSync(video) && !/^(?:v4l2:|\/dev\/video)/.test(video)) {
      throw new UsageError(`video ${video} does not exist; expected a video file, a frame folder, a camera (/dev/videoN, v4l2:<device>) or an async iterable of frames`);
    }
    const source = opened.online;
    online ??= isLive(source) ? Promise.resolve(source) : source.open();
    const loading = online;
    return (async function* () {
      const live = await loading;
      const frames =
        typeof video !== 'string' ? video : statSync(video, { throwIfNoEntry: false })?.isDirectory() ? folderFrames(video, opts.signal) : openFrameSource(video, { signal: opts.signal });
      const rules = { ...(opts.smoothing ?? smoothingFor(live.info.labels)), topK: live.info.numClasses };
      // each stream has its own shift buffers on the shared session
      const perStream: LiveModel = { ...live, stepper: live.createStepper() };
      for await (const p of recognizeFrames(frames, perStream, { frameStride: stride, smoothing: rules, maxSteps: maxFrames })) {
        if (disposed) return;
        const score = p.top.find((t) => t.index === p.index)?.score ?? 0;
        yield { frame: p.frame, label: p.label, index: p.index, score, top: p.top.slice(0, k).map(({ index, label, score: s }) => ({ index, label, score: s })), latencyMs: p.latencyMs };
      }
    })();
  };

  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await clip?.release();
    const live = await online?.catch(() => undefined);
    await live?.release();
  };

  const description: RecognizerModel = Object.freeze({
    name,
    labels,
    clip: clip !== undefined,
    online: opened.online !== undefined,
    numSegments: clip?.input.numSegments,
    inputSize: clip?.input.inputSize,
  });
  return Object.assign(recognize, { stream, dispose, model: description });
}
