/**
 * Every op the builder emits, run in onnxruntime: hand-computed small cases, random cases against naive
 * references, and shape inference against the shapes onnxruntime actually produces.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Dim, GraphBuilder, type Value, encodeOnnx } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, float32, numel } from '../../src/tensor/index.js';
import { assertWithin, describeBound } from '../helpers/assert-close.js';
import { ELEMENTARY_ULPS, U32, U64, addBounds, avgPoolBound, convBound, gamma } from '../helpers/fp32-bounds.js';
import { type Conv2dRef, conv2dRef, pool2dRef } from '../helpers/reference-ops.js';
import { makeRng, randn } from '../helpers/rng.js';

/** Builds a one-output graph from float32 inputs, runs it, and checks the inferred shape against ORT's. */
async function run(inputs: Record<string, HostTensor>, body: (g: GraphBuilder, xs: Record<string, Value>) => Value): Promise<HostTensor> {
  const g = new GraphBuilder();
  const xs: Record<string, Value> = {};
  for (const [k, t] of Object.entries(inputs)) xs[k] = g.input(k, t.dtype, t.shape);
  const y = body(g, xs);
  const inferred: readonly Dim[] = y.shape;
  g.output(y, 'y');
  const s = await createSession(encodeOnnx(g.build()), { threads: 1 });
  const out = (await s.run(inputs)).y;
  await s.release();
  assert.deepEqual(out.shape, inferred, `inferred shape [${inferred.join(',')}] vs onnxruntime [${out.shape.join(',')}]`);
  return out;
}

const vals = (t: HostTensor) => Array.from(t.data as Float32Array);

test('Conv: random configs (groups, depthwise, stride, padding, dilation) match a direct convolution', async (t) => {
  const rng = makeRng(1);
  const configs = [
    { c: 3, o: 4, k: 3, s: 1, p: 1, d: 1, g: 1, h: 7 },
    { c: 4, o: 6, k: 3, s: 2, p: 1, d: 1, g: 2, h: 8 },
    { c: 8, o: 8, k: 3, s: 2, p: 1, d: 1, g: 8, h: 9 },
    { c: 5, o: 3, k: 1, s: 1, p: 0, d: 1, g: 1, h: 5 },
    { c: 2, o: 2, k: 3, s: 1, p: 2, d: 2, g: 1, h: 6 },
    { c: 3, o: 5, k: 7, s: 2, p: 3, d: 1, g: 1, h: 11 },
  ];
  for (const cf of configs) {
    const xs = [2, cf.c, cf.h, cf.h];
    const ws = [cf.o, cf.c / cf.g, cf.k, cf.k];
    const x = randn(rng, numel(xs));
    const w = randn(rng, numel(ws));
    const b = randn(rng, cf.o);
    const out = await run({ x: float32(xs, x) }, (g, v) =>
      g.conv(v.x, g.param('w', float32(ws, w)), g.param('b', float32([cf.o], b)), { stride: cf.s, padding: cf.p, dilation: cf.d, groups: cf.g }),
    );
    const o: Conv2dRef = { stride: [cf.s, cf.s], pad: [cf.p, cf.p], dil: [cf.d, cf.d], groups: cf.g };
    const ref = conv2dRef(x, xs, w, ws, b, o);
    assert.deepEqual(out.shape, ref.shape);
    // ours (fp32, any summation order) against the float64 reference: both sides' dot-product bounds
    const bound = addBounds(convBound(x, xs, w, ws, b, o), convBound(x, xs, w, ws, b, o, U64));
    t.diagnostic(describeBound(JSON.stringify(cf), assertWithin(vals(out), ref.data, bound, JSON.stringify(cf))));
  }
});

test('MaxPool/AveragePool: ceil_mode and count_include_pad follow PyTorch', async (t) => {
  const rng = makeRng(2);
  const xs = [1, 2, 7, 7];
  const x = randn(rng, numel(xs));
  for (const [k, s, p, ceil] of [[3, 2, 1, false], [3, 2, 0, true], [2, 2, 0, false], [3, 1, 1, false], [3, 2, 1, true]] as const) {
    const mx = await run({ x: float32(xs, x) }, (g, v) => g.maxPool(v.x, { kernelSize: k, stride: s, padding: p, ceilMode: ceil }));
    // the max of fp32 values is one of them: exact
    assertWithin(vals(mx), pool2dRef('max', x, xs, k, s, p, ceil).data, 0, `max k${k}s${s}p${p}c${ceil}`);
    for (const cip of [true, false]) {
      const av = await run({ x: float32(xs, x) }, (g, v) => g.averagePool(v.x, { kernelSize: k, stride: s, padding: p, ceilMode: ceil, countIncludePad: cip }));
      const what = `avg k${k}s${s}p${p}c${ceil}i${cip}`;
      const bound = addBounds(avgPoolBound(x, xs, k, s, p, ceil, cip), avgPoolBound(x, xs, k, s, p, ceil, cip, U64));
      t.diagnostic(describeBound(what, assertWithin(vals(av), pool2dRef('avg', x, xs, k, s, p, ceil, cip).data, bound, what)));
    }
  }
});

test('MaxPool 3-D over time (temporal pooling kernel 3x1x1, stride 2x1x1, pad 1x0x0)', async () => {
  // [N=1, C=1, T=4, 1, 1] = 1, 5, 2, 3 -> windows {pad,1,5}, {5,2,3} -> 5, 5
  const out = await run({ x: float32([1, 1, 4, 1, 1], [1, 5, 2, 3]) }, (g, v) =>
    g.maxPool(v.x, { kernelSize: [3, 1, 1], stride: [2, 1, 1], padding: [1, 0, 0] }),
  );
  assert.deepEqual(vals(out), [5, 5]);
});

test('BatchNormalization (eval): (x - mean) / sqrt(var + eps) * w + b', async () => {
  const out = await run({ x: float32([1, 2, 1, 2], [1, 2, 3, 5]) }, (g, v) =>
    g.batchNorm(v.x, g.param('w', float32([2], [2, 1])), g.param('b', float32([2], [0, 1])), g.param('m', float32([2], [1, 4])), g.param('v', float32([2], [4, 1])), 0),
  );
  // y = x * scale + shift with scale = w / sqrt(v + eps), shift = b - m * scale: at most 6 roundings per term, so
  // |error| <= gamma_6 ((|x| + |m|) |w| / sqrt(v + eps) + |b|); these values make every step exact in fact
  const bound = [1, 2, 3, 5].map((x, i) => gamma(6) * (((Math.abs(x) + [1, 1, 4, 4][i]) * [2, 2, 1, 1][i]) / Math.sqrt([4, 4, 1, 1][i]) + [0, 0, 1, 1][i]));
  assertWithin(vals(out), [0, 1, 0, 2], bound, 'BatchNormalization');
});

test('Relu, Clip (ReLU6), Sigmoid, Softmax, Identity', async () => {
  const x = float32([1, 4], [-1, 0.5, 3, 8]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.relu(v.x))), [0, 0.5, 3, 8]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.clip(v.x, 0, 6))), [0, 0.5, 3, 6]);
  // the logistic's absolute accuracy (fp32-bounds.ts), plus the float64 reference's few roundings
  assertWithin(vals(await run({ x }, (g, v) => g.sigmoid(v.x))), [-1, 0.5, 3, 8].map((a) => 1 / (1 + Math.exp(-a))), ELEMENTARY_ULPS * U32 + gamma(4, U64), 'Sigmoid');
  const e = [-1, 0.5, 3, 8].map(Math.exp);
  const z = e.reduce((a, b) => a + b);
  // softmax as exp(x - max) / sum: x - max is rounded relative to |x - max| (<= 9), which moves exp by as much
  // relative; then exp itself, a sum of 4 and a division; the reference adds its float64 roundings
  const softmaxRel = gamma(ELEMENTARY_ULPS + 9 + 1 + 3 + 1) + gamma(9, U64);
  assertWithin(vals(await run({ x }, (g, v) => g.softmax(v.x, 1))), e.map((a) => a / z), e.map((a) => (softmaxRel * a) / z), 'Softmax');
  assert.deepEqual(vals(await run({ x }, (g, v) => g.identity(v.x))), [-1, 0.5, 3, 8]);
});

test('GlobalAveragePool and ReduceMean/ReduceSum/ReduceMax', async () => {
  const x = float32([1, 2, 2, 2], [1, 2, 3, 4, 10, 20, 30, 40]);
  const gap = await run({ x }, (g, v) => g.globalAveragePool(v.x));
  assert.deepEqual(gap.shape, [1, 2, 1, 1]);
  assert.deepEqual(vals(gap), [2.5, 25]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.reduceMean(v.x, [2, 3], false))), [2.5, 25]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.reduceSum(v.x, [1], true))), [11, 22, 33, 44]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.reduceMax(v.x, [-1], false))), [2, 4, 20, 40]);
});

test('Gemm (Linear), MatMul with broadcasting', async () => {
  const x = float32([2, 3], [1, 2, 3, 4, 5, 6]);
  const w = float32([2, 3], [1, 0, 1, 0, 1, 0]); // [out, in] as nn.Linear
  const lin = await run({ x }, (g, v) => g.linear(v.x, g.param('w', w), g.param('b', float32([2], [10, 20]))));
  assert.deepEqual(vals(lin), [14, 22, 20, 25]);
  const a = float32([2, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const mm = await run({ a }, (g, v) => g.matMul(v.a, g.param('b', float32([3, 2, 1], [1, 1, 0, 1, 1, 0]))));
  assert.deepEqual(mm.shape, [2, 3, 2, 1]);
  assert.deepEqual(vals(mm), [3, 7, 2, 4, 1, 3, 11, 15, 6, 8, 5, 7]);
});

test('Add/Sub/Mul/Div broadcast numpy-style', async () => {
  const a = float32([2, 1, 3], [1, 2, 3, 4, 5, 6]);
  const b = float32([2, 1], [10, 20]);
  const body = (op: 'add' | 'sub' | 'mul' | 'div') => (g: GraphBuilder, v: Record<string, Value>) => g[op](v.a, v.b);
  const add = await run({ a, b }, body('add'));
  assert.deepEqual(add.shape, [2, 2, 3]);
  assert.deepEqual(vals(add), [11, 12, 13, 21, 22, 23, 14, 15, 16, 24, 25, 26]);
  assert.deepEqual(vals(await run({ a, b }, body('sub'))).slice(0, 3), [-9, -8, -7]);
  assert.deepEqual(vals(await run({ a, b }, body('mul'))).slice(3, 6), [20, 40, 60]);
  // one correctly rounded division: |error| <= u |a / b|
  assertWithin(vals(await run({ a, b }, body('div'))).slice(0, 3), [0.1, 0.2, 0.3], [0.1, 0.2, 0.3].map((q) => U32 * q), 'Div');
});

test('Concat, Slice (negative indices and steps), Pad, Reshape, Transpose, Flatten, Squeeze/Unsqueeze', async () => {
  const x = float32([2, 3], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.concat([v.x, v.x], 1))), [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.slice(v.x, [1], [3], [1]))), [1, 2, 4, 5]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.slice(v.x, [-1], [-4], [1], [-1]))), [2, 1, 0, 5, 4, 3]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.slice(v.x, [0], [0], [0]))), []);
  const padded = await run({ x }, (g, v) => g.pad(v.x, [1, 0, 0, 1]));
  assert.deepEqual(padded.shape, [3, 4]);
  assert.deepEqual(vals(padded), [0, 0, 0, 0, 0, 1, 2, 0, 3, 4, 5, 0]);
  assert.deepEqual((await run({ x }, (g, v) => g.reshape(v.x, [3, -1]))).shape, [3, 2]);
  assert.deepEqual(vals(await run({ x }, (g, v) => g.transpose(v.x, [1, 0]))), [0, 3, 1, 4, 2, 5]);
  const z = float32([2, 1, 3, 1], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual((await run({ z }, (g, v) => g.flatten(v.z, 1))).shape, [2, 3]);
  assert.deepEqual((await run({ z }, (g, v) => g.squeeze(v.z, [1, 3]))).shape, [2, 3]);
  assert.deepEqual((await run({ x }, (g, v) => g.unsqueeze(v.x, [0, 3]))).shape, [1, 2, 3, 1]);
});

test('shape inference agrees with onnxruntime on random conv/pool/reshape chains', async () => {
  const rng = makeRng(3);
  for (let trial = 0; trial < 12; trial++) {
    const h = 5 + rng.int(12);
    const c = 1 + rng.int(4);
    const xs = [1 + rng.int(2), c, h, h + rng.int(3)];
    const k = 1 + 2 * rng.int(2);
    const s = 1 + rng.int(2);
    const ceil = rng.uniform() < 0.5;
    await run({ x: float32(xs, randn(rng, numel(xs))) }, (g, v) => {
      let y = g.conv(v.x, g.param('w', float32([4, c, k, k], randn(rng, 4 * c * k * k))), undefined, { stride: s, padding: rng.int(2) });
      y = g.maxPool(y, { kernelSize: 2, stride: 2, ceilMode: ceil });
      y = g.reshape(y, [0, -1]);
      return g.transpose(y, [1, 0]);
    });
  }
});
