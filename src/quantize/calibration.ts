/**
 * Activation statistics gathered while the float model runs on calibration data, and the ranges the three
 * calibration methods choose from them: `minmax` (the whole observed range), `percentile` (the range that holds
 * all but the largest 0.001% of magnitudes) and `entropy` (TensorRT's KL-divergence threshold). Pure
 * arithmetic: no onnxruntime and no Node built-ins.
 */
import { InternalError, UsageError } from '../errors.js';

/** The calibration methods, as `--calibration-method` spells them. */
export const CALIBRATION_METHODS = Object.freeze({ minmax: 'minmax', percentile: 'percentile', entropy: 'entropy' } as const);
/** One of {@link CALIBRATION_METHODS}. */
export type CalibrationMethod = keyof typeof CALIBRATION_METHODS;

/** A float range `[min, max]` an activation is quantised over. */
export interface Range {
  readonly min: number;
  readonly max: number;
}

/** Bins of the magnitude histogram (as onnxruntime's calibrator). */
export const HISTOGRAM_BINS = 2048;

/** The percentile of magnitudes `percentile` keeps. @default as onnxruntime's calibrator */
export const DEFAULT_PERCENTILE = 99.999;

/**
 * Running min, max and a histogram of `|x|` of one tensor. The histogram starts at the first batch's largest
 * magnitude and doubles its bin width (merging bin pairs) whenever a later batch goes past its end, so one pass
 * over the calibration data is enough.
 */
export class TensorStats {
  /** @param histogram keep the magnitude histogram (the clipping methods need it; min/max does not) */
  constructor(readonly histogram = true) {}

  min = Infinity;
  max = -Infinity;
  /** Values seen. */
  count = 0;
  /** Values that were exactly 0 (ReLU's dead half): the zero point represents them exactly at any range. */
  zeros = 0;
  readonly hist = new Float64Array(HISTOGRAM_BINS);
  /** Width of one bin; 0 until a non-zero value arrives. */
  binWidth = 0;

  /** Adds a batch of values. */
  add(data: ArrayLike<number>): void {
    let lo = this.min;
    let hi = this.max;
    let nan = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v !== v) nan++;
    }
    const absMax = Math.max(Math.abs(lo), Math.abs(hi));
    if (nan > 0 || !Number.isFinite(absMax)) {
      throw new UsageError(`calibration met non-finite activations (${nan > 0 ? `${nan} NaN` : `range ${lo} .. ${hi}`}); the float model overflows on this data`);
    }
    this.min = lo;
    this.max = hi;
    this.count += data.length;
    if (!this.histogram) return;
    if (absMax === 0) {
      this.hist[0] += data.length;
      this.zeros += data.length;
      return;
    }
    if (this.binWidth === 0) this.binWidth = absMax / HISTOGRAM_BINS;
    while (absMax > this.binWidth * HISTOGRAM_BINS) this.widen();
    const inv = 1 / this.binWidth;
    const last = HISTOGRAM_BINS - 1;
    const h = this.hist;
    let zeros = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v === 0) zeros++;
      const b = Math.floor(Math.abs(v) * inv);
      h[b > last ? last : b] += 1;
    }
    this.zeros += zeros;
  }

  /** Doubles the bin width: bins 2k and 2k+1 become bin k. */
  private widen(): void {
    const h = this.hist;
    for (let k = 0; k < HISTOGRAM_BINS / 2; k++) h[k] = h[2 * k] + h[2 * k + 1];
    h.fill(0, HISTOGRAM_BINS / 2);
    this.binWidth *= 2;
  }
}

/** The magnitude below which `percentile` percent of the values lie (upper edge of that bin). */
function percentileThreshold(s: TensorStats, percentile: number): number {
  const target = (s.count * percentile) / 100;
  let acc = 0;
  for (let b = 0; b < HISTOGRAM_BINS; b++) {
    acc += s.hist[b];
    if (acc >= target) return (b + 1) * s.binWidth;
  }
  return HISTOGRAM_BINS * s.binWidth;
}

/**
 * TensorRT's entropy calibration over the magnitude histogram: the threshold whose `levels`-level quantisation
 * loses the least information (smallest KL divergence between the clipped reference distribution, outliers
 * folded into its last bin, and its quantised version).
 */
function entropyThreshold(s: TensorStats, levels: number): number {
  // NOTE: exact zeros are left out: quantisation keeps them exactly, and ReLU's spike of them would otherwise
  // dominate the divergence and pull the threshold far below the values that matter
  const h = Float64Array.from(s.hist);
  h[0] -= s.zeros;
  let bestKl = Infinity;
  let best = HISTOGRAM_BINS;
  const p = new Float64Array(HISTOGRAM_BINS);
  const q = new Float64Array(HISTOGRAM_BINS);
  let tail = 0;
  for (let b = 0; b < HISTOGRAM_BINS; b++) tail += h[b];
  // tail = mass at or beyond bin i, maintained as i grows
  for (let b = 0; b < levels; b++) tail -= h[b];
  for (let i = levels; i <= HISTOGRAM_BINS; i++) {
    for (let b = 0; b < i; b++) p[b] = h[b];
    p[i - 1] += tail;
    if (i < HISTOGRAM_BINS) tail -= h[i];
    // quantise the first i bins of the histogram (not p: outliers are not spread) into `levels` groups
    const per = i / levels;
    q.fill(0, 0, i);
    for (let j = 0; j < levels; j++) {
      const start = Math.floor(j * per);
      const end = j === levels - 1 ? i : Math.floor((j + 1) * per);
      let sum = 0;
      let nonZero = 0;
      for (let b = start; b < end; b++) {
        sum += h[b];
        if (h[b] > 0) nonZero++;
      }
      if (nonZero === 0) continue;
      const avg = sum / nonZero;
      for (let b = start; b < end; b++) if (h[b] > 0) q[b] = avg;
    }
    let pSum = 0;
    let qSum = 0;
    for (let b = 0; b < i; b++) {
      pSum += p[b];
      qSum += q[b];
    }
    if (pSum === 0 || qSum === 0) continue;
    let kl = 0;
    for (let b = 0; b < i; b++) {
      if (p[b] === 0) continue;
      const pb = p[b] / pSum;
      // NOTE: a reference bin that quantises to nothing (only possible for the folded last bin) is smoothed
      const qb = q[b] > 0 ? q[b] / qSum : 1e-10;
      kl += pb * Math.log(pb / qb);
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best * s.binWidth;
}

/**
 * The range `method` picks for one tensor. The clipping methods cut the magnitude at a threshold `t` and keep
 * the observed side of zero: `[max(min, -t), min(max, t)]`.
 * @param levels quantisation levels the range will be split into (entropy only): 256 for a one-sided uint8
 * range, 128 per side otherwise
 */
export function rangeFor(s: TensorStats, method: CalibrationMethod, opts: { readonly percentile?: number; readonly levels?: number } = {}): Range {
  if (s.count === 0) throw new UsageError('no calibration values reached a tensor; the calibration set is empty');
  if (method !== 'minmax' && !s.histogram) throw new InternalError(`the ${method} method needs statistics gathered with a histogram`);
  if (method === 'minmax' || s.binWidth === 0) return { min: s.min, max: s.max };
  const oneSided = s.min >= 0;
  const t = method === 'percentile' ? percentileThreshold(s, opts.percentile ?? DEFAULT_PERCENTILE) : entropyThreshold(s, opts.levels ?? (oneSided ? 256 : 128));
  return { min: Math.max(s.min, -t), max: Math.min(s.max, t) };
}
