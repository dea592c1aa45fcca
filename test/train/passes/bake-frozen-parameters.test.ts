import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder, encodeOnnx } from '../../../src/graph/index.js';
import { createSession } from '../../../src/runtime/index.js';
import { float32 } from '../../../src/tensor/index.js';
import { bakeFrozenParameters } from '../../../src/train/passes/index.js';

test('bakeFrozenParameters turns the named parameter inputs into initializers of the same name', async () => {
  const w = float32([2, 3], [1, 2, 3, -1, 0, 4]);
  const b = float32([2], [0.5, -0.5]);
  const g = new GraphBuilder({ paramMode: 'input' });
  g.output(g.linear(g.input('x', 'float32', [1, 3]), g.param('fc.weight', w), g.param('fc.bias', b)), 'y');
  const graph = g.build();
  const baked = bakeFrozenParameters(graph, new Map([['fc.weight', w], ['not.in.graph', b]]));
  assert.deepEqual(baked.inputs.map((v) => v.name), ['x', 'fc.bias']);
  assert.equal(baked.initializers.get('fc.weight')?.tensor, w);
  assert.equal(baked.nodes[0].inputs[1], baked.initializers.get('fc.weight')?.value, 'the Gemm reads the initializer');
  assert.equal(baked.nodes[0].inputs[1]?.constant, w);
  assert.deepEqual(graph.inputs.map((v) => v.name), ['x', 'fc.weight', 'fc.bias'], 'the input graph is unchanged');
  assert.equal(bakeFrozenParameters(graph, new Map()), graph);
  const s = await createSession(encodeOnnx(baked), { threads: 1 });
  const out = await s.run({ x: float32([1, 3], [1, 1, 2]), 'fc.bias': b });
  await s.release();
  // [1+2+6, -1+0+8] + bias: exact in fp32
  assert.deepEqual(Array.from(out.y.data as Float32Array), [9.5, 6.5]);
});
