import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Graph, GraphBuilder, encodeOnnx } from '../../../src/graph/index.js';
import { createSession } from '../../../src/runtime/index.js';
import { type HostTensor, float32 } from '../../../src/tensor/index.js';
import { foldInferenceBatchNorm, pruneUnused } from '../../../src/train/passes/index.js';

const ints = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));

/**
 * conv (bias) - BN - relu - BN (not after a conv) - conv 3x3 - training-mode BN. Small integers and
 * power-of-two BN scales (gamma / sqrt(var) = 2, 1, 2 with eps 0), so both forms are exact in fp32.
 */
function convBn(): { graph: Graph; feeds: Record<string, HostTensor> } {
  const g = new GraphBuilder({ paramMode: 'input' });
  const feeds: Record<string, HostTensor> = { x: float32([2, 3, 4, 4], ints(96, (i) => (i % 7) - 3)) };
  const p = (key: string, shape: number[], data: number[]) => {
    feeds[key] = float32(shape, data);
    return g.param(key, feeds[key]);
  };
  const bn = (name: string) => [p(`${name}.weight`, [3], [4, 2, 8]), p(`${name}.bias`, [3], [1, -2, 3]), p(`${name}.running_mean`, [3], [2, -1, 0]), p(`${name}.running_var`, [3], [4, 4, 16])] as const;
  const x = g.input('x', 'float32', [2, 3, 4, 4]);
  let y = g.conv(x, p('conv1.weight', [3, 3, 3, 3], ints(81, (i) => (i % 5) - 2)), p('conv1.bias', [3], [1, 0, -1]), { padding: 1 });
  y = g.scope('bn1', () => g.batchNorm(y, ...bn('bn1'), 0));
  y = g.scope('bn2', () => g.batchNorm(g.relu(y), ...bn('bn2'), 0));
  y = g.conv(y, p('conv2.weight', [3, 3, 3, 3], ints(81, (i) => (i % 3) - 1)), undefined, { padding: 1 });
  const [scale, bias, mean, variance] = bn('bn3');
  y = g.op('BatchNormalization', [y, scale, bias, mean, variance], { epsilon: { f: 1e-5 }, momentum: { f: 0 }, training_mode: { i: 1 } }, { numOutputs: 3 })[0];
  g.output(y, 'y');
  return { graph: g.build(), feeds };
}

async function run(graph: Graph, feeds: Record<string, HostTensor>): Promise<number[]> {
  const s = await createSession(encodeOnnx(graph), { threads: 1 });
  const out = await s.run(feeds);
  await s.release();
  return Array.from(out.y.data as Float32Array);
}

test('foldInferenceBatchNorm folds an inference BatchNorm into the Conv before it, and nothing else', async () => {
  const { graph, feeds } = convBn();
  const folded = pruneUnused(foldInferenceBatchNorm(graph));
  const count = (gr: Graph, op: string) => gr.nodes.filter((n) => n.op === op).length;
  assert.equal(count(graph, 'BatchNormalization'), 3);
  assert.equal(count(folded, 'BatchNormalization'), 2, 'bn1 is folded; bn2 (after a Relu) and the training-mode BN stay');
  assert.equal(count(folded, 'Conv'), 2, 'the replaced conv is pruned');
  const conv1 = folded.nodes.find((n) => n.op === 'Conv' && n.inputs[2]?.producer);
  assert.ok(conv1, 'the folded conv reads a computed bias');
  assert.match(conv1.inputs[2]?.producer?.name ?? '', /^bn1\//, 'the fold arithmetic is named in the BatchNorm scope');
  assert.equal(count(foldInferenceBatchNorm(graph), 'Conv'), 3, 'without pruning the original conv is still there, unread');
  assert.equal(count(graph, 'Conv'), 2, 'the input graph is unchanged');
  // exact: small integers, power-of-two scales
  assert.deepEqual(await run(folded, feeds), await run(graph, feeds));
});
