import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Graph, GraphBuilder, type Value, encodeOnnx } from '../../../src/graph/index.js';
import { BatchNorm2d } from '../../../src/nn/index.js';
import { createSession } from '../../../src/runtime/index.js';
import { type HostTensor, float32, hostTensor } from '../../../src/tensor/index.js';
import { batchNormScratchStatistics } from '../../../src/train/passes/index.js';

/** A training-mode BatchNorm2d (momentum 0.5) with its running-mean update as an output. */
function trainingBn(): Graph {
  const bn = new BatchNorm2d(2, 1e-5, 0.5).nameParameters('bn.');
  bn.train();
  const g = new GraphBuilder({ paramMode: 'input' });
  g.output(bn.forward(g, g.input('x', 'float32', [2, 2, 1, 2])), 'y');
  g.output(g.stateUpdates().get('bn.running_mean') as Value, 'new_mean');
  return g.build();
}

test('batchNormScratchStatistics feeds a training BatchNorm scratch statistics, so the running mean update reads the real one', async () => {
  const graph = trainingBn();
  const { graph: rewritten, scratch } = batchNormScratchStatistics(graph);
  const bnNode = rewritten.nodes.find((n) => n.op === 'BatchNormalization');
  assert.deepEqual(bnNode?.inputs.slice(3).map((v) => v?.name), ['bn_scratch.bn.running_mean', 'bn_scratch.bn.running_var']);
  assert.equal(bnNode?.name, graph.nodes.find((n) => n.op === 'BatchNormalization')?.name, 'the node keeps its name');
  assert.deepEqual([...scratch], [
    ['bn_scratch.bn.running_mean', { shape: [2], fill: 0 }],
    ['bn_scratch.bn.running_var', { shape: [2], fill: 1 }],
  ]);
  assert.ok(rewritten.inputs.some((v) => v.name === 'bn_scratch.bn.running_mean'));
  assert.equal(graph.nodes.find((n) => n.op === 'BatchNormalization')?.inputs[3]?.name, 'bn.running_mean', 'the input graph is unchanged');

  // batch means 2 and -1, running means 8 and -4: the update is 0.5 * 8 + 0.5 * 2 = 5 and -2.5 (exact in fp32)
  const runningMean = float32([2], [8, -4]);
  const feeds: Record<string, HostTensor> = {
    x: float32([2, 2, 1, 2], [1, 3, -2, 0, 1, 3, -2, 0]),
    'bn.weight': float32([2], [1, 1]),
    'bn.bias': float32([2], [0, 0]),
    'bn.running_mean': runningMean,
    'bn.running_var': float32([2], [1, 1]),
    'bn.num_batches_tracked': hostTensor('int64', [], BigInt64Array.of(0n)),
  };
  for (const [name, { shape, fill }] of scratch) feeds[name] = float32(shape, new Array(2).fill(fill));
  const s = await createSession(encodeOnnx(rewritten), { threads: 1 });
  const out = await s.run(feeds);
  await s.release();
  assert.deepEqual(Array.from(out.new_mean.data as Float32Array), [5, -2.5]);
  assert.deepEqual(Array.from(runningMean.data as Float32Array), [8, -4], 'the caller array of running means is left alone');
});
