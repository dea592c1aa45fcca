/**
 * Live recognition in Node (`tsm demo`): frames from a video file or a camera (ffmpeg), the online model one frame
 * at a time with its shift buffers carried over, and the original demo's output smoothing. Node only.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DataError, UsageError } from '../errors.js';
import { spawnChild } from '../util/spawn-child.js';
import { encodeOnnx } from '../graph/index.js';
import { FFMPEG, decodeVideoFrames } from '../data/video.js';
import { type Image, cropImage, makeImage, resizeBilinear } from '../data/image.js';
import type { OnlineMobileNetV2 } from '../models/online-mobilenet-v2.js';
import { loadOnlineMobileNetV2 } from '../models/online.js';
import { type Device, type Session, createSession } from '../runtime/index.js';
import { defaultCacheDir, getZooEntry, isCached, zooCachePath } from '../zoo/index.js';
import { hostTensor } from '../tensor/index.js';
import { buildOnlineExportGraph } from './export.js';
import { type DeployInfo, type FramePreprocessing, parseDeployMetadata } from './metadata.js';
import { readOnnxMetadata } from './onnx-metadata.js';
import { OnlineStepper, type OrtLikeSession } from './online-stepper.js';
import { centerCropOffset, scaledSize } from '../util/crop-geometry.js';
import { normalizeFrame } from './preprocess.js';
import { OutputSmoother, type SmoothingRules, smoothingFor } from './smoothing.js';

/** The zoo model live recognition uses when none is given: the original demo's Jester checkpoint. */
export const DEFAULT_ONLINE_MODEL = 'mobilenetv2_jester_online';

/**
 * The cached file of {@link DEFAULT_ONLINE_MODEL}, or undefined when it has not been downloaded (nothing is
 * fetched here: `tsm demo --weights mobilenetv2_jester_online` downloads it). Node only.
 * @param cacheDir @default defaultCacheDir()
 */
export async function findDefaultOnlineWeights(cacheDir: string = defaultCacheDir()): Promise<string | undefined> {
  const entry = getZooEntry(DEFAULT_ONLINE_MODEL);
  return (await isCached(entry, cacheDir)) ? zooCachePath(entry, cacheDir) : undefined;
}

/** Where a camera input is: `/dev/videoN`, or `v4l2:<device>`. */
const CAMERA = /^(?:v4l2:(.+)|(\/dev\/video\d+))$/;

/** Options of {@link openFrameSource}. */
export interface FrameSourceOptions {
  /** Camera capture size, `[width, height]`. @default [640, 480] */
  readonly cameraSize?: readonly [number, number];
  /** Stops decoding (ffmpeg is killed). */
  readonly signal?: AbortSignal;
}

/**
 * Frames of a video file (decoded by ffmpeg, frame by frame) or a V4L2 camera (`/dev/video0`, `v4l2:/dev/video1`;
 * ffmpeg's v4l2 input). Node only.
 * @throws {UsageError} when the input is neither an existing file nor an existing camera device
 * @example for await (const frame of openFrameSource('clip.mp4')) frame.width;
 */
export function openFrameSource(input: string, opts: FrameSourceOptions = {}): AsyncGenerator<Image, void, undefined> {
  const cam = CAMERA.exec(input);
  if (cam) {
    const device = cam[1] ?? cam[2];
    if (device.startsWith('/dev/') && !existsSync(device)) {
      throw new UsageError(`input ${input}: no camera at ${device}; give a video file instead, or another /dev/videoN`, { options: ['input'] });
    }
    const [w, h] = opts.cameraSize ?? [640, 480];
    return ffmpegFrames(['-f', 'v4l2', '-video_size', `${w}x${h}`, '-i', device], w, h, device, opts.signal);
  }
  if (!existsSync(input)) {
    throw new UsageError(`input ${input}: no such video file, and not a camera (use /dev/videoN or v4l2:<device>)`, { options: ['input'] });
  }
  return decodeVideoFrames(input, { signal: opts.signal });
}

/**
 * Raw RGB frames from any ffmpeg input (`inputArgs` ends with `-i <source>`), scaled to `width` x `height`.
 * Used for cameras, whose frame count ffprobe cannot give. Node only.
 * @throws {DataError} when ffmpeg fails (the message has its last lines)
 */
export async function* ffmpegFrames(inputArgs: readonly string[], width: number, height: number, what: string, signal?: AbortSignal): AsyncGenerator<Image, void, undefined> {
  const args = ['-v', 'error', '-nostdin', ...inputArgs, '-vf', `scale=${width}:${height}:flags=bilinear`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const child = spawnChild(FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (cause) => reject(new DataError(`cannot run ${FFMPEG} for ${what}: ${cause.message} (is ffmpeg installed?)`, { cause })));
    child.on('close', resolve);
  });
  exited.catch(() => undefined);
  const onAbort = (): void => void child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort);
  const frameBytes = width * height * 3;
  let pending: Buffer = Buffer.alloc(0);
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= frameBytes) {
        yield makeImage(width, height, 3, new Uint8Array(pending.subarray(0, frameBytes)));
        pending = pending.subarray(frameBytes);
      }
    }
    const code = await exited;
    finished = true;
    if (code !== 0 && !signal?.aborted) {
      const msg = Buffer.concat(stderr).toString().trim().split('\n').slice(-3).join(' | ');
      throw new DataError(`ffmpeg could not read ${what} (exit ${code}): ${msg || 'no message'}`);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!finished) child.kill('SIGKILL');
  }
}

/**
 * The online demo's `get_transform()` on one RGB frame: resize the shorter side to `scaleSize` (bilinear, as
 * PIL), center-crop `inputSize`, then normalize to `[3, H, W]` floats. Node only.
 */
export async function preprocessImage(img: Image, prep: FramePreprocessing, out?: Float32Array): Promise<Float32Array> {
  if (img.channels !== 3) throw new DataError(`live frames must be RGB, got ${img.channels} channel(s)`);
  const [th, tw] = prep.inputSize;
  const size = scaledSize(img.width, img.height, prep.scaleSize);
  const scaled = resizeBilinear(img, size.width, size.height);
  const { left, top } = centerCropOffset(size.width, size.height, tw, th);
  const crop = cropImage(scaled, left, top, tw, th);
  return normalizeFrame(crop.data, tw, th, 3, prep, out);
}

/** A float32 tensor as the stepper sees it, over our runtime's host tensors. */
export interface DimsTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** Adapts a runtime {@link Session} to the stepper's onnxruntime-like interface. */
function stepSession(s: Session): OrtLikeSession<DimsTensor> {
  return {
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    run: async (feeds) => {
      const host = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, hostTensor('float32', t.dims, t.data)]));
      const out = await s.run(host);
      return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dims: t.shape, data: t.data as Float32Array }]));
    },
  };
}

/** Options of {@link openOnlineModel}. Give exactly one of `model`, `weights` and `network`. */
export interface OnlineModelOptions {
  /** An online model written by `tsm export --online`. */
  readonly model?: string;
  /** A checkpoint to export in memory (the online demo's state dict, or a TSM-MobileNetV2 TSN checkpoint). */
  readonly weights?: string;
  /** A loaded online network (e.g. from `loadOnlineMobileNetV2`), exported in memory. */
  readonly network?: OnlineMobileNetV2;
  /** Crop side, or `[height, width]`, when exporting `weights` or `network`. @default 224 */
  readonly inputSize?: number | readonly [number, number];
  /** Class names when exporting `weights` or `network` (an exported model has its own). */
  readonly labels?: readonly string[];
  /** @default 'cpu' */
  readonly device?: Device;
  /** onnxruntime intra-op threads; 0 lets it decide. @default 0 */
  readonly threads?: number;
}

/** An online model ready to step. */
export interface LiveModel {
  readonly info: DeployInfo;
  /** The model's stepper (one stream's shift buffers). */
  readonly stepper: OnlineStepper<DimsTensor>;
  /** Another stepper on the same session, with buffers of its own: one per concurrent stream. */
  createStepper(): OnlineStepper<DimsTensor>;
  /** Frees the session. */
  release(): Promise<void>;
}

/**
 * Opens an exported online model, or exports a checkpoint or a loaded network in memory, on onnxruntime-node; its
 * {@link OnlineStepper} runs one frame at a time with the shift buffers carried over. Node only.
 * @throws {UsageError} unless exactly one of `model`, `weights` and `network` is given, or when the model is not an
 *   online one
 * @example
 * const live = await openOnlineModel({ model: 'online.onnx', threads: 2 });
 * const logits = await live.stepper.step(frame); // frame: normalized float32 [3 * H * W]
 * await live.release();
 */
export async function openOnlineModel(opts: OnlineModelOptions): Promise<LiveModel> {
  if ([opts.model, opts.weights, opts.network].filter((x) => x !== undefined).length !== 1) {
    throw new UsageError('pass exactly one of model (an .onnx from tsm export --online), weights (a .pth) and network', { options: ['model', 'weights', 'network'] });
  }
  let bytes: Uint8Array;
  let name: string;
  if (opts.network !== undefined) {
    name = 'online_mobilenet_v2 step graph';
    bytes = encodeOnnx(buildOnlineExportGraph(opts.network, { inputSize: opts.inputSize, labels: opts.labels }).graph);
  } else if (opts.model !== undefined) {
    name = opts.model;
    try {
      bytes = await readFile(opts.model);
    } catch (cause) {
      throw new UsageError(`cannot read model ${opts.model}: ${(cause as Error).message}`, { cause, options: ['model'] });
    }
  } else {
    name = opts.weights as string;
    const { model } = await loadOnlineMobileNetV2(name);
    bytes = encodeOnnx(buildOnlineExportGraph(model, { inputSize: opts.inputSize, labels: opts.labels }).graph);
  }
  const session = await createSession(bytes, { device: opts.device ?? 'cpu', threads: opts.threads ?? 0, name });
  try {
    const info = parseDeployMetadata(readOnnxMetadata(bytes), session);
    const createStepper = (): OnlineStepper<DimsTensor> => new OnlineStepper(stepSession(session), (data, dims) => ({ data, dims }), info);
    return { info, stepper: createStepper(), createStepper, release: () => session.release() };
  } catch (err) {
    await session.release();
    throw err;
  }
}

/** Options of {@link recognizeFrames}. */
export interface RecognizeOptions {
  /** Run every n-th frame; the original demo runs every 2nd (`i_frame % 2 == 0`). @default 2 */
  readonly frameStride?: number;
  /** Smoothing rules. @default the Jester rules for Jester labels, else the generic ones */
  readonly smoothing?: SmoothingRules;
  /** Stop after this many processed frames. */
  readonly maxSteps?: number;
}

/** A class with its name and softmax score. */
export interface LabelScore {
  readonly index: number;
  readonly label: string;
  readonly score: number;
}

/** One processed frame. */
export interface LivePrediction {
  /** Index of the frame in the source (0-based). */
  readonly frame: number;
  /** Processed frames before this one. */
  readonly step: number;
  /** The smoothed class and its name. */
  readonly index: number;
  readonly label: string;
  /** This frame's own argmax. */
  readonly rawIndex: number;
  readonly rawLabel: string;
  /** Top classes of the smoothed scores. */
  readonly top: readonly LabelScore[];
  /** Preprocessing + model + smoothing, milliseconds (the original's `t2 - t1`). */
  readonly latencyMs: number;
  /** The model step alone, milliseconds. */
  readonly modelMs: number;
}

/**
 * Runs the online model over frames, one at a time, and yields the smoothed prediction of each processed frame.
 * Node only.
 * @throws {UsageError} for a bad `frameStride`
 * @example
 * for await (const p of recognizeFrames(openFrameSource('clip.mp4'), live)) console.log(p.label, p.latencyMs);
 */
export async function* recognizeFrames(frames: AsyncIterable<Image>, live: LiveModel, opts: RecognizeOptions = {}): AsyncGenerator<LivePrediction, void, undefined> {
  const stride = opts.frameStride ?? 2;
  if (!Number.isInteger(stride) || stride < 1) throw UsageError.expected('frameStride', 'a positive integer', stride);
  const { info, stepper } = live;
  const smoother = new OutputSmoother(opts.smoothing ?? smoothingFor(info.labels));
  const buffer = new Float32Array(stepper.frameSize);
  const named = (index: number, score: number): LabelScore => ({ index, label: info.labels[index] ?? `class ${index}`, score });
  let frame = -1;
  let step = 0;
  for await (const img of frames) {
    frame += 1;
    if (frame % stride !== 0) continue;
    const t1 = performance.now();
    await preprocessImage(img, info, buffer);
    const t2 = performance.now();
    const logits = await stepper.step(buffer);
    const t3 = performance.now();
    const p = smoother.push(logits);
    const t4 = performance.now();
    yield {
      frame,
      step,
      index: p.index,
      label: named(p.index, 0).label,
      rawIndex: p.rawIndex,
      rawLabel: named(p.rawIndex, 0).label,
      top: p.top.map((t) => named(t.index, t.score)),
      latencyMs: t4 - t1,
      modelMs: t3 - t2,
    };
    step += 1;
    if (opts.maxSteps !== undefined && step >= opts.maxSteps) return;
  }
}
