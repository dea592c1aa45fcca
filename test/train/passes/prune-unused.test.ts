import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder } from '../../../src/graph/index.js';
import { pruneUnused } from '../../../src/train/passes/index.js';

test('pruneUnused drops the nodes no output depends on and the initializers only they read, and keeps every input', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [4]);
  g.input('unread', 'float32', [4]);
  const dead = g.mul(g.sqrt(x), g.scalar(3));
  g.output(g.add(x, g.scalar(1)), 'y');
  const graph = g.build();
  assert.ok(dead.producer);
  assert.deepEqual(graph.nodes.map((n) => n.op), ['Sqrt', 'Mul', 'Add', 'Identity']);
  const pruned = pruneUnused(graph);
  assert.deepEqual(pruned.nodes.map((n) => n.op), ['Add', 'Identity']);
  assert.equal(pruned.initializers.size, 1, 'the scalar 3 goes with the Mul');
  assert.deepEqual(pruned.inputs.map((v) => v.name), ['x', 'unread']);
  assert.equal(graph.nodes.length, 4, 'the input graph is unchanged');
});
