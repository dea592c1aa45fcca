import assert from 'node:assert/strict';

/** Options of {@link assertClose}: the check is `|a - b| <= atol + rtol * |expected|` elementwise. */
export interface CloseOptions {
  readonly atol?: number;
  readonly rtol?: number;
  readonly what?: string;
}

/** Asserts two arrays are elementwise close; the message names the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}): void {
  const { atol = 1e-5, rtol = 1e-5, what = 'values' } = opts;
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
    const excess = Number.isNaN(d) ? Infinity : d - (atol + rtol * Math.abs(expected[i]));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (max |diff| ${maxAbs}, atol ${atol}, rtol ${rtol})`,
    );
  }
}

/** Largest absolute elementwise difference. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
