/**
 * Finite-difference check of the emitted backward graph: builds `loss = sum(f(inputs) * r)` with a seeded
 * random `r`, asks buildBackward for d loss / d input, and compares each (sampled) element with the central
 * difference `(loss(x + h) - loss(x - h)) / 2h` computed by running the same graph in onnxruntime.
 */
import assert from 'node:assert/strict';
import { buildBackward } from '../../src/autodiff/index.js';
import { GraphBuilder, type Value, encodeOnnx, isStaticShape } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, hostTensor, numel } from '../../src/tensor/index.js';
import { makeRng } from '../helpers/rng.js';

/** One graph input of a check. */
export interface CheckInput {
  readonly shape: readonly number[];
  /** @default the check's dtype */
  readonly dtype?: 'float32' | 'float64' | 'int64';
  /** Values (default: seeded standard normal). */
  readonly values?: ArrayLike<number>;
  /** Differentiate with respect to this input. @default true for floats */
  readonly grad?: boolean;
}

/** Options of {@link gradCheck}. */
export interface CheckOptions {
  /** dtype of inputs without their own. @default 'float64' */
  readonly dtype?: 'float32' | 'float64';
  /** Step. @default 1e-6 for float64, 0.5 for float32 (only for ops linear in each input) */
  readonly h?: number;
  /** @default 1e-6 (float64), 1e-4 (float32) */
  readonly atol?: number;
  /** @default 1e-5 (float64), 1e-4 (float32) */
  readonly rtol?: number;
  /** Elements checked per input (a seeded sample when larger). @default 48 */
  readonly maxElems?: number;
  readonly seed?: number;
  /** Opset of the graph. @default 17 */
  readonly opset?: number;
}

/** What a check measured: the worst absolute and relative error over the checked elements. */
export interface CheckReport {
  readonly maxAbs: number;
  readonly maxRel: number;
  readonly checked: number;
}

const floatArray = (dtype: 'float32' | 'float64', n: number) => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));

/** Runs the check; throws (failing the test) on the first element out of tolerance. */
export async function gradCheck(
  inputs: Readonly<Record<string, CheckInput>>,
  body: (g: GraphBuilder, xs: Record<string, Value>) => Value,
  opts: CheckOptions = {},
): Promise<CheckReport> {
  const dtype = opts.dtype ?? 'float64';
  const f32 = dtype === 'float32';
  const h = opts.h ?? (f32 ? 0.5 : 1e-6);
  const atol = opts.atol ?? (f32 ? 1e-4 : 1e-6);
  const rtol = opts.rtol ?? (f32 ? 1e-4 : 1e-5);
  const rng = makeRng(opts.seed ?? 7);

  const g = new GraphBuilder({ opset: opts.opset ?? 17 });
  const feeds: Record<string, HostTensor> = {};
  const xs: Record<string, Value> = {};
  const diff: string[] = [];
  for (const [name, spec] of Object.entries(inputs)) {
    const dt = spec.dtype ?? dtype;
    const n = numel(spec.shape);
    if (dt === 'int64') {
      feeds[name] = hostTensor('int64', spec.shape, BigInt64Array.from(Array.from(spec.values ?? new Array<number>(n).fill(0), (v) => BigInt(v))));
    } else {
      const data = floatArray(dt, n);
      if (spec.values) data.set(Array.from(spec.values));
      else for (let i = 0; i < n; i++) data[i] = rng.normal();
      feeds[name] = hostTensor(dt, spec.shape, data);
      if (spec.grad !== false) diff.push(name);
    }
    xs[name] = g.input(name, dt, spec.shape);
  }
  const y = body(g, xs);
  assert.ok(isStaticShape(y.shape), `output shape must be static, got [${y.shape.join(',')}]`);
  const ydt = y.dtype as 'float32' | 'float64';
  const r = floatArray(ydt, numel(y.shape));
  for (let i = 0; i < r.length; i++) r[i] = rng.normal();
  const rv = g.constant(hostTensor(ydt, y.shape, r), 'projection');
  const loss = y.rank === 0 ? g.mul(y, rv) : g.reduceSum(g.mul(y, rv), y.shape.map((_, i) => i), false);
  const grads = buildBackward(g, loss, diff.map((k) => xs[k]));
  g.output(loss, 'loss');
  grads.forEach((d, i) => {
    assert.ok(d, `no gradient reached input "${diff[i]}"`);
    g.output(d, `grad_${diff[i]}`);
  });
  const session = await createSession(encodeOnnx(g.build()), { threads: 1 });
  try {
    const out = await session.run(feeds);
    const lossAt = async (): Promise<number> => Number((await session.run(feeds, ['loss'])).loss.data[0]);
    let maxAbs = 0;
    let maxRel = 0;
    let checked = 0;
    for (const name of diff) {
      const x = feeds[name].data as Float32Array | Float64Array;
      const analytic = out[`grad_${name}`].data as Float32Array | Float64Array;
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
        x[i] = x0 + h;
        const lp = await lossAt();
        x[i] = x0 - h;
        const lm = await lossAt();
        x[i] = x0;
        const fd = (lp - lm) / (2 * h);
        const err = Math.abs(analytic[i] - fd);
        maxAbs = Math.max(maxAbs, err);
        maxRel = Math.max(maxRel, err / Math.max(Math.abs(fd), 1e-3));
        checked++;
        if (!(err <= atol + rtol * Math.abs(fd))) {
          assert.fail(`d loss / d ${name}[${i}]: rule ${analytic[i]}, finite difference ${fd} (|diff| ${err}, atol ${atol}, rtol ${rtol})`);
        }
      }
    }
    return { maxAbs, maxRel, checked };
  } finally {
    await session.release();
  }
}

/** Formats a report for `t.diagnostic`. */
export const describe = (what: string, r: CheckReport): string =>
  `${what}: ${r.checked} elements, max |err| ${r.maxAbs.toExponential(2)}, max rel ${r.maxRel.toExponential(2)}`;

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
