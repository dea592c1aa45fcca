/**
 * The backward driver: accumulation for values used more than once, unreachable values, missing rules,
 * caller-supplied rules, Dropout through its mask, and a small TSM-like network end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AutodiffError, type GradRule, buildBackward, crossEntropy } from '../../src/autodiff/index.js';
import { GraphBuilder, encodeOnnx } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { hostTensor } from '../../src/tensor/index.js';
import { assertClose } from '../helpers/assert-close.js';
import { makeRng } from '../helpers/rng.js';
import { describe, gradCheck } from './gradcheck.js';

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
  assertClose(Array.from(out.dx.data as Float64Array), xs.map((v) => 1 - Math.tanh(v) ** 2), { atol: 1e-12 });
  t.diagnostic('custom Tanh rule exact to 1e-12');
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
  assertClose(Array.from(out.dx.data as Float32Array), Array.from(r, (v, i) => (m[i] ? v / 0.7 : 0)), { atol: 1e-6, what: 'dx' });
  assertClose(Array.from(out.y.data as Float32Array), Array.from(xv, (v, i) => (m[i] ? v / 0.7 : 0)), { atol: 1e-6, what: 'y' });
});

test('a small TSM-like network (conv, BN train/eval, relu, shift, depthwise, relu6, maxpool, GAP, fc, CE) matches finite differences', async (t) => {
  const T = 2;
  const r = await gradCheck(
    {
      clip: { shape: [2 * T, 3, 8, 8], grad: false },
      labels: { shape: [2], dtype: 'int64', values: [1, 2] },
      w1: { shape: [8, 3, 3, 3] },
      g1: { shape: [8], values: [1.1, 0.9, 1, 1.2, 0.8, 1, 1.05, 0.95] },
      b1: { shape: [8] },
      wd: { shape: [8, 1, 3, 3] },
      w2: { shape: [6, 8, 1, 1] },
      fc: { shape: [3, 6] },
    },
    (g, v) => {
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
      return crossEntropy(g, logits, v.labels);
    },
    { dtype: 'float32', h: 2e-3, atol: 3e-4, rtol: 3e-2, maxElems: 12, seed: 21 },
  );
  t.diagnostic(describe('TSM-like network (float32, h 2e-3)', r));
});
