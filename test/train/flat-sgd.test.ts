/**
 * The SGD update on the host (FlatSgd) gives the in-graph update's bits: the WebAssembly SIMD kernel and the JS
 * loop agree with each other to the bit, and a TrainStep with `update: 'host'` gives the weights, momentum
 * buffers, losses and gradient norms of `update: 'graph'` exactly, over steps with clipping, TSM's parameter
 * groups, partial BN, nesterov, a change of weight decay and momentum, and weights replaced between steps.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { assemble } from '../../scripts/build-wasm.mjs';
import { Parameter } from '../../src/nn/index.js';
import { float32, hostTensor, numel } from '../../src/tensor/index.js';
import { FlatSgd } from '../../src/train/flat-sgd.js';
import { SGD, TrainStep, getOptimPolicies, setTrainMode } from '../../src/train/index.js';
import { makeRng, randn } from '../helpers/rng.js';
import { SmallConvNet } from '../helpers/small-convnet.js';

test('sgd-kernel.wasm is the assembled sgd-kernel.wat', async () => {
  const wat = new URL('../../src/train/sgd-kernel.wat', import.meta.url);
  const built = await assemble(wat.pathname);
  assert.ok(Buffer.compare(built, readFileSync(new URL('../../src/train/sgd-kernel.wasm', import.meta.url))) === 0, 'stale .wasm: run node scripts/build-wasm.mjs');
});

/** Bit patterns, so -0 vs 0 and NaN payloads count as differences. */
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length).slice();

test('the SIMD kernel and the JS loop give the same bits for every flag combination and odd lengths', () => {
  // lengths that leave 0-3 elements past the last full vector, and one shorter than a vector
  const shapes = [[7], [4, 3, 3, 3], [13], [2], [1, 1, 5, 5]];
  for (const momentum of [0, 0.9]) {
    for (const nesterov of momentum ? [false, true] : [false]) {
      for (const weightDecay of [0, 5e-4]) {
        const run = (simd: boolean) => {
          const params = shapes.map((s) => new Parameter(float32(s, randn(makeRng(numel(s)), numel(s)))));
          params.forEach((p, i) => (p.key = `p${i}`));
          // two groups with different lr and decay multipliers, as TSM's policies have
          const sgd = new SGD(
            [
              { name: 'a', params: params.slice(0, 2), lrMult: 1, decayMult: 1 },
              { name: 'b', params: params.slice(2), lrMult: 2, decayMult: 0 },
            ],
            { lr: 0.1, momentum, weightDecay, nesterov },
          );
          const flat = new FlatSgd(params, { simd });
          assert.equal(flat.simd, simd);
          const rng = makeRng(21);
          const grads = params.map((p) => randn(rng, numel(p.shape)));
          for (let step = 0; step < 3; step++) {
            flat.attach(sgd);
            flat.step(sgd, grads.map((g) => g.map((v) => v * (step + 1))), 7.5, step === 1 ? undefined : 3);
          }
          return { weights: params.map((p) => bits(p.tensor.data as Float32Array)), momentum: params.map((p) => sgd.state.get(p)?.data) };
        };
        const js = run(false);
        const simd = run(true);
        const what = `momentum ${momentum}, nesterov ${nesterov}, weight decay ${weightDecay}`;
        assert.deepEqual(simd.weights, js.weights, `weights, ${what}`);
        assert.deepEqual(
          simd.momentum.map((m) => m && bits(m)),
          js.momentum.map((m) => m && bits(m)),
          `momentum buffers, ${what}`,
        );
      }
    }
  }
});


function initSmall(): SmallConvNet {
  const m = new SmallConvNet(8, 5).nameParameters();
  const rng = makeRng(5);
  for (const [k, p] of m.namedTensors()) {
    if (p.tensor.dtype !== 'float32') continue;
    const n = numel(p.shape);
    p.tensor = float32(p.shape, k.endsWith('running_var') ? Float32Array.from({ length: n }, () => 0.5 + rng.uniform()) : randn(rng, n).map((v) => 0.5 * v));
  }
  return m;
}

test("a TrainStep with the update on the host gives the in-graph update's bits", async () => {
  const shape = [4, 3, 8, 8];
  const rng = makeRng(8);
  const batches = Array.from({ length: 5 }, () => float32(shape, randn(rng, numel(shape))));
  const labels = hostTensor('int64', [4], BigInt64Array.of(0n, 3n, 1n, 4n));
  const replacement = randn(makeRng(77), 8 * 3 * 3 * 3).map((v) => 0.3 * v);
  const results = [];
  for (const update of ['graph', 'host'] as const) {
    const m = initSmall();
    setTrainMode(m, true);
    const sgd = new SGD(getOptimPolicies(m, { partialBn: true }), { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
    for (const grp of sgd.paramGroups) grp.lr = 0.05 * grp.lrMult;
    // a small clip threshold, so the clipping factor is below 1 and changes every weight
    const step = await TrainStep.create(m, sgd, { inputShape: shape, clipGradNorm: 0.2, threads: 1, update });
    const losses: number[] = [];
    const norms: number[] = [];
    for (let i = 0; i < batches.length; i++) {
      if (i === 2) {
        // what a checkpoint load does: a new tensor for a parameter, and new hyper-parameters
        m.conv1.weight.tensor = float32(m.conv1.weight.shape, replacement);
        for (const grp of sgd.paramGroups) {
          grp.weightDecay *= 2;
          grp.momentum = 0.8;
        }
      }
      const r = await step.run(batches[i], labels, { seed: i });
      losses.push(r.loss);
      norms.push(r.gradNorm);
    }
    await step.release();
    assert.ok(norms.every((n) => n > 0.2), `gradient norms ${norms.join(', ')} are above the clip threshold`);
    const weights = new Map(m.namedTensors().map(([k, p]) => [k, p.tensor.dtype === 'float32' ? bits(p.tensor.data as Float32Array) : p.tensor.data]));
    const momentum = new Map([...sgd.state].map(([p, t]) => [p.key, bits(t.data)]));
    results.push({ losses, norms, weights, momentum });
  }
  const [graph, host] = results;
  assert.deepEqual(host.losses, graph.losses, 'losses');
  assert.deepEqual(host.norms, graph.norms, 'gradient norms');
  assert.deepEqual([...host.weights.keys()], [...graph.weights.keys()]);
  for (const [k, w] of graph.weights) assert.deepEqual(host.weights.get(k), w, `weights ${k}`);
  assert.deepEqual([...host.momentum.keys()].sort(), [...graph.momentum.keys()].sort(), 'the same parameters have momentum buffers');
  for (const [k, b] of graph.momentum) assert.deepEqual(host.momentum.get(k), b, `momentum buffer ${k}`);
});

test('with the update on the host, the parameters and momentum buffers are views of one flat array each', async () => {
  const m = initSmall();
  setTrainMode(m, true);
  const sgd = new SGD(getOptimPolicies(m, { partialBn: true }), { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
  const step = await TrainStep.create(m, sgd, { inputShape: [2, 3, 8, 8], clipGradNorm: 20, threads: 1 });
  const x = float32([2, 3, 8, 8], randn(makeRng(3), 2 * 3 * 64));
  const labels = hostTensor('int64', [2], BigInt64Array.of(1n, 2n));
  await step.run(x, labels);
  const before = m.conv3.weight.tensor.data;
  const snapshot = (before as Float32Array).slice();
  await step.run(x, labels);
  await step.release();
  assert.equal(m.conv3.weight.tensor.data, before, 'the step updates the weights in place');
  assert.notDeepEqual(m.conv3.weight.tensor.data, snapshot, 'and the values change');
  const trained = sgd.params.filter((p) => sgd.state.has(p));
  assert.ok(trained.length > 3);
  const buffers = new Set(trained.map((p) => p.tensor.data.buffer));
  assert.equal(buffers.size, 1, 'one array behind every trained parameter');
  assert.equal(new Set(trained.map((p) => sgd.state.get(p)?.data.buffer)).size, 1, 'one array behind every momentum buffer');
});
