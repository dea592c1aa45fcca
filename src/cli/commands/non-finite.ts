/**
 * Warnings for NaN and infinite values: a user's input file that holds them gives NaN logits with no error from
 * onnxruntime, so the verbs that read one say so on stderr.
 */
import { type HostTensor, countNonFinite } from '../../tensor/index.js';

/**
 * How many values of `t` are NaN or infinite, and in how many of its rows (first axis), or undefined when all
 * are finite.
 * @example nonFiniteWarning('--input x.npy', t, 'clip') // '--input x.npy: 3 NaN and 1 infinite of 1204224 values, in 1 of 2 clips'
 */
export function nonFiniteWarning(what: string, t: HostTensor, rowName = 'row'): string | undefined {
  const { nan, inf } = countNonFinite(t);
  if (nan + inf === 0) return undefined;
  const rows = t.shape[0] ?? 1;
  const per = rows > 0 ? t.data.length / rows : 0;
  let bad = 0;
  for (let r = 0; r < rows; r++) {
    const row = countNonFinite({ ...t, shape: [per], data: t.data.subarray(r * per, (r + 1) * per) } as HostTensor);
    if (row.nan + row.inf > 0) bad++;
  }
  const counts = [nan > 0 ? `${nan} NaN` : '', inf > 0 ? `${inf} infinite` : ''].filter(Boolean).join(' and ');
  return `${what}: ${counts} of ${t.data.length} values, in ${bad} of ${rows} ${rowName}${rows === 1 ? '' : 's'}`;
}
