/**
 * The backward driver: accumulation for values used more than once, unreachable values, missing rules,
 * caller-supplied rules, Dropout through its mask, and a small TSM-like network end to end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AutodiffError, type GradRule, buildBackward, crossEntropy } from '../../src/autodiff/index.js';
import { GraphBuilder, encodeOnnx } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { hostTensor } from '../../src/tensor/index.js';
import { assertWithin, describeBound } from '../helpers/assert-close.js';
import { ELEMENTARY_ULPS, U32, U64, gamma } from '../helpers/fp32-bounds.js';
import { runPythonFile } from '../helpers/python.js';
import { makeRng } from '../helpers/rng.js';

const f64 = (shape: number[], values: number[]) => hostTensor('float64', shape, Float64Array.from(values));

test('gradients of a value used more than once add up: d(x*x + x)/dx = 2x + 1', async () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float64', [4]);
  const loss = g.reduceSum(g.add(g.mul(x, x), x), [0], false);
  const [dx] = buildBackward(g, loss, [x]);
  g.output(dx!, 'dx');
  const s = await createSession(encodeOnnx(g.build()), { threads: 1 });
  const out = await s.run({ x: f64([4], [1, -2, 0.5, 3]) });
  assert.deepEqual(Array.from(out.dx.data as Float64Array), [3, -3, 2, 7]);
});

test('a value the loss does not depend on gets no gradient', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [2]);
  const unused = g.input('unused', 'float32', [2]);
  const [dx, du] = buildBackward(g, g.reduceSum(g.relu(x), [0], false), [x, unused]);
  assert.ok(dx);
  assert.equal(du, undefined);
});

test('a missing rule names the op and the node', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [2]);
  const y = g.scope('head', () => g.op('Tanh', [x])[0]);
  assert.throws(
    () => buildBackward(g, g.reduceSum(y, [0], false), [x]),
    (e: unknown) => e instanceof AutodiffError && e.code === 'TSM_GRAD_RULE_MISSING' && /op Tanh \(node "head\/Tanh"/.test(e.message),
  );
});

test('options.rules adds a rule (here Tanh: dy * (1 - y^2))', async (t) => {
  const tanhGrad: GradRule = (g, node, [dy]) => {
    const [y] = node.outputs;
    return [g.mul(dy!, g.sub(g.scalar(1, 'float64'), g.mul(y, y)))];
  };
  const { GRAD_RULES } = await import('../../src/autodiff/index.js');
  assert.equal(GRAD_RULES.Tanh, undefined);
  const g = new GraphBuilder();
  const x = g.input('x', 'float64', [3]);
  const y = g.op('Tanh', [x])[0];
  const [dx] = buildBackward(g, g.reduceSum(y, [0], false), [x], { rules: { Tanh: tanhGrad } });
  g.output(dx!, 'dx');
  const s = await createSession(encodeOnnx(g.build()), { threads: 1 });
  const xs = [0.3, -1, 2];
  const out = await s.run({ x: f64([3], xs) });
  // both sides: tanh to ELEMENTARY_ULPS (relative), then 1 - y^2 (two roundings, and y's error doubled by the square)
  const ys = xs.map(Math.tanh);
  const bound = ys.map((y) => 2 * gamma(2 * ELEMENTARY_ULPS + 2, U64) * (1 + y * y));
  t.diagnostic(describeBound('custom Tanh rule', assertWithin(out.dx.data as Float64Array, ys.map((y) => 1 - y * y), bound, 'dx')));
});

test('Dropout (training): the gradient is dy * mask / (1 - p), with the mask the forward drew', async () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [4, 50]);
  const on = g.constant(hostTensor('bool', [], Uint8Array.of(1)), 'training_mode');
  const [y, mask] = g.op('Dropout', [x, g.scalar(0.3), on], { seed: { i: 3 } }, { numOutputs: 2 });
  const rng = makeRng(11);
  const r = Float32Array.from({ length: 200 }, () => rng.normal());
  const loss = g.reduceSum(g.mul(y, g.constant(hostTensor('float32', [4, 50], r))), [0, 1], false);
  const [dx] = buildBackward(g, loss, [x]);
  g.output(y, 'y');
  g.output(mask, 'mask');
  g.output(dx!, 'dx');
  const s = await createSession(encodeOnnx(g.build()), { threads: 1 });
  const xv = Float32Array.from({ length: 200 }, () => rng.normal());
  const out = await s.run({ x: hostTensor('float32', [4, 50], xv) });
  const m = out.mask.data as Uint8Array;
  const kept = m.reduce((a, b) => a + b, 0);
  assert.ok(kept > 100 && kept < 180, `mask keeps ${kept} of 200`);
  // v * mask / (1 - ratio) in fp32: the ratio is the float 0.3 (off by |fround(0.3) - 0.3|, moving 1 / 0.7 by that
  // over 0.7 relative), then a subtraction, a reciprocal or division and a product: gamma_3 relative
  const rel = gamma(3) + Math.abs(Math.fround(0.3) - 0.3) / 0.7;
  const dropped = (v: Float32Array) => Array.from(v, (a, i) => (m[i] ? a / 0.7 : 0));
  assertWithin(out.dx.data as Float32Array, dropped(r), dropped(r).map((a) => rel * Math.abs(a)), 'dx');
  assertWithin(out.y.data as Float32Array, dropped(xv), dropped(xv).map((a) => rel * Math.abs(a)), 'y');
});

test('a small TSM-like network (conv, BN train/eval, relu, shift, depthwise, relu6, maxpool, GAP, fc, CE): gradients within the fp32 budget of float64 autograd', async (t) => {
  // A float32 difference quotient through BatchNorm and the loss has no usable error bound (its rounding error
  // divided by h swamps the check), and onnxruntime has no float64 Conv; so the reference is PyTorch autograd of the
  // same network in float64, and the tolerance the fp32 rounding-error budget of each gradient element
  // (test/autodiff/ref/tsm_like_grad.py), which PyTorch's fp32 autograd must meet too.
  const T = 2;
  const rng = makeRng(21);
  const shapes: Record<string, number[]> = { clip: [2 * T, 3, 8, 8], w1: [8, 3, 3, 3], g1: [8], b1: [8], wd: [8, 1, 3, 3], w2: [6, 8, 1, 1], fc: [3, 6] };
  const values: Record<string, Float32Array> = {};
  for (const [k, shape] of Object.entries(shapes)) values[k] = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
  values.g1 = Float32Array.of(1.1, 0.9, 1, 1.2, 0.8, 1, 1.05, 0.95);
  const labels = [1, 2];

  const g = new GraphBuilder();
  const v = Object.fromEntries(Object.entries(shapes).map(([k, shape]) => [k, g.input(k, 'float32', shape)]));
  const c = (n: number, fill: number) => g.constant(hostTensor('float32', [n], new Float32Array(n).fill(fill)));
  let x = g.conv(v.clip, v.w1, undefined, { stride: 2, padding: 1 });
  x = g.op('BatchNormalization', [x, v.g1, v.b1, c(8, 0), c(8, 1)], { momentum: { f: 0 }, training_mode: { i: 1 } }, { numOutputs: 3 })[0];
  x = g.relu(x);
  // A one-step temporal shift of the first two channels, built from Slice/Pad/Concat as TemporalShift does.
  const x5 = g.reshape(x, [-1, T, 8, 4, 4]);
  const left = g.pad(g.slice(x5, [1, 0], [T, 2], [1, 2]), [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  x = g.reshape(g.concat([left, g.slice(x5, [2], [8], [2])], 2), [-1, 8, 4, 4]);
  x = g.conv(x, v.wd, undefined, { padding: 1, groups: 8 });
  x = g.clip(g.batchNorm(x, c(8, 1.5), c(8, 0.1), c(8, 0.05), c(8, 0.8)), 0, 6);
  x = g.maxPool(x, { kernelSize: 3, stride: 2, padding: 1 });
  x = g.flatten(g.globalAveragePool(g.conv(x, v.w2, undefined)), 1);
  const logits = g.reduceMean(g.reshape(g.linear(x, v.fc), [2, T, 3]), [1], false);
  const loss = crossEntropy(g, logits, g.constant(hostTensor('int64', [2], BigInt64Array.from(labels.map(BigInt)))));
  const weights = ['w1', 'g1', 'b1', 'wd', 'w2', 'fc'];
  const grads = buildBackward(g, loss, weights.map((k) => v[k]));
  g.output(loss, 'loss');
  grads.forEach((d, i) => g.output(d!, `grad_${weights[i]}`));
  const s = await createSession(encodeOnnx(g.build()), { threads: 1 });
  const out = await s.run(Object.fromEntries(Object.entries(values).map(([k, d]) => [k, hostTensor('float32', shapes[k], d)])));
  await s.release();

  const dir = mkdtempSync(join(tmpdir(), 'tsm-grad-'));
  let ref: { fp32: Record<string, number[]>; fp64: Record<string, number[]>; sigma: Record<string, number[]>; lambda: number; loss64: number };
  try {
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ T, labels, values: Object.fromEntries(Object.entries(values).map(([k, d]) => [k, { data: Array.from(d), shape: shapes[k] }])) }));
    const here = dirname(fileURLToPath(import.meta.url));
    ref = JSON.parse(runPythonFile(join(here, 'ref', 'tsm_like_grad.py'), [join(here, '..', 'helpers'), cfg], 300_000));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(Math.abs(Number(out.loss.data[0]) - ref.loss64) < 1e-3 * Math.abs(ref.loss64), `loss ${out.loss.data[0]} vs float64 ${ref.loss64}: not the same network`);
  for (const k of weights) {
    // lambda sigma floored at the tensor's median (test/helpers/fp32_budget.py), plus the float64 side (u = 2^-53)
    const sigma = ref.sigma[k];
    const median = [...sigma].sort((a, b) => a - b)[Math.floor(sigma.length / 2)];
    const bound = sigma.map((e) => ref.lambda * Math.max(e, median) * (1 + U64 / U32));
    const ours = assertWithin(out[`grad_${k}`].data as Float32Array, ref.fp64[k], bound, `d loss / d ${k}`);
    const torch32 = assertWithin(ref.fp32[k], ref.fp64[k], bound, `PyTorch fp32 d loss / d ${k} (the budget must hold for it too)`);
    t.diagnostic(`d loss / d ${k}: ${describeBound('ours', ours)}; ${describeBound('PyTorch fp32', torch32)}`);
  }
});
