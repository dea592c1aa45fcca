/**
 * Decoding straight from video files with the system ffmpeg (rawvideo rgb24 on stdout), so prediction and the
 * online demo need no frame folders. Node only (spawns `ffmpeg` / `ffprobe`).
 */
import { DataError, UsageError } from '../errors.js';
import { spawnChild } from '../util/spawn-child.js';
import { makeImage, type Image } from './image.js';
import { RandomState } from './random.js';
import { framesToLoad, segmentIndices, type SamplingMode, type SamplingOptions } from './sampling.js';

/** Executables used; override with `$TSM_FFMPEG` / `$TSM_FFPROBE`. */
export const FFMPEG = process.env.TSM_FFMPEG ?? 'ffmpeg';
export const FFPROBE = process.env.TSM_FFPROBE ?? 'ffprobe';

/** What {@link probeVideo} learns about a video's first video stream. */
export interface VideoInfo {
  /** Displayed size (after rotation metadata, which ffmpeg applies when decoding). */
  readonly width: number;
  readonly height: number;
  /** Frame count from the container, or by counting packets when the container has none. */
  readonly numFrames: number;
  /** Average frame rate, frames per second (NaN when unknown). */
  readonly fps: number;
}

function run(cmd: string, args: readonly string[], what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (cause) => reject(new DataError(`cannot run ${cmd} for ${what}: ${cause.message} (is ffmpeg installed? set TSM_FFMPEG/TSM_FFPROBE)`, { cause })));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new DataError(`${cmd} failed on ${what} (exit ${code}): ${lastLines(Buffer.concat(err).toString())}`));
    });
  });
}

function lastLines(s: string, n = 3): string {
  return s.trim().split('\n').slice(-n).join(' | ') || 'no message';
}

function parseRate(r: string | undefined): number {
  if (!r) return NaN;
  const [a, b] = r.split('/').map(Number);
  return b ? a / b : a;
}

/**
 * Reads size, frame count and frame rate with ffprobe.
 * @throws {DataError} when the file is missing, not a video, or has no video stream
 * @example const { numFrames } = await probeVideo('clip.mp4');
 */
export async function probeVideo(path: string): Promise<VideoInfo> {
  const show = async (count: boolean): Promise<Record<string, unknown>> => {
    const args = ['-v', 'error', '-select_streams', 'v:0', ...(count ? ['-count_packets'] : []), '-show_streams', '-of', 'json', path];
    const json = JSON.parse((await run(FFPROBE, args, path)).toString()) as { streams?: Record<string, unknown>[] };
    const s = json.streams?.[0];
    if (!s) throw new DataError(`${path} has no video stream`);
    return s;
  };
  let s = await show(false);
  let numFrames = Number(s.nb_frames);
  if (!(numFrames > 0)) {
    s = await show(true);
    numFrames = Number(s.nb_read_packets);
  }
  let width = Number(s.width);
  let height = Number(s.height);
  const side = (s.side_data_list as { rotation?: number }[] | undefined)?.find((d) => d.rotation !== undefined);
  const rotate = Number((s.tags as Record<string, string> | undefined)?.rotate ?? side?.rotation ?? 0);
  if (Math.abs(rotate) % 180 === 90) [width, height] = [height, width];
  if (!(width > 0 && height > 0)) throw new DataError(`ffprobe reports no frame size for ${path}`);
  return { width, height, numFrames: numFrames > 0 ? numFrames : 0, fps: parseRate(s.avg_frame_rate as string | undefined) };
}

/** Options of {@link decodeVideoFrames}. */
export interface VideoDecodeOptions {
  /** Rescale so the shorter side is this many pixels (bilinear, in ffmpeg). @default the video's size */
  readonly shortSide?: number;
  /** Resample to this frame rate (ffmpeg `fps` filter). @default the video's rate */
  readonly fps?: number;
  /** Abort decoding (the iterator ends and ffmpeg is stopped). */
  readonly signal?: AbortSignal;
}

/** Output size for a shorter side (even numbers, as video scalers prefer). */
function outputSize(info: VideoInfo, shortSide?: number): { width: number; height: number } {
  if (shortSide === undefined) return { width: info.width, height: info.height };
  if (!Number.isInteger(shortSide) || shortSide < 2) throw UsageError.expected('shortSide', 'an integer >= 2', shortSide);
  const even = (x: number): number => Math.max(2, 2 * Math.round(x / 2));
  return info.width <= info.height
    ? { width: even(shortSide), height: even((shortSide * info.height) / info.width) }
    : { width: even((shortSide * info.width) / info.height), height: even(shortSide) };
}

/**
 * Decodes a video frame by frame (async iterator of RGB {@link Image}s), reading ffmpeg's rawvideo stdout with
 * back-pressure, so memory stays at a few frames. Breaking out of the loop stops ffmpeg.
 * @throws {DataError} when ffmpeg cannot decode the file
 * @example for await (const frame of decodeVideoFrames('clip.mp4', { shortSide: 256 })) model.push(frame);
 */
export async function* decodeVideoFrames(path: string, opts: VideoDecodeOptions = {}): AsyncGenerator<Image, void, undefined> {
  yield* decodeProbed(path, await probeVideo(path), opts);
}

/** {@link decodeVideoFrames} for a video already probed (ffprobe may read the whole file to count frames). */
async function* decodeProbed(path: string, info: VideoInfo, opts: VideoDecodeOptions): AsyncGenerator<Image, void, undefined> {
  const { width, height } = outputSize(info, opts.shortSide);
  const filters = [`scale=${width}:${height}:flags=bilinear`];
  if (opts.fps !== undefined) filters.unshift(`fps=${opts.fps}`);
  const args = ['-v', 'error', '-nostdin', '-i', path, '-vf', filters.join(','), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const child = spawnChild(FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const frameBytes = width * height * 3;
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (cause) => reject(new DataError(`cannot run ${FFMPEG} for ${path}: ${cause.message}`, { cause })));
    child.on('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  const onAbort = (): void => void child.kill('SIGKILL');
  opts.signal?.addEventListener('abort', onAbort);
  let pending: Buffer[] = [];
  let have = 0;
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending.push(chunk);
      have += chunk.length;
      while (have >= frameBytes) {
        const all = pending.length === 1 ? pending[0] : Buffer.concat(pending);
        const frame = new Uint8Array(frameBytes);
        frame.set(all.subarray(0, frameBytes));
        const rest = all.subarray(frameBytes);
        pending = rest.length > 0 ? [rest] : [];
        have = rest.length;
        yield makeImage(width, height, 3, frame);
      }
    }
    const code = await exited;
    finished = true;
    if (code !== 0 && !opts.signal?.aborted) {
      throw new DataError(`ffmpeg could not decode ${path} (exit ${code}): ${lastLines(Buffer.concat(stderr).toString())}`);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (!finished) child.kill('SIGKILL');
  }
}

/** Options of {@link sampleVideoFrames}. */
export interface VideoSampleOptions extends SamplingOptions, Omit<VideoDecodeOptions, 'fps'> {
  /** Which TSN sampler to use. @default 'val' (segment centres) */
  readonly mode?: SamplingMode;
  /** Randomness for 'train' sampling and dense 'val'. @default new RandomState(0) */
  readonly rng?: RandomState;
}

/** Frames sampled from a video, TSN-style. */
export interface VideoSample {
  /** The frames, in the order of `frameIndices` (repeats included). */
  readonly frames: Image[];
  /** 1-based segment indices, as for a frame folder. */
  readonly indices: readonly number[];
  /** 1-based frame numbers actually taken (`newLength` per segment). */
  readonly frameIndices: readonly number[];
  /** Frames the video really had. */
  readonly numFrames: number;
}

/**
 * Samples frames from a video TSN-style without a frame folder: counts frames with ffprobe, picks the indices
 * with the same samplers as the frame-folder dataset, then decodes once, keeping only those frames. When the
 * container's count was wrong (fewer decoded frames), it samples again from the frames it really has.
 * @throws {DataError} when the video cannot be probed or decoded, or has no frames
 * @example const { frames } = await sampleVideoFrames('clip.mp4', { numSegments: 8, shortSide: 256 });
 */
export async function sampleVideoFrames(path: string, opts: VideoSampleOptions): Promise<VideoSample> {
  const { mode = 'val', rng = new RandomState(0), newLength = 1 } = opts;
  const info = await probeVideo(path);
  const pick = async (numFrames: number): Promise<VideoSample & { decoded: number }> => {
    const indices = segmentIndices(mode, numFrames, opts, rng);
    const frameIndices = framesToLoad(indices, numFrames, newLength);
    const wanted = new Set(frameIndices);
    const kept = new Map<number, Image>();
    let n = 0;
    for await (const frame of decodeProbed(path, info, opts)) {
      n++;
      if (wanted.has(n)) kept.set(n, frame);
    }
    const frames = frameIndices.map((i) => kept.get(i)).filter((f): f is Image => f !== undefined);
    return { frames, indices, frameIndices, numFrames: n, decoded: n };
  };
  if (info.numFrames > 0) {
    const first = await pick(info.numFrames);
    if (first.frames.length === first.frameIndices.length) return first;
    if (first.decoded === 0) throw new DataError(`${path} decoded to no frames`);
    return pick(first.decoded); // NOTE: the container over-counted; sample again with the true count
  }
  // no count anywhere: decode everything once, then sample
  const all: Image[] = [];
  for await (const frame of decodeProbed(path, info, opts)) all.push(frame);
  if (all.length === 0) throw new DataError(`${path} decoded to no frames`);
  const indices = segmentIndices(mode, all.length, opts, rng);
  const frameIndices = framesToLoad(indices, all.length, newLength);
  return { frames: frameIndices.map((i) => all[i - 1]), indices, frameIndices, numFrames: all.length };
}
