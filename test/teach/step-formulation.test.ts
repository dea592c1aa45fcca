import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Graph, GraphBuilder, encodeOnnx } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { clipAsMinMax } from '../../src/teach/index.js';
import { type HostTensor, float32 } from '../../src/tensor/index.js';

const ints = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));

test('clipAsMinMax turns the Clips onnxruntime cannot fuse into Max and Min, with the same values', async () => {
  const g = new GraphBuilder({ paramMode: 'input' });
  const feeds: Record<string, HostTensor> = {
    x: float32([2, 3, 2, 2], ints(24, (i) => (i % 11) - 4)),
    w: float32([3, 3], ints(9, (i) => (i % 3) - 1)),
    dw: float32([3, 1, 3, 3], ints(27, (i) => (i % 5) - 2)),
  };
  const x = g.input('x', 'float32', [2, 3, 2, 2]);
  // a ReLU6 after a Gemm, one after a Conv (fused by onnxruntime: kept), and a ReLU6 gradient mask
  const flat = g.reshape(g.transpose(x, [1, 0, 2, 3]), [3, 8]);
  const h = g.clip(g.gemm(g.param('w', feeds.w), flat), 0, 6);
  const nchw = g.transpose(g.reshape(h, [3, 2, 2, 2]), [1, 0, 2, 3]);
  const y = g.clip(g.conv(nchw, g.param('dw', feeds.dw), undefined, { padding: 1, groups: 3 }), 0, 6);
  const mask = g.op('Ceil', [g.clip(g.mul(y, g.sub(g.scalar(6), y)), 0, 1)])[0];
  g.output(y, 'y');
  g.output(mask, 'mask');
  const graph = g.build();
  const rewritten = clipAsMinMax(graph);
  const count = (gr: Graph, op: string) => gr.nodes.filter((n) => n.op === op).length;
  assert.equal(count(rewritten, 'Clip'), 1, 'only the Clip after the Conv stays');
  assert.equal(rewritten.nodes.find((n) => n.op === 'Clip')?.inputs[0]?.producer?.op, 'Conv');
  assert.equal(count(rewritten, 'Max'), 2);
  assert.equal(count(rewritten, 'Min'), 2);
  assert.equal(count(graph, 'Clip'), 3, 'the input graph is unchanged');
  const run = async (gr: Graph) => {
    const s = await createSession(encodeOnnx(gr), { threads: 1 });
    const out = await s.run(feeds);
    await s.release();
    return [Array.from(out.y.data as Float32Array), Array.from(out.mask.data as Float32Array)];
  };
  const [before, after] = [await run(graph), await run(rewritten)];
  // small integers: exact, and both bounds are reached
  assert.deepEqual(after, before);
  assert.ok(before[0].includes(0) && before[0].includes(6), 'the values reach both bounds');
});
