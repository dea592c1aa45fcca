/**
 * Finite-difference checks of every gradient rule on small seeded shapes, each within the error bound of the
 * comparison (gradcheck.ts: truncation + rounding). float64 graphs where onnxruntime's CPU kernels support the op;
 * Conv, ConvTranspose, AveragePool and GlobalAveragePool are float32 only there. Being linear in each input, their
 * central differences have no truncation error: Conv runs on small integers, where fp32 is exact and so is the
 * check; the pools divide, so they get a large step and the rounding bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossEntropy } from '../../src/autodiff/index.js';
import type { GraphBuilder, Value } from '../../src/graph/index.js';
import { type CheckValues, awayFromZero, describe, distinctValues, gradCheck } from './gradcheck.js';

interface ConvCase {
  readonly name: string;
  readonly x: [number, number, ...number[]];
  readonly o: number;
  readonly k: number[];
  readonly s?: number;
  readonly p?: number;
  readonly d?: number;
  readonly group?: number;
  readonly bias?: boolean;
}

const maxAbs = (v: ArrayLike<number>): number => Array.from(v).reduce((a, x) => Math.max(a, Math.abs(x)), 0);

/**
 * A bound on every term BatchNormalization sums, per channel c with sigma_c = sqrt(var_c + eps): the output's
 * |gamma| (|x| + |mean|) / sigma + |beta|, the input gradient's |gamma| / sigma (2 + z^2) and the affine
 * gradients' z = (|x| + |mean|) / sigma and 1. Training mode normalises by the batch statistics.
 */
function batchNormMagnitude(shape: readonly number[], training: boolean, eps = 1e-5): (v: CheckValues) => number {
  const [n, c] = shape;
  const hw = shape.slice(2).reduce((a, b) => a * b, 1);
  return (v) => {
    let m = 1;
    const xmax = maxAbs(v.x);
    for (let ch = 0; ch < c; ch++) {
      let mean = v.mean[ch];
      let variance = v.var[ch];
      if (training) {
        const xs: number[] = [];
        for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) xs.push(v.x[(b * c + ch) * hw + k]);
        mean = xs.reduce((a, x) => a + x, 0) / xs.length;
        variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length;
      }
      const sigma = Math.sqrt(variance + eps);
      const z = (xmax + Math.abs(mean)) / sigma;
      const g = Math.abs(v.gamma[ch]) / sigma;
      m = Math.max(m, g * (xmax + Math.abs(mean)) + Math.abs(v.beta[ch]), g * (2 + z * z), z);
    }
    return m;
  };
}

/** Softmax, LogSoftmax and cross-entropy terms: x, its max and the log of the sum of exponentials; probabilities <= 1. */
const softmaxMagnitude = (classes: number) => (v: CheckValues): number => 2 * maxAbs(v.x) + Math.log(classes) + 2;

const CONV_CASES: readonly ConvCase[] = [
  { name: '3x3 s1 p1', x: [2, 3, 6, 6], o: 4, k: [3, 3], p: 1, bias: true },
  { name: '3x3 s2 p1 (ConvTranspose dX)', x: [2, 3, 7, 7], o: 4, k: [3, 3], s: 2, p: 1 },
  { name: '3x3 s2 p1 even input (output_padding)', x: [1, 2, 8, 8], o: 3, k: [3, 3], s: 2, p: 1 },
  { name: 'depthwise 3x3 s1 p1', x: [2, 4, 6, 6], o: 4, k: [3, 3], p: 1, group: 4 },
  { name: 'depthwise 3x3 s2 p1 odd', x: [2, 4, 7, 7], o: 4, k: [3, 3], s: 2, p: 1, group: 4 },
  { name: 'depthwise 3x3 s2 p1 even (dW crop)', x: [2, 3, 8, 8], o: 3, k: [3, 3], s: 2, p: 1, group: 3 },
  { name: '1x1 small map (Gemm dW)', x: [2, 5, 3, 3], o: 4, k: [1, 1], bias: true },
  { name: '1x1 14x14 map (MatMul dW)', x: [2, 3, 14, 14], o: 2, k: [1, 1] },
  { name: '1x1 s2 (downsample)', x: [2, 4, 6, 6], o: 3, k: [1, 1], s: 2 },
  { name: 'grouped 3x3 g2', x: [2, 4, 5, 5], o: 6, k: [3, 3], p: 1, group: 2 },
  { name: 'dilated 3x3 d2 p2', x: [1, 2, 7, 7], o: 2, k: [3, 3], p: 2, d: 2 },
  { name: '7x7 s2 p3 (stem)', x: [1, 3, 11, 11], o: 4, k: [7, 7], s: 2, p: 3, bias: true },
  { name: '3x3 s1 p1 28x28 map (channels-first im2col dW)', x: [2, 2, 28, 28], o: 3, k: [3, 3], p: 1 },
  { name: '7x7 s2 p3 30x30 out (channels-first im2col dW, stem)', x: [1, 2, 60, 60], o: 2, k: [7, 7], s: 2, p: 3 },
  { name: '1x1 p1 (pad beyond the kernel)', x: [1, 2, 4, 4], o: 3, k: [1, 1], p: 1 },
  { name: 'Conv1d k3 s2', x: [2, 3, 9], o: 2, k: [3], s: 2, p: 1 },
];

for (const c of CONV_CASES) {
  test(`Conv ${c.name}: dX, dW${c.bias ? ', dB' : ''} match finite differences`, async (t) => {
    const group = c.group ?? 1;
    const inputs: Record<string, { shape: number[] }> = { x: { shape: c.x }, w: { shape: [c.o, c.x[1] / group, ...c.k] } };
    if (c.bias) inputs.b = { shape: [c.o] };
    const r = await gradCheck(
      inputs,
      (g, v) => g.conv(v.x, v.w, v.b, { stride: c.s ?? 1, padding: c.p ?? 0, dilation: c.d ?? 1, groups: group }),
      { dtype: 'float32', linear: true, integers: true, maxElems: 32 },
    );
    t.diagnostic(describe(`Conv ${c.name}`, r));
  });
}

test('Conv: only the weight gradient is built when the input needs none (no dX nodes)', async () => {
  const { GraphBuilder } = await import('../../src/graph/index.js');
  const { buildBackward } = await import('../../src/autodiff/index.js');
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, 3, 8, 8]);
  const w = g.input('w', 'float32', [4, 3, 3, 3]);
  const y = g.conv(x, w, undefined, { stride: 2, padding: 1 });
  const [dw] = buildBackward(g, g.reduceSum(y, [0, 1, 2, 3], false), [w]);
  g.output(dw!, 'dw');
  const ops = g.build().nodes.map((n) => n.op);
  assert.ok(!ops.includes('ConvTranspose'), `unexpected dX nodes: ${ops.join(',')}`);
});

test('BatchNormalization training mode: dx, dgamma, dbeta match finite differences', async (t) => {
  const r = await gradCheck(
    { x: { shape: [3, 4, 3, 3] }, gamma: { shape: [4] }, beta: { shape: [4] }, mean: { shape: [4], grad: false }, var: { shape: [4], values: [1, 2, 0.5, 1.5], grad: false } },
    (g, v) =>
      g.op('BatchNormalization', [v.x, v.gamma, v.beta, v.mean, v.var], { epsilon: { f: 1e-5 }, momentum: { f: 0 }, training_mode: { i: 1 } }, { numOutputs: 3 })[0],
    { magnitude: batchNormMagnitude([3, 4, 3, 3], true) },
  );
  t.diagnostic(describe('BatchNormalization (training)', r));
});

test('BatchNormalization eval mode (frozen, partial BN): dx, dgamma, dbeta match finite differences', async (t) => {
  const r = await gradCheck(
    { x: { shape: [2, 3, 3, 3] }, gamma: { shape: [3] }, beta: { shape: [3] }, mean: { shape: [3], grad: false }, var: { shape: [3], values: [1, 2, 0.5], grad: false } },
    (g, v) => g.batchNorm(v.x, v.gamma, v.beta, v.mean, v.var),
    { linear: true, magnitude: batchNormMagnitude([2, 3, 3, 3], false) },
  );
  t.diagnostic(describe('BatchNormalization (eval)', r));
});

test('Relu: matches finite differences away from 0', async (t) => {
  // linear within a step below the 0.05 margin
  const r = await gradCheck({ x: { shape: [3, 5], values: awayFromZero(15, 0.05) } }, (g, v) => g.relu(v.x), { linear: true, h: 2 ** -5 });
  t.diagnostic(describe('Relu', r));
});

test('Clip (ReLU6) and one-sided Clip: match finite differences away from the bounds', async (t) => {
  const vals = Array.from({ length: 24 }, (_, i) => -2.05 + i * 0.4); // never within 0.05 of 0 or 6
  const r6 = await gradCheck({ x: { shape: [4, 6], values: vals } }, (g, v) => g.clip(v.x, 0, 6), { linear: true, h: 2 ** -5 });
  const r1 = await gradCheck({ x: { shape: [4, 6], values: vals } }, (g, v) => g.op('Clip', [v.x, g.scalar(1.01, 'float64')])[0], { linear: true, h: 2 ** -5 });
  t.diagnostic(describe('Clip(0, 6)', r6));
  t.diagnostic(describe('Clip(min only)', r1));
});

test('MaxPool 3x3 s2 p1 (overlapping windows), ceil_mode, and temporal MaxPool3d match finite differences', async (t) => {
  // values 0.01 apart: a step below half of that never changes a window's maximum
  const clear = { linear: true, h: 2 ** -8 } as const;
  const r1 = await gradCheck({ x: { shape: [2, 2, 7, 7], values: distinctValues(196, 0.01) } }, (g, v) => g.maxPool(v.x, { kernelSize: 3, stride: 2, padding: 1 }), { ...clear, maxElems: 98 });
  const r2 = await gradCheck({ x: { shape: [1, 2, 6, 6], values: distinctValues(72, 0.01) } }, (g, v) => g.maxPool(v.x, { kernelSize: 3, stride: 2, ceilMode: true }), clear);
  const r3 = await gradCheck(
    { x: { shape: [1, 2, 5, 2, 2], values: distinctValues(40, 0.01) } },
    (g, v) => g.maxPool(v.x, { kernelSize: [3, 1, 1], stride: [2, 1, 1], padding: [1, 0, 0] }),
    clear,
  );
  t.diagnostic(describe('MaxPool 3x3/s2/p1', r1));
  t.diagnostic(describe('MaxPool ceil_mode', r2));
  t.diagnostic(describe('MaxPool3d temporal', r3));
});

test('AveragePool: plain, padded (count_include_pad on and off) and ceil_mode match finite differences', async (t) => {
  const cases = [
    { kernelSize: 2, stride: 2 },
    { kernelSize: 3, stride: 2, padding: 1 },
    { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false },
    { kernelSize: 3, stride: 2, ceilMode: true },
    { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false },
    { kernelSize: 3, stride: 2, padding: 1, ceilMode: true },
    { kernelSize: 3, stride: 1, padding: 1 },
  ];
  for (const o of cases) {
    const r = await gradCheck({ x: { shape: [1, 2, 7, 7] } }, (g, v) => g.averagePool(v.x, o), { dtype: 'float32', linear: true });
    t.diagnostic(describe(`AveragePool ${JSON.stringify(o)}`, r));
  }
});

test('GlobalAveragePool, ReduceMean and ReduceSum (keepdims on and off) match finite differences', async (t) => {
  const rg = await gradCheck({ x: { shape: [2, 3, 3, 4] } }, (g, v) => g.globalAveragePool(v.x), { dtype: 'float32', linear: true });
  const rm = await gradCheck({ x: { shape: [2, 3, 4] } }, (g, v) => g.reduceMean(v.x, [1], false), { linear: true });
  const rm2 = await gradCheck({ x: { shape: [2, 3, 4] } }, (g, v) => g.reduceMean(v.x, [0, 2], true), { linear: true });
  const rs = await gradCheck({ x: { shape: [2, 3, 4] } }, (g, v) => g.reduceSum(v.x, [2], false), { linear: true });
  t.diagnostic(describe('GlobalAveragePool', rg));
  t.diagnostic(describe('ReduceMean axis 1', rm));
  t.diagnostic(describe('ReduceMean keepdims', rm2));
  t.diagnostic(describe('ReduceSum', rs));
});

test('Gemm (every transA/transB, alpha, beta, broadcast C) and batched MatMul match finite differences', async (t) => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const r = await gradCheck(
      { a: { shape: ta ? [4, 3] : [3, 4] }, b: { shape: tb ? [5, 4] : [4, 5] }, c: { shape: [5] } },
      (g, v) => g.gemm(v.a, v.b, v.c, { transA: ta, transB: tb, alpha: 0.7, beta: 1.3 }),
      { linear: true },
    );
    t.diagnostic(describe(`Gemm transA=${ta} transB=${tb}`, r));
  }
  const rl = await gradCheck({ x: { shape: [3, 4] }, w: { shape: [2, 4] }, b: { shape: [2] } }, (g, v) => g.linear(v.x, v.w, v.b), { linear: true });
  const rmm = await gradCheck({ a: { shape: [2, 3, 4] }, b: { shape: [4, 5] } }, (g, v) => g.matMul(v.a, v.b), { linear: true });
  t.diagnostic(describe('Linear (Gemm transB)', rl));
  t.diagnostic(describe('MatMul batched, broadcast B', rmm));
});

test('Add, Sub, Mul, Div with broadcasting, and Neg/Exp/Log/Sqrt/Sigmoid match finite differences', async (t) => {
  const b = { shape: [3, 1], values: [1.5, -2, 0.8] };
  const ops: [string, (g: GraphBuilder, a: Value, b: Value) => Value][] = [
    ['Add', (g, x, y) => g.add(x, y)],
    ['Sub', (g, x, y) => g.sub(x, y)],
    ['Mul', (g, x, y) => g.mul(x, y)],
    ['Div', (g, x, y) => g.div(x, y)],
  ];
  for (const [name, f] of ops) {
    // Div is not linear in its divisor; |a| - |b| is no magnitude for Sub, |a| + |b| is
    const o = { linear: name !== 'Div', absBody: name === 'Sub' ? (g: GraphBuilder, v: Record<string, Value>) => g.add(v.a, v.b) : undefined };
    const r = await gradCheck({ a: { shape: [2, 3, 4] }, b }, (g, v) => f(g, v.a, v.b), o);
    const r2 = await gradCheck({ a: { shape: [3, 1], values: [1.5, -2, 0.8] }, b: { shape: [2, 3, 4], values: awayFromZero(24, 0.5) } }, (g, v) => f(g, v.a, v.b), o);
    t.diagnostic(describe(`${name} [2,3,4] op [3,1]`, r));
    t.diagnostic(describe(`${name} [3,1] op [2,3,4]`, r2));
  }
  const pos = Array.from({ length: 6 }, (_, i) => 0.5 + i * 0.3);
  for (const op of ['Neg', 'Exp', 'Log', 'Sqrt', 'Sigmoid']) {
    const r = await gradCheck({ x: { shape: [2, 3], values: pos } }, (g, v) => g.op(op, [v.x])[0], { linear: op === 'Neg' });
    t.diagnostic(describe(op, r));
  }
});

test('Concat, Split, Slice (negative start, step -1, steps 2 and 3), Pad (pads and crops) match finite differences', async (t) => {
  const rc = await gradCheck({ a: { shape: [2, 3, 2] }, b: { shape: [2, 1, 2] }, c: { shape: [2, 2, 2] } }, (g, v) => g.concat([v.a, v.b, v.c], 1), { linear: true });
  const rsplit = await gradCheck({ x: { shape: [2, 5] } }, (g, v) => {
    const [p, q] = g.op('Split', [v.x, g.constInts([2, 3])], { axis: { i: 1 } }, { outputs: [{ dtype: 'float64', shape: [2, 2] }, { dtype: 'float64', shape: [2, 3] }] });
    return g.mul(g.reduceSum(p, [1], true), q); // uses both outputs; each element is in p or in q: linear in it
  }, { linear: true });
  const rs = await gradCheck({ x: { shape: [3, 5, 4] } }, (g, v) => g.slice(v.x, [1, -3], [3, 5], [0, 1]), { linear: true });
  const rrev = await gradCheck({ x: { shape: [3, 5] } }, (g, v) => g.slice(v.x, [-1, 3], [-4, 0], [0, 1], [-1, -1]), { linear: true });
  // strided: the last element taken is the input's last (7 = 1 + 2*3) on one axis, and not on the other (8 % 3)
  const rstep = await gradCheck({ x: { shape: [2, 7, 8] } }, (g, v) => g.slice(v.x, [1, 0], [7, 8], [1, 2], [2, 3]), { linear: true });
  const rp = await gradCheck({ x: { shape: [2, 3, 4] } }, (g, v) => g.pad(v.x, [0, 1, 0, 0, 2, -1]), { linear: true });
  const rpa = await gradCheck(
    { x: { shape: [2, 3, 4] } },
    (g, v) => g.op('Pad', [v.x, g.constInts([1, 2]), undefined, g.constInts([1])], { mode: { s: 'constant' } })[0],
    { opset: 18, linear: true },
  );
  for (const [k, r] of Object.entries({ Concat: rc, Split: rsplit, Slice: rs, 'Slice step -1': rrev, 'Slice steps 2, 3': rstep, 'Pad (pads and crop)': rp, 'Pad with axes': rpa })) {
    t.diagnostic(describe(k, r));
  }
});

test('Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Identity match finite differences', async (t) => {
  const cases: [string, number[], (g: GraphBuilder, x: Value) => Value][] = [
    ['Reshape', [2, 3, 4], (g, x) => g.reshape(x, [4, -1])],
    ['Flatten', [2, 3, 2, 2], (g, x) => g.flatten(x, 1)],
    ['Squeeze', [2, 1, 3], (g, x) => g.squeeze(x, [1])],
    ['Unsqueeze', [2, 3], (g, x) => g.unsqueeze(x, [0, 3])],
    ['Transpose', [2, 3, 4], (g, x) => g.transpose(x, [2, 0, 1])],
    ['Expand', [3, 1], (g, x) => g.op('Expand', [x, g.constInts([2, 3, 4])])[0]],
    ['Identity', [2, 3], (g, x) => g.identity(x)],
  ];
  for (const [name, shape, f] of cases) {
    const r = await gradCheck({ x: { shape } }, (g, v) => f(g, v.x), { linear: true });
    t.diagnostic(describe(name, r));
  }
});

test('LogSoftmax, Softmax, GatherElements and cross-entropy (NLL on LogSoftmax) match finite differences', async (t) => {
  const rl = await gradCheck({ x: { shape: [3, 5] } }, (g, v) => g.logSoftmax(v.x, 1), { magnitude: softmaxMagnitude(5) });
  const rsm = await gradCheck({ x: { shape: [3, 5] } }, (g, v) => g.softmax(v.x, -1), { magnitude: softmaxMagnitude(5) });
  const rge = await gradCheck({ x: { shape: [3, 4] }, i: { shape: [3, 2], dtype: 'int64', values: [0, 0, 3, 1, 2, 2] } }, (g, v) =>
    g.op('GatherElements', [v.x, v.i], { axis: { i: 1 } })[0],
  { linear: true });
  const rce = await gradCheck({ x: { shape: [4, 6] }, labels: { shape: [4], dtype: 'int64', values: [5, 0, 2, 2] } }, (g, v) => crossEntropy(g, v.x, v.labels), { magnitude: softmaxMagnitude(6) });
  t.diagnostic(describe('LogSoftmax', rl));
  t.diagnostic(describe('Softmax', rsm));
  t.diagnostic(describe('GatherElements (repeated indices)', rge));
  t.diagnostic(describe('cross-entropy', rce));
});
