/**
 * From model outputs to video scores, as test_models.py `eval_video` and its ensemble loop: the views of a video
 * (crops x clips) are averaged, `rst.reshape(batch_size, num_crop, -1).mean(1)`, then optionally turned into
 * probabilities (`--softmax`), then the models of an ensemble are combined, `sum(coeff_i * rst_i) / len(models)`.
 * Pure functions; they run anywhere.
 */
import { ShapeError, UsageError } from '../errors.js';
import { type HostTensor, hostTensor } from '../tensor/index.js';
import { positiveInt } from '../util/check.js';
import { softmax } from '../util/scores.js';

/**
 * A batch of videos `[B, V·T·C·L, H, W]` (the loader's layout: view after view) as `[B·V, T·C·L, H, W]`, one row
 * per view, as `data.view(-1, length, h, w)` then `.view(batch_size * num_crop, T, ...)` does. No copy.
 * @throws {ShapeError} when the channels are not a multiple of `views`
 */
export function splitViews<T extends HostTensor>(input: T, views: number): T {
  const [b, c, h, w] = input.shape;
  if (input.shape.length !== 4 || c % views !== 0) {
    throw new ShapeError(`a test batch should be [B, views x T x C, H, W] with ${views} views, got [${input.shape.join(',')}]`);
  }
  return hostTensor(input.dtype, [b * views, c / views, h, w], input.data) as T;
}

/** Softmax of each row of a `[N, C]` matrix, in place, in float64 (max subtracted first). */
export function softmaxRows(x: Float64Array, numClass: number): Float64Array {
  for (let r = 0; r < x.length / numClass; r++) {
    const row = x.subarray(r * numClass, (r + 1) * numClass);
    softmax(row, row);
  }
  return x;
}

/** Options of {@link averageViews}. */
export interface AverageViewsOptions {
  /** Softmax after averaging the views (`--softmax`). @default false */
  readonly softmax?: boolean;
}

/**
 * Video scores from per-view logits: the mean over each video's `views` rows, then softmax on request.
 * A `[B·V, T, C]` output (identity consensus) is averaged over T too, as the original does for a TSN baseline
 * (`rst.reshape((batch_size, -1, num_class)).mean(axis=1)`).
 * NOTE: the mean is taken in float64 and rounded to float32 once; torch averages in float32, so the last bit may
 * differ from the original's, never the order of classes except on exact ties.
 * @param logits `[B·V, C]` or `[B·V, T, C]`
 * @returns float32 `[B, C]` row-major
 * @throws {ShapeError} when the rows are not a multiple of `views`
 * @example averageViews(float32([6, 10]), 3) // 2 videos x 10 classes
 */
export function averageViews(logits: HostTensor, views: number, opts: AverageViewsOptions = {}): Float32Array {
  positiveInt('views', views);
  const s = logits.shape;
  if ((s.length !== 2 && s.length !== 3) || s[0] % views !== 0) {
    throw new ShapeError(`logits should be [B x ${views} views, num_class] or [B x ${views} views, T, num_class], got [${s.join(',')}]`);
  }
  const numClass = s[s.length - 1];
  const batch = s[0] / views;
  const rows = views * (s.length === 3 ? s[1] : 1);
  const data = logits.data as ArrayLike<number>;
  const acc = new Float64Array(batch * numClass);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      const off = (b * rows + r) * numClass;
      for (let c = 0; c < numClass; c++) acc[b * numClass + c] += Number(data[off + c]);
    }
  }
  for (let i = 0; i < acc.length; i++) acc[i] /= rows;
  if (opts.softmax) softmaxRows(acc, numClass);
  return Float32Array.from(acc);
}

/**
 * An ensemble's scores: `sum(coeff_i * scores_i) / n` (test_models.py divides by the number of models, not by the
 * sum of the coefficients).
 * @param parts each `[N, C]` row-major, all of one size
 * @param coeffs one per part. @default all 1
 * @throws {ShapeError} when the parts differ in size; {@link UsageError} when the coefficients do not match
 */
export function combineScores(parts: readonly Float32Array[], coeffs: readonly number[] = parts.map(() => 1)): Float32Array {
  if (parts.length === 0) throw new UsageError('an ensemble needs at least one set of scores');
  if (coeffs.length !== parts.length) throw new UsageError(`${coeffs.length} coefficients (coeffs) for ${parts.length} models; give one per model`, { options: ['coeffs'] });
  if (parts.length === 1 && coeffs[0] === 1) return parts[0];
  const n = parts[0].length;
  const acc = new Float64Array(n);
  parts.forEach((p, k) => {
    if (p.length !== n) throw new ShapeError(`ensemble member ${k} has ${p.length} scores, member 0 has ${n}`);
    for (let i = 0; i < n; i++) acc[i] += coeffs[k] * p[i];
  });
  for (let i = 0; i < n; i++) acc[i] /= parts.length;
  return Float32Array.from(acc);
}
