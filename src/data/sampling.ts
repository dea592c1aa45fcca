/**
 * TSN frame sampling, as ops/dataset.py `TSNDataSet._sample_indices` / `_get_val_indices` / `_get_test_indices`
 * and `get`. Indices are 1-based frame numbers (frame files are numbered from 1), exactly as the original returns
 * them (`offsets + 1`).
 */
import { UsageError } from '../errors.js';
import { positiveInt } from '../util/check.js';
import { RandomState } from './random.js';

/** Options shared by the three samplers (the original's TSNDataSet arguments). */
export interface SamplingOptions {
  /** Segments per clip (`num_segments`). */
  readonly numSegments: number;
  /** Consecutive frames per segment: 1 for RGB, 5 for Flow (`new_length`). @default 1 */
  readonly newLength?: number;
  /** I3D-style dense sampling: a 64-frame window with stride 64/numSegments (`dense_sample`). @default false */
  readonly denseSample?: boolean;
  /** Test only: also take the segment starts, doubling the clip (`twice_sample`). @default false */
  readonly twiceSample?: boolean;
}

/** Size of the dense-sampling window (the original's constant 64). */
export const DENSE_WINDOW = 64;
/** Number of clips dense sampling takes at test time (`np.linspace(..., num=10)`). */
export const DENSE_TEST_CLIPS = 10;

function checked(numFrames: number, opts: SamplingOptions): { n: number; segs: number; newLength: number } {
  const { numSegments, newLength = 1 } = opts;
  positiveInt('numSegments', numSegments);
  positiveInt('newLength', newLength);
  positiveInt('numFrames', numFrames);
  return { n: numFrames, segs: numSegments, newLength };
}

/** Dense offsets from one start: `(idx * t_stride + start) % num_frames + 1`. */
function denseFrom(start: number, n: number, segs: number): number[] {
  const stride = Math.floor(DENSE_WINDOW / segs);
  return Array.from({ length: segs }, (_, idx) => ((idx * stride + start) % n) + 1);
}

/** `np.random.randint(0, sample_pos - 1)` or 0, the dense window start used in training and validation. */
function denseStart(n: number, rng: RandomState): number {
  const samplePos = Math.max(1, 1 + n - DENSE_WINDOW);
  return samplePos === 1 ? 0 : rng.randint(0, samplePos - 1);
}

/**
 * Training indices (`_sample_indices`): a random frame inside each of `numSegments` equal segments, or with
 * `denseSample` a random 64-frame window. Random draws come from `rng`.
 * @returns `numSegments` 1-based frame numbers
 * @example sampleIndices(100, { numSegments: 8 }, new RandomState(1)) // e.g. [3, 20, 27, 46, 56, 68, 81, 96]
 */
export function sampleIndices(numFrames: number, opts: SamplingOptions, rng: RandomState): number[] {
  const { n, segs, newLength } = checked(numFrames, opts);
  if (opts.denseSample) return denseFrom(denseStart(n, rng), n, segs);
  const averageDuration = Math.floor((n - newLength + 1) / segs);
  if (averageDuration > 0) {
    return rng.randints(segs, averageDuration).map((r, i) => i * averageDuration + r + 1);
  }
  if (n > segs) {
    return rng.randints(segs, n - newLength + 1).sort((a, b) => a - b).map((o) => o + 1);
  }
  return new Array<number>(segs).fill(1);
}

/**
 * Validation indices (`_get_val_indices`): the centre of each segment; with `denseSample`, a window whose start
 * is drawn from `rng` (the original draws it from numpy's global RNG: `new RandomState(0)` reproduces a run right
 * after `np.random.seed(0)`).
 * @param rng only used with `denseSample` on videos longer than 64 frames. @default new RandomState(0)
 * @returns `numSegments` 1-based frame numbers
 * @example getValIndices(30, { numSegments: 8 }) // [2, 6, 10, 14, 17, 21, 25, 29]
 */
export function getValIndices(numFrames: number, opts: SamplingOptions, rng: RandomState = new RandomState(0)): number[] {
  const { n, segs, newLength } = checked(numFrames, opts);
  if (opts.denseSample) return denseFrom(denseStart(n, rng), n, segs);
  if (n > segs + newLength - 1) {
    const tick = (n - newLength + 1) / segs;
    return Array.from({ length: segs }, (_, x) => Math.trunc(tick / 2 + tick * x) + 1);
  }
  return new Array<number>(segs).fill(1);
}

/**
 * Test indices (`_get_test_indices`): segment centres; with `twiceSample` followed by the segment starts
 * (2 x numSegments); with `denseSample` 10 windows evenly spread over the video (10 x numSegments).
 * NOTE: unlike validation there is no short-video branch: `tick < 1` repeats frames, as the original does.
 * @returns 1-based frame numbers, clip after clip
 * @example getTestIndices(30, { numSegments: 8, twiceSample: true }).length // 16
 */
export function getTestIndices(numFrames: number, opts: SamplingOptions): number[] {
  const { n, segs, newLength } = checked(numFrames, opts);
  if (opts.denseSample) {
    const samplePos = Math.max(1, 1 + n - DENSE_WINDOW);
    // np.linspace(0, sample_pos - 1, num=10, dtype=int): evenly spaced, truncated toward zero
    const out: number[] = [];
    const step = (samplePos - 1) / (DENSE_TEST_CLIPS - 1);
    for (let k = 0; k < DENSE_TEST_CLIPS; k++) {
      const start = k === DENSE_TEST_CLIPS - 1 ? samplePos - 1 : Math.trunc(k * step);
      out.push(...denseFrom(start, n, segs));
    }
    return out;
  }
  const tick = (n - newLength + 1) / segs;
  const centres = Array.from({ length: segs }, (_, x) => Math.trunc(tick / 2 + tick * x) + 1);
  if (!opts.twiceSample) return centres;
  return [...centres, ...Array.from({ length: segs }, (_, x) => Math.trunc(tick * x) + 1)];
}

/**
 * Expands segment indices into the frames actually loaded (`TSNDataSet.get`): `newLength` consecutive frames from
 * each index, not stepping past the last frame.
 * @example framesToLoad([1, 4], 5, 3) // [1, 2, 3, 4, 5, 5]
 */
export function framesToLoad(indices: readonly number[], numFrames: number, newLength = 1): number[] {
  const out: number[] = [];
  for (const segInd of indices) {
    let p = Math.trunc(segInd);
    for (let i = 0; i < newLength; i++) {
      out.push(p);
      if (p < numFrames) p += 1;
    }
  }
  return out;
}

/** Which sampler a dataset uses: training (`random_shift`), validation, or test mode. */
export type SamplingMode = 'train' | 'val' | 'test';

/** Dispatches to {@link sampleIndices}, {@link getValIndices} or {@link getTestIndices}. */
export function segmentIndices(mode: SamplingMode, numFrames: number, opts: SamplingOptions, rng: RandomState): number[] {
  if (mode === 'train') return sampleIndices(numFrames, opts, rng);
  if (mode === 'val') return getValIndices(numFrames, opts, rng);
  return getTestIndices(numFrames, opts);
}
