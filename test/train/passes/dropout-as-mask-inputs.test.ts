import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../../src/errors.js';
import { GraphBuilder, encodeOnnx, sym } from '../../../src/graph/index.js';
import { Dropout } from '../../../src/nn/index.js';
import { createSession } from '../../../src/runtime/index.js';
import { float32, hostTensor } from '../../../src/tensor/index.js';
import { dropoutAsMaskInputs } from '../../../src/train/passes/index.js';
import { dropoutMask } from '../../../src/train/step-graph.js';

test('dropoutAsMaskInputs turns each training Dropout into a multiply by a mask input, and leaves the others', async () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [2, 6]);
  const drop = new Dropout(0.5);
  drop.train();
  let y = drop.forward(g, x);
  // an inference-mode Dropout node (training_mode false) is an identity and stays
  y = g.op('Dropout', [y, g.scalar(0.25), g.constant(hostTensor('bool', [], Uint8Array.of(0)), 'off')], {}, { numOutputs: 1 })[0];
  const drop2 = new Dropout(0.25);
  drop2.train();
  y = drop2.forward(g, g.relu(y));
  g.output(y, 'y');
  const graph = g.build();
  const { graph: rewritten, masks } = dropoutAsMaskInputs(graph);
  assert.deepEqual([...masks], [
    ['dropout_mask.0', { shape: [2, 6], ratio: 0.5 }],
    ['dropout_mask.1', { shape: [2, 6], ratio: 0.25 }],
  ]);
  assert.deepEqual(rewritten.nodes.map((n) => n.op), ['Mul', 'Dropout', 'Relu', 'Mul', 'Identity']);
  assert.deepEqual(graph.nodes.map((n) => n.op), ['Dropout', 'Dropout', 'Relu', 'Dropout', 'Identity'], 'the input graph is unchanged');

  const xs = float32([2, 6], [1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12]);
  const m0 = dropoutMask([2, 6], 0.5, 1);
  const m1 = dropoutMask([2, 6], 0.25, 2);
  const s = await createSession(encodeOnnx(rewritten), { threads: 1 });
  const out = await s.run({ x: xs, 'dropout_mask.0': m0, 'dropout_mask.1': m1 });
  await s.release();
  // exact: a product of two floats rounded once (`+ 0` makes Relu's -0 a 0)
  const want = Array.from(xs.data as Float32Array, (v, i) => Math.fround(Math.max(0, v * m0.data[i]) * m1.data[i]) + 0);
  assert.deepEqual(Array.from(out.y.data as Float32Array, (v) => v + 0), want);
});

test('dropoutAsMaskInputs refuses a Dropout whose input has no static shape', () => {
  const g = new GraphBuilder();
  const drop = new Dropout(0.5);
  drop.train();
  g.output(drop.forward(g, g.input('x', 'float32', [sym('B'), 6])), 'y');
  assert.throws(() => dropoutAsMaskInputs(g.build()), (e: unknown) => e instanceof UsageError && /Dropout input x needs a static shape/.test(e.message));
});
