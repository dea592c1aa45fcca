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

/** What {@link assertWithin} measured: the largest |actual - expected| and the largest |actual - expected| / bound. */
export interface BoundReport {
  readonly maxErr: number;
  readonly maxRatio: number;
}

/**
 * Asserts `|actual[i] - expected[i]| <= bound[i]` elementwise (a number bounds every element), where the bound is
 * the rounding-error bound of the computation (test/helpers/fp32-bounds.ts); the message names the worst element.
 * A bound of 0 asks for exact equality.
 */
export function assertWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: ArrayLike<number> | number, what = 'values'): BoundReport {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs expected ${expected.length}`);
  const at = (i: number) => (typeof bound === 'number' ? bound : bound[i]);
  let maxErr = 0;
  let maxRatio = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const err = Number.isNaN(d) ? Infinity : d;
    maxErr = Math.max(maxErr, err);
    const b = at(i);
    maxRatio = Math.max(maxRatio, err === 0 ? 0 : err / b);
    if (err - b > worstExcess) {
      worstExcess = err - b;
      worst = i;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]}: |diff| ${Math.abs(actual[worst] - expected[worst])} > bound ${at(worst)} (max |diff| ${maxErr})`);
  }
  return { maxErr, maxRatio };
}

/** `max |diff| 1.2e-7 = 0.03 of the bound` for `t.diagnostic`. */
export const describeBound = (what: string, r: BoundReport): string =>
  `${what}: max |diff| ${r.maxErr.toExponential(2)} = ${r.maxRatio.toPrecision(2)} of the bound`;
