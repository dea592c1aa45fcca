/**
 * Recorded clips and their augmented views. A clip is kept as square RGB frames at the model's scale size (the
 * center square of each picture, resized so its side is `scaleSize`: 73 for a 64 crop, 256 for 224); the
 * recognizer's preprocessing (shorter side to `scaleSize`, center crop) then sees the middle `inputSize` square of
 * it. A training view is a random crop (scale jitter), an optional horizontal flip and a run of `numSegments`
 * consecutive frames at a jittered speed; the evaluation view is the center crop at the recorded speed.
 * Browser-safe, pure TypeScript (no canvas), so Node tests and the browser worker compute the same pixels.
 */
import { normalizeFrame, type FramePreprocessing } from '../deploy/browser.js';
import { ShapeError, UsageError } from '../errors.js';

/** One picture: RGB or RGBA bytes, row-major (`ImageData` is one). */
export interface RgbFrame {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint8ClampedArray;
  /** Bytes per pixel. @default data.length / (width * height) */
  readonly channels?: 3 | 4;
}

/** A clip as the teacher keeps it: `frames` square RGB pictures of side `size`, one after another. */
export interface StoredClip {
  /** Class index. */
  readonly label: number;
  readonly frames: number;
  readonly size: number;
  /** `frames * size * size * 3` bytes. */
  readonly data: Uint8Array;
}

/**
 * One separable pass of a triangle (bilinear) filter whose support widens with the shrink factor (as Pillow's
 * BILINEAR resize, so shrinking a webcam frame averages instead of aliasing), over `len` outputs from the source
 * span `[start, start + span)`.
 * @returns per output: first source index, and the normalized weights
 */
function filterTaps(start: number, span: number, len: number, srcLen: number): { first: Int32Array; weights: Float32Array; taps: number } {
  const scale = span / len;
  const support = Math.max(1, scale);
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(len);
  const weights = new Float32Array(len * taps);
  for (let i = 0; i < len; i++) {
    const centre = start + (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(srcLen, Math.ceil(centre + support));
    first[i] = lo;
    let sum = 0;
    for (let j = lo; j < hi && j - lo < taps; j++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - centre) / support));
      weights[i * taps + j - lo] = w;
      sum += w;
    }
    if (sum > 0) for (let k = 0; k < taps; k++) weights[i * taps + k] /= sum;
  }
  return { first, weights, taps };
}

/** A box of a picture, in source pixels. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/**
 * Resamples `box` of an RGB(A) picture to `dstW x dstH` RGB bytes, mirrored left-right when `flip`.
 * @returns `out` (allocated when omitted)
 */
export function resampleRgb(
  src: ArrayLike<number>,
  srcW: number,
  srcH: number,
  channels: number,
  box: Box,
  dstW: number,
  dstH: number,
  flip = false,
  out: Uint8Array = new Uint8Array(dstW * dstH * 3),
): Uint8Array {
  const xs = filterTaps(box.x, box.w, dstW, srcW);
  const ys = filterTaps(box.y, box.h, dstH, srcH);
  // horizontal pass into float rows, only over the rows the vertical pass reads
  const rowLo = ys.first[0];
  const rowHi = Math.min(srcH, ys.first[dstH - 1] + ys.taps);
  const tmp = new Float32Array((rowHi - rowLo) * dstW * 3);
  for (let y = rowLo; y < rowHi; y++) {
    const row = y * srcW * channels;
    const o = (y - rowLo) * dstW * 3;
    for (let x = 0; x < dstW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const f = xs.first[x];
      for (let k = 0; k < xs.taps; k++) {
        const w = xs.weights[x * xs.taps + k];
        if (w === 0) continue;
        const p = row + (f + k) * channels;
        r += src[p] * w;
        g += src[p + 1] * w;
        b += src[p + 2] * w;
      }
      const d = o + (flip ? dstW - 1 - x : x) * 3;
      tmp[d] = r;
      tmp[d + 1] = g;
      tmp[d + 2] = b;
    }
  }
  for (let y = 0; y < dstH; y++) {
    const f = ys.first[y];
    for (let x = 0; x < dstW * 3; x++) {
      let v = 0;
      for (let k = 0; k < ys.taps; k++) {
        const w = ys.weights[y * ys.taps + k];
        if (w !== 0) v += tmp[(f + k - rowLo) * dstW * 3 + x] * w;
      }
      out[y * dstW * 3 + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return out;
}

/**
 * The center square of a picture, resized to `size x size` RGB: how a clip frame is kept.
 * @throws {ShapeError} when the bytes do not match the size
 */
export function squareFrame(frame: RgbFrame, size: number): Uint8Array {
  const { width, height, data } = frame;
  const channels = frame.channels ?? data.length / (width * height);
  if (!(width > 0 && height > 0) || (channels !== 3 && channels !== 4) || data.length !== width * height * channels) {
    throw new ShapeError(`a frame of ${width}x${height} has ${data.length} bytes; expected RGB or RGBA (${width * height * 3} or ${width * height * 4})`);
  }
  const side = Math.min(width, height);
  return resampleRgb(data, width, height, channels, { x: (width - side) / 2, y: (height - side) / 2, w: side, h: side }, size, size);
}

/**
 * Makes a stored clip of pictures.
 * @throws {ShapeError} for a picture whose bytes do not match its size
 */
export function storeClip(label: number, frames: readonly RgbFrame[], size: number): StoredClip {
  const per = size * size * 3;
  const data = new Uint8Array(frames.length * per);
  frames.forEach((f, i) => data.set(squareFrame(f, size), i * per));
  return { label, frames: frames.length, size, data };
}

/** Where a view takes its pixels and frames from. */
export interface ViewSpec {
  /** Frame index (fractional) of the first segment. */
  readonly start: number;
  /** Frames advanced per segment (1: the recorded speed). */
  readonly rate: number;
  /** Crop box in the stored square. */
  readonly box: Box;
  readonly flip: boolean;
}

/** How training views vary. */
export interface AugmentOptions {
  /** Crop side as a fraction of the stored square, `[min, max]`; the center crop is `inputSize / scaleSize`. @default [0.8, 1] */
  readonly scale?: readonly [number, number];
  /** Mirror left-right half of the time (only for actions where direction does not matter). @default false */
  readonly flip?: boolean;
  /** Playback speed factor, `[min, max]` (frames advanced per segment). @default [0.8, 1.25] */
  readonly speed?: readonly [number, number];
}

/** The frame indices of a view's segments (clamped to the clip). */
export function viewFrames(view: ViewSpec, numSegments: number, frames: number): number[] {
  return Array.from({ length: numSegments }, (_, t) => Math.min(frames - 1, Math.max(0, Math.round(view.start + t * view.rate))));
}

/**
 * The evaluation view: the center crop the recognizer sees, at the recorded speed, the last `numSegments` frames
 * (the online model has seen the whole clip by then).
 */
export function centerView(clip: StoredClip, numSegments: number, prep: Pick<FramePreprocessing, 'inputSize' | 'scaleSize'>): ViewSpec {
  const [h, w] = prep.inputSize;
  const ch = (clip.size * h) / prep.scaleSize;
  const cw = (clip.size * w) / prep.scaleSize;
  return { start: Math.max(0, clip.frames - numSegments), rate: 1, box: { x: (clip.size - cw) / 2, y: (clip.size - ch) / 2, w: cw, h: ch }, flip: false };
}

/** A random training view of `clip` (`random` returns uniform numbers in [0, 1)). */
export function randomView(clip: StoredClip, numSegments: number, prep: Pick<FramePreprocessing, 'inputSize' | 'scaleSize'>, aug: AugmentOptions, random: () => number): ViewSpec {
  const [sLo, sHi] = aug.scale ?? [0.8, 1];
  const [vLo, vHi] = aug.speed ?? [0.8, 1.25];
  const [h, w] = prep.inputSize;
  const side = clip.size * (sLo + (sHi - sLo) * random());
  // keep the crop's aspect ratio that of the input
  const bw = Math.min(clip.size, (side * w) / Math.max(h, w));
  const bh = Math.min(clip.size, (side * h) / Math.max(h, w));
  // slower than recorded needs frames in between: the nearest one repeats, as a camera at a lower rate would
  const rate = Math.max(vLo + (vHi - vLo) * random(), 1e-3);
  const span = (numSegments - 1) * rate;
  const start = Math.max(0, clip.frames - 1 - span) * random();
  return { start, rate, box: { x: (clip.size - bw) * random(), y: (clip.size - bh) * random(), w: bw, h: bh }, flip: (aug.flip ?? false) && random() < 0.5 };
}

/**
 * Renders a view as `numSegments` normalized frames `[T, 3, H, W]` into `out` at `offset`.
 * @throws {UsageError} when the clip has fewer frames than segments
 */
export function renderView(clip: StoredClip, view: ViewSpec, numSegments: number, prep: Pick<FramePreprocessing, 'inputSize' | 'mean' | 'std' | 'inputRange'>, out: Float32Array, offset = 0): void {
  if (clip.frames < numSegments) throw new UsageError(`a clip of ${clip.frames} frames is shorter than the ${numSegments} frames a training view needs`);
  const [h, w] = prep.inputSize;
  const per = clip.size * clip.size * 3;
  const rgb = new Uint8Array(h * w * 3);
  viewFrames(view, numSegments, clip.frames).forEach((f, t) => {
    resampleRgb(clip.data.subarray(f * per, (f + 1) * per), clip.size, clip.size, 3, view.box, w, h, view.flip, rgb);
    normalizeFrame(rgb, w, h, 3, prep, out.subarray(offset + t * 3 * h * w, offset + (t + 1) * 3 * h * w));
  });
}
