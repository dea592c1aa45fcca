/**
 * The NCHWc depthwise rewrite computes what the standard Conv computes: forward, input and weight gradients,
 * stride 1 and 2, on this CPU's block size, within both formulations' fp32 rounding bounds.
 * NOTE: the block size is onnxruntime's choice for the CPU (16 with AVX-512, 8 with AVX2) and cannot be forced: a
 * graph rewritten for block 8 on an AVX-512 CPU would get 16-channel blocks from ReorderInput. So the block-8 path
 * runs where onnxruntime picks it, on AVX2-only CPUs, or here under emulation:
 * `qemu-x86_64 -cpu Haswell-noTSX node --import tsx test/train/nchwc.test.ts`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildBackward } from '../../src/autodiff/index.js';
import { GraphBuilder, encodeOnnx } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { float32, numel } from '../../src/tensor/index.js';
import { NCHWC_DOMAIN, nchwcBlockSize, rewriteDepthwiseNchwc } from '../../src/train/nchwc.js';
import { assertWithin, describeBound } from '../helpers/assert-close.js';
import { bestGamma, lambdaFor } from '../helpers/fp32-bounds.js';
import { makeRng, randn } from '../helpers/rng.js';

for (const stride of [1, 2]) {
  test(`depthwise 3x3 stride ${stride}: NCHWc rewrite matches the standard Conv (forward, dX, dW)`, async (t) => {
    const block = await nchwcBlockSize();
    t.diagnostic(`NCHWc block size on this CPU: ${block}`);
    const c = 32;
    const xs = [2, c, 9, 9];
    const ws = [c, 1, 3, 3];
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', xs);
    const w = g.input('w', 'float32', ws);
    const y = g.conv(x, w, undefined, { stride, padding: 1, groups: c });
    const r = g.input('r', 'float32', y.shape as number[]);
    const [dx, dw] = buildBackward(g, g.reduceSum(g.mul(y, r), [0, 1, 2, 3], false), [x, w]);
    g.output(y, 'y');
    g.output(dx!, 'dx');
    g.output(dw!, 'dw');
    const plain = g.build();
    const { graph, rewritten } = rewriteDepthwiseNchwc(plain, block);
    if (block === 0) {
      assert.equal(rewritten, 0);
      return;
    }
    // forward, weight gradient, and at stride 1 the input gradient (stride 2 uses ConvTranspose)
    assert.equal(rewritten, stride === 1 ? 3 : 2);
    assert.ok(graph.nodes.some((n) => n.domain === NCHWC_DOMAIN));
    assert.ok(!plain.nodes.some((n) => n.domain === NCHWC_DOMAIN), 'the input graph is not modified');
    // filters are reordered by ReorderInput (no Transpose); dY is reordered once for dX and as the dW filter
    assert.ok(!graph.nodes.some((n) => n.op === 'Transpose'));
    assert.equal(graph.nodes.filter((n) => n.op === 'ReorderInput').length, stride === 1 ? 5 : 4);
    const rng = makeRng(4);
    const feeds = { x: float32(xs, randn(rng, numel(xs))), w: float32(ws, randn(rng, numel(ws))), r: float32(y.shape as number[], randn(rng, numel(y.shape as number[]))) };
    const plainSession = await createSession(encodeOnnx(plain), { threads: 1 });
    const a = await plainSession.run(feeds);
    const b = await (await createSession(encodeOnnx(graph, { extraOpsets: { [NCHWC_DOMAIN]: 1 } }), { threads: 1 })).run(feeds);
    // Every output is a sum of products (y: 9 taps, dx: 9 taps, dw: N * Ho * Wo positions), so the same graph on
    // |x|, |w|, |r| gives sum |terms| per element, and each formulation is within gamma_k of that (or Higham and
    // Mary's probabilistic bound where it is tighter, at a 1e-9 chance over all elements); the bound is both sides'
    // (the |.| run is fp32 too: times 1 + gamma_k).
    const abs = await plainSession.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, float32(t.shape, (t.data as Float32Array).map(Math.abs))])));
    const ho = (y.shape as number[])[2];
    const terms: Record<string, number> = { y: 9, dx: 9, dw: xs[0] * ho * ho };
    for (const k of ['y', 'dx', 'dw']) {
      assert.deepEqual(b[k].shape, a[k].shape);
      const gk = bestGamma(terms[k], lambdaFor(terms[k], a[k].data.length));
      const bound = Array.from(abs[k].data as Float32Array, (m) => 2 * gk * (1 + gk) * m);
      t.diagnostic(describeBound(k, assertWithin(b[k].data as Float32Array, a[k].data as Float32Array, bound, k)));
    }
  });
}
