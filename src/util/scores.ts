/**
 * Reading class scores: argmax, softmax and the top k, shared by evaluation (per video) and deployment (per
 * frame). Pure functions; browser-safe.
 */

/** One class and its score. */
export interface ClassScore {
  readonly index: number;
  readonly score: number;
}

/** Index of the largest value (the first one on ties), as `np.argmax`. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Softmax in float64, the largest logit subtracted first so `exp` cannot overflow.
 * @param out where to write; may be `logits` itself. @default a new Float64Array
 */
export function softmax(logits: ArrayLike<number>, out: Float64Array = new Float64Array(logits.length)): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < logits.length; i++) out[i] /= sum;
  return out;
}

/**
 * The `k` best classes of `scores`, best first; ties go to the lower index (numpy's `argmax` picks the first
 * maximum). One pass, O(n·k).
 */
export function topK(scores: ArrayLike<number>, k: number): ClassScore[] {
  const best: number[] = [];
  for (let c = 0; c < scores.length; c++) {
    const v = scores[c];
    if (best.length === k && !(v > scores[best[k - 1]])) continue;
    let at = best.length;
    while (at > 0 && v > scores[best[at - 1]]) at--;
    best.splice(at, 0, c);
    if (best.length > k) best.pop();
  }
  return best.map((index) => ({ index, score: scores[index] }));
}
