import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder, encodeOnnx, rewriteGraph } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { float32 } from '../../src/tensor/index.js';

/** x -> Relu -> Mul by 2 -> Add 1, in scope `block`. */
function smallGraph() {
  const g = new GraphBuilder({ name: 'small' });
  const x = g.input('x', 'float32', [4]);
  const y = g.scope('block', () => g.add(g.mul(g.relu(x), g.scalar(2)), g.scalar(1)));
  g.output(y, 'y');
  return g.build();
}

test('rewriteGraph replaces a node, copies the nodes after it under their names and leaves the old graph as it was', async () => {
  const graph = smallGraph();
  const before = graph.nodes.map((n) => `${n.op} ${n.name} ${n.outputs.map((o) => o.name).join(',')}`);
  const relu6 = rewriteGraph(graph, (node, [x], g) => (node.op === 'Relu' && x ? [g.clip(x, 0, 6)] : undefined));
  assert.deepEqual(graph.nodes.map((n) => `${n.op} ${n.name} ${n.outputs.map((o) => o.name).join(',')}`), before, 'the input graph is unchanged');
  assert.deepEqual(relu6.nodes.map((n) => n.op), ['Clip', 'Mul', 'Add', 'Identity']);
  assert.equal(relu6.nodes[0].name, 'block/Clip', 'the replacement is named in the replaced node scope');
  // the Mul now reads the Clip; it is a copy with the old output names, and its value points back to it
  assert.equal(relu6.nodes[1].inputs[0], relu6.nodes[0].outputs[0]);
  assert.deepEqual(relu6.nodes.slice(1).map((n) => n.name), graph.nodes.slice(1).map((n) => n.name));
  assert.notEqual(relu6.nodes[1], graph.nodes[1]);
  assert.equal(relu6.nodes[1].outputs[0].producer, relu6.nodes[1]);
  assert.equal(graph.nodes[1].outputs[0].producer, graph.nodes[1]);
  assert.deepEqual(relu6.outputs.map((o) => o.name), ['y']);
  const x = float32([4], [-3, 1, 5, 100]);
  const run = async (bytes: Uint8Array) => {
    const s = await createSession(bytes, { threads: 1 });
    const out = await s.run({ x });
    await s.release();
    return Array.from(out.y.data as Float32Array);
  };
  // small integers: exact in fp32
  assert.deepEqual(await run(encodeOnnx(graph)), [1, 3, 11, 201]);
  assert.deepEqual(await run(encodeOnnx(relu6)), [1, 3, 11, 13]);
});

test('rewriteGraph keeps unchanged nodes shared and drops initializers nothing reads any more', () => {
  const graph = smallGraph();
  const same = rewriteGraph(graph, undefined);
  assert.equal(same.nodes.length, graph.nodes.length);
  assert.ok(same.nodes.every((n, i) => n === graph.nodes[i]));
  // Mul by 2 becomes Add x + x: the scalar 2 is read by nothing
  const added = rewriteGraph(graph, (node, [a], g) => (node.op === 'Mul' && a ? [g.add(a, a)] : undefined));
  assert.equal(graph.initializers.size, 2);
  assert.equal(added.initializers.size, 1);
  assert.throws(() => rewriteGraph(graph, (node) => (node.op === 'Mul' ? [] : undefined)), /gave 0 values for 1 outputs/);
});

test('GraphBuilder.from continues a graph: its constants are reused, its names stay taken, its parameters are known', () => {
  const g = new GraphBuilder({ paramMode: 'input' });
  const x = g.input('x', 'float32', [4]);
  const w = g.param('w', float32([4]));
  const y = g.mul(g.mul(x, w), g.scalar(2));
  g.output(y, 'y');
  const graph = g.build();
  const two = graph.nodes[1].inputs[1];
  const more = GraphBuilder.from({ ...graph, outputs: [] }, { paramMode: 'input', params: new Map([['w', w]]) });
  assert.equal(more.scalar(2), two, 'a small constant of the graph is reused');
  assert.notEqual(more.scalar(3), two);
  assert.equal(more.param('w', float32([4])), w, 'a known parameter is not declared again');
  const z = more.mul(y, y);
  assert.ok(!graph.nodes.some((n) => n.name === z.producer?.name || n.outputs.some((o) => o.name === z.name)), 'new names do not collide');
  assert.throws(() => more.input('x', 'float32', [4]), /used twice/);
  more.output(z, 'z');
  const built = more.build();
  assert.equal(built.nodes.length, graph.nodes.length + 2, 'the Mul and the Identity naming it z');
  assert.deepEqual(built.outputs.map((o) => o.name), ['z']);
});
