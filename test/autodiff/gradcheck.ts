/**
 * Finite-difference check of the emitted backward graph: builds `loss = sum(f(inputs) * r)` with a seeded
 * random projection `r`, asks buildBackward for d loss / d input, and compares each (sampled) element with the
 * central difference `(loss(x+) - loss(x-)) / (x+ - x-)`, x± = x ± h rounded to the input's dtype, computed by
 * running the same graph in onnxruntime.
 *
 * The tolerance of element i is the error bound of that comparison, so it holds whatever kernels the CPU gets:
 *
 *   |analytic - fd| <= trunc + gamma_K * ((S(x+) + S(x-)) / (x+ - x-) + G_i)
 *
 * - trunc = h^2 / 6 * |L'''|: the central difference's Taylor remainder. It is 0 for ops linear in each input
 *   element (as long as h stays clear of kinks: ReLU's 0, a MaxPool tie). Otherwise L''' is estimated by a third
 *   difference with a wider step in float64 (doubled, plus that difference's own rounding): a property of the
 *   function, not of the CPU.
 * - gamma_K = K u / (1 - K u) (Higham, Lemma 3.1) bounds the relative error of a value that went through K
 *   roundings; K = n (the loss's dot product with r) + the input elements (a bound on the roundings of one output
 *   or gradient element: the terms of a reduction) + 8 (its elementwise steps).
 * - S(x) = sum_j |r_j| Y_j bounds the magnitudes the loss is summed from, so the two loss values are each off by at
 *   most gamma_K S(x±); the quotient divides that by the step. G_i bounds the magnitudes the analytic gradient
 *   element is summed from, giving its own rounding error.
 * - Y and G: `magnitude: 'abs'` runs the same graph (or `absBody`) on |inputs| and |r|: for sums of products this
 *   is exactly sum |terms| per output and per gradient element, and for monotone elementwise ops (Exp, Sigmoid, Log
 *   and Sqrt of positive inputs) an upper bound. For normalisations and softmax a function of the inputs bounds
 *   every term instead.
 * - h follows: linear ops have no truncation error, so h is large (2^10) and the rounding term tends to
 *   gamma_K G_i; a caller near kinks passes a step below the distance to them. Otherwise h minimises the sum:
 *   h = (3 gamma_K S / |L'''|)^(1/3).
 * - `integers` (float32, linear ops): inputs and r are small integers and h = 1; when every |partial sum| (bounded by
 *   the |inputs| run) stays below 2^24 each fp32 product and sum is exact whatever the summation order, SIMD width
 *   or FMA use, so the bound is 0 and the analytic gradient must equal the central difference exactly.
 */
import assert from 'node:assert/strict';
import { buildBackward } from '../../src/autodiff/index.js';
import { GraphBuilder, type Value, encodeOnnx, isStaticShape } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, hostTensor, numel } from '../../src/tensor/index.js';
import { F32_EXACT_INT, U32, U64, gamma } from '../helpers/fp32-bounds.js';
import { makeRng } from '../helpers/rng.js';

/** One graph input of a check. */
export interface CheckInput {
  readonly shape: readonly number[];
  /** @default the check's dtype */
  readonly dtype?: 'float32' | 'float64' | 'int64';
  /** Values (default: seeded standard normal, or small integers with `integers`). */
  readonly values?: ArrayLike<number>;
  /** Differentiate with respect to this input. @default true for floats */
  readonly grad?: boolean;
}

/** Float input values by name, for a {@link CheckOptions.magnitude} function. */
export type CheckValues = Readonly<Record<string, ArrayLike<number>>>;

type Body = (g: GraphBuilder, xs: Record<string, Value>) => Value;

/** Options of {@link gradCheck}. */
export interface CheckOptions {
  /** dtype of inputs without their own. @default 'float64' */
  readonly dtype?: 'float32' | 'float64';
  /** The op is linear in each input element (within h): no truncation error. @default false */
  readonly linear?: boolean;
  /** Step. @default 2^10 for linear ops, 1 with `integers`, else chosen per element from the bound */
  readonly h?: number;
  /**
   * What bounds the magnitudes summed into each loss, output and gradient element: 'abs' runs the graph on |inputs|;
   * a function returns a bound M on every term of an output or of the derivative of an output, from the input
   * values (then S = M sum|r| and G = M sum|r|). @default 'abs'
   */
  readonly magnitude?: 'abs' | ((values: CheckValues) => number);
  /** Graph whose value on |inputs| bounds the magnitudes, where the op's own does not (Sub: Add). @default the body */
  readonly absBody?: Body;
  /** Small integer inputs and r, h = 1, exact fp32 arithmetic: tolerance 0 (linear ops only). @default false */
  readonly integers?: boolean;
  /** Elements checked per input (a seeded sample when larger). @default 48 */
  readonly maxElems?: number;
  readonly seed?: number;
  /** Opset of the graph. @default 17 */
  readonly opset?: number;
}

/** What a check measured: the worst error, the worst error / tolerance (0 when exact) and the checked elements. */
export interface CheckReport {
  readonly maxAbs: number;
  readonly maxRel: number;
  readonly maxRatio: number;
  readonly exact: boolean;
  readonly checked: number;
}

type FloatArray = Float32Array | Float64Array;
const floatArray = (dtype: 'float32' | 'float64', n: number): FloatArray => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
const PROJECTION = 'projection';

/** Builds `loss = sum(body(inputs) * projection)` and the gradients of `diff`; returns a session over it. */
async function lossSession(specs: Readonly<Record<string, CheckInput>>, dtype: 'float32' | 'float64', diff: readonly string[], body: Body, opset: number) {
  const g = new GraphBuilder({ opset });
  const xs: Record<string, Value> = {};
  for (const [name, spec] of Object.entries(specs)) xs[name] = g.input(name, spec.dtype ?? dtype, spec.shape);
  const y = body(g, xs);
  assert.ok(isStaticShape(y.shape), `output shape must be static, got [${y.shape.join(',')}]`);
  const ydt = y.dtype as 'float32' | 'float64';
  const r = g.input(PROJECTION, ydt, y.shape);
  const loss = y.rank === 0 ? g.mul(y, r) : g.reduceSum(g.mul(y, r), y.shape.map((_, i) => i), false);
  const grads = buildBackward(g, loss, diff.map((k) => xs[k]));
  g.output(loss, 'loss');
  grads.forEach((d, i) => {
    assert.ok(d, `no gradient reached input "${diff[i]}"`);
    g.output(d, `grad_${diff[i]}`);
  });
  const session = await createSession(encodeOnnx(g.build()), { threads: 1 });
  return { session, yShape: y.shape as number[], ydt };
}

/** Runs the check; throws (failing the test) on the first element outside its bound. */
export async function gradCheck(inputs: Readonly<Record<string, CheckInput>>, body: Body, opts: CheckOptions = {}): Promise<CheckReport> {
  const dtype = opts.dtype ?? 'float64';
  const integers = opts.integers ?? false;
  const linear = opts.linear ?? false;
  assert.ok(!integers || (linear && dtype === 'float32'), 'integers: for float32 checks of linear ops');
  assert.ok(linear || dtype === 'float64', 'a float32 difference quotient cannot estimate a third derivative: check nonlinear ops in float64');
  const rng = makeRng(opts.seed ?? 7);
  const draw = (): number => (integers ? rng.int(7) - 3 : rng.normal());

  const feeds: Record<string, HostTensor> = {};
  const diff: string[] = [];
  let inputElems = 0;
  for (const [name, spec] of Object.entries(inputs)) {
    const dt = spec.dtype ?? dtype;
    const n = numel(spec.shape);
    if (dt === 'int64') {
      feeds[name] = hostTensor('int64', spec.shape, BigInt64Array.from(Array.from(spec.values ?? new Array<number>(n).fill(0), (v) => BigInt(v))));
      continue;
    }
    const data = floatArray(dt, n);
    if (spec.values) data.set(Array.from(spec.values));
    else for (let i = 0; i < n; i++) data[i] = draw();
    feeds[name] = hostTensor(dt, spec.shape, data);
    inputElems += n;
    if (spec.grad !== false) diff.push(name);
  }
  const opset = opts.opset ?? 17;
  const main = await lossSession(inputs, dtype, diff, body, opset);
  const absMain = opts.absBody && typeof opts.magnitude !== 'function' ? await lossSession(inputs, dtype, diff, opts.absBody, opset) : main;
  try {
    const r = floatArray(main.ydt, numel(main.yShape));
    // with integers, r is never 0, so every output's |partial sums| are bounded by S (see the integer check below)
    for (let i = 0; i < r.length; i++) r[i] = integers ? (1 + rng.int(3)) * (rng.uniform() < 0.5 ? -1 : 1) : rng.normal();
    feeds[PROJECTION] = hostTensor(main.ydt, main.yShape, r);
    let sumAbsR = 0;
    for (const v of r) sumAbsR += Math.abs(v);

    const f32 = dtype === 'float32';
    const u = f32 ? U32 : U64;
    // the magnitudes are themselves computed in the dtype: (1 + gamma_K) covers their rounding
    const gk = gamma(r.length + inputElems + 8, u);
    const gb = gk * (1 + gk);

    const lossAt = async (f: Record<string, HostTensor>): Promise<number> => Number((await main.session.run(f, ['loss'])).loss.data[0]);
    const absFeeds = (): Record<string, HostTensor> =>
      Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dtype === 'int64' ? t : hostTensor(t.dtype, t.shape, (t.data as FloatArray).map(Math.abs))]));
    const values = (): CheckValues => Object.fromEntries(Object.entries(feeds).filter(([k, t]) => k !== PROJECTION && t.dtype !== 'int64').map(([k, t]) => [k, t.data as FloatArray]));
    const magnitudeFn = typeof opts.magnitude === 'function' ? opts.magnitude : undefined;
    /** S(x) for the current feeds. */
    const lossMagnitude = async (): Promise<number> =>
      magnitudeFn ? magnitudeFn(values()) * sumAbsR : Math.abs(Number((await absMain.session.run(absFeeds(), ['loss'])).loss.data[0]));

    const out = await main.session.run(feeds);
    const absOut = magnitudeFn ? undefined : await absMain.session.run(absFeeds());
    const gradMagnitude = magnitudeFn ? magnitudeFn(values()) * sumAbsR : 0;
    let maxAbs = 0;
    let maxRel = 0;
    let maxRatio = 0;
    let checked = 0;
    for (const name of diff) {
      const x = feeds[name].data as FloatArray;
      const analytic = out[`grad_${name}`].data as FloatArray;
      const absGrad = absOut?.[`grad_${name}`].data as FloatArray | undefined;
      assert.equal(analytic.length, x.length, `gradient of "${name}" has ${analytic.length} elements, input ${x.length}`);
      const maxElems = opts.maxElems ?? 48;
      let idx = Array.from({ length: x.length }, (_, i) => i);
      if (idx.length > maxElems) {
        for (let i = idx.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          [idx[i], idx[j]] = [idx[j], idx[i]];
        }
        idx = idx.slice(0, maxElems);
      }
      for (const i of idx) {
        const x0 = x[i];
        /** Loss and its magnitude S with x[i] = v (rounded to the dtype); x[i] is restored. */
        const at = async (v: number): Promise<{ x: number; loss: number; s: number }> => {
          x[i] = v;
          const res = { x: x[i], loss: await lossAt(feeds), s: await lossMagnitude() };
          x[i] = x0;
          return res;
        };
        let h = opts.h ?? (integers ? 1 : 2 ** 10);
        let trunc = 0;
        if (!linear) {
          // L''' by the third difference at step h3 (float64, exact steps), plus that difference's own rounding error
          const h3 = 2 ** -7;
          const [a, b, c, d] = [await at(x0 + 2 * h3), await at(x0 + h3), await at(x0 - h3), await at(x0 - 2 * h3)];
          const m3 = (2 * Math.abs(a.loss - 2 * b.loss + 2 * c.loss - d.loss) + gb * (a.s + 2 * b.s + 2 * c.s + d.s)) / (2 * h3 ** 3);
          const s0 = (await at(x0)).s;
          h = opts.h ?? Math.min(h3 / 4, Math.max(2 ** -30, Math.cbrt((3 * gb * s0) / Math.max(m3, Number.MIN_VALUE))));
          trunc = (h * h * m3) / 6;
        }
        const plus = await at(x0 + h);
        const minus = await at(x0 - h);
        const [xp, lp, sp] = [plus.x, plus.loss, plus.s];
        const [xm, lm, sm] = [minus.x, minus.loss, minus.s];
        const fd = (lp - lm) / (xp - xm);
        const gMag = magnitudeFn ? gradMagnitude : Math.abs(absGrad![i]) + Math.abs(analytic[i]);
        const err = Math.abs(analytic[i] - fd);
        let bound: number;
        if (integers) {
          const worst = Math.max(sp, sm, gMag);
          assert.ok(worst < F32_EXACT_INT, `d loss / d ${name}[${i}]: magnitudes reach ${worst}, beyond 2^24 where fp32 integer arithmetic stops being exact`);
          bound = 0;
        } else {
          bound = trunc + gb * ((sp + sm) / Math.abs(xp - xm) + gMag);
        }
        maxAbs = Math.max(maxAbs, err);
        maxRel = Math.max(maxRel, err / Math.max(Math.abs(fd), 1e-3));
        if (bound > 0) maxRatio = Math.max(maxRatio, err / bound);
        checked++;
        if (!(err <= bound)) {
          assert.fail(`d loss / d ${name}[${i}]: rule ${analytic[i]}, finite difference ${fd} (h ${h}): |diff| ${err} > bound ${bound} (truncation ${trunc})`);
        }
      }
    }
    return { maxAbs, maxRel, maxRatio, exact: integers, checked };
  } finally {
    await main.session.release();
    if (absMain !== main) await absMain.session.release();
  }
}

/** Formats a report for `t.diagnostic`. */
export const describe = (what: string, r: CheckReport): string =>
  `${what}: ${r.checked} elements, max |err| ${r.maxAbs.toExponential(2)}, max rel ${r.maxRel.toExponential(2)}, ${r.exact ? 'exact (bound 0)' : `max err/bound ${r.maxRatio.toPrecision(2)}`}`;

/** `n` seeded values whose magnitudes are at least `margin` (away from ReLU's kink at 0). */
export function awayFromZero(n: number, margin: number, seed = 3): number[] {
  const rng = makeRng(seed);
  return Array.from({ length: n }, () => {
    const v = rng.normal();
    return Math.sign(v || 1) * (margin + Math.abs(v));
  });
}

/** A seeded permutation of `n` distinct values spaced `step` apart (no ties for MaxPool). */
export function distinctValues(n: number, step: number, seed = 5): number[] {
  const rng = makeRng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * step);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}
