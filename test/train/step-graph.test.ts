/**
 * The step graph's own bookkeeping: which buffers a step updates and how the runners apply them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type GraphBuilder, type Value, encodeOnnx } from '../../src/graph/index.js';
import { BatchNorm2d, Conv2d, Linear, Module } from '../../src/nn/index.js';
import { createSession } from '../../src/runtime/index.js';
import { float32, hostTensor } from '../../src/tensor/index.js';
import { SGD, TrainStep, singleGroup } from '../../src/train/index.js';
import { applyStepOutputs, buildTrainStepGraph, stepFeeds } from '../../src/train/step-graph.js';
import { makeRng, randn } from '../helpers/rng.js';

/** conv - BN (batch statistics) - relu - 1x1 conv - BN (frozen, as partial BN) - relu - GAP - fc. */
class Net extends Module {
  readonly conv1 = new Conv2d(3, 4, { kernelSize: 3, padding: 1 });
  readonly bn1 = new BatchNorm2d(4);
  readonly conv2 = new Conv2d(4, 4, { kernelSize: 1 });
  readonly bn2 = new BatchNorm2d(4);
  readonly fc = new Linear(4, 3);
  forward(g: GraphBuilder, x: Value): Value {
    const y = g.relu(this.bn1.forward(g, this.conv1.forward(g, x)));
    const z = g.relu(this.bn2.forward(g, this.conv2.forward(g, y)));
    return this.fc.forward(g, g.flatten(g.globalAveragePool(z), 1));
  }
}

function makeNet(): Net {
  const m = new Net().nameParameters();
  m.train();
  m.bn2.eval();
  m.bn2.frozen = true;
  m.bn1.num_batches_tracked.tensor = hostTensor('int64', [], BigInt64Array.of(7n));
  m.bn2.num_batches_tracked.tensor = hostTensor('int64', [], BigInt64Array.of(5n));
  return m;
}

const count = (bn: BatchNorm2d): bigint => {
  assert.equal(bn.num_batches_tracked.tensor.dtype, 'int64');
  return (bn.num_batches_tracked.tensor.data as BigInt64Array)[0];
};

const rng = makeRng(4);
const batches = [0, 1, 2].map(() => float32([2, 3, 4, 4], randn(rng, 96)));
const labels = hostTensor('int64', [2], BigInt64Array.of(0n, 2n));

for (const update of ['host', 'graph'] as const) {
  test(`a step counts the batch in num_batches_tracked of a batch-statistics BatchNorm, not of a frozen one (update: ${update})`, async () => {
    const m = makeNet();
    const sgd = new SGD(singleGroup(m), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    const step = await TrainStep.create(m, sgd, { inputShape: [2, 3, 4, 4], update, threads: 1 });
    const outputs = step.graph.outputs.filter((v) => v.name.endsWith('num_batches_tracked'));
    assert.deepEqual(outputs.map((v) => [v.name, v.dtype]), [['new.bn1.num_batches_tracked', 'int64']], 'the graph counts, for bn1 only');
    for (const x of batches) await step.run(x, labels);
    await step.release();
    assert.equal(count(m.bn1), 10n);
    assert.equal(count(m.bn2), 5n);
    assert.equal((m.stateDict().get('bn1.num_batches_tracked')?.data as BigInt64Array)[0], 10n, 'a checkpoint saves the count');
  });
}

test('the page path (stepFeeds, a session, applyStepOutputs) keeps the count an int64 and counts each step', async () => {
  const m = makeNet();
  const sgd = new SGD(singleGroup(m), { lr: 0.01, momentum: 0, weightDecay: 0 });
  const built = buildTrainStepGraph(m, sgd, { inputShape: [2, 3, 4, 4], frozenAsConstants: true });
  assert.ok(built.inputs.has('bn1.num_batches_tracked'), 'the count of a batch-statistics BatchNorm is fed');
  assert.ok(built.graph.initializers.has('bn2.num_batches_tracked') || !built.inputs.has('bn2.num_batches_tracked'), 'a frozen count is not fed');
  const s = await createSession(encodeOnnx(built.graph), { threads: 1 });
  for (const [i, x] of batches.entries()) applyStepOutputs(built, sgd, await s.run(stepFeeds(built, sgd, x, labels, i)));
  await s.release();
  assert.equal(count(m.bn1), 10n);
  assert.equal(count(m.bn2), 5n);
});
