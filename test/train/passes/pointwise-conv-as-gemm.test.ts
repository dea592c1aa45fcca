import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Graph, GraphBuilder, encodeOnnx } from '../../../src/graph/index.js';
import { createSession } from '../../../src/runtime/index.js';
import { type HostTensor, float32 } from '../../../src/tensor/index.js';
import { pointwiseConvAsGemm, pruneUnused } from '../../../src/train/passes/index.js';

const ints = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));

test('pointwiseConvAsGemm turns 1x1 convolutions into one Gemm over the batch, with the same values', async () => {
  const g = new GraphBuilder({ paramMode: 'input' });
  const feeds: Record<string, HostTensor> = {
    x: float32([2, 3, 4, 4], ints(96, (i) => (i % 7) - 3)),
    'pw.weight': float32([5, 3, 1, 1], ints(15, (i) => (i % 4) - 2)),
    'pw.bias': float32([5], [1, 2, 3, -1, 0]),
    'dw.weight': float32([5, 1, 3, 3], ints(45, (i) => (i % 3) - 1)),
    'strided.weight': float32([2, 5, 1, 1], ints(10, (i) => i - 4)),
  };
  const x = g.input('x', 'float32', [2, 3, 4, 4]);
  let y = g.conv(x, g.param('pw.weight', feeds['pw.weight']), g.param('pw.bias', feeds['pw.bias']));
  y = g.conv(y, g.param('dw.weight', feeds['dw.weight']), undefined, { padding: 1, groups: 5 });
  y = g.conv(y, g.param('strided.weight', feeds['strided.weight']), undefined, { stride: 2 });
  g.output(y, 'y');
  const graph = g.build();
  const gemm = pruneUnused(pointwiseConvAsGemm(graph));
  assert.deepEqual(
    gemm.nodes.filter((n) => n.op === 'Conv' || n.op === 'Gemm').map((n) => n.op),
    ['Gemm', 'Conv', 'Conv'],
    'the 1x1 stride-1 conv becomes a Gemm; the depthwise 3x3 and the strided 1x1 stay',
  );
  assert.equal(graph.nodes.filter((n) => n.op === 'Gemm').length, 0, 'the input graph is unchanged');
  const run = async (gr: Graph) => {
    const s = await createSession(encodeOnnx(gr), { threads: 1 });
    const out = await s.run(feeds);
    await s.release();
    return Array.from(out.y.data as Float32Array);
  };
  // exact: small integers
  assert.deepEqual(await run(gemm), await run(graph));
});
